//! The KeptRegisters scenario: does every general register come back from a trap to Stile
//! as the guest left it? Each access runs with a marker in every register it does not read
//! (a load or store reads x0, the address, and x1, the data) and all 31 are read right after
//! it. The accesses take
//! each way a guest's abort goes through EL2's vector (docs/ARCHITECTURE.md, "The fault
//! path"):
//! - the first store to an untouched RAM page: after faults in other slots, the lazy-map
//!   entry declines it and the full path maps it (and makes RAM the slot found last);
//! - the second: the lazy-map entry maps it, with only the registers a call clobbers saved;
//! - two MMIO loads from a page this vCPU exited on before: the vector sends them straight
//!   to the full path, which exits to the VMM;
//! - a store to a read-only slot and a load from no slot: the entry declines them, the full
//!   path exits to the VMM, which answers SKIP.
//! - an ECHO call (`hvc`): an exit to the VMM, whose results come back in x0..x3; x4..x30
//!   must be kept (SMCCC 1.1 and later: only the result registers may change).

use crate::access::{Load, Store, LOAD_PRESET};
use crate::cpu::{Abort, Cpu};
use crate::device::{read_pattern, Register};
use crate::ipa::Ipa;
use crate::layout;
use crate::protocol::{Call, Report, Scenario, Verdict, ECHO_ARGS, ECHO_RESULTS};

/// The instruction: `ldr x1, [x0]`, `str x1, [x0]`, or `hvc #0` (an ECHO call: x0 = the
/// call, x1..x7 its arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkedOp {
    Load,
    Store,
    Hvc,
}

/// x0..x30 right after a marked access, and the abort the guest's vector took there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkedRegs {
    pub x: [u64; 31],
    pub abort: Option<Abort>,
}

/// Register xn's marker.
pub const fn marker(base: u64, n: usize) -> u64 {
    base.wrapping_add(n as u64)
}

/// x0..x30 before the access: a marker in every register the instruction does not read,
/// x0 the address and x1 a load's preset or a store's value (its marker), or the ECHO call.
pub fn before(op: MarkedOp, addr: Ipa, base: u64) -> [u64; 31] {
    let mut x: [u64; 31] = core::array::from_fn(|n| marker(base, n));
    match op {
        MarkedOp::Load => [x[0], x[1]] = [addr.0, LOAD_PRESET],
        MarkedOp::Store => x[0] = addr.0,
        MarkedOp::Hvc => {
            x[0] = Call::Echo as u64;
            x[1..8].copy_from_slice(&ECHO_ARGS);
        }
    }
    x
}

/// A marked access by a CPU that is not a CPU (`Cpu::marked_access`'s default): the
/// instruction through `load`, `store` or `hvc`, every other register as it was.
pub fn modelled<C: Cpu + ?Sized>(cpu: &mut C, op: MarkedOp, regs: [u64; 31]) -> MarkedRegs {
    let mut x = regs;
    let addr = Ipa(x[0]);
    let abort = match op {
        MarkedOp::Load => {
            let l = cpu.load(Load::X, addr);
            x[1] = l.value;
            l.abort
        }
        MarkedOp::Store => cpu.store(Store::X, addr, x[1]),
        MarkedOp::Hvc => {
            let mut args = [0; 8];
            args.copy_from_slice(&x[..8]);
            x[..4].copy_from_slice(&cpu.hvc(args));
            None
        }
    };
    MarkedRegs { x, abort }
}

/// Base of the markers of access `i`: "KEPT" in the top half, distinct per access and per
/// register.
const fn base_of(i: usize) -> u64 {
    0x4b45_5054_0000_0000 | ((i as u64 + 1) << 16)
}

/// What x1 (a load's destination) must hold after the access; for a store and the HVC,
/// what the registers it reads and writes must hold is fixed by `before` and ECHO.
#[derive(Debug, Clone, Copy)]
enum After {
    Loaded(u64),
    Unchanged,
    Echoed,
}

/// Runs the accesses: `ram` starts two RAM pages never touched before, `read_only` is a
/// read-only RAM slot, `hole` in no slot.
pub fn kept_registers(cpu: &mut impl Cpu, ram: Ipa, read_only: Ipa, hole: Ipa) -> Report {
    let s = Scenario::KeptRegisters;
    let pattern = layout::DEVICE.base.add(Register::Pattern.offset());
    let second = ram.add(layout::PAGE);
    // What the stores to RAM write: x1's marker of their access.
    let stored = |i| marker(base_of(i), 1);
    let accesses = [
        (MarkedOp::Store, ram, After::Unchanged),
        (MarkedOp::Store, second, After::Unchanged),
        (MarkedOp::Load, ram, After::Loaded(stored(0))),
        (MarkedOp::Load, second, After::Loaded(stored(1))),
        (MarkedOp::Load, pattern, After::Loaded(read_pattern(8))),
        (MarkedOp::Load, pattern, After::Loaded(read_pattern(8))),
        (MarkedOp::Store, read_only, After::Unchanged),
        (MarkedOp::Load, hole, After::Loaded(LOAD_PRESET)),
        (MarkedOp::Hvc, Ipa(0), After::Echoed),
    ];
    for (i, &(op, addr, after)) in accesses.iter().enumerate() {
        let regs = before(op, addr, base_of(i));
        let got = cpu.marked_access(op, regs);
        if let Some(a) = got.abort {
            return Report::new(s, Verdict::UnexpectedAbort, [i as u64, a.esr, a.far, 0, 0]);
        }
        let mut want = regs;
        match after {
            After::Loaded(v) => want[1] = v,
            After::Unchanged => {}
            After::Echoed => want[..4].copy_from_slice(&ECHO_RESULTS),
        }
        let wrong = (0..31)
            .filter(|&n| got.x[n] != want[n])
            .fold(0u64, |m, n| m | 1 << n);
        if wrong != 0 {
            let n = wrong.trailing_zeros() as usize;
            let detail = [i as u64, wrong, n as u64, got.x[n], want[n]];
            return Report::new(s, Verdict::WrongValue, detail);
        }
    }
    Report::new(s, Verdict::Pass, [accesses.len() as u64, 0, 0, 0, 0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Loaded, LoadedPair};
    use std::collections::HashMap;

    /// Memory as the protocol has it; `clobber` = (access, register, value) written into
    /// that register after that access, as a hypervisor that loses it would.
    #[derive(Default)]
    struct Model {
        ram: HashMap<u64, u64>,
        clobber: Option<(usize, usize, u64)>,
        calls: usize,
    }

    impl Cpu for Model {
        fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
            if x[0] == Call::Echo as u64 && x[1..] == ECHO_ARGS {
                ECHO_RESULTS
            } else {
                [0; 4]
            }
        }

        fn load(&mut self, _load: Load, addr: Ipa) -> Loaded {
            let value = if layout::DEVICE.contains(addr) {
                read_pattern(8)
            } else if layout::RAM.contains(addr) {
                self.ram.get(&addr.0).copied().unwrap_or(0)
            } else {
                LOAD_PRESET
            };
            Loaded { value, abort: None }
        }

        fn store(&mut self, _store: Store, addr: Ipa, value: u64) -> Option<Abort> {
            if layout::RAM.contains(addr) {
                self.ram.insert(addr.0, value);
            }
            None
        }

        fn load_pair(&mut self, _addr: Ipa) -> LoadedPair {
            unreachable!("not used by this scenario")
        }

        fn marked_access(&mut self, op: MarkedOp, regs: [u64; 31]) -> MarkedRegs {
            let mut r = modelled(self, op, regs);
            if let Some((i, n, v)) = self.clobber {
                if i == self.calls {
                    r.x[n] = v;
                }
            }
            self.calls += 1;
            r
        }
    }

    fn run(cpu: &mut Model) -> Report {
        kept_registers(
            cpu,
            layout::MARKED_SCRATCH,
            layout::READ_ONLY.base,
            layout::HOLE,
        )
    }

    #[test]
    fn registers_kept_everywhere_pass() {
        let r = run(&mut Model::default());
        assert_eq!(
            r,
            Report::new(Scenario::KeptRegisters, Verdict::Pass, [9, 0, 0, 0, 0])
        );
    }

    #[test]
    fn any_register_lost_at_any_access_is_named() {
        for i in 0..9 {
            for n in 0..31 {
                let mut cpu = Model {
                    clobber: Some((i, n, 0x686f_7374)),
                    ..Model::default()
                };
                let r = run(&mut cpu);
                assert_eq!(r.verdict, Verdict::WrongValue as u64, "access {i}, x{n}");
                assert_eq!(r.detail[..4], [i as u64, 1 << n, n as u64, 0x686f_7374]);
            }
        }
    }

    #[test]
    fn markers_are_distinct_across_registers_and_accesses() {
        let mut all: std::vec::Vec<u64> = (0..9)
            .flat_map(|i| (1..31).map(move |n| marker(base_of(i), n)))
            .collect();
        all.push(LOAD_PRESET);
        all.push(read_pattern(8));
        all.extend(ECHO_ARGS);
        all.extend(ECHO_RESULTS);
        let len = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), len);
    }

    #[test]
    fn a_store_that_never_reached_ram_shows_in_the_load_after_it() {
        struct Lost(Model);
        impl Cpu for Lost {
            fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
                self.0.hvc(x)
            }
            fn load(&mut self, load: Load, addr: Ipa) -> Loaded {
                self.0.load(load, addr)
            }
            fn store(&mut self, _store: Store, _addr: Ipa, _value: u64) -> Option<Abort> {
                None
            }
            fn load_pair(&mut self, addr: Ipa) -> LoadedPair {
                self.0.load_pair(addr)
            }
        }
        let r = kept_registers(
            &mut Lost(Model::default()),
            layout::MARKED_SCRATCH,
            layout::READ_ONLY.base,
            layout::HOLE,
        );
        assert_eq!(r.verdict, Verdict::WrongValue as u64);
        assert_eq!(r.detail[..3], [2, 1 << 1, 1]);
    }
}
