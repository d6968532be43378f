//! The VM core's test world: Stile's state on the build machine, with a fake machine whose
//! "physical memory" is a buffer of this process, and helpers to drive it (VM and vCPU
//! creation, traps, syndromes). Shared by the VM core's test modules.

use crate::addr::PhysRange;
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
use crate::vm::host::HostVm;
use crate::vm::hvc::Refused;
use crate::vm::hvc::{dispatch, Dispatch, HvcBackend};
use crate::vm::hyp::{Calls, Hyp, VmTable};
use crate::vm::machine::{GuestRegime, Machine};
use crate::vm::memslot::{Assignable, SlotRequest};
use crate::vm::run::{self, handle_trap, Decision, GuestTrap, Handled, TrapKind};
use std::collections::HashMap;
use std::vec::Vec;
use stile_abi::run_page::{ExitReason, RunPage};
use stile_abi::slot::{self, SlotKind};
use stile_abi::Function;

pub(crate) const HYP_MEM: PhysRange = PhysRange::new(0x4020_0000, 0x120_0000);
const DTB: PhysRange = PhysRange::new(0x4800_0000, 0x10_0000);
const QEMU_1G: &[u8] = include_bytes!("../../testdata/qemu-virt-gicv3-smp4-1g.dtb");
/// Guest RAM the host donates, and a run page, both in qemu-virt host RAM.
pub(crate) const GUEST_RAM: u64 = 0x5000_0000;
pub(crate) const GUEST_RAM_SIZE: u64 = 0x40_0000;
pub(crate) const RUN_PAGE: u64 = 0x4f00_0000;
pub(crate) const RWX: u64 = slot::PERM_READ | slot::PERM_WRITE | slot::PERM_EXEC;

/// VCPU_RUN's preparation of `vcpu` of `vm`, as the trap path calls it.
pub(crate) fn prepare(
    hyp: &mut Hyp,
    vm: u64,
    vcpu: u64,
    m: &mut FakeMachine,
) -> Result<(), Refused> {
    run::prepare(hyp.vm_mut(vm)?, vcpu, m).map(|_| ())
}

#[derive(Default)]
pub(crate) struct FakeMachine {
    pages: HashMap<u64, RunPage>,
    pub(crate) scrubbed: Vec<PhysRange>,
    pub(crate) cleaned: Vec<PhysRange>,
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

    pub(crate) fn vcpu_x(&self, vm: u64, reg: usize) -> u64 {
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
