//! The kick: making a CPU that runs a vCPU trap to EL2, so that an interrupt made pending
//! for that vCPU from another CPU (an SGI from a sibling vCPU, an SPI the host raised) is put
//! in its list registers now rather than at its next trap (which a spinning guest may never
//! take).
//!
//! EL2 sends one physical SGI, [`KICK_SGI`], to the target CPU. Stile reserves it (ABI.md):
//! Linux uses SGIs 0..7 for its IPIs. The kick is enabled at the target's redistributor only
//! while a vGIC guest runs there: the physical IRQ then traps to EL2 (HCR_EL2.IMO), which
//! clears it without an acknowledge (so the host's own interrupt state and EOI mode are
//! never involved) and resumes the guest with its list registers refreshed. Before the host
//! runs again the kick is disabled, so a kick still on its way when the vCPU left stays
//! pending and disabled: the host never sees it, and the next vGIC entry on that CPU takes
//! it as one spurious trap.
//!
//! GICv3 only: GICv2's SGI pending state is per source CPU (GICD_CPENDSGIR), and a GICv2
//! machine has no vGIC to kick for yet.

use crate::vm::host_tick::TickEnable;

/// The physical SGI EL2 sends between its CPUs.
pub const KICK_SGI: u32 = 15;
/// Its bit in the 32-bit SGI/PPI registers.
pub const KICK_BIT: u32 = 1 << KICK_SGI;
/// Its priority: above Linux's default (0xa0) so a host PMR of 0xf0 lets it through.
pub const KICK_PRIORITY: u8 = 0x80;

/// Offsets in a GICv3 redistributor's SGI frame.
const GICR_IGROUPR0: u64 = 0x080;
const GICR_ISENABLER0: u64 = 0x100;
const GICR_ICENABLER0: u64 = 0x180;
const GICR_ISPENDR0: u64 = 0x200;
const GICR_ICPENDR0: u64 = 0x280;
const GICR_IPRIORITYR: u64 = 0x400;
/// The SGI frame is the redistributor's second 64 KiB frame; GICR_CTLR is at RD_base.
const SGI_FRAME: u64 = 0x1_0000;
/// GICR_CTLR.RWP: a write to GICR_ICENABLER0 has not taken effect yet.
pub const GICR_CTLR_RWP: u32 = 1 << 3;

/// Where one CPU is kicked from anywhere, and where it takes its own kicks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kick {
    /// The ICC_SGI1R_EL1 value that sends [`KICK_SGI`] to this CPU.
    pub sgi1r: u64,
    /// Physical address of this CPU's redistributor SGI frame.
    pub sgi_frame: u64,
}

impl Kick {
    /// The kick of the CPU `mpidr`, whose GICv3 redistributor's GICR_ISENABLER0 the host
    /// tick guard already located (`t`).
    pub fn for_cpu(mpidr: u64, t: TickEnable) -> Kick {
        Kick {
            sgi1r: sgi1r_to(mpidr, KICK_SGI),
            sgi_frame: t.isenabler0 - GICR_ISENABLER0,
        }
    }

    pub fn igroupr0(&self) -> u64 {
        self.sgi_frame + GICR_IGROUPR0
    }
    pub fn isenabler0(&self) -> u64 {
        self.sgi_frame + GICR_ISENABLER0
    }
    pub fn icenabler0(&self) -> u64 {
        self.sgi_frame + GICR_ICENABLER0
    }
    pub fn ispendr0(&self) -> u64 {
        self.sgi_frame + GICR_ISPENDR0
    }
    pub fn icpendr0(&self) -> u64 {
        self.sgi_frame + GICR_ICPENDR0
    }
    /// The byte of GICR_IPRIORITYR<n> that holds the kick's priority.
    pub fn priority_byte(&self) -> u64 {
        self.sgi_frame + GICR_IPRIORITYR + u64::from(KICK_SGI)
    }
    pub fn gicr_ctlr(&self) -> u64 {
        self.sgi_frame - SGI_FRAME
    }
}

/// ICC_SGI1R_EL1 for SGI `intid` to the one CPU `mpidr`: its Aff3.Aff2.Aff1 and, as the
/// target list holds 16 CPUs, Aff0 as range selector (Aff0 / 16) and bit (Aff0 % 16).
pub fn sgi1r_to(mpidr: u64, intid: u32) -> u64 {
    let aff0 = mpidr & 0xff;
    let aff1 = (mpidr >> 8) & 0xff;
    let aff2 = (mpidr >> 16) & 0xff;
    let aff3 = (mpidr >> 32) & 0xff;
    aff3 << 48
        | (aff0 / 16) << 44
        | aff2 << 32
        | u64::from(intid & 0xf) << 24
        | aff1 << 16
        | 1 << (aff0 % 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The architecture's field positions (Arm ARM, ICC_SGI1R_EL1), decoded independently.
    fn decode(v: u64) -> (u64, u64, u64, u64, u64, u64) {
        let field = |lo: u32, bits: u32| (v >> lo) & ((1 << bits) - 1);
        (
            field(48, 8), // Aff3
            field(44, 4), // RS
            field(32, 8), // Aff2
            field(24, 4), // INTID
            field(16, 8), // Aff1
            field(0, 16), // TargetList
        )
    }

    #[test]
    fn reaches_exactly_the_cpu_named() {
        // QEMU virt: Aff0 = CPU number (clusters of up to 16 CPUs by Aff1 on large -smp).
        assert_eq!(decode(sgi1r_to(0x8000_0000, 15)), (0, 0, 0, 15, 0, 1));
        assert_eq!(decode(sgi1r_to(0x8000_0003, 15)), (0, 0, 0, 15, 0, 1 << 3));
        assert_eq!(decode(sgi1r_to(0x0001_0102, 15)), (0, 0, 1, 15, 1, 1 << 2));
        assert_eq!(
            decode(sgi1r_to(0x12_0000_0000 | 0x21, 15)),
            (0x12, 2, 0, 15, 0, 1 << 1)
        );
        // The IRM bit (every CPU but this one) is never set.
        assert_eq!(sgi1r_to(0xff_ff_ff_ff, 15) & 1 << 40, 0);
    }

    #[test]
    fn registers_of_the_redistributor_the_tick_guard_found() {
        let rd_base = 0x080a_0000 + 2 * 0x2_0000;
        let t = TickEnable {
            isenabler0: rd_base + 0x1_0000 + 0x100,
            bit: 26,
        };
        let k = Kick::for_cpu(2, t);
        assert_eq!(k.gicr_ctlr(), rd_base);
        assert_eq!(k.isenabler0(), rd_base + 0x1_0100);
        assert_eq!(k.icenabler0(), rd_base + 0x1_0180);
        assert_eq!(k.ispendr0(), rd_base + 0x1_0200);
        assert_eq!(k.icpendr0(), rd_base + 0x1_0280);
        assert_eq!(k.igroupr0(), rd_base + 0x1_0080);
        assert_eq!(k.priority_byte(), rd_base + 0x1_040f);
        assert_eq!(k.sgi1r, 15 << 24 | 1 << 2);
    }
}
