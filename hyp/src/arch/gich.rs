//! The GICv2 virtual interface control frame (GICH, banked per CPU at one address, which
//! EL2's own map holds as Device memory: mm/el2_map.rs) and a vCPU's [`GicCpuRegs`]: the
//! GICv2 counterpart of the ICH_* registers in gic.rs. The guest's own CPU interface is
//! the hardware's GICV frame, mapped into its stage 2 (vm/interrupts.rs).

use crate::vgic::lr::{GicCpuRegs, MAX_LRS};
use core::ptr::{read_volatile, write_volatile};

const HCR: usize = 0x0;
const VTR: usize = 0x4;
const VMCR: usize = 0x8;
const MISR: usize = 0x10;
const APR: usize = 0xf0;
const LR0: usize = 0x100;

fn rd(gich: usize, off: usize) -> u32 {
    // SAFETY: `gich` is the DT's GICH frame, which EL2's own map holds as Device memory
    // (mm/el2_map.rs); `off` is one of its architected 32-bit registers (an LR: n < 64).
    unsafe { read_volatile((gich + off) as *const u32) }
}

fn wr(gich: usize, off: usize, v: u32) {
    // SAFETY: as in `rd`; the frame is EL2's alone (the host's stage 2 leaves it out).
    unsafe { write_volatile((gich + off) as *mut u32, v) }
}

/// (list registers, active-priority registers): GICH_VTR.ListRegs + 1, and the one GICH_APR.
pub fn probe(gich: usize) -> (u8, u8) {
    let lrs = (rd(gich, VTR) & 0x3f) as u8 + 1;
    (lrs.min(MAX_LRS as u8), 1)
}

pub fn read_lrs(gich: usize, regs: &mut GicCpuRegs, lrs: u8) {
    for (n, lr) in regs.lrs.iter_mut().enumerate().take(lrs as usize) {
        *lr = rd(gich, LR0 + 4 * n) as u64;
    }
}

pub fn write_lrs(gich: usize, regs: &GicCpuRegs, lrs: u8) {
    for (n, lr) in regs.lrs.iter().enumerate().take(lrs as usize) {
        wr(gich, LR0 + 4 * n, *lr as u32);
    }
    wr(gich, HCR, regs.hcr as u32);
}

pub fn load(gich: usize, regs: &GicCpuRegs, lrs: u8) {
    wr(gich, APR, regs.ap0r[0] as u32);
    wr(gich, VMCR, regs.vmcr as u32);
    write_lrs(gich, regs, lrs);
}

pub fn save(gich: usize, regs: &mut GicCpuRegs, lrs: u8) {
    read_lrs(gich, regs, lrs);
    regs.vmcr = rd(gich, VMCR) as u64;
    regs.ap0r[0] = rd(gich, APR) as u64;
    clear(gich, lrs);
}

/// Nothing of a guest's left: En clear, LRs, VMCR and active priorities zero.
pub fn clear(gich: usize, lrs: u8) {
    wr(gich, HCR, 0);
    for n in 0..lrs as usize {
        wr(gich, LR0 + 4 * n, 0);
    }
    wr(gich, VMCR, 0);
    wr(gich, APR, 0);
}

pub fn misr(gich: usize) -> u64 {
    rd(gich, MISR) as u64
}
