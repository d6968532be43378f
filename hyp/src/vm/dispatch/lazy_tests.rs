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
use stile_abi::slot::{
    self, SlotKind, FLAG_CACHEABLE_OPT_IN, FLAG_EAGER, PERM_EXEC, PERM_READ, PERM_WRITE,
};

const SEEDS: u64 = 12;
const STEPS: usize = 300;
/// The extra slot's IPA window: 4 KiB pages (its PA is not 2 MiB-congruent).
const EXTRA_IPA: u64 = 0x8000_0000;
/// A guest virtual address (the guest's own stage 1 maps it wherever it likes).
const GUEST_VA: u64 = 0xffff_8000_1234_5000;
/// The fixture board's device-nc region (revocable).
const DEVICE_NC: u64 = 0x7b00_0000;
/// Where the worlds with a vGIC have its distributor and redistributors.
const GICD: u64 = 0x0800_0000;
const GICR: u64 = 0x080a_0000;

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
            "{:?} {:#x} {:#x} {:?} {} {} {}",
            vc.ctx.x, vc.ctx.elr, vc.ctx.spsr, vc.pending, vc.exits, vc.running, vc.el1_injected
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
    let kinds = [
        SlotKind::Ram,
        SlotKind::Ram,
        SlotKind::Mmio,
        SlotKind::Device,
        SlotKind::DeviceNc,
        SlotKind::CacheableDevice,
    ];
    let kind = kinds[rng.below(kinds.len() as u64) as usize];
    let perms = [
        PERM_READ,
        PERM_READ | PERM_WRITE,
        PERM_READ | PERM_EXEC,
        PERM_READ | PERM_WRITE | PERM_EXEC,
    ][rng.below(4) as usize];
    let eager = if rng.chance(15) { FLAG_EAGER } else { 0 };
    let pages = 1 + rng.below(24);
    // The fixture board's device-nc region and cacheable-device aperture (which only
    // FWB seeds accept), or the VM's RAM.
    let (pa, opt_in) = match kind {
        SlotKind::Mmio => (0, 0),
        SlotKind::DeviceNc => (DEVICE_NC + 0x1000 * rng.below(64), 0),
        SlotKind::CacheableDevice => (0x7c00_0000 + 0x1000 * rng.below(64), FLAG_CACHEABLE_OPT_IN),
        _ => (GUEST_RAM + 0x1000 * (1 + rng.below(512)), 0),
    };
    [
        Function::MemslotSet as u64,
        vm,
        2,
        EXTRA_IPA + 0x1000 * rng.below(8),
        pa,
        pages * 0x1000,
        slot::word(kind, perms, 0) | eager | opt_in,
    ]
}

/// REGION_REVOKE or REGION_RESTORE of the fixture board's device-nc region.
fn region_call(f: Function) -> [u64; 7] {
    [f as u64, DEVICE_NC, 0, 0, 0, 0, 0]
}

/// An IPA somewhere a guest might touch: its RAM, the extra slot, MMIO, the vGIC's frames
/// (and the gap between them), or nowhere.
fn random_ipa(rng: &mut Rng) -> u64 {
    let base = match rng.below(11) {
        0..=3 => 0x4000_0000 + rng.below(0x40_0000),
        4..=6 => EXTRA_IPA + rng.below(0x2_2000),
        7 => 0x0900_0000 + rng.below(0x2000),
        8 => 0x4040_0000 + rng.below(0x1000),
        9 => GICD + rng.below(0x20_0000),
        _ => rng.next() & 0xff_ffff_ffff,
    };
    base & !0x7
}

/// A guest's synchronous exception: mostly stage-2 aborts of every status code class.
fn random_esr(rng: &mut Rng) -> Esr {
    let ec = match rng.below(22) {
        0..=13 => 0x24,
        14..=17 => 0x20,
        18 => 0x16,
        // Aborts taken at EL2 itself: never a guest's, and not the full path's aborts.
        19 => 0x21 + 4 * rng.below(2),
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
    let vgic = seed.is_multiple_of(3);
    let make = || {
        let mut f = fixture(fwb);
        let vm = f.guest();
        let mut w = world_of(f, vm);
        if vgic {
            w.hvc(&[Function::VgicConfig as u64, vm, GICD, GICR]);
            assert_eq!(w.host.x[0], 0, "VGIC_CONFIG");
        }
        w
    };
    (make(), make())
}

/// Whether `ipa` is in a vGIC frame of world `w`: its distributor (64 KiB) or a GICv3
/// redistributor (two 64 KiB frames for each vCPU the VM may have).
fn in_vgic_frames(w: &World, ipa: u64) -> bool {
    let gicr_end = GICR + 0x2_0000 * crate::vm::guest::MAX_VCPUS as u64;
    w.vm().vgic.is_some()
        && ((GICD..GICD + 0x1_0000).contains(&ipa) || (GICR..gicr_end).contains(&ipa))
}

/// The running vCPU's device pages noted for the vector.
fn skip(w: &World) -> [u64; 2] {
    w.vm().vcpus[0].ctx.lazy_skip
}

/// Two worlds that took the same steps, each with its running guest's Context.
struct Pair {
    a: World,
    b: World,
    guest_a: *mut Context,
    guest_b: *mut Context,
}

impl Pair {
    fn new(seed: u64) -> Pair {
        let (a, b) = two_worlds(seed);
        Pair {
            a,
            b,
            guest_a: core::ptr::null_mut(),
            guest_b: core::ptr::null_mut(),
        }
    }

    /// The same host call in both worlds.
    fn host(&mut self, x: &[u64]) {
        host_call(&mut self.a, x);
        host_call(&mut self.b, x);
    }

    /// VCPU_RUN in both worlds.
    fn run(&mut self) {
        let vm = self.a.vm;
        self.guest_a = self.a.vcpu_run(vm);
        self.guest_b = self.b.vcpu_run(vm);
        assert_eq!(seen(&self.a), seen(&self.b), "the run");
    }

    /// Guest abort `e` at `ipa`, from virtual address `far` (its page offset is the IPA's,
    /// as the CPU reports it): in world a offered to `lazy_abort` first (and to the full
    /// path if it declines), in world b to the full path only. Checks that both end the
    /// same, and that only a device access (an MMIO slot's, or the vGIC's frames, which
    /// must be noted) notes its page in the vCPU's `lazy_skip` (a hint the full path never
    /// reads, so not compared between the worlds); returns what `lazy_abort` said and
    /// whether the guest is back at the host.
    fn abort(&mut self, e: Esr, ipa: u64, far: u64, what: &str) -> (Lazy, bool) {
        let (a, b) = (&mut self.a, &mut self.b);
        let far = far & !0xfff | ipa & 0xfff;
        let hpfar = (ipa >> 8) & !0xf;
        let before = (seen(a), skip(a));
        a.cpu.syndrome = (e, far, hpfar);
        let lazy = lazy_abort(&a.hyp, &mut a.cpu);
        if in_vgic_frames(a, ipa) && e.ec_raw() | 4 == 0x24 {
            assert_eq!(
                lazy,
                Lazy::Device,
                "{what}: {e} at {ipa:#x} in the vGIC's frames"
            );
        }
        let back_a = match lazy {
            Lazy::Mapped => self.guest_a,
            Lazy::Device | Lazy::Declined => {
                assert_eq!(seen(a), before.0, "{what}: {lazy:?} changed something");
                let noted = match lazy {
                    Lazy::Device => [hpfar, before.1[0]],
                    _ => before.1,
                };
                assert_eq!(
                    skip(a),
                    noted,
                    "{what}: {lazy:?} and the device pages noted"
                );
                a.guest_trap_at(self.guest_a, TrapKind::Sync, e, far, hpfar)
            }
        };
        let back_b = b.guest_trap_at(self.guest_b, TrapKind::Sync, e, far, hpfar);
        let what = format!("{what}: {e} at {ipa:#x} (FAR {far:#x}), {lazy:?}");
        assert_eq!(
            back_a == self.guest_a,
            back_b == self.guest_b,
            "{what}: resumed"
        );
        if lazy == Lazy::Mapped {
            assert_eq!(back_b, self.guest_b, "{what}: the full path exits");
        }
        // A page noted outside the vGIC's frames is an MMIO slot's: the full path exits
        // to the VMM with an MMIO or NISV record.
        if lazy == Lazy::Device && !in_vgic_frames(b, ipa) {
            let reason = b.page().exit_reason;
            let device = [ExitReason::Mmio as u32, ExitReason::Nisv as u32];
            assert!(
                back_b != self.guest_b && device.contains(&reason),
                "{what}: noted, but the full path ended with exit reason {reason}"
            );
        }
        assert_eq!(seen(a), seen(b), "{what}");
        (lazy, back_a != self.guest_a)
    }
}

#[test]
fn the_lazy_entry_does_what_the_full_path_does_or_nothing() {
    let mut mapped = 0;
    let mut declined = 0;
    for seed in 1..=SEEDS {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut p = Pair::new(seed);
        let vm = p.a.vm;
        p.host(&random_slot(&mut rng, vm));
        p.run();
        for step in 0..STEPS {
            let (e, ipa) = (random_esr(&mut rng), random_ipa(&mut rng));
            let far = rng.next();
            let (lazy, exited) = p.abort(e, ipa, far, &format!("seed {seed} step {step}"));
            match lazy {
                Lazy::Mapped => mapped += 1,
                _ => declined += 1,
            }
            if exited {
                // Back at the host: sometimes it moves the extra slot, or revokes or
                // restores the device-nc region (its slots' next faults are SLOT_CHANGED
                // until restored), then it runs again.
                let call = match rng.below(10) {
                    0..=1 => Some(random_slot(&mut rng, vm)),
                    2 => Some(region_call(Function::RegionRevoke)),
                    3 => Some(region_call(Function::RegionRestore)),
                    _ => None,
                };
                if let Some(x) = call {
                    p.host(&x);
                }
                p.run();
            }
        }
    }
    // Both ways in were exercised.
    assert!(
        mapped > 300 && declined > 1000,
        "{mapped} mapped, {declined} declined"
    );
}

#[test]
fn a_revoked_device_slot_is_never_mapped_by_the_lazy_entry() {
    let mut p = Pair::new(1);
    let vm = p.a.vm;
    let rw = PERM_READ | PERM_WRITE;
    let device = slot::word(SlotKind::DeviceNc, rw, 0);
    let ram = slot::word(SlotKind::Ram, rw, 0);
    let set = Function::MemslotSet as u64;
    p.host(&[set, vm, 2, EXTRA_IPA, DEVICE_NC, 0x4000, device]);
    // A RAM page in the same 2 MiB keeps the level-3 table there after the revoke.
    p.host(&[set, vm, 3, EXTRA_IPA + 0x10_0000, GUEST_RAM, 0x1000, ram]);
    p.run();
    let read = Esr(dabt(4, 1, false, false, false));
    assert!(
        !p.abort(read, EXTRA_IPA + 0x10_0000, GUEST_VA, "the RAM page")
            .1
    );
    // The device page: the full path maps it (device memory is not the lazy entry's), and
    // the device slot is now the last one found.
    assert!(!p.abort(read, EXTRA_IPA, GUEST_VA, "first touch").1);
    // Revoked by the host (after an exit), then touched again: SLOT_CHANGED, not a map.
    assert!(p.abort(esr(0x16, 0), 0, 0, "hvc").1);
    p.host(&region_call(Function::RegionRevoke));
    p.run();
    let (lazy, exited) = p.abort(read, EXTRA_IPA + 0x1000, GUEST_VA, "after the revoke");
    assert_eq!((lazy, exited), (Lazy::Declined, true));
    assert_eq!(p.b.page().fault_reason, Reason::SlotChanged as u64);
}
