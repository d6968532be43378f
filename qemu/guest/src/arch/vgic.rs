//! The vGIC cases (protocol::VgicCase) on the guest's GICv3: GICD/GICR at the IPAs the VMM
//! gave VGIC_CONFIG (its MMU is off: every access is one Device access, trapped by Stile),
//! the ICC_* system registers (Stile's virtual CPU interface), and the IRQ vector. On a
//! GICv2: GICD (with ITARGETSR and GICD_SGIR instead of GICR and ICC_SGI1R_EL1) and the
//! memory-mapped GICC, which is the hardware's GICV frame under Stile.

use crate::protocol::{Call, VgicCase, ECHO_ARGS};
use core::arch::{asm, global_asm};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::layout::{VGIC_GICC as GICC, VGIC_GICD as GICD, VGIC_GICR as GICR};

/// GICC registers (GICv2).
const GICC_CTLR: u64 = 0x0;
const GICC_PMR: u64 = 0x4;
const GICC_IAR: u64 = 0xc;
const GICC_EOIR: u64 = 0x10;
const GICD_SGIR: u64 = 0xf00;

/// The case being run is on a GICv2 (set by `run`; the bench's cases are GICv3).
static V2: AtomicBool = AtomicBool::new(false);

fn v2() -> bool {
    V2.load(Ordering::Relaxed)
}

const GICR_STRIDE: u64 = 0x2_0000;
const SGI_FRAME: u64 = 0x1_0000;
const VTIMER: u64 = 27;

/// What the IRQ vector saw: interrupts taken, the last INTID, the counter at the first.
static TAKEN: AtomicU64 = AtomicU64::new(0);
static LAST: AtomicU64 = AtomicU64::new(1023);
static FIRST_AT: AtomicU64 = AtomicU64::new(0);
/// Entries to the IRQ vector, acknowledged or not.
static ENTERED: AtomicU64 = AtomicU64::new(0);

fn rd(addr: u64) -> u32 {
    // SAFETY: a vGIC register at an IPA no memslot covers: Stile emulates the access (or
    // it becomes an exit); nothing of this image is there.
    unsafe { read_volatile(addr as *const u32) }
}

fn wr(addr: u64, v: u32) {
    // SAFETY: as in `rd`.
    unsafe { write_volatile(addr as *mut u32, v) }
}

fn rd64(addr: u64) -> u64 {
    // SAFETY: as in `rd`.
    unsafe { read_volatile(addr as *const u64) }
}

fn counter() -> u64 {
    let t: u64;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack)) };
    t
}

/// The IRQ vector: acknowledge, note, silence the timer if it was the timer, end.
pub fn irq() {
    ENTERED.fetch_add(1, Ordering::Relaxed);
    let raw: u64 = if v2() {
        rd(GICC + GICC_IAR) as u64
    } else {
        let v: u64;
        // SAFETY: the virtual CPU interface's acknowledge; the guest runs at EL1.
        unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) v, options(nomem, nostack)) };
        v
    };
    // GICv2's IAR carries the SGI's source CPU in bits 12:10.
    let intid = raw & 0x3ff;
    if intid >= 1020 {
        return;
    }
    if TAKEN.fetch_add(1, Ordering::Relaxed) == 0 {
        FIRST_AT.store(counter(), Ordering::Relaxed);
    }
    LAST.store(intid, Ordering::Relaxed);
    if intid == VTIMER {
        // SAFETY: our own virtual timer: off (its line drops).
        unsafe { asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack)) };
    }
    if v2() {
        wr(GICC + GICC_EOIR, raw as u32);
        return;
    }
    // SAFETY: priority drop and deactivation (EOImode 0) of what we acknowledged.
    unsafe { asm!("msr icc_eoir1_el1, {}", "isb", in(reg) intid, options(nomem, nostack)) };
}

/// CPU interface and distributor on, redistributor 0 awake.
pub(super) fn init() {
    TAKEN.store(0, Ordering::Relaxed);
    LAST.store(1023, Ordering::Relaxed);
    if v2() {
        // Priority mask open, Group 0 (every interrupt of a GICv2 vGIC) on, as IRQ.
        wr(GICC + GICC_PMR, 0xff);
        wr(GICC + GICC_CTLR, 1);
        wr(GICD, 1);
        return;
    }
    // SAFETY: the GIC's EL1 system registers (virtual ones under Stile): SRE, priority
    // mask open, Group 1 on.
    unsafe {
        asm!(
            "mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb",
            "msr icc_pmr_el1, {pmr}", "msr icc_igrpen1_el1, {one}", "isb",
            t = out(reg) _, pmr = in(reg) 0xffu64, one = in(reg) 1u64,
            options(nomem, nostack),
        )
    };
    wr(GICR + 0x14, 0);
    wr(GICD, 2);
}

/// IRQ vector entries while IRQs are unmasked for a while (a guest without a vGIC: none).
fn unmasked_entries() -> u64 {
    ENTERED.store(0, Ordering::Relaxed);
    wait_for(u64::MAX, 100_000, false);
    ENTERED.load(Ordering::Relaxed)
}

/// IRQs unmasked until the vector has seen `n` interrupts or `spins` run out.
fn wait_for(n: u64, spins: u32, wfi: bool) {
    // SAFETY: the IRQ vector is installed (entry.S set VBAR_EL1).
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
    for _ in 0..spins {
        if TAKEN.load(Ordering::Relaxed) >= n {
            break;
        }
        if wfi {
            // SAFETY: waits for an interrupt (Stile traps it for a vGIC guest).
            unsafe { asm!("wfi", options(nomem, nostack)) };
        } else {
            core::hint::spin_loop();
        }
    }
    // SAFETY: back to masked, as the rest of the guest runs.
    unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
}

/// Enable SGI/PPI `intid` at priority 0x80 in vCPU `cpu`'s redistributor. (GICv2: the
/// distributor's banked registers reach only this vCPU's; its SGIs are always enabled.)
pub(super) fn enable_private(cpu: u64, intid: u64) {
    if v2() {
        if cpu == 0 {
            wr(GICD + 0x400 + (intid & !3), 0x8080_8080);
            wr(GICD + 0x100, 1 << intid);
        }
        return;
    }
    let sgi = GICR + cpu * GICR_STRIDE + SGI_FRAME;
    wr(sgi + 0x400 + (intid & !3), 0x8080_8080);
    wr(sgi + 0x100, 1 << intid);
}

/// SPI `arg` (masked to 0..1023) edge-triggered, priority 0x80, routed to vCPU 0, enabled.
pub(super) fn enable_spi(arg: u64) {
    let spi = arg & 0x3ff;
    let (word, bit) = (4 * (spi / 32), spi % 32);
    wr(GICD + 0xc00 + 4 * (spi / 16), 2 << (2 * (spi % 16)));
    wr(GICD + 0x400 + (spi & !3), 0x8080_8080);
    if v2() {
        // SAFETY: as in `rd`: ITARGETSR<spi> = vCPU 0.
        unsafe { write_volatile((GICD + 0x800 + spi) as *mut u8, 1) };
    } else {
        // SAFETY: as in `rd`: IROUTER<spi> = vCPU 0.
        unsafe { write_volatile((GICD + 0x6000 + 8 * spi) as *mut u64, 0) };
    }
    wr(GICD + 0x100 + word, 1 << bit);
}

/// SGI `sgi` to the vCPUs in `targets` (bit n = vCPU n): ICC_SGI1R_EL1 or GICD_SGIR.
fn send_sgi(sgi: u64, targets: u64) {
    match v2() {
        true => wr(GICD + GICD_SGIR, (targets << 16 | sgi) as u32),
        false => sgi1r(sgi << 24 | targets),
    }
}

fn sgi1r(value: u64) {
    // SAFETY: a write-only GIC register; Stile traps it (HCR_EL2.IMO).
    unsafe { asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nomem, nostack)) };
}

global_asm!(
    ".global guest_sgi1r_probe, guest_sgi1r_probe_access",
    "guest_sgi1r_probe:",
    "guest_sgi1r_probe_access:",
    "    msr icc_sgi1r_el1, x0",
    "    ret",
);

extern "C" {
    fn guest_sgi1r_probe(value: u64);
    fn guest_sgi1r_probe_access();
}

pub fn run(case: VgicCase, arg: u64, gic_v2: bool) -> [u64; 5] {
    V2.store(gic_v2, Ordering::Relaxed);
    match case {
        VgicCase::Registers if gic_v2 => {
            wr(GICD, 1);
            let ctlr = rd(GICD) as u64;
            let (typer, pidr2) = (rd(GICD + 4) as u64, rd(GICD + 0xfe8) as u64);
            wr(GICD + 0x104, 1 << 8 | 1 << 9);
            wr(GICD + 0x184, 1 << 9);
            // SAFETY: as in `rd`: one byte of IPRIORITYR40.
            unsafe { write_volatile((GICD + 0x400 + 40) as *mut u8, 0xa0) };
            let enabled = rd(GICD + 0x104) as u64 | (rd(GICD + 0x428) as u64 & 0xff) << 32;
            [ctlr, typer, pidr2, enabled, rd(GICD + 0x800) as u64]
        }
        VgicCase::Registers => {
            wr(GICD, 2);
            let ctlr = rd(GICD) as u64;
            let (typer, pidr2) = (rd(GICD + 4) as u64, rd(GICD + 0xffe8) as u64);
            wr(GICD + 0x104, 1 << 8 | 1 << 9);
            wr(GICD + 0x184, 1 << 9);
            // SAFETY: as in `rd`: one byte of IPRIORITYR40.
            unsafe { write_volatile((GICD + 0x400 + 40) as *mut u8, 0xa0) };
            let enabled = rd(GICD + 0x104) as u64 | (rd(GICD + 0x428) as u64 & 0xff) << 32;
            [ctlr, typer, pidr2, enabled, rd64(GICR + GICR_STRIDE + 8)]
        }
        VgicCase::Spi => {
            init();
            enable_spi(arg);
            wait_for(1, 1000, false);
            let before = TAKEN.load(Ordering::Relaxed);
            let a = ECHO_ARGS;
            super::cpu::hvc([Call::Echo as u64, a[0], a[1], a[2], a[3], a[4], a[5], a[6]]);
            wait_for(before + 1, 100_000, false);
            [
                TAKEN.load(Ordering::Relaxed),
                LAST.load(Ordering::Relaxed),
                before,
                0,
                0,
            ]
        }
        VgicCase::Timer | VgicCase::TimerRunning => {
            init();
            enable_private(0, VTIMER);
            let freq: u64;
            // SAFETY: reading CNTFRQ_EL0 has no side effects.
            unsafe { asm!("mrs {}, cntfrq_el0", out(reg) freq, options(nomem, nostack)) };
            let cval = counter() + freq / 1000 * arg.clamp(1, 1000);
            // SAFETY: our own virtual timer, armed.
            unsafe {
                asm!("msr cntv_cval_el0, {}", "msr cntv_ctl_el0, {}", "isb",
                    in(reg) cval, in(reg) 1u64, options(nomem, nostack))
            };
            match case {
                VgicCase::Timer => wait_for(1, 10_000, true),
                // Up to 100 ms of counter, spinning.
                _ => {
                    // SAFETY: the IRQ vector is installed.
                    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
                    while TAKEN.load(Ordering::Relaxed) == 0 && counter() < cval + freq / 10 {
                        core::hint::spin_loop();
                    }
                    // SAFETY: masked again, as the rest of the guest runs.
                    unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
                }
            }
            let at = FIRST_AT.load(Ordering::Relaxed);
            [
                TAKEN.load(Ordering::Relaxed),
                LAST.load(Ordering::Relaxed),
                cval,
                at,
                freq,
            ]
        }
        VgicCase::SgiSelf => {
            init();
            let sgi = arg & 0xf;
            enable_private(0, sgi);
            send_sgi(sgi, 1);
            wait_for(1, 100_000, false);
            [
                TAKEN.load(Ordering::Relaxed),
                LAST.load(Ordering::Relaxed),
                0,
                0,
                0,
            ]
        }
        VgicCase::SgiOther => {
            init();
            let sgi = arg & 0xf;
            enable_private(1, sgi);
            send_sgi(sgi, 0b10);
            wait_for(1, 10_000, false);
            [TAKEN.load(Ordering::Relaxed), 0, 0, 0, 0]
        }
        VgicCase::Cost => {
            let n = arg.min(100_000);
            let pattern = crate::layout::DEVICE.base.0 + 0x10;
            let t0 = counter();
            for _ in 0..n {
                rd(GICD + 4);
            }
            let t1 = counter();
            for _ in 0..n {
                rd(pattern);
            }
            let t2 = counter();
            for _ in 0..n {
                wr(GICD + 0x104, 0);
            }
            let t3 = counter();
            let freq: u64;
            // SAFETY: reading CNTFRQ_EL0 has no side effects.
            unsafe { asm!("mrs {}, cntfrq_el0", out(reg) freq, options(nomem, nostack)) };
            [n, t1 - t0, t2 - t1, freq, t3 - t2]
        }
        VgicCase::LeavePending => {
            init();
            enable_spi(arg);
            let spi = arg & 0x3ff;
            let word = GICD + 0x200 + 4 * (spi / 32);
            wr(word, 1 << (spi % 32));
            [rd(word) as u64, 0, 0, 0, 0]
        }
        // No vGIC here: nothing may interrupt it; each GICC read faults out to the VMM (no
        // GICV is mapped).
        VgicCase::Leftover if gic_v2 => {
            let entered = unmasked_entries();
            [rd(GICC + GICC_PMR) as u64, rd(GICC) as u64, 0, entered, 0]
        }
        VgicCase::Leftover => {
            let entered = unmasked_entries();
            let (pmr, grpen, bpr): (u64, u64, u64);
            // SAFETY: reads of the (virtual) CPU interface; no side effects.
            unsafe {
                asm!("mrs {}, icc_pmr_el1", "mrs {}, icc_igrpen1_el1", "mrs {}, icc_bpr1_el1",
                    out(reg) pmr, out(reg) grpen, out(reg) bpr, options(nomem, nostack))
            };
            [pmr, grpen, bpr, entered, 0]
        }
        VgicCase::SgiNoVgic => {
            let pc = guest_sgi1r_probe_access as *const () as u64;
            // SAFETY: one MSR, armed: an UNDEFINED exception is recorded and stepped over.
            let ((), undef) =
                crate::exception::run_armed(pc, || unsafe { guest_sgi1r_probe(1 << 24 | 1) });
            let esr = undef.map_or(u64::MAX, |(esr, _)| esr);
            [u64::from(esr >> 26 == 0), esr, 0, 0, 0]
        }
    }
}
