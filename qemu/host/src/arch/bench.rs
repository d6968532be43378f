//! The real [`BenchMachine`]: CNTVCT_EL0, the PMU (programmed here: counter 0 counts
//! instructions retired at EL2 only, counter 1 at every EL) and the measured loops, in asm so
//! that each is a fixed instruction sequence whose HVC-less twin differs by the HVC alone.

use super::smccc::Real;
use super::vmm::run_page_data;
use crate::bench::machine::{BenchMachine, CallLoop, LoopEnd};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

/// PMU event INST_RETIRED.
const INST_RETIRED: u64 = 0x08;
/// PMEVTYPER<n>_EL0 filters: P (bit 31) no EL1, U (bit 30) no EL0, NSH (bit 27) count EL2.
/// Without EL3 (QEMU virt without secure=on) NSK/NSU read as 0, so P/U alone decide.
const FILTER_P: u64 = 1 << 31;
const FILTER_U: u64 = 1 << 30;
const FILTER_NSH: u64 = 1 << 27;
const EL2_ONLY: u64 = INST_RETIRED | FILTER_P | FILTER_U | FILTER_NSH;
const EVERY_EL: u64 = INST_RETIRED | FILTER_NSH;
/// PMCR_EL0: E (enable), P (reset the event counters).
const PMCR_E: u64 = 1 << 0;
const PMCR_P: u64 = 1 << 1;

static PMU_ON: AtomicBool = AtomicBool::new(false);

/// Programs event counters 0 (EL2 only) and 1 (every EL) with INST_RETIRED, if the CPU has
/// a PMU with two of them (Stile gives EL1 all of them: MDCR_EL2.HPMN = PMCR_EL0.N).
pub fn pmu_setup() -> bool {
    let (dfr0, pmcr): (u64, u64);
    // SAFETY: reading ID_AA64DFR0_EL1 has no side effects.
    unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack)) };
    let pmuver = (dfr0 >> 8) & 0xf;
    if pmuver == 0 || pmuver == 0xf {
        return false;
    }
    // SAFETY: the PMU exists (PMUVer), so PMCR_EL0 reads without side effects.
    unsafe { asm!("mrs {}, pmcr_el0", out(reg) pmcr, options(nomem, nostack)) };
    if (pmcr >> 11) & 0x1f < 2 {
        return false;
    }
    // SAFETY: counters 0 and 1 exist (PMCR_EL0.N >= 2) and belong to EL1 (Stile's
    // MDCR_EL2.HPMN); programming them changes nothing but what they count.
    unsafe {
        asm!(
            "msr pmevtyper0_el0, {el2}",
            "msr pmevtyper1_el0, {all}",
            "msr pmcntenset_el0, {en}",
            "msr pmcr_el0, {pmcr}",
            "isb",
            el2 = in(reg) EL2_ONLY,
            all = in(reg) EVERY_EL,
            en = in(reg) 0b11u64,
            pmcr = in(reg) pmcr | PMCR_E | PMCR_P,
            options(nomem, nostack),
        )
    };
    PMU_ON.store(true, Ordering::Relaxed);
    true
}

macro_rules! read_counter {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: reading a counter has no side effects; PMU registers are read only after
        // pmu_setup found and programmed them. The ISB keeps the read in program order.
        unsafe { asm!("isb", concat!("mrs {}, ", $reg), out(reg) v, options(nomem, nostack)) };
        v
    }};
}

/// The loop of [`CallLoop`], with or without its `hvc` (the tokens between the brackets).
macro_rules! call_loop {
    ($l:expr, [$($hvc:literal)?]) => {{
        let l: &CallLoop = $l;
        let (left, x0, x1): (u64, u64, u64);
        // SAFETY: the loop touches no memory but the run page's `data` field (ours to write:
        // the VMM's answer to an MMIO read); each HVC is an SMCCC call to Stile, which
        // may clobber x0..x17 (declared); x20..x27 are inputs the loop keeps.
        unsafe {
            asm!(
                "2:",
                "mov x0, x21",
                "mov x1, x22",
                "mov x2, x23",
                $($hvc,)?
                "cmp x0, x24",
                "b.ne 3f",
                "cmp x1, x25",
                "b.ne 3f",
                "str x26, [x27]",
                "subs x20, x20, #1",
                "b.ne 2b",
                "3:",
                inout("x20") l.n => left,
                in("x21") l.call[0], in("x22") l.call[1], in("x23") l.call[2],
                in("x24") l.expect[0], in("x25") l.expect[1],
                in("x26") l.data, in("x27") run_page_data(),
                out("x0") x0, out("x1") x1,
                out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack),
            )
        };
        LoopEnd {
            done: l.n - left,
            last: [x0, x1],
        }
    }};
}

/// `dither` NOPs (a computed branch into a NOP sled), CNTVCT, the call (or nothing), CNTVCT.
macro_rules! timed_call {
    ($x:expr, $dither:expr, [$($hvc:literal)?]) => {{
        let x: [u64; 7] = $x;
        let (mut x0, mut x1, mut x2, mut x3) = (x[0], x[1], x[2], x[3]);
        let (t0, t1): (u64, u64);
        // SAFETY: as for `call_loop`: an SMCCC call (x0..x17 may be clobbered; declared),
        // and the branch lands inside this asm's own NOP sled (dither <= 15).
        unsafe {
            asm!(
                "adr x10, 4f",
                "sub x10, x10, x9, lsl #2",
                "br x10",
                ".rept 15",
                "nop",
                ".endr",
                "4:",
                "isb",
                "mrs x20, cntvct_el0",
                $($hvc,)?
                "isb",
                "mrs x21, cntvct_el0",
                inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
                inout("x4") x[4] => _, inout("x5") x[5] => _, inout("x6") x[6] => _,
                inout("x9") u64::from($dither & 15) => _,
                out("x20") t0, out("x21") t1,
                out("x7") _, out("x8") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack),
            )
        };
        ([x0, x1, x2, x3], t1.wrapping_sub(t0))
    }};
}

/// CNTFRQ_EL0: the rate CNTVCT_EL0 counts at.
pub fn counter_hz() -> u64 {
    read_counter!("cntfrq_el0")
}

impl BenchMachine for Real {
    fn ticks(&mut self) -> u64 {
        read_counter!("cntvct_el0")
    }

    fn el2_instructions(&mut self) -> Option<u64> {
        PMU_ON
            .load(Ordering::Relaxed)
            .then(|| read_counter!("pmevcntr0_el0"))
    }

    fn all_instructions(&mut self) -> Option<u64> {
        PMU_ON
            .load(Ordering::Relaxed)
            .then(|| read_counter!("pmevcntr1_el0"))
    }

    fn call_loop(&mut self, l: &CallLoop, hvc: bool) -> LoopEnd {
        if l.n == 0 {
            return LoopEnd {
                done: 0,
                last: [0; 2],
            };
        }
        if hvc {
            call_loop!(l, ["hvc #0"])
        } else {
            call_loop!(l, [])
        }
    }

    fn timed_call(&mut self, call: Option<[u64; 7]>, dither: u8) -> ([u64; 4], u64) {
        match call {
            Some(x) => timed_call!(x, dither, ["hvc #0"]),
            None => {
                let (_, t) = timed_call!([0; 7], dither, []);
                ([0; 4], t)
            }
        }
    }
}
