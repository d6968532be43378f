//! The VM core end to end on the build machine: hypercalls, faults, exits and their
//! completion, against a fake machine whose "physical memory" is a buffer of this process.

use crate::addr::{PhysAddr, PhysRange};
use crate::config::check_regions;
use crate::config::tests::qemu_virt;
use crate::cpu_features::CpuFeatures;
use crate::dt::Platform;
use crate::esr::Esr;
use crate::lock::Lock;
use crate::mm::frames::FramePool;
use crate::mm::frames::Frames;
use crate::mm::ranges::RangeSet;
use crate::mm::stage2::Ipa;
use crate::mm::tlb::S2Maintenance;
use crate::mm::vmid::{Vmid, VmidAlloc};
use crate::mm::vtcr::vtcr_for;
use crate::vm::guest::MAX_VCPUS;
use crate::vm::host::HostVm;
use crate::vm::hvc::Refused;
use crate::vm::hvc::{dispatch, Dispatch, HvcBackend};
use crate::vm::hyp::{Calls, Hyp, VmTable};
use crate::vm::machine::{GuestRegime, Machine};
use crate::vm::memslot::{Assignable, SlotRequest};
use crate::vm::run::{self, handle_trap, Decision, GuestTrap, Handled, TrapKind};
use std::collections::HashMap;

/// VCPU_RUN's preparation of `vcpu` of `vm`, as the trap path calls it.
fn prepare(hyp: &mut Hyp, vm: u64, vcpu: u64, m: &mut FakeMachine) -> Result<(), Refused> {
    run::prepare(hyp.vm_mut(vm)?, vcpu, m).map(|_| ())
}
use std::vec::Vec;
use stile_abi::run_page::{ExitReason, RunPage, MMIO_REG64, MMIO_SIGN_EXTEND};
use stile_abi::slot::{self, SlotKind};
use stile_abi::{Function, Reason, Status};

const HYP_MEM: PhysRange = PhysRange::new(0x4020_0000, 0x120_0000);
const DTB: PhysRange = PhysRange::new(0x4800_0000, 0x10_0000);
const QEMU_1G: &[u8] = include_bytes!("../../testdata/qemu-virt-gicv3-smp4-1g.dtb");
/// Guest RAM the host donates, and a run page, both in qemu-virt host RAM.
pub(crate) const GUEST_RAM: u64 = 0x5000_0000;
pub(crate) const GUEST_RAM_SIZE: u64 = 0x40_0000;
pub(crate) const RUN_PAGE: u64 = 0x4f00_0000;
const RWX: u64 = slot::PERM_READ | slot::PERM_WRITE | slot::PERM_EXEC;

#[derive(Default)]
pub(crate) struct FakeMachine {
    pages: HashMap<u64, RunPage>,
    scrubbed: Vec<PhysRange>,
    cleaned: Vec<PhysRange>,
    /// What `counter` answers.
    pub(crate) now: u64,
    /// The kicks sent, in order (ICC_SGI1R_EL1 values).
    pub(crate) kicks: Vec<u64>,
}

impl S2Maintenance for FakeMachine {
    fn dsb_ishst(&mut self) {}
    fn invalidate_ipa(&mut self, _: Vmid, _: Ipa, _: u8) {}
    fn invalidate_vmid(&mut self, _: Vmid) {}
}

impl Machine for FakeMachine {
    fn scrub(&mut self, range: PhysRange) {
        self.scrubbed.push(range);
    }
    fn clean(&mut self, range: PhysRange) {
        self.cleaned.push(range);
    }
    fn read_run_page(&mut self, pa: u64) -> RunPage {
        self.pages.get(&pa).copied().unwrap_or_default()
    }
    fn write_run_page(&mut self, pa: u64, page: &RunPage) {
        self.pages.insert(pa, *page);
    }
    fn at_s12e1r(&mut self, guest: Option<&GuestRegime>, addr: u64) -> u64 {
        // "Normal-WB" when a guest with FWB is asked, "Device-nGnRnE" otherwise.
        let attr = if guest.is_some_and(|g| g.fwb) {
            0xff
        } else {
            0x00
        };
        attr << 56 | (addr & !0xfff)
    }
    fn counter(&mut self) -> u64 {
        self.now
    }
    fn kick(&mut self, sgi1r: u64) {
        self.kicks.push(sgi1r);
    }
}

/// Table pages come from real memory of this process (Frames zeroes what it hands out).
pub(crate) struct Fixture {
    pub(crate) hyp: Hyp,
    pub(crate) m: FakeMachine,
    pub(crate) _pool: Vec<u8>,
}

fn cpu(fwb: bool) -> CpuFeatures {
    CpuFeatures {
        fwb,
        dic: false,
        pa_bits: 48,
        pa_range: 5,
        vmid_bits: 16,
        dcache_line: 64,
    }
}

pub(crate) fn fixture(fwb: bool) -> Fixture {
    let pool = std::vec![0u8; 8 << 20];
    let start = (pool.as_ptr() as u64).next_multiple_of(1 << 20);
    let mut frames = Frames::new();
    let mut set = RangeSet::new();
    set.add(PhysRange::new(start, 6 << 20)).unwrap();
    frames.add(&set);
    let platform = Platform::from_dtb(QEMU_1G).unwrap();
    let check = check_regions(&qemu_virt(), &platform, &cpu(fwb), &[HYP_MEM], DTB);
    let mut m = FakeMachine::default();
    let (host, _) = HostVm::build(
        &check,
        &cpu(fwb),
        Vmid::HOST,
        &[HYP_MEM],
        &mut frames,
        &mut m,
    )
    .unwrap();
    let host_ram = check
        .accepted
        .iter()
        .find(|a| a.region.is_host_ram())
        .unwrap()
        .ranges
        .clone();
    let mut assignable = heapless::Vec::new();
    for r in check.assignable() {
        assignable
            .push(Assignable {
                range: r.range,
                kind: r.kind,
            })
            .unwrap();
    }
    let hyp = Hyp {
        host_ram,
        cpu: cpu(fwb),
        guest_vtcr: vtcr_for(5, 40, true).unwrap(),
        assignable,
        gic_lrs: 4,
        gicv: None,
        revoked: Default::default(),
        table: Lock::new(VmTable::new(VmidAlloc::new(16).unwrap())),
        vms: Default::default(),
        host: Lock::new(host),
        frames: FramePool::new(frames),
    };
    Fixture {
        hyp,
        m,
        _pool: pool,
    }
}

impl Fixture {
    pub(crate) fn call(&mut self, f: Function, args: [u64; 6]) -> [u64; 4] {
        let x = [
            f as u64, args[0], args[1], args[2], args[3], args[4], args[5],
        ];
        match dispatch(
            &x,
            &mut Calls {
                hyp: &self.hyp,
                m: &mut self.m,
            },
        ) {
            Dispatch::Reply(r) => r,
            Dispatch::Run { .. } => panic!("VCPU_RUN is not a reply"),
        }
    }

    pub(crate) fn calls(&mut self) -> Calls<'_, FakeMachine> {
        Calls {
            hyp: &self.hyp,
            m: &mut self.m,
        }
    }

    /// A VM with one vCPU, a lazy RAM slot at IPA 0x4000_0000 and an MMIO slot.
    pub(crate) fn guest(&mut self) -> u64 {
        self.guest_at(GUEST_RAM, RUN_PAGE)
    }

    /// [`Fixture::guest`] with its RAM (`GUEST_RAM_SIZE`) at `ram`, its run page at `run_page`.
    pub(crate) fn guest_at(&mut self, ram: u64, run_page: u64) -> u64 {
        let vm = self.calls().vm_create(ram, GUEST_RAM_SIZE, 0).unwrap();
        assert_eq!(
            self.calls().vcpu_create(vm, 0x4000_0000, run_page, 0, 0),
            Ok(0)
        );
        let ram = SlotRequest {
            index: 0,
            ipa: 0x4000_0000,
            pa: ram,
            size: GUEST_RAM_SIZE,
            word: slot::word(SlotKind::Ram, RWX, 0),
        };
        self.calls().memslot_set(vm, &ram).unwrap();
        let mmio = SlotRequest {
            index: 1,
            ipa: 0x0900_0000,
            pa: 0,
            size: 0x1000,
            word: slot::word(SlotKind::Mmio, slot::PERM_READ | slot::PERM_WRITE, 0),
        };
        self.calls().memslot_set(vm, &mmio).unwrap();
        vm
    }

    pub(crate) fn trap(&mut self, vm: u64, esr: u64, ipa: u64) -> Decision {
        let t = GuestTrap {
            kind: TrapKind::Sync,
            esr: Esr(esr),
            far: ipa,
            hpfar: (ipa >> 8) & !0xf,
            ipa,
        };
        let Ok(mut v) = self.hyp.lock_vm(vm) else {
            return Decision::Exit(ExitReason::Unknown);
        };
        match handle_trap(&self.hyp, &mut v, 0, &t, &mut self.m) {
            Handled::Resume => Decision::Resume,
            Handled::Exit(reason, _) => Decision::Exit(reason),
        }
    }

    pub(crate) fn page(&mut self) -> RunPage {
        self.m.read_run_page(RUN_PAGE)
    }

    fn vcpu_x(&self, vm: u64, reg: usize) -> u64 {
        self.hyp.lock_vm(vm).unwrap().vcpus[0].ctx.x[reg]
    }
}

/// Data abort from a lower EL with a valid syndrome: size (bytes), register, sign-extend,
/// 64-bit register, write; DFSC translation fault level 3.
pub(crate) fn dabt(size: u64, srt: u64, sse: bool, sf: bool, write: bool) -> u64 {
    let sas = size.trailing_zeros() as u64;
    0x24 << 26
        | 1 << 25
        | 1 << 24
        | sas << 22
        | (sse as u64) << 21
        | srt << 16
        | (sf as u64) << 15
        | (write as u64) << 6
        | 0x07
}

#[test]
fn vm_create_donates_ram_out_of_the_host_stage_2() {
    let mut f = fixture(true);
    assert!(f.hyp.host.lock().stage2.lookup(Ipa(GUEST_RAM)).is_some());
    let vm = f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(vm, 1);
    assert!(f.hyp.host.lock().stage2.lookup(Ipa(GUEST_RAM)).is_none());
    assert!(f
        .hyp
        .host
        .lock()
        .stage2
        .lookup(Ipa(GUEST_RAM + GUEST_RAM_SIZE - 1))
        .is_none());
    assert!(f
        .hyp
        .host
        .lock()
        .stage2
        .lookup(Ipa(GUEST_RAM + GUEST_RAM_SIZE))
        .is_some());
    assert_eq!(f.hyp.host.lock().why_unmapped(GUEST_RAM), Reason::NotOwned);
    assert_eq!(
        f.m.cleaned,
        [PhysRange::new(GUEST_RAM, GUEST_RAM_SIZE)],
        "what the host wrote reaches memory"
    );
}

#[test]
fn a_host_action_that_means_nothing_or_an_abort_for_an_hvc_is_refused() {
    let mut f = fixture(false);
    let vm = f.guest();
    assert_eq!(
        f.trap(vm, dabt(4, 0, false, false, false), 0x0900_0000),
        Decision::Exit(ExitReason::Mmio)
    );
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 7,
            ..page
        },
    );
    assert_eq!(
        prepare(&mut f.hyp, vm, 0, &mut f.m),
        Err(Reason::BadArgument)
    );
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 0,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0xC600_8001;
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 2,
            ..page
        },
    );
    assert_eq!(
        prepare(&mut f.hyp, vm, 0, &mut f.m),
        Err(Reason::BadArgument)
    );
}

#[test]
fn skip_after_an_hvc_exit_does_not_skip_another_instruction() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0xC600_8001;
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr = 0x4000_0104; // already past the HVC
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 1,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr, 0x4000_0104);
}

#[test]
fn vm_create_refusals_have_reasons() {
    let mut f = fixture(true);
    let cases = [
        ([GUEST_RAM + 1, 0x1000, 0], Reason::Misaligned),
        ([GUEST_RAM, 0, 0], Reason::Misaligned),
        ([GUEST_RAM, 0x1000, 1], Reason::BadArgument),
        ([HYP_MEM.base.0, 0x1000, 0], Reason::NotOwned),
        ([0x7c00_0000, 0x1000, 0], Reason::NotOwned),
        ([!0xfff, 0x2000, 0], Reason::OutOfRange),
    ];
    for (args, want) in cases {
        let r = f.call(Function::VmCreate, [args[0], args[1], args[2], 0, 0, 0]);
        assert_eq!(
            (r[0], r[1]),
            (crate::vm::hvc::status_of(want).as_u64(), want as u64),
            "{args:x?}"
        );
    }
    f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(f.calls().vm_create(GUEST_RAM, 0x1000, 0), Err(Reason::Busy));
}

#[test]
fn vcpu_limits_and_run_page_rules() {
    let mut f = fixture(false);
    let vm = f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(
        f.calls().vcpu_create(vm, 0, GUEST_RAM, 0, 0),
        Err(Reason::Busy),
        "run page in donated RAM"
    );
    assert_eq!(
        f.calls().vcpu_create(vm, 0, RUN_PAGE + 8, 0, 0),
        Err(Reason::Misaligned)
    );
    assert_eq!(
        f.calls().vcpu_create(9, 0, RUN_PAGE, 0, 0),
        Err(Reason::NoSuchVm)
    );
    for i in 0..MAX_VCPUS as u64 {
        assert_eq!(
            f.calls().vcpu_create(vm, 0, RUN_PAGE + i * 0x1000, 0, 0),
            Ok(i)
        );
    }
    assert_eq!(
        f.calls().vcpu_create(vm, 0, RUN_PAGE + 0x10_0000, 0, 0),
        Err(Reason::Limit)
    );
    assert_eq!(
        f.calls().vm_create(RUN_PAGE, 0x1000, 0),
        Err(Reason::Busy),
        "a run page cannot be donated"
    );
}

#[test]
fn first_touch_of_ram_is_resolved_in_hyp_and_counted() {
    let mut f = fixture(true);
    let vm = f.guest();
    assert_eq!(
        f.trap(vm, dabt(8, 1, false, true, false), 0x4000_1000),
        Decision::Resume
    );
    let v = f.hyp.vm_mut(vm).unwrap();
    assert_eq!(v.stats.resolved_in_hyp, 1);
    assert_eq!(
        v.stage2.lookup(Ipa(0x4000_1000)).map(|l| l.pa),
        Some(PhysAddr(GUEST_RAM + 0x1000))
    );
    assert_eq!(f.call(Function::Stats, [vm, 0, 0, 0, 0, 0]), [0, 1, 0, 0]);
}

#[test]
fn a_fault_on_a_page_another_vcpu_mapped_first_resumes_and_changes_nothing() {
    let mut f = fixture(true);
    let vm = f.guest();
    let load = dabt(8, 1, false, true, false);
    assert_eq!(f.trap(vm, load, 0x4000_1000), Decision::Resume);
    let mapped = f.hyp.vm_mut(vm).unwrap().stage2.lookup(Ipa(0x4000_1000));
    let pages = f.hyp.vm_mut(vm).unwrap().stage2.table_pages();
    // The second vCPU's fault was taken before the first one's map became visible.
    assert_eq!(f.trap(vm, load, 0x4000_1000), Decision::Resume);
    let v = f.hyp.vm_mut(vm).unwrap();
    assert_eq!(v.stage2.lookup(Ipa(0x4000_1000)), mapped);
    assert_eq!(v.stage2.table_pages(), pages);
    assert_eq!(v.stats.resolved_in_hyp, 2);
}

#[test]
fn a_page_mapped_on_first_touch_is_the_page_an_eager_slot_maps() {
    let mut f = fixture(true);
    let vm = f.guest();
    let page = |index, ipa, pa, flags| SlotRequest {
        index,
        ipa,
        pa,
        size: 0x1000,
        word: slot::word(SlotKind::Ram, slot::PERM_READ | slot::PERM_EXEC, flags),
    };
    let eager = page(2, 0x6000_0000, GUEST_RAM + 0x20_0000, slot::FLAG_EAGER);
    let lazy = page(3, 0x6000_1000, GUEST_RAM + 0x20_1000, 0);
    f.calls().memslot_set(vm, &eager).unwrap();
    f.calls().memslot_set(vm, &lazy).unwrap();
    assert_eq!(
        f.hyp.vm_mut(vm).unwrap().stage2.lookup(Ipa(0x6000_1000)),
        None
    );
    assert_eq!(
        f.trap(vm, dabt(8, 1, false, true, false), 0x6000_1008),
        Decision::Resume
    );
    let s2 = &f.hyp.vm_mut(vm).unwrap().stage2;
    let (e, l) = (
        s2.lookup(Ipa(0x6000_0000)).unwrap(),
        s2.lookup(Ipa(0x6000_1000)).unwrap(),
    );
    assert_eq!((e.level, e.attrs), (l.level, l.attrs));
    assert_eq!(l.pa, PhysAddr(GUEST_RAM + 0x20_1000));
}

#[test]
fn a_lazy_map_without_table_pages_exits_no_memory_and_the_replay_maps_it() {
    let mut f = fixture(true);
    let vm = f.guest();
    let mut taken = Vec::new();
    while let Some(pa) = f.hyp.frames.lock().alloc(1) {
        taken.push(pa);
    }
    let load = dabt(8, 1, false, true, false);
    assert_eq!(
        f.trap(vm, load, 0x4000_1000),
        Decision::Exit(ExitReason::MemoryFault)
    );
    assert_eq!(f.page().fault_reason, Reason::NoMemory as u64);
    let v = f.hyp.vm_mut(vm).unwrap();
    assert_eq!(v.stage2.lookup(Ipa(0x4000_1000)), None);
    assert_eq!(
        v.stage2.table().audit_tables(),
        (0, 0),
        "nothing half-built"
    );
    assert_eq!(v.stats.resolved_in_hyp, 0);
    for pa in taken {
        f.hyp.frames.lock().free(pa, 1);
    }
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.trap(vm, load, 0x4000_1000), Decision::Resume);
    assert_eq!(
        f.hyp
            .vm_mut(vm)
            .unwrap()
            .stage2
            .lookup(Ipa(0x4000_1000))
            .map(|l| l.pa),
        Some(PhysAddr(GUEST_RAM + 0x1000))
    );
}

#[test]
fn mmio_read_exits_and_the_next_run_loads_the_value_sign_extended() {
    let mut f = fixture(false);
    let vm = f.guest();
    // LDRSH x5, [0x0900_0010]
    assert_eq!(
        f.trap(vm, dabt(2, 5, true, true, false), 0x0900_0010),
        Decision::Exit(ExitReason::Mmio)
    );
    let page = f.page();
    assert_eq!(
        (page.exit_reason, page.ipa, page.size, page.srt),
        (ExitReason::Mmio as u32, 0x0900_0010, 2, 5)
    );
    assert_eq!(page.flags, MMIO_SIGN_EXTEND | MMIO_REG64);
    assert_eq!((page.pc, page.exit_count), (0x4000_0000, 1));
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            data: 0x8001,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.vcpu_x(vm, 5), 0xffff_ffff_ffff_8001);
    assert_eq!(
        f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr,
        0x4000_0004,
        "stepped over the load"
    );
}

#[test]
fn mmio_write_carries_the_data_and_xzr_writes_zero() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[3] = 0x1122_3344_5566_7788;
    assert_eq!(
        f.trap(vm, dabt(4, 3, false, false, true), 0x0900_0000),
        Decision::Exit(ExitReason::Mmio)
    );
    assert_eq!(f.page().data, 0x5566_7788);
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(
        f.trap(vm, dabt(8, 31, false, true, true), 0x0900_0000),
        Decision::Exit(ExitReason::Mmio)
    );
    assert_eq!(f.page().data, 0);
}

#[test]
fn access_outside_every_slot_is_a_memory_fault_and_replays_after_the_fix() {
    let mut f = fixture(false);
    let vm = f.guest();
    let esr = dabt(8, 2, false, true, false);
    assert_eq!(
        f.trap(vm, esr, 0x6000_0000),
        Decision::Exit(ExitReason::MemoryFault)
    );
    assert_eq!(
        (f.page().fault_reason, f.page().ipa),
        (Reason::NoSlot as u64, 0x6000_0000)
    );
    let fix = SlotRequest {
        index: 2,
        ipa: 0x6000_0000,
        pa: GUEST_RAM + 0x20_0000,
        size: 0x1000,
        word: slot::word(SlotKind::Ram, RWX, 0),
    };
    f.calls().memslot_set(vm, &fix).unwrap();
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(
        f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr,
        0x4000_0000,
        "re-executes the load"
    );
    assert_eq!(
        f.trap(vm, esr, 0x6000_0000),
        Decision::Resume,
        "now resolved in EL2"
    );
}

#[test]
fn write_to_a_read_only_slot_is_a_permission_fault() {
    let mut f = fixture(false);
    let vm = f.guest();
    let ro = SlotRequest {
        index: 3,
        ipa: 0x7000_0000,
        pa: GUEST_RAM + 0x30_0000,
        size: 0x1000,
        word: slot::word(SlotKind::Ram, slot::PERM_READ, 0),
    };
    f.calls().memslot_set(vm, &ro).unwrap();
    assert_eq!(
        f.trap(vm, dabt(4, 1, false, false, true), 0x7000_0000),
        Decision::Exit(ExitReason::MemoryFault)
    );
    assert_eq!(f.page().fault_reason, Reason::Permission as u64);
}

#[test]
fn cacheable_device_slot_needs_fwb_then_opt_in_and_gets_write_back() {
    let slot_of = |flags| SlotRequest {
        index: 4,
        ipa: 0x1_0000_0000,
        pa: 0x7c00_0000,
        size: 0x20_0000,
        word: slot::word(
            SlotKind::CacheableDevice,
            slot::PERM_READ | slot::PERM_WRITE,
            flags,
        ),
    };
    let mut f = fixture(false);
    let vm = f.guest();
    assert_eq!(
        f.calls()
            .memslot_set(vm, &slot_of(slot::FLAG_CACHEABLE_OPT_IN)),
        Err(Reason::NeedsFwb)
    );
    let mut f = fixture(true);
    let vm = f.guest();
    assert_eq!(
        f.calls().memslot_set(vm, &slot_of(0)),
        Err(Reason::NotOptedIn)
    );
    f.calls()
        .memslot_set(vm, &slot_of(slot::FLAG_CACHEABLE_OPT_IN | slot::FLAG_EAGER))
        .unwrap();
    let r = f.call(Function::Translate, [vm, 0x1_0000_0000, 0, 0, 0, 0]);
    assert_eq!(
        (r[0], r[1], r[2]),
        (Status::Success.as_u64(), 0x7c00_0000, 0xff)
    );
    assert_eq!(crate::mm::s2_attrs::memattr(r[3]), 0b0110);
}

#[test]
fn guest_hvc_goes_to_the_host_and_the_results_come_back() {
    let mut f = fixture(false);
    let vm = f.guest();
    for (i, v) in [0xC600_8001u64, 1, 2, 3, 4, 5, 6, 7].iter().enumerate() {
        f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[i] = *v;
    }
    assert_eq!(
        f.trap(vm, 0x16 << 26 | 1 << 25, 0),
        Decision::Exit(ExitReason::Hvc)
    );
    assert_eq!(f.page().hvc, [0xC600_8001, 1, 2, 3, 4, 5, 6, 7]);
    let mut page = f.page();
    page.hvc[..4].copy_from_slice(&[10, 11, 12, 13]);
    f.m.write_run_page(RUN_PAGE, &page);
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(
        (0..4).map(|r| f.vcpu_x(vm, r)).collect::<Vec<_>>(),
        [10, 11, 12, 13]
    );
}

#[test]
fn guest_psci_off_is_a_system_event_and_the_vcpu_never_runs_again() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0x8400_0008;
    assert_eq!(
        f.trap(vm, 0x16 << 26, 0),
        Decision::Exit(ExitReason::SystemEvent)
    );
    assert_eq!(f.page().system_event, 0x8400_0008);
    assert_eq!(
        prepare(&mut f.hyp, vm, 0, &mut f.m),
        Err(Reason::NoSuchVcpu)
    );
    // PSCI_VERSION is answered in EL2 without an exit.
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0x8400_0000;
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Resume);
    assert_eq!(f.vcpu_x(vm, 0), 0x1_0000);
}

#[test]
fn ten_thousand_faults_are_ten_thousand_exits() {
    let mut f = fixture(false);
    let vm = f.guest();
    for _ in 0..10_000 {
        assert_eq!(
            f.trap(vm, dabt(4, 0, false, false, false), 0x0900_0000),
            Decision::Exit(ExitReason::Mmio)
        );
        prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    }
    assert_eq!(f.page().exit_count, 10_000);
    assert_eq!(f.hyp.vm_mut(vm).unwrap().stats.exits, 10_000);
}

#[test]
fn host_action_skip_and_inject_finish_an_exit_differently() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].el1.vbar = 0x4000_8000;
    let nisv = 0x24 << 26 | 1 << 25 | 0x07;
    assert_eq!(
        f.trap(vm, nisv, 0x0900_0000),
        Decision::Exit(ExitReason::Nisv)
    );
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 2,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    let vc = &f.hyp.vm_mut(vm).unwrap().vcpus[0];
    assert_eq!(
        (vc.ctx.elr, vc.el1.esr >> 26, vc.el1.far),
        (0x4000_8200, 0x25, 0x0900_0000)
    );
    assert_eq!(f.page().host_action, 0, "reset after use");
    assert_eq!(f.hyp.vm_mut(vm).unwrap().stats.injected, 1);
}

#[test]
fn stats_of_the_host_are_el2s_books_and_a_destroy_gives_everything_back() {
    let mut f = fixture(true);
    let before = f.calls().stats(0).unwrap();
    assert_eq!(
        (before[1], before[2]),
        (1, 0),
        "only the host's VMID, no guests"
    );
    let vm = f.guest();
    let during = f.calls().stats(0).unwrap();
    assert_eq!((during[1], during[2]), (2, 1));
    assert!(during[0] < before[0], "the guest's stage 2 took frames");
    f.calls().vm_destroy(vm).unwrap();
    let after = f.calls().stats(0).unwrap();
    // The host's stage 2 keeps tables its donation split; a second round trip is exact.
    let vm = f.guest();
    f.calls().vm_destroy(vm).unwrap();
    assert_eq!(f.calls().stats(0).unwrap(), after);
    assert_eq!((after[1], after[2]), (1, 0));
}

#[test]
fn vm_destroy_scrubs_and_returns_the_memory() {
    let mut f = fixture(true);
    let vm = f.guest();
    f.calls().vm_destroy(vm).unwrap();
    assert_eq!(f.m.scrubbed, [PhysRange::new(GUEST_RAM, GUEST_RAM_SIZE)]);
    assert!(f.hyp.host.lock().stage2.lookup(Ipa(GUEST_RAM)).is_some());
    assert_eq!(f.calls().vm_destroy(vm), Err(Reason::NoSuchVm));
    // The memory and the run page can be used again.
    let again = f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(f.calls().vcpu_create(again, 0, RUN_PAGE, 0, 0), Ok(0));
}

#[test]
fn garbage_hypercalls_are_refused_never_panicking() {
    let mut f = fixture(true);
    let vm = f.guest();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let func = Function::ALL[(seed % Function::ALL.len() as u64) as usize];
        let pick = |s: u64| match s % 4 {
            0 => s,
            1 => vm,
            2 => s & 0xffff_f000,
            _ => (s >> 8) % 20,
        };
        let args = [
            pick(seed),
            pick(seed >> 3),
            pick(seed >> 5),
            pick(seed >> 7),
            pick(seed >> 11),
            pick(seed >> 13),
        ];
        if func == Function::VcpuRun || func == Function::VmDestroy {
            continue;
        }
        let _ = dispatch(
            &[
                func as u64,
                args[0],
                args[1],
                args[2],
                args[3],
                args[4],
                args[5],
            ],
            &mut Calls {
                hyp: &f.hyp,
                m: &mut f.m,
            },
        );
    }
    // Still healthy: calls are answered and a fresh VM works.
    assert_eq!(
        f.call(Function::GetCaps, [0; 6])[0],
        Status::Success.as_u64()
    );
    for id in 1..=8 {
        let _ = f.calls().vm_destroy(id);
    }
    let vm = f.guest();
    assert_eq!(
        f.trap(vm, dabt(8, 1, false, true, false), 0x4000_2000),
        Decision::Resume
    );
}

#[test]
fn a_vcpu_running_on_one_cpu_is_busy_for_another_until_it_exits() {
    let mut f = fixture(false);
    let vm = f.guest();
    // VCPU_RUN on one CPU claims the vCPU...
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    // ...so a second VCPU_RUN, from another CPU, is refused and changes nothing.
    let before = f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr;
    assert_eq!(prepare(&mut f.hyp, vm, 0, &mut f.m), Err(Reason::Busy));
    assert_eq!(f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr, before);
    // The VM cannot be destroyed under the running vCPU either.
    assert_eq!(f.calls().vm_destroy(vm), Err(Reason::Busy));
    // Its exit releases it: run again, and destroy once it is back.
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    assert_eq!(f.calls().vm_destroy(vm), Ok(()));
}

#[test]
fn a_host_translation_fault_on_a_page_mapped_again_is_replayed_not_refused() {
    let mut f = fixture(false);
    // Host RAM the fixture maps: a translation fault there can only be a break-before-make
    // another CPU was in the middle of; by the time EL2 holds the lock, it is mapped.
    let ram = GUEST_RAM;
    assert_eq!(f.hyp.host.lock().abort(ram, true), Ok(()));
    // A permission fault on it is not a race: refused.
    assert!(f.hyp.host.lock().abort(ram, false).is_err());
    // Donated to a guest: refused with NOT_OWNED, fault kind notwithstanding.
    let _vm = f.guest();
    assert_eq!(f.hyp.host.lock().abort(ram, true), Err(Reason::NotOwned));
}
