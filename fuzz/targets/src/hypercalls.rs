//! A hostile host and its guests against the VM core: fuzzed hypercalls through the real
//! decoder (`hvc::dispatch`) into the real `Hyp` (VM_CREATE donation, MEMSLOT_SET
//! validation, vCPUs, run pages), VCPU_RUN's preparation, run-page words the host
//! scribbles, and guest traps (aborts, HVC/SMC, IRQ, anything) through `run::handle_trap`,
//! on a fake machine whose table pages are this process's memory.
//!
//! After every step: each reply is a known SMCCC status with a known reason; the host's
//! stage 2 maps neither hyp memory nor any VM's donated RAM; each guest's stage 2 maps only
//! what its slots say, backed by its donated RAM or an assignable region; VMIDs in use
//! match the VMs. At the end every VM is destroyed: all guest table pages and VMIDs are
//! back, each donated range was scrubbed and the host maps it again.

use crate::bytes::Bytes;
use crate::dt_platform::{DTB_AT, HYP_MEM};
use crate::fault_classify;
use crate::pool::Pool;
use std::collections::HashMap;
use std::sync::OnceLock;
use stile_abi::run_page::{word, RunPage, WORDS};
use stile_abi::slot::{self, SlotKind};
use stile_abi::{Function, Reason, Status, FN_CALL_UID, FN_REVISION};
use stile_hyp::addr::{PhysAddr, PhysRange};
use stile_hyp::config::{check_regions, RegionCheck};
use stile_hyp::cpu_features::CpuFeatures;
use stile_hyp::dt::Platform;
use stile_hyp::esr::Esr;
use stile_hyp::lock::Lock;
use stile_hyp::mm::frames::FramePool;
use stile_hyp::mm::stage2::Ipa;
use stile_hyp::mm::tlb::S2Maintenance;
use stile_hyp::mm::vmid::{Vmid, VmidAlloc};
use stile_hyp::mm::vtcr::vtcr_for;
use stile_hyp::vm::guest::MAX_VMS;
use stile_hyp::vm::host::HostVm;
use stile_hyp::vm::hvc::{dispatch, Dispatch};
use stile_hyp::vm::hyp::{Calls, Hyp, VmTable};
use stile_hyp::vm::machine::{GuestRegime, Machine};
use stile_hyp::vm::memslot::{Assignable, Slot};
use stile_hyp::vm::run::{handle_trap, prepare, GuestTrap, Handled, TrapKind};

const PAGE: u64 = 4096;
const QEMU_1G: &[u8] = include_bytes!("../../../hyp/testdata/qemu-virt-gicv3-smp4-1g.dtb");
const MAX_STEPS: usize = 64;

/// Host addresses the calls aim at: host RAM (guest RAM and run pages come from here), hyp
/// memory, the DTB, the assignable regions, a device, and the ends of RAM.
const HOST_ADDRS: [u64; 9] = [
    0x5000_0000,
    0x4f00_0000,
    0x4020_0000,
    0x4800_0000,
    0x7b00_0000,
    0x7c00_0000,
    0x0900_0000,
    0x4000_0000,
    0x7aff_f000,
];
/// Guest IPAs slots and faults aim at.
const GUEST_IPAS: [u64; 5] = [0x4000_0000, 0x0900_0000, 0x1_0000_0000, 0, 0xff_ffe0_0000];
const KINDS: [SlotKind; 5] = [
    SlotKind::Ram,
    SlotKind::Mmio,
    SlotKind::Device,
    SlotKind::DeviceNc,
    SlotKind::CacheableDevice,
];
const FUNCTIONS: [Function; 13] = [
    Function::VmCreate,
    Function::VmCreate,
    Function::VcpuCreate,
    Function::MemslotSet,
    Function::MemslotSet,
    Function::MemslotClear,
    Function::VcpuRun,
    Function::VmDestroy,
    Function::Translate,
    Function::Stats,
    Function::VgicConfig,
    Function::IrqLine,
    Function::VcpuPending,
];

#[derive(Default)]
struct FakeMachine {
    pages: HashMap<u64, RunPage>,
    scrubbed: Vec<PhysRange>,
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
    fn clean(&mut self, _: PhysRange) {}
    fn read_run_page(&mut self, pa: u64) -> RunPage {
        self.pages.get(&pa).copied().unwrap_or_default()
    }
    fn write_run_page(&mut self, pa: u64, page: &RunPage) {
        self.pages.insert(pa, *page);
    }
    fn at_s12e1r(&mut self, guest: Option<&GuestRegime>, addr: u64) -> u64 {
        let attr: u64 = if guest.is_some_and(|g| g.fwb) {
            0xff
        } else {
            0
        };
        attr << 56 | (addr & !0xfff)
    }
    fn counter(&mut self) -> u64 {
        0
    }
    // No CPU runs a vCPU here, so nothing is ever kicked.
    fn kick(&mut self, _: u64) {}
}

fn cpu(fwb: bool) -> CpuFeatures {
    CpuFeatures {
        fwb,
        ..crate::dt_platform::CPU_FWB
    }
}

/// The boot-time config check of QEMU virt, done once per process (it does not depend on
/// the input), for a CPU with and without FWB.
fn region_check(fwb: bool) -> &'static RegionCheck {
    static CHECKS: OnceLock<[RegionCheck; 2]> = OnceLock::new();
    let checks = CHECKS.get_or_init(|| {
        let platform = Platform::from_dtb(QEMU_1G).expect("the QEMU dump parses");
        let check = |fwb| {
            check_regions(
                stile_platform::REGIONS,
                &platform,
                &cpu(fwb),
                &[HYP_MEM],
                DTB_AT,
            )
        };
        [check(false), check(true)]
    });
    &checks[fwb as usize]
}

struct World {
    hyp: Hyp,
    m: FakeMachine,
    /// Marks this thread's pool memory taken while `hyp.frames` hands it out.
    _pool: Pool,
    /// The vCPU VCPU_RUN entered, until it exits.
    running: Option<(u64, u64)>,
}

fn build(fwb: bool) -> World {
    let check = region_check(fwb);
    let mut pool = Pool::new(8 << 20);
    let mut m = FakeMachine::default();
    let (host, _) = HostVm::build(
        check,
        &cpu(fwb),
        Vmid::HOST,
        &[HYP_MEM],
        &mut pool.frames,
        &mut m,
    )
    .expect("the host VM builds");
    let host_ram = check
        .accepted
        .iter()
        .find(|a| a.region.is_host_ram())
        .expect("host RAM accepted")
        .ranges
        .clone();
    let mut assignable = heapless::Vec::new();
    for r in check.assignable() {
        let a = Assignable {
            range: r.range,
            kind: r.kind,
        };
        assignable.push(a).expect("few assignable regions");
    }
    let hyp = Hyp {
        host_ram,
        cpu: cpu(fwb),
        guest_vtcr: vtcr_for(5, 40, true).expect("a 40-bit IPA space"),
        assignable,
        gic_lrs: 4,
        gicv: None,
        revoked: Default::default(),
        table: Lock::new(VmTable::new(VmidAlloc::new(16).expect("16-bit VMIDs"))),
        vms: Default::default(),
        host: Lock::new(host),
        // Hyp owns the allocator; the pool holds on to this thread's memory behind it.
        frames: FramePool::new(core::mem::take(&mut pool.frames)),
    };
    World {
        hyp,
        m,
        _pool: pool,
        running: None,
    }
}

pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut w = build(b.bool());
    let start_free = w.hyp.frames.free_bytes() + w.hyp.host.lock().stage2.table_pages() * PAGE;
    for _ in 0..MAX_STEPS {
        if b.is_empty() {
            break;
        }
        match b.u8() % 8 {
            op @ 0..=4 => {
                // One host CPU: the host runs again once its vCPU has exited (here on an
                // interrupt, as a timer tick would make it).
                w.host_interrupt();
                if op == 4 {
                    w.scribble_run_page(&mut b);
                } else {
                    w.hypercall(&mut b);
                }
            }
            5 => w.set_guest_register(&mut b),
            _ => w.guest_trap(&mut b),
        }
        w.check();
    }
    // Tear down through the ABI, as a host would.
    w.host_interrupt();
    let live: Vec<u64> = (1..=MAX_VMS as u64)
        .filter(|&id| w.hyp.lock_vm(id).is_ok())
        .collect();
    for id in live {
        let donated = w.hyp.lock_vm(id).expect("live").donated;
        let r = w.call([Function::VmDestroy as u64, id, 0, 0, 0, 0, 0]);
        assert_eq!(r[0], Status::Success.as_u64(), "destroy of VM {id}: {r:x?}");
        assert!(
            w.m.scrubbed.contains(&donated),
            "VM {id}: {donated:?} not scrubbed"
        );
        for pa in [donated.base.0, donated.end() - PAGE] {
            assert!(
                w.hyp.host.lock().stage2.lookup(Ipa(pa)).is_some(),
                "VM {id}: {pa:#x} not given back to the host"
            );
        }
    }
    w.check();
    let table = w.hyp.table.lock();
    assert_eq!(table.vmids.in_use(), 1, "VMIDs leaked");
    assert!(table.run_pages.is_empty(), "run pages left");
    drop(table);
    let end_free = w.hyp.frames.free_bytes() + w.hyp.host.lock().stage2.table_pages() * PAGE;
    assert_eq!(end_free, start_free, "guest table pages leaked");
}

impl World {
    fn call(&mut self, x: [u64; 7]) -> [u64; 4] {
        let mut calls = Calls {
            hyp: &self.hyp,
            m: &mut self.m,
        };
        match dispatch(&x, &mut calls) {
            Dispatch::Reply(r) => r,
            Dispatch::Run { vm, vcpu } => {
                let entered = self
                    .hyp
                    .vm_mut(vm)
                    .and_then(|v| prepare(v, vcpu, &mut self.m).map(drop));
                match entered {
                    Ok(()) => {
                        self.running = Some((vm, vcpu));
                        [Status::Success.as_u64(), 0, 0, 0]
                    }
                    Err(r) => [stile_hyp::vm::hvc::status_of(r).as_u64(), r as u64, 0, 0],
                }
            }
        }
    }

    fn hypercall(&mut self, b: &mut Bytes) {
        let fid = match b.u8() % 16 {
            0 => u64::from(FN_CALL_UID),
            1 => u64::from(FN_REVISION),
            2 => u64::from(b.u32()),
            3 => b.u64(),
            _ => b.pick(&FUNCTIONS) as u64,
        };
        let mut x = [fid, 0, 0, 0, 0, 0, 0];
        for arg in x.iter_mut().skip(1) {
            *arg = match b.u8() % 8 {
                0 | 1 => u64::from(b.u8() % 10),
                2 | 3 => b.addr(&HOST_ADDRS),
                4 => b.addr(&GUEST_IPAS),
                5 => b.size(),
                6 => {
                    let (kind, perms) = (b.pick(&KINDS), fault_classify::perms(b));
                    slot::word(kind, perms, fault_classify::flags(b))
                }
                _ => b.u64(),
            };
        }
        let running_before = self.running;
        let r = self.call(x);
        if self.running != running_before {
            return; // entered a vCPU: not a reply the host sees yet
        }
        // SMCCC: the function ID is W0; the upper half of X0 is not part of it.
        if matches!(fid as u32, FN_CALL_UID | FN_REVISION) {
            return;
        }
        let status = Status::from_u64(r[0]);
        assert!(status.is_some(), "{x:x?}: status {:#x}", r[0]);
        if status != Some(Status::Success) && status != Some(Status::NotSupported) {
            assert!(
                Reason::from_u64(r[1]).is_some(),
                "{x:x?}: reason {:#x}",
                r[1]
            );
        }
    }

    /// The host writes a word of one of its run pages (the ABI's host_action, MMIO data...).
    fn scribble_run_page(&mut self, b: &mut Bytes) {
        let run_page = self
            .hyp
            .table
            .lock()
            .run_pages
            .get(b.u8() as usize % 8)
            .copied();
        let Some((_, page)) = run_page else {
            return;
        };
        let index = b.pick(&[
            word::ACCESS_ACTION,
            word::ACCESS_ACTION,
            word::DATA,
            word::HVC,
        ]);
        let value = match b.u8() % 4 {
            0 => u64::from(b.u8() % 4) << word::HOST_ACTION_SHIFT,
            _ => b.u64(),
        };
        self.m.set_run_page_word(page.base.0, index % WORDS, value);
    }

    /// The running guest changes a general-purpose register (its HVC arguments, the value
    /// a store will write).
    fn set_guest_register(&mut self, b: &mut Bytes) {
        let Some((vm, vcpu)) = self.running else {
            return;
        };
        let (reg, value) = (b.u8() as usize % 31, b.u64());
        let value = if b.bool() {
            0x8400_0000 | (value & 0x4000_001f)
        } else {
            value
        };
        if let Ok(v) = self.hyp.vm_mut(vm) {
            if let Some(vc) = v.vcpus.get_mut(vcpu as usize) {
                vc.ctx.x[reg] = value;
            }
        }
    }

    fn host_interrupt(&mut self) {
        let irq = GuestTrap {
            kind: TrapKind::Irq,
            esr: Esr(0),
            far: 0,
            hpfar: 0,
            ipa: 0,
        };
        self.trap(&irq);
        assert_eq!(self.running, None, "an interrupt did not exit");
    }

    fn guest_trap(&mut self, b: &mut Bytes) {
        let Some((vm, _)) = self.running else {
            return;
        };
        let slots: Vec<Slot> = match self.hyp.lock_vm(vm) {
            Ok(v) => v.slots.iter().flatten().copied().collect(),
            Err(_) => Vec::new(),
        };
        let kind = b.pick(&[
            TrapKind::Sync,
            TrapKind::Sync,
            TrapKind::Sync,
            TrapKind::Irq,
            TrapKind::Other,
        ]);
        let esr = match b.u8() % 4 {
            0 => Esr(
                u64::from(b.pick(&[0x16u64, 0x17, 0x01, 0x18, 0x00, 0x07]) as u32) << 26 | 1 << 25,
            ),
            _ => fault_classify::syndrome(b),
        };
        let ipa = fault_classify::fault_ipa(b, &slots);
        let trap = GuestTrap {
            kind,
            esr,
            far: ipa ^ u64::from(b.u16() & 0xfff),
            hpfar: (ipa >> 8) & !0xf,
            ipa,
        };
        self.trap(&trap);
    }

    fn trap(&mut self, trap: &GuestTrap) {
        let Some((vm, vcpu)) = self.running else {
            return;
        };
        let exited = match self.hyp.lock_vm(vm) {
            Ok(mut v) => matches!(
                handle_trap(&self.hyp, &mut v, vcpu, trap, &mut self.m),
                Handled::Exit(..)
            ),
            Err(_) => true,
        };
        if exited {
            self.running = None;
        }
    }

    /// The invariants, taking the locks in their order (table, each VM, host).
    fn check(&self) {
        let table = self.hyp.table.lock();
        let mut live = 0;
        for id in 1..=MAX_VMS as u64 {
            let Ok(v) = self.hyp.lock_vm(id) else {
                assert_eq!(table.donated[id as usize - 1], None, "VM {id} gone");
                continue;
            };
            live += 1;
            let d = v.donated;
            assert_eq!(table.donated[id as usize - 1], Some(d), "VM {id}'s RAM");
            for s in v.slots.iter().flatten() {
                for ipa in [s.ipa, s.ipa + s.size - PAGE] {
                    let Some(leaf) = v.stage2.lookup(Ipa(ipa)) else {
                        continue;
                    };
                    assert_ne!(s.kind, SlotKind::Mmio, "MMIO slot mapped at {ipa:#x}");
                    assert_eq!(leaf.pa, s.pa_of(ipa), "IPA {ipa:#x} maps the wrong PA");
                    let pa = leaf.pa.0;
                    let backed = d.contains(PhysAddr(pa))
                        || self
                            .hyp
                            .assignable
                            .iter()
                            .any(|a| a.range.contains(PhysAddr(pa)));
                    assert!(backed, "IPA {ipa:#x} maps {pa:#x}: not the VM's memory");
                }
            }
            for (_, page) in table.run_pages.iter() {
                assert!(!page.overlaps(&d), "run page {page:?} in donated RAM");
            }
        }
        assert_eq!(table.vmids.in_use(), 1 + live, "VMIDs in use");
        let host = self.hyp.host.lock();
        for pa in [HYP_MEM.base.0, HYP_MEM.end() - PAGE] {
            assert!(
                host.stage2.lookup(Ipa(pa)).is_none(),
                "host maps hyp memory at {pa:#x}"
            );
        }
        for d in table.donated.iter().flatten() {
            for pa in [d.base.0, d.end() - PAGE] {
                assert!(
                    host.stage2.lookup(Ipa(pa)).is_none(),
                    "host still maps donated {pa:#x}"
                );
            }
        }
    }
}
