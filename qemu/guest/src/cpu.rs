//! What the scenarios need from the CPU, as a trait: `arch` implements it with the fixed
//! instructions of access.S; the host's tests implement it against a fake Stile.

use crate::access::{Load, Store};
use crate::ipa::Ipa;
use crate::marked::{MarkedOp, MarkedRegs};
use crate::protocol::{BenchIrq, Call, FpRegs};

/// A synchronous exception the guest's vector took at an access (and stepped over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    /// ESR_EL1; 0 when the guest refused the access itself (an address inside its own
    /// image) without making it.
    pub esr: u64,
    /// FAR_EL1.
    pub far: u64,
}

/// How a load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// The destination register afterwards ([`crate::access::LOAD_PRESET`] if the load was
    /// skipped or aborted).
    pub value: u64,
    pub abort: Option<Abort>,
}

/// How a load pair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedPair {
    pub first: u64,
    pub second: u64,
    pub abort: Option<Abort>,
}

pub trait Cpu {
    /// `hvc #0` with x0..x7; returns x0..x3.
    fn hvc(&mut self, x: [u64; 8]) -> [u64; 4];
    /// One `load` from `addr`, its destination preset to `LOAD_PRESET`.
    fn load(&mut self, load: Load, addr: Ipa) -> Loaded;
    /// One `store` of `value` (the whole source register) to `addr`.
    fn store(&mut self, store: Store, addr: Ipa, value: u64) -> Option<Abort>;
    /// `ldp x2, x3` from `addr`, both preset to `LOAD_PRESET`.
    fn load_pair(&mut self, addr: Ipa) -> LoadedPair;

    /// The marked access `op` (`crate::marked`) with x0..x30 = `regs` before it: x0..x30
    /// right after it. The default (CPUs that are not CPUs) keeps every register the
    /// instruction does not write.
    fn marked_access(&mut self, op: MarkedOp, regs: [u64; 31]) -> MarkedRegs {
        crate::marked::modelled(self, op, regs)
    }

    /// Writes `fp` into d0 and v31, makes `hvc #0` with `x`, reads d0 and v31 back: x0..x3
    /// of the call and the FP registers afterwards. The default (CPUs that are not CPUs)
    /// models FP state as preserved across the call.
    fn fp_round_trip(&mut self, fp: FpRegs, x: [u64; 8]) -> ([u64; 4], FpRegs) {
        (self.hvc(x), fp)
    }

    /// Reads register `index` of `crate::regclass::REGS`; None if the read was UNDEFINED.
    /// The default (CPUs that are not CPUs) has none of them.
    fn reg_read(&mut self, _index: usize) -> Option<u64> {
        None
    }

    /// Writes register `index`; false if the write was UNDEFINED.
    fn reg_write(&mut self, _index: usize, _value: u64) -> bool {
        false
    }

    /// Lets FP/SIMD and SVE through at EL1 (CPACR_EL1), so that what traps traps to EL2.
    fn enable_vector_units(&mut self) {}
    /// One vGIC case (protocol::VgicCase) on the real GIC interface (`gic`: 2 for GICv2,
    /// else GICv3): its REPORT details, or None where there is none (the fakes).
    fn vgic(&mut self, _case: crate::protocol::VgicCase, _arg: u64, _gic: u64) -> Option<[u64; 5]> {
        None
    }

    /// One BenchIrq (protocol::BenchIrq) loop of `count` (>= 1) interrupts: its REPORT
    /// details, or None where there is no GIC (the fakes).
    fn bench_irq(&mut self, _kind: BenchIrq, _count: u64, _arg: u64) -> Option<[u64; 5]> {
        None
    }

    /// Unmasks (or masks again) debug exceptions (PSTATE.D).
    fn debug_exceptions(&mut self, _on: bool) {}

    // The bench loops (`crate::bench`). The defaults are the same work built from the calls
    // above, for CPUs that are not CPUs (the tests'); `arch` runs each as a tight loop of
    // fixed instructions whose cost per iteration is what the bench reports.

    /// CNTVCT_EL0 (0 on a CPU without one).
    fn ticks(&mut self) -> u64 {
        0
    }

    /// PMU event counter 0, which the VMM programmed to count EL2 instructions; called only
    /// when the VMM says so ([`crate::protocol::BENCH_READ_PMU`]).
    fn el2_count(&mut self) -> u64 {
        0
    }

    /// `count` (>= 1) PING calls back to back.
    fn ping_loop(&mut self, count: u64) {
        for _ in 0..count {
            self.hvc([Call::Ping as u64, 0, 0, 0, 0, 0, 0, 0]);
        }
    }

    /// `count` (>= 1) 4-byte loads from `addr` back to back; the last value loaded.
    fn mmio_loop(&mut self, addr: Ipa, count: u64) -> u64 {
        let mut value = 0;
        for _ in 0..count {
            value = self.load(Load::W, addr).value;
        }
        value
    }

    /// `count` (>= 1) pairs of 8-byte loads, from `a` then from `b`; the last value loaded.
    fn alternate_loop(&mut self, a: Ipa, b: Ipa, count: u64) -> u64 {
        let mut value = 0;
        for _ in 0..count {
            self.load(Load::X, a);
            value = self.load(Load::X, b).value;
        }
        value
    }

    /// `count` (>= 1) 8-byte loads, from `first` and every `stride` bytes after it.
    fn touch_loop(&mut self, first: Ipa, stride: u64, count: u64) {
        for i in 0..count {
            self.load(Load::X, first.add(i * stride));
        }
    }
}
