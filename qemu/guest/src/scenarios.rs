//! The scenarios: each runs a handful of accesses and judges what came back by the protocol
//! (`device`, `access`, `layout`), returning the REPORT. Arch-free: everything goes through
//! [`Cpu`].

use crate::access::{Load, Store, LOAD_PRESET};
use crate::cpu::{Abort, Cpu};
use crate::device::{read_pattern, store_register, Register};
use crate::ipa::Ipa;
use crate::layout::{self, PAGE};
use crate::protocol::{
    Call, PairMode, Report, Scenario, Verdict, ECHO_ARGS, ECHO_RESULTS, FP_GUEST,
};
use crate::regclass::{Class, Found, Reg, World, REGS};

const fn reg(r: Register) -> Ipa {
    layout::DEVICE.base.add(r.offset())
}

fn report(s: Scenario, v: Verdict, detail: [u64; 5]) -> Report {
    Report::new(s, v, detail)
}

fn aborted(s: Scenario, a: Abort) -> Report {
    report(s, Verdict::UnexpectedAbort, [a.esr, a.far, 0, 0, 0])
}

/// Runs `scenario` with NEXT's x1..x3.
pub fn run(cpu: &mut impl Cpu, scenario: Scenario, args: [u64; 3]) -> Report {
    match scenario {
        Scenario::Done => report(scenario, Verdict::BadArgument, [0; 5]),
        Scenario::MmioRead => mmio_read(cpu, args[0]),
        Scenario::MmioWrite => mmio_write(cpu, args[0]),
        Scenario::SignExtend => sign_extend(cpu),
        Scenario::LoadPair => load_pair(cpu, args[0]),
        Scenario::LazyRam => lazy_ram(cpu, Ipa(args[0]), args[1]),
        Scenario::NoSlotReplay => no_slot_replay(cpu, Ipa(args[0])),
        Scenario::ReadOnlyWrite => read_only_write(cpu, Ipa(args[0])),
        Scenario::Window => window(cpu, Ipa(args[0]), args[1]),
        Scenario::Probe => probe(cpu, args),
        Scenario::FaultStorm => fault_storm(cpu, args[0]),
        Scenario::HvcEcho => hvc_echo(cpu),
        Scenario::FpState => fp_state(cpu),
        Scenario::RegClass => reg_class(cpu, args[0], args[1]),
        Scenario::KeptRegisters => {
            crate::marked::kept_registers(cpu, Ipa(args[0]), Ipa(args[1]), Ipa(args[2]))
        }
        Scenario::Vgic => match crate::protocol::VgicCase::from_u64(args[0]) {
            Some(case) => match cpu.vgic(case, args[1], args[2]) {
                Some(d) => report(scenario, Verdict::Pass, d),
                None => report(scenario, Verdict::BadArgument, [args[0], 0, 0, 0, 0]),
            },
            None => report(scenario, Verdict::BadArgument, [args[0], 0, 0, 0, 0]),
        },
        Scenario::BenchPing
        | Scenario::BenchMmio
        | Scenario::BenchReplay
        | Scenario::BenchTouch
        | Scenario::BenchIrq => crate::bench::run(cpu, scenario, args),
    }
}

fn size_arg(v: u64) -> Option<u8> {
    match v {
        1 | 2 | 4 | 8 => Some(v as u8),
        _ => None,
    }
}

fn mmio_read(cpu: &mut impl Cpu, size: u64) -> Report {
    let s = Scenario::MmioRead;
    let Some(load) = size_arg(size).and_then(Load::of_size) else {
        return report(s, Verdict::BadArgument, [size, 0, 0, 0, 0]);
    };
    let got = cpu.load(load, reg(Register::Pattern));
    if let Some(a) = got.abort {
        return aborted(s, a);
    }
    // A W destination preset with LOAD_PRESET: its upper half must have been cleared too.
    let want = load.result(read_pattern(load.size()));
    let v = if got.value == want {
        Verdict::Pass
    } else {
        Verdict::WrongValue
    };
    report(s, v, [got.value, want, 0, 0, 0])
}

fn mmio_write(cpu: &mut impl Cpu, size: u64) -> Report {
    let s = Scenario::MmioWrite;
    let Some(store) = size_arg(size).and_then(Store::of_size) else {
        return report(s, Verdict::BadArgument, [size, 0, 0, 0, 0]);
    };
    let value = store_register(store.size());
    match cpu.store(store, reg(Register::Sink), value) {
        Some(a) => aborted(s, a),
        // What arrived is the VMM's to judge.
        None => report(s, Verdict::Pass, [value, 0, 0, 0, 0]),
    }
}

fn sign_extend(cpu: &mut impl Cpu) -> Report {
    let s = Scenario::SignExtend;
    for (i, load) in Load::SIGNED.into_iter().enumerate() {
        let got = cpu.load(load, reg(Register::Signed));
        if let Some(a) = got.abort {
            return aborted(s, a);
        }
        let want = load.result(read_pattern(load.size()));
        if got.value != want {
            return report(s, Verdict::WrongValue, [i as u64, got.value, want, 0, 0]);
        }
    }
    report(s, Verdict::Pass, [Load::SIGNED.len() as u64, 0, 0, 0, 0])
}

fn load_pair(cpu: &mut impl Cpu, mode: u64) -> Report {
    let s = Scenario::LoadPair;
    let Some(mode) = PairMode::from_u64(mode) else {
        return report(s, Verdict::BadArgument, [mode, 0, 0, 0, 0]);
    };
    let got = cpu.load_pair(reg(Register::Pair));
    let (aborted, esr, far) = match got.abort {
        Some(a) => (1, a.esr, a.far),
        None => (0, 0, 0),
    };
    let untouched = got.first == LOAD_PRESET && got.second == LOAD_PRESET;
    let v = match (mode, got.abort) {
        (PairMode::Skip, None) if untouched => Verdict::Pass,
        (PairMode::Skip, None) => Verdict::WrongValue,
        (PairMode::Skip, Some(_)) => Verdict::UnexpectedAbort,
        (PairMode::Abort, Some(_)) if untouched => Verdict::Pass,
        // No abort where one was promised, or the pair loaded something anyway.
        (PairMode::Abort, _) => Verdict::WrongValue,
    };
    report(s, v, [got.first, got.second, aborted, esr, far])
}

/// The word the lazy-RAM scenario stores in page `i`: distinct per page, so two pages
/// that alias one frame show.
pub const fn lazy_word(i: u64) -> u64 {
    0x4c41_5a59_0000_0000 | i
}

fn lazy_ram(cpu: &mut impl Cpu, first: Ipa, pages: u64) -> Report {
    let s = Scenario::LazyRam;
    if pages == 0 || pages > 512 || !first.is_aligned(PAGE) {
        return report(s, Verdict::BadArgument, [pages, 0, 0, 0, 0]);
    }
    for i in 0..pages {
        if let Some(a) = cpu.store(Store::X, first.add(i * PAGE), lazy_word(i)) {
            return aborted(s, a);
        }
    }
    for i in 0..pages {
        let got = cpu.load(Load::X, first.add(i * PAGE));
        if let Some(a) = got.abort {
            return aborted(s, a);
        }
        if got.value != lazy_word(i) {
            return report(
                s,
                Verdict::WrongValue,
                [pages, i, got.value, lazy_word(i), 0],
            );
        }
    }
    report(s, Verdict::Pass, [pages, pages, 0, 0, 0])
}

fn no_slot_replay(cpu: &mut impl Cpu, at: Ipa) -> Report {
    let s = Scenario::NoSlotReplay;
    let got = cpu.load(Load::X, at);
    if let Some(a) = got.abort {
        return aborted(s, a);
    }
    let want = layout::REPLAY_VALUE;
    let v = if got.value == want {
        Verdict::Pass
    } else {
        Verdict::WrongValue
    };
    report(s, v, [got.value, want, 0, 0, 0])
}

fn read_only_write(cpu: &mut impl Cpu, at: Ipa) -> Report {
    let s = Scenario::ReadOnlyWrite;
    let before = cpu.load(Load::X, at);
    if let Some(a) = before.abort {
        return aborted(s, a);
    }
    let store = cpu.store(Store::X, at, !before.value);
    let after = cpu.load(Load::X, at);
    if let Some(a) = after.abort {
        return aborted(s, a);
    }
    let detail = [before.value, after.value, u64::from(store.is_some()), 0, 0];
    let v = if store.is_some() {
        // The VMM skips the refused store; an abort means it injected one instead.
        Verdict::UnexpectedAbort
    } else if before.value != layout::READ_ONLY_VALUE || after.value != before.value {
        Verdict::WrongValue
    } else {
        Verdict::Pass
    };
    report(s, v, detail)
}

/// The word the window scenario writes at `offset`.
pub const fn window_word(offset: u64) -> u64 {
    0x5749_4e44_0000_0000 | offset
}

fn window(cpu: &mut impl Cpu, base: Ipa, size: u64) -> Report {
    let s = Scenario::Window;
    if size < 16 || !size.is_multiple_of(8) || !base.is_aligned(8) {
        return report(s, Verdict::BadArgument, [size, 0, 0, 0, 0]);
    }
    let offsets = [0, (size / 2) & !7, size - 8];
    for off in offsets {
        if let Some(a) = cpu.store(Store::X, base.add(off), window_word(off)) {
            return aborted(s, a);
        }
    }
    for off in offsets {
        let got = cpu.load(Load::X, base.add(off));
        if let Some(a) = got.abort {
            return aborted(s, a);
        }
        if got.value != window_word(off) {
            return report(
                s,
                Verdict::WrongValue,
                [off, got.value, window_word(off), 0, 0],
            );
        }
    }
    report(s, Verdict::Pass, [size, 0, 0, 0, 0])
}

fn probe(cpu: &mut impl Cpu, targets: [u64; 3]) -> Report {
    let s = Scenario::Probe;
    let mut values = [0u64; 3];
    let mut aborted_mask = 0;
    let mut verdict = Verdict::Pass;
    for (i, &t) in targets.iter().enumerate() {
        if t == 0 {
            continue;
        }
        let got = cpu.load(Load::X, Ipa(t));
        values[i] = got.value;
        if got.abort.is_some() {
            aborted_mask |= 1 << i;
        } else if got.value != LOAD_PRESET {
            // Something came back from memory the guest has no slot for.
            verdict = Verdict::WrongValue;
        }
    }
    report(
        s,
        verdict,
        [values[0], values[1], values[2], aborted_mask, 0],
    )
}

fn fault_storm(cpu: &mut impl Cpu, count: u64) -> Report {
    let s = Scenario::FaultStorm;
    let counter = reg(Register::Counter);
    let mut first_bad = count;
    let mut bad_value = 0;
    for i in 0..count {
        let got = cpu.load(Load::W, counter);
        if let Some(a) = got.abort {
            return aborted(s, a);
        }
        if got.value != i & 0xffff_ffff && first_bad == count {
            first_bad = i;
            bad_value = got.value;
        }
    }
    let v = if first_bad == count {
        Verdict::Pass
    } else {
        Verdict::WrongValue
    };
    report(s, v, [count, first_bad, bad_value, 0, 0])
}

fn fp_state(cpu: &mut impl Cpu) -> Report {
    let s = Scenario::FpState;
    let a = ECHO_ARGS;
    let x = [Call::Echo as u64, a[0], a[1], a[2], a[3], a[4], a[5], a[6]];
    let (r, fp) = cpu.fp_round_trip(FP_GUEST, x);
    let echoed = u64::from(r == ECHO_RESULTS);
    let v = if fp == FP_GUEST && echoed == 1 {
        Verdict::Pass
    } else {
        Verdict::WrongValue
    };
    report(s, v, [fp.d0, fp.v31[0], fp.v31[1], echoed, 0])
}

/// Every register of a class: what is there, the guest's own markers in, an exit to the
/// VMM (which checks its own values), what is there now. Reports what it found; the VMM
/// judges, against what the CPU has.
fn reg_class(cpu: &mut impl Cpu, class: u64, world: u64) -> Report {
    let s = Scenario::RegClass;
    let (Some(class), Some(world)) = (Class::from_u64(class), World::from_u64(world)) else {
        return report(s, Verdict::BadArgument, [class, world, 0, 0, 0]);
    };
    if world == World::Host {
        return report(s, Verdict::BadArgument, [class as u64, 0, 0, 0, 0]);
    }
    let (first, n) = class.regs();
    let regs = &REGS[first..first + n];
    cpu.enable_vector_units();
    // With the host's MDSCR_EL1 and watchpoint, any access to our RAM would now trap.
    let debug = class == Class::Debug;
    if debug {
        cpu.debug_exceptions(true);
    }
    let mut foreign = 0;
    let before = survey(cpu, first, regs, world, &mut foreign);
    let mut undefined_writes = 0;
    for (i, reg) in regs.iter().enumerate() {
        if !cpu.reg_write(first + i, reg.markers[world as usize]) {
            undefined_writes |= 1 << i;
        }
    }
    let a = ECHO_ARGS;
    cpu.hvc([Call::Echo as u64, a[0], a[1], a[2], a[3], a[4], a[5], a[6]]);
    let after = survey(cpu, first, regs, world, &mut foreign);
    if debug {
        cpu.debug_exceptions(false);
    }
    report(
        s,
        Verdict::Pass,
        [before, after, undefined_writes, foreign, n as u64],
    )
}

/// What `world` finds in `regs`, 4 bits each; the first value that is another world's
/// marker goes to `foreign`.
fn survey(cpu: &mut impl Cpu, first: usize, regs: &[Reg], world: World, foreign: &mut u64) -> u64 {
    let mut word = 0;
    for (i, reg) in regs.iter().enumerate() {
        let v = cpu.reg_read(first + i);
        let found = Found::of(reg, v, world);
        if matches!(found, Found::Host | Found::First | Found::Second) && *foreign == 0 {
            *foreign = v.unwrap_or(0);
        }
        word |= (found as u64) << (4 * i);
    }
    word
}

fn hvc_echo(cpu: &mut impl Cpu) -> Report {
    let s = Scenario::HvcEcho;
    let a = ECHO_ARGS;
    let x = [
        crate::protocol::Call::Echo as u64,
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5],
        a[6],
    ];
    let r = cpu.hvc(x);
    let v = if r == ECHO_RESULTS {
        Verdict::Pass
    } else {
        Verdict::WrongValue
    };
    report(s, v, [r[0], r[1], r[2], r[3], 0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Loaded, LoadedPair};
    use crate::device::{mask, write_pattern};
    use crate::protocol::Call;
    use std::collections::HashMap;
    use std::vec::Vec;

    /// A CPU whose device and memory behave as the protocol says (the VMM's side done
    /// right), with knobs to break it.
    #[derive(Default)]
    struct Ideal {
        ram: HashMap<u64, u64>,
        counter: u64,
        sink: Vec<(u8, u64)>,
        /// Sign-extending loads come back zero-extended.
        no_sign_extend: bool,
        /// Accesses outside RAM and the device read this instead of being skipped.
        leak: Option<u64>,
        pair_abort: bool,
    }

    fn in_ram(a: Ipa) -> bool {
        layout::RAM.contains(a) || layout::REPLAY.contains(a) || layout::READ_ONLY.contains(a)
    }

    impl Cpu for Ideal {
        fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
            if x[0] == Call::Echo as u64 && x[1..] == ECHO_ARGS {
                ECHO_RESULTS
            } else {
                [u64::MAX; 4]
            }
        }

        fn load(&mut self, load: Load, addr: Ipa) -> Loaded {
            let raw = match addr
                .0
                .checked_sub(layout::DEVICE.base.0)
                .and_then(Register::at)
            {
                Some(Register::Pattern | Register::Signed) => read_pattern(load.size()),
                Some(Register::Counter) => {
                    self.counter += 1;
                    self.counter - 1
                }
                Some(_) => 0,
                None if in_ram(addr) => {
                    let v = match addr {
                        a if layout::REPLAY.contains(a) => layout::REPLAY_VALUE,
                        a if layout::READ_ONLY.contains(a) => layout::READ_ONLY_VALUE,
                        a => self.ram.get(&a.0).copied().unwrap_or(0),
                    };
                    v & mask(load.size())
                }
                None => {
                    return Loaded {
                        value: self.leak.unwrap_or(LOAD_PRESET),
                        abort: None,
                    }
                }
            };
            let value = if self.no_sign_extend && load.sign_extend() {
                raw & mask(load.size())
            } else {
                load.result(raw)
            };
            Loaded { value, abort: None }
        }

        fn store(&mut self, store: Store, addr: Ipa, value: u64) -> Option<Abort> {
            if layout::DEVICE.contains(addr) {
                self.sink.push((store.size(), value & mask(store.size())));
            } else if !layout::READ_ONLY.contains(addr) {
                self.ram.insert(addr.0, value);
            }
            None
        }

        fn load_pair(&mut self, addr: Ipa) -> LoadedPair {
            LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: self.pair_abort.then_some(Abort {
                    esr: 0x25 << 26,
                    far: addr.0,
                }),
            }
        }
    }

    fn verdict(cpu: &mut Ideal, s: Scenario, args: [u64; 3]) -> Report {
        run(cpu, s, args)
    }

    #[test]
    fn every_scenario_passes_on_a_cpu_that_keeps_the_protocol() {
        let cases: [(Scenario, [u64; 3]); 15] = [
            (Scenario::MmioRead, [1, 0, 0]),
            (Scenario::MmioRead, [8, 0, 0]),
            (Scenario::MmioWrite, [2, 0, 0]),
            (Scenario::MmioWrite, [8, 0, 0]),
            (Scenario::SignExtend, [0; 3]),
            (Scenario::LoadPair, [PairMode::Skip as u64, 0, 0]),
            (
                Scenario::LazyRam,
                [layout::LAZY_SCRATCH.0, layout::LAZY_PAGES, 0],
            ),
            (Scenario::NoSlotReplay, [layout::REPLAY.base.0, 0, 0]),
            (Scenario::ReadOnlyWrite, [layout::READ_ONLY.base.0, 0, 0]),
            (
                Scenario::Window,
                [layout::RAM.base.0 + 0x10_0000, 0x1000, 0],
            ),
            (Scenario::Probe, [0x4002_0000, 0x4020_0000, 0]),
            (Scenario::FaultStorm, [100, 0, 0]),
            (Scenario::HvcEcho, [0; 3]),
            (Scenario::FpState, [0; 3]),
            (
                Scenario::KeptRegisters,
                [
                    layout::MARKED_SCRATCH.0,
                    layout::READ_ONLY.base.0,
                    layout::HOLE.0,
                ],
            ),
        ];
        for (s, args) in cases {
            let r = verdict(&mut Ideal::default(), s, args);
            assert_eq!(r.verdict, Verdict::Pass as u64, "{s:?} {args:?}: {r:?}");
            assert_eq!(r.scenario, s as u64);
        }
        let mut cpu = Ideal {
            pair_abort: true,
            ..Ideal::default()
        };
        let r = verdict(&mut cpu, Scenario::LoadPair, [PairMode::Abort as u64, 0, 0]);
        assert_eq!(r.verdict, Verdict::Pass as u64);
        assert_eq!(r.detail[2], 1);
    }

    #[test]
    fn a_store_carries_junk_above_its_size_for_the_vmm_to_drop() {
        let mut cpu = Ideal::default();
        verdict(&mut cpu, Scenario::MmioWrite, [1, 0, 0]);
        assert_eq!(cpu.sink, [(1, write_pattern(1))]);
    }

    #[test]
    fn a_missing_sign_extension_is_reported_with_the_first_wrong_load() {
        let mut cpu = Ideal {
            no_sign_extend: true,
            ..Ideal::default()
        };
        let r = verdict(&mut cpu, Scenario::SignExtend, [0; 3]);
        assert_eq!(r.verdict, Verdict::WrongValue as u64);
        assert_eq!(r.detail[..3], [0, 0xa5, 0xffff_ffa5]);
    }

    #[test]
    fn a_probe_that_reads_anything_is_a_wrong_value() {
        let mut cpu = Ideal {
            leak: Some(0x5345_4352_4554_2121),
            ..Ideal::default()
        };
        let r = verdict(&mut cpu, Scenario::Probe, [0x4002_0000, 0, 0]);
        assert_eq!(r.verdict, Verdict::WrongValue as u64);
        assert_eq!(r.detail[0], 0x5345_4352_4554_2121);
    }

    #[test]
    fn nonsense_arguments_are_reported_not_obeyed() {
        let mut cpu = Ideal::default();
        for (s, args) in [
            (Scenario::MmioRead, [3, 0, 0]),
            (Scenario::MmioWrite, [0, 0, 0]),
            (Scenario::LoadPair, [7, 0, 0]),
            (Scenario::LazyRam, [layout::LAZY_SCRATCH.0 + 8, 1, 0]),
            (Scenario::Window, [layout::RAM.base.0, 4, 0]),
        ] {
            let r = verdict(&mut cpu, s, args);
            assert_eq!(r.verdict, Verdict::BadArgument as u64, "{s:?}");
        }
    }
}
