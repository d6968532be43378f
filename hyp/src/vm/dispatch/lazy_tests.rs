//! The lazy map's own way in (lazy.rs) against the full trap path: two identical worlds
//! take the same random guest aborts, one offering each to `lazy_abort` first, the other
//! only to the full path. What the guest and the host can see must never differ: whether
//! the guest resumes, the exit and its record, the vCPU, the VM's counts, every stage-2
//! leaf, the frame pool. And an abort `lazy_abort` does not map must change nothing.

use super::*;
use crate::test_rng::Rng;
use crate::vm::guest::VmStats;
use std::format;
use std::string::String;
use stile_abi::slot::{self, SlotKind, FLAG_EAGER, PERM_EXEC, PERM_READ, PERM_WRITE};

const SEEDS: u64 = 12;
const STEPS: usize = 300;
/// The extra slot's IPA window: 4 KiB pages (its PA is not 2 MiB-congruent).
const EXTRA_IPA: u64 = 0x8000_0000;

/// Everything of a world a guest or its host can observe after a trap.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    leaves: Vec<(u64, u64, u64, u8)>,
    stats: VmStats,
    vcpu: String,
    free_bytes: u64,
    page: String,
    host: (u64, u64),
    entered_left: (usize, usize),
    injected: usize,
}

fn seen(w: &World) -> Seen {
    let hyp = w.hyp.get().unwrap();
    let v = w.vm();
    let vc = &v.vcpus[0];
    Seen {
        leaves: v
            .stage2
            .table()
            .leaves(0, u64::MAX)
            .into_iter()
            .map(|(ipa, l)| (ipa, l.pa.0, l.attrs, l.level))
            .collect(),
        stats: v.stats,
        vcpu: format!(
            "{:?} {:?} {} {} {}",
            vc.ctx, vc.pending, vc.exits, vc.running, vc.el1_injected
        ),
        free_bytes: hyp.frames.free_bytes(),
        page: format!("{:?}", w.page()),
        host: (w.host.x[0], w.host.x[1]),
        entered_left: (w.cpu.entered, w.cpu.left),
        injected: w.cpu.injected.len(),
    }
}

/// The same slot changes on both worlds (the host's, between runs).
fn host_call(w: &mut World, x: &[u64]) {
    w.hvc(x);
}

fn random_slot(rng: &mut Rng, vm: u64) -> [u64; 7] {
    let kinds = [SlotKind::Ram, SlotKind::Mmio, SlotKind::Device];
    let kind = kinds[rng.below(3) as usize];
    let perms = [
        PERM_READ,
        PERM_READ | PERM_WRITE,
        PERM_READ | PERM_EXEC,
        PERM_READ | PERM_WRITE | PERM_EXEC,
    ][rng.below(4) as usize];
    let eager = if rng.chance(15) { FLAG_EAGER } else { 0 };
    let pages = 1 + rng.below(24);
    let pa = match kind {
        SlotKind::Mmio => 0,
        _ => GUEST_RAM + 0x1000 * (1 + rng.below(512)),
    };
    [
        Function::MemslotSet as u64,
        vm,
        2,
        EXTRA_IPA + 0x1000 * rng.below(8),
        pa,
        pages * 0x1000,
        slot::word(kind, perms, 0) | eager,
    ]
}

/// An IPA somewhere a guest might touch: its RAM, the extra slot, MMIO, or nowhere.
fn random_ipa(rng: &mut Rng) -> u64 {
    let base = match rng.below(10) {
        0..=3 => 0x4000_0000 + rng.below(0x40_0000),
        4..=6 => EXTRA_IPA + rng.below(0x2_2000),
        7 => 0x0900_0000 + rng.below(0x2000),
        8 => 0x4040_0000 + rng.below(0x1000),
        _ => rng.next() & 0xff_ffff_ffff,
    };
    base & !0x7
}

/// A guest's synchronous exception: mostly stage-2 aborts of every status code class.
fn random_esr(rng: &mut Rng) -> Esr {
    let ec = match rng.below(20) {
        0..=13 => 0x24,
        14..=17 => 0x20,
        18 => 0x16,
        _ => 0x01,
    };
    let fsc = match rng.below(20) {
        0..=11 => 0x04 + rng.below(4),
        12..=13 => 0x08 + rng.below(4),
        14..=16 => 0x0c + rng.below(4),
        17 => 0x10,
        18 => 0x21,
        _ => rng.below(64),
    };
    // ISV, SAS, SRT, WnR, S1PTW and the rest of the ISS at random.
    let iss = rng.next() & 0x1ff_ffc0 & !(1 << 7 | 0x3f) | fsc;
    let s1ptw = if rng.chance(10) { 1 << 7 } else { 0 };
    Esr(ec << 26 | 1 << 25 | iss | s1ptw)
}

fn two_worlds(seed: u64) -> (World, World) {
    let fwb = seed.is_multiple_of(2);
    let make = || {
        let mut f = fixture(fwb);
        let vm = f.guest();
        world_of(f, vm)
    };
    (make(), make())
}

#[test]
fn the_lazy_entry_does_what_the_full_path_does_or_nothing() {
    let mut mapped = 0;
    let mut declined = 0;
    for seed in 1..=SEEDS {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (mut a, mut b) = two_worlds(seed);
        let vm = a.vm;
        let extra = random_slot(&mut rng, vm);
        host_call(&mut a, &extra);
        host_call(&mut b, &extra);
        let mut guest_a = a.vcpu_run(vm);
        let mut guest_b = b.vcpu_run(vm);
        for step in 0..STEPS {
            let (e, ipa) = (random_esr(&mut rng), random_ipa(&mut rng));
            let before = seen(&a);
            a.cpu.syndrome = (e, ipa, (ipa >> 8) & !0xf);
            let lazy = lazy_abort(&a.hyp, &mut a.cpu);
            let back_a = match lazy {
                Lazy::Mapped => {
                    mapped += 1;
                    guest_a
                }
                Lazy::NotRam | Lazy::Declined => {
                    declined += 1;
                    assert_eq!(
                        seen(&a),
                        before,
                        "seed {seed} step {step}: {lazy:?} changed"
                    );
                    a.guest_trap(guest_a, TrapKind::Sync, e, ipa)
                }
            };
            let back_b = b.guest_trap(guest_b, TrapKind::Sync, e, ipa);
            let what = format!("seed {seed} step {step}: {e} at {ipa:#x}, {lazy:?}");
            assert_eq!(back_a == guest_a, back_b == guest_b, "{what}: resumed");
            if lazy == Lazy::Mapped {
                assert_eq!(back_b, guest_b, "{what}: the full path exits");
            }
            assert_eq!(seen(&a), seen(&b), "{what}");
            if back_a != guest_a {
                // Back at the host: sometimes it moves the extra slot, then it runs again.
                if rng.chance(20) {
                    let s = random_slot(&mut rng, vm);
                    host_call(&mut a, &s);
                    host_call(&mut b, &s);
                }
                guest_a = a.vcpu_run(vm);
                guest_b = b.vcpu_run(vm);
                assert_eq!(seen(&a), seen(&b), "{what}: the next run");
            }
        }
    }
    // Both ways in were exercised.
    assert!(
        mapped > 300 && declined > 1000,
        "{mapped} mapped, {declined} declined"
    );
}
