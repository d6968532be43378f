//! The dispatcher on a fake CPU: each exception class from the host and from a guest goes
//! where docs/ARCHITECTURE.md says, with the registers and records the ABI promises.

use super::*;
use crate::addr::PhysRange;
use crate::mm::stage2::Ipa;
use crate::mm::tlb::S2Maintenance;
use crate::mm::vmid::Vmid;
use crate::vm::id_regs::GuestIdRegs;
use crate::vm::machine::GuestRegime;
use crate::vm::tests_fixture::{dabt, fixture, FakeMachine, Fixture, GUEST_RAM, RUN_PAGE};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::vec::Vec;
use stile_abi::run_page::{ExitReason, RunPage};
use stile_abi::Function;

const VBAR: u64 = 0x4100_0000;
/// The ICC_SGI1R_EL1 value that kicks the fake CPU.
const KICK_THIS_CPU: u64 = 15 << 24 | 1;
/// EL1h with interrupts masked: where a host or guest runs.
const SPSR_EL1H: u64 = 0x3c5;
const HOST_ELR: u64 = 0x4008_0000;

/// The fixture's machine, shared between the fake CPU and the test's checks.
#[derive(Clone)]
struct Shared(Rc<RefCell<FakeMachine>>);

impl S2Maintenance for Shared {
    fn dsb_ishst(&mut self) {}
    fn invalidate_ipa(&mut self, _: Vmid, _: Ipa, _: u8) {}
    fn invalidate_vmid(&mut self, _: Vmid) {}
}

impl Machine for Shared {
    fn scrub(&mut self, range: PhysRange) {
        self.0.borrow_mut().scrub(range)
    }
    fn clean(&mut self, range: PhysRange) {
        self.0.borrow_mut().clean(range)
    }
    fn read_run_page(&mut self, pa: u64) -> RunPage {
        self.0.borrow_mut().read_run_page(pa)
    }
    fn write_run_page(&mut self, pa: u64, page: &RunPage) {
        self.0.borrow_mut().write_run_page(pa, page)
    }
    fn at_s12e1r(&mut self, guest: Option<&GuestRegime>, addr: u64) -> u64 {
        self.0.borrow_mut().at_s12e1r(guest, addr)
    }
    fn counter(&mut self) -> u64 {
        self.0.borrow_mut().counter()
    }
    fn kick(&mut self, sgi1r: u64) {
        self.0.borrow_mut().kick(sgi1r)
    }
}

/// What the dispatcher asked the CPU to do.
struct FakeCpu {
    m: Shared,
    running: Option<Running>,
    syndrome: (Esr, u64, u64),
    stage1: Option<u64>,
    injected: Vec<El1Exception>,
    relayed: Vec<[u64; 4]>,
    cpu_on: Vec<(u64, u64, u64)>,
    took_fp: usize,
    entered: usize,
    left: usize,
    ids: GuestIdRegs,
    held: Option<FakeHeld>,
    /// The live GIC list registers and virtual timer of the running guest.
    lrs: [u64; 16],
    vtimer: Vtimer,
    /// A kick arrived (another CPU's SGI or SPI for the running vCPU).
    kicked: bool,
    /// Called by `enter_guest`, while the dispatcher holds the VM's lock.
    on_enter: Option<Box<dyn FnMut()>>,
}

impl TrapCpu for FakeCpu {
    type Machine = Shared;
    fn machine(&self, _: &Hyp) -> Shared {
        self.m.clone()
    }
    fn running(&self) -> Option<Running> {
        self.running
    }
    fn syndrome(&self) -> (Esr, u64, u64) {
        self.syndrome
    }
    fn guest_stage1(&mut self, _: u64) -> Option<u64> {
        self.stage1
    }
    fn vbar_el1(&self) -> u64 {
        VBAR
    }
    fn write_el1_exception(&mut self, e: &El1Exception) {
        self.injected.push(*e);
    }
    fn enter_guest(&mut self, vc: &mut Vcpu, _: &GuestStage2, run: Running) -> *mut Context {
        if let Some(hook) = self.on_enter.as_mut() {
            hook();
        }
        self.entered += 1;
        self.running = Some(run);
        &mut vc.ctx
    }
    fn leave_guest(&mut self, _: Option<&mut Vcpu>) -> *mut Context {
        self.left += 1;
        self.running.take().expect("a guest was running").host_ctx
    }
    fn guest_cpu(&self) -> GuestCpu<'_> {
        GuestCpu {
            id: &self.ids,
            pauth: false,
        }
    }
    fn take_fp(&mut self, _: &Vcpu) {
        self.took_fp += 1;
    }
    fn take_keys(&mut self, _: &Vcpu) {}
    fn index(&self) -> usize {
        0
    }
    fn firmware_calls(&self) -> FirmwareCalls {
        // PSCI 1.1 implementing every call EL2 may relay.
        FirmwareCalls {
            version: 0x1_0001,
            implemented: u32::MAX,
        }
    }
    fn relay(&mut self, args: [u64; 4], _: Option<&'static str>) -> [u64; 4] {
        self.relayed.push(args);
        [0x1_0001, 0, 0, 0]
    }
    fn cpu_on(&mut self, target: u64, entry: u64, context: u64) -> i64 {
        self.cpu_on.push((target, entry, context));
        0
    }
    fn cpu_off(&mut self) -> i64 {
        -3
    }
    fn cpu_suspend(&mut self, _: u64, _: u64, _: u64) -> i64 {
        0
    }
    fn psci_emulated(&self) -> bool {
        self.held.is_some()
    }
    fn held_power(&self, mpidr: u64) -> Option<AffinityState> {
        self.held
            .as_ref()
            .and_then(|h| h.power.get(mpidr as usize).copied())
    }
    fn held_caller(&self) -> bool {
        self.held.is_some()
    }
    fn held_on(&mut self, target: u64, entry: u64, context: u64) -> i64 {
        self.cpu_on.push((target, entry, context));
        if let Some(p) = self
            .held
            .as_mut()
            .and_then(|h| h.power.get_mut(target as usize))
        {
            *p = AffinityState::OnPending;
        }
        0
    }
    fn held_off(&mut self) -> ! {
        let h = self
            .held
            .as_mut()
            .expect("held_off on a CPU that holds nothing");
        h.parked_lock_free = Some(crate::lock::held() == 0);
        panic!("parked");
    }
    fn gic_lrs(&self) -> usize {
        4
    }
    fn vgic_live(&self) -> bool {
        self.running.is_some()
    }
    fn gic_read(&mut self, regs: &mut GicCpuRegs) {
        regs.lrs = self.lrs;
    }
    fn gic_write(&mut self, regs: &GicCpuRegs) {
        self.lrs = regs.lrs;
    }
    fn gic_misr(&self) -> u64 {
        0
    }
    fn kick_sgi1r(&self) -> u64 {
        KICK_THIS_CPU
    }
    fn take_kick(&mut self) -> bool {
        core::mem::replace(&mut self.kicked, false)
    }
    fn vtimer(&self) -> Vtimer {
        self.vtimer
    }
    fn set_vtimer_ctl(&mut self, ctl: u64) {
        self.vtimer.ctl = ctl;
    }
}

/// A fake machine whose CPUs Stile holds (no PSCI firmware), by MPIDR = index.
struct FakeHeld {
    power: Vec<AffinityState>,
    /// Set when the CPU parked: whether it held no lock then.
    parked_lock_free: Option<bool>,
}

struct World {
    hyp: Arc<HypCell>,
    cpu: FakeCpu,
    host: Box<Context>,
    vm: u64,
    _pool: Vec<u8>,
}

/// A fixture with one guest (vCPU 0, lazy RAM at IPA 0x4000_0000, MMIO at 0x0900_0000).
fn world() -> World {
    let mut f = fixture(true);
    let vm = f.guest();
    world_of(f, vm)
}

/// The world of fixture `f`, whose guest `vm` the helpers run.
fn world_of(f: Fixture, vm: u64) -> World {
    let Fixture { hyp, m, _pool } = f;
    World {
        hyp: Arc::new(HypCell::with(Box::new(hyp))),
        cpu: fake_cpu(m),
        host: host_context(),
        vm,
        _pool,
    }
}

/// The host's registers as it calls EL2.
fn host_context() -> Box<Context> {
    let mut host = Box::new(Context::ZERO);
    host.elr = HOST_ELR;
    host.spsr = SPSR_EL1H;
    host
}

/// A CPU on which no guest runs, with `m` as its machine.
fn fake_cpu(m: FakeMachine) -> FakeCpu {
    FakeCpu {
        m: Shared(Rc::new(RefCell::new(m))),
        running: None,
        syndrome: (Esr(0), 0, 0),
        stage1: None,
        injected: Vec::new(),
        relayed: Vec::new(),
        cpu_on: Vec::new(),
        took_fp: 0,
        entered: 0,
        left: 0,
        ids: GuestIdRegs::EMPTY,
        held: None,
        lrs: [0; 16],
        vtimer: Vtimer { ctl: 0, cval: 0 },
        kicked: false,
        on_enter: None,
    }
}

fn host_trap(hyp: &HypCell, cpu: &mut FakeCpu, ctx: &mut Context, kind: TrapKind) {
    host(hyp, cpu, ctx, kind);
}

/// ESR_EL2 of exception class `ec` with IL set and ISS `iss`.
fn esr(ec: u64, iss: u64) -> Esr {
    Esr(ec << 26 | 1 << 25 | iss)
}

impl World {
    /// A trap from the host with syndrome `e`; returns the Context to resume.
    fn host_trap(&mut self, e: Esr, far: u64, hpfar: u64) -> *mut Context {
        self.cpu.syndrome = (e, far, hpfar);
        let ctx: *mut Context = &mut *self.host;
        // SAFETY: the host's Context, and no guest runs.
        unsafe {
            trap(
                &self.hyp,
                &mut self.cpu,
                ctx,
                Entry::Trap(TrapKind::Sync),
                host_trap,
            )
        }
    }

    fn hvc(&mut self, x: &[u64]) -> *mut Context {
        self.host.x[..x.len()].copy_from_slice(x);
        self.host_trap(esr(0x16, 0), 0, 0)
    }

    fn vcpu_run(&mut self, vm: u64) -> *mut Context {
        self.host.x[..3].copy_from_slice(&[Function::VcpuRun as u64, vm, 0]);
        let ctx: *mut Context = &mut *self.host;
        // SAFETY: as in host_trap.
        unsafe { trap(&self.hyp, &mut self.cpu, ctx, Entry::HostVcpuRun, host_trap) }
    }

    /// A trap from the running guest.
    fn guest_trap(
        &mut self,
        guest: *mut Context,
        kind: TrapKind,
        e: Esr,
        ipa: u64,
    ) -> *mut Context {
        self.guest_trap_at(guest, kind, e, ipa, (ipa >> 8) & !0xf)
    }

    /// [`World::guest_trap`] with FAR_EL2 and HPFAR_EL2 as given.
    fn guest_trap_at(
        &mut self,
        guest: *mut Context,
        kind: TrapKind,
        e: Esr,
        far: u64,
        hpfar: u64,
    ) -> *mut Context {
        self.cpu.syndrome = (e, far, hpfar);
        // SAFETY: `guest` is the running vCPU's Context, which enter_guest handed out.
        unsafe {
            trap(
                &self.hyp,
                &mut self.cpu,
                guest,
                Entry::Trap(kind),
                host_trap,
            )
        }
    }

    /// The world's VM, locked.
    fn vm(&self) -> crate::vm::hyp::VmGuard<'_> {
        self.hyp.get().unwrap().lock_vm(self.vm).unwrap()
    }

    fn host_ptr(&mut self) -> *mut Context {
        &mut *self.host
    }

    fn page(&self) -> RunPage {
        self.cpu.m.0.borrow_mut().read_run_page(RUN_PAGE)
    }
}

#[test]
fn a_host_smc_is_psci_relayed_and_stepped_over() {
    let mut w = world();
    w.host.x[0] = smccc::psci::PSCI_VERSION as u64;
    let back = w.host_trap(esr(0x17, 0), 0, 0);
    assert_eq!(back, w.host_ptr());
    assert_eq!(w.cpu.relayed.len(), 1);
    assert_eq!(w.host.x[0], 0x1_0001);
    assert_eq!(w.host.elr, HOST_ELR + 4);
}

#[test]
fn psci_over_hvc_is_relayed_without_a_step_and_cpu_on_keeps_the_hosts_entry() {
    let mut w = world();
    w.hvc(&[smccc::psci::PSCI_CPU_ON_64 as u64, 1, 0x4008_1000, 77]);
    assert_eq!(w.cpu.cpu_on, [(1, 0x4008_1000, 77)]);
    assert_eq!(w.host.x[0], 0);
    assert_eq!(w.host.elr, HOST_ELR);
    assert!(w.cpu.relayed.is_empty());
}

#[test]
fn a_stile_call_is_answered_in_x0_to_x3() {
    let mut w = world();
    w.hvc(&[Function::Stats as u64, 0]);
    assert_eq!(w.host.x[0], Status::Success.as_u64());
    w.hvc(&[Function::VmDestroy as u64, 77]);
    assert_eq!(w.host.x[0], Status::InvalidParameters.as_u64());
    assert_eq!(w.host.x[1], Reason::NoSuchVm as u64);
    assert!(w.cpu.injected.is_empty());
}

#[test]
fn a_host_abort_on_donated_ram_injects_an_external_abort_at_its_vector() {
    let mut w = world();
    let ipa = GUEST_RAM + 0x1234;
    // A data abort, write, translation fault level 3.
    w.host_trap(esr(0x24, 1 << 6 | 0x07), ipa, (ipa >> 8) & !0xf);
    assert_eq!(w.cpu.injected.len(), 1);
    let e = w.cpu.injected[0];
    // EC 0x25 (data abort, same EL), WnR, synchronous external abort (FSC 0x10).
    assert_eq!(e.esr_el1 >> 26, 0x25);
    assert_eq!(e.esr_el1 & 0x3f, 0x10);
    assert_ne!(e.esr_el1 & 1 << 6, 0);
    assert_eq!(e.far_el1, ipa);
    assert_eq!(e.elr_el1, HOST_ELR);
    assert_eq!(w.host.elr, VBAR + 0x200);
}

#[test]
fn a_host_translation_fault_on_a_mapped_ipa_is_replayed() {
    let mut w = world();
    // The host's own RAM below the guest's: mapped, so another CPU's break-before-make.
    let ipa = GUEST_RAM - 0x1000;
    w.host_trap(esr(0x24, 0x07), ipa, (ipa >> 8) & !0xf);
    assert!(w.cpu.injected.is_empty());
    assert_eq!(w.host.elr, HOST_ELR);
}

#[test]
fn any_other_host_class_is_an_undefined_instruction_and_an_irq_changes_nothing() {
    let mut w = world();
    w.host_trap(esr(0x01, 0), 0, 0); // WFI
    assert_eq!(w.cpu.injected.len(), 1);
    assert_eq!(w.cpu.injected[0].esr_el1 >> 26, 0);
    assert_eq!(w.host.elr, VBAR + 0x200);
    let before = w.host.clone();
    let ctx = w.host_ptr();
    // SAFETY: the host's Context.
    unsafe {
        trap(
            &w.hyp,
            &mut w.cpu,
            ctx,
            Entry::Trap(TrapKind::Irq),
            host_trap,
        )
    };
    assert_eq!(w.host.elr, before.elr);
    assert_eq!(w.host.x, before.x);
    assert_eq!(w.cpu.injected.len(), 1);
}

#[test]
fn vcpu_run_enters_the_guest_and_its_hvc_comes_back_as_an_hvc_exit() {
    let mut w = world();
    let vm = w.vm;
    let guest = w.vcpu_run(vm);
    assert_ne!(guest, w.host_ptr());
    assert_eq!(w.cpu.entered, 1);
    // SAFETY: the vCPU's Context, stopped in EL2.
    unsafe { (&mut (*guest).x)[..2].copy_from_slice(&[0xC300_0001, 42]) };
    let back = w.guest_trap(guest, TrapKind::Sync, esr(0x16, 0), 0);
    assert_eq!(back, w.host_ptr());
    assert_eq!(w.cpu.left, 1);
    assert_eq!(w.host.x[0], Status::Success.as_u64());
    assert_eq!(w.host.x[1], ExitReason::Hvc as u64);
    let p = w.page();
    assert_eq!(p.exit_reason, ExitReason::Hvc as u32);
    assert_eq!(p.hvc[..2], [0xC300_0001, 42]);
}

#[test]
fn vcpu_run_of_a_vm_that_does_not_exist_is_refused_and_nothing_runs() {
    let mut w = world();
    let back = w.vcpu_run(9);
    assert_eq!(back, w.host_ptr());
    assert_eq!(w.cpu.entered, 0);
    assert_eq!(w.host.x[0], Status::InvalidParameters.as_u64());
    assert_eq!(w.host.x[1], Reason::NoSuchVm as u64);
}

#[test]
fn guest_aborts_map_ram_in_el2_and_exit_for_mmio() {
    let mut w = world();
    let vm = w.vm;
    let guest = w.vcpu_run(vm);
    let back = w.guest_trap(
        guest,
        TrapKind::Sync,
        Esr(dabt(4, 1, false, false, false)),
        0x4000_2000,
    );
    assert_eq!(back, guest, "first touch of RAM resumes the guest");
    assert_eq!(w.cpu.left, 0);
    let back = w.guest_trap(
        guest,
        TrapKind::Sync,
        Esr(dabt(4, 1, false, false, false)),
        0x0900_0018,
    );
    assert_eq!(back, w.host_ptr());
    assert_eq!(w.host.x[1], ExitReason::Mmio as u64);
    assert_eq!(w.page().ipa, 0x0900_0018);
}

#[test]
fn a_guest_fp_trap_is_resolved_here_and_an_irq_is_an_exit() {
    let mut w = world();
    let vm = w.vm;
    let guest = w.vcpu_run(vm);
    let back = w.guest_trap(guest, TrapKind::Sync, esr(0x07, 0), 0);
    assert_eq!(back, guest);
    assert_eq!(w.cpu.took_fp, 1);
    let back = w.guest_trap(guest, TrapKind::Irq, Esr(0), 0);
    assert_eq!(back, w.host_ptr());
    assert_eq!(w.host.x[1], ExitReason::Irq as u64);
}

#[test]
fn a_permission_fault_takes_its_ipa_from_the_guests_stage_1() {
    let mut w = world();
    // Permission fault, level 3: HPFAR is not valid for it.
    let e = esr(0x24, 0x0f);
    w.cpu.stage1 = Some(0x4000_5000);
    assert_eq!(
        fault_ipa(&mut w.cpu, e, 0xffff_0000_1234_5678, 0),
        0x4000_5678
    );
    // No stage-1 mapping: HPFAR is all there is.
    w.cpu.stage1 = None;
    assert_eq!(fault_ipa(&mut w.cpu, e, 0x678, 0x40_0050), 0x4000_5678);
    // A translation fault, or a fault on the stage-1 walk, trusts HPFAR.
    w.cpu.stage1 = Some(0x7000_0000);
    assert_eq!(
        fault_ipa(&mut w.cpu, esr(0x24, 0x07), 0x678, 0x40_0050),
        0x4000_5678
    );
    assert_eq!(
        fault_ipa(&mut w.cpu, esr(0x24, 1 << 7 | 0x0f), 0x678, 0x40_0050),
        0x4000_5678
    );
    // Not an abort: no IPA.
    assert_eq!(fault_ipa(&mut w.cpu, esr(0x16, 0), 0x678, 0x40_0050), 0);
}

/// The world on a machine without PSCI firmware whose four CPUs Stile holds: CPU 0 (the
/// caller) on, 1..3 waiting at EL2.
fn held_world() -> World {
    let mut w = world();
    w.cpu.held = Some(FakeHeld {
        power: vec![
            AffinityState::On,
            AffinityState::Off,
            AffinityState::Off,
            AffinityState::Off,
        ],
        parked_lock_free: None,
    });
    w
}

#[test]
fn held_cpus_are_started_and_reported_by_stile_never_relayed() {
    let mut w = held_world();
    w.hvc(&[smccc::psci::PSCI_CPU_ON_64 as u64, 2, 0x4008_1000, 77]);
    assert_eq!(
        (w.host.x[0], w.cpu.cpu_on.as_slice()),
        (0, &[(2, 0x4008_1000, 77)][..])
    );
    // The record moved: AFFINITY_INFO says ON_PENDING, a second CPU_ON says so too.
    w.hvc(&[smccc::psci::PSCI_AFFINITY_INFO_64 as u64, 2, 0]);
    assert_eq!(w.host.x[0], 2);
    w.hvc(&[smccc::psci::PSCI_CPU_ON_64 as u64, 2, 0x4008_1000, 77]);
    assert_eq!(w.host.x[0] as i64, -5);
    w.hvc(&[smccc::psci::PSCI_AFFINITY_INFO_64 as u64, 3, 0]);
    assert_eq!(w.host.x[0], 1);
    w.hvc(&[smccc::psci::PSCI_VERSION as u64]);
    assert_eq!(w.host.x[0], 0x1_0000);
    assert!(w.cpu.relayed.is_empty());
    assert_eq!(w.cpu.cpu_on.len(), 1);
}

#[test]
fn cpu_off_of_a_held_cpu_parks_it_without_the_lock_and_never_returns_to_the_host() {
    let mut w = held_world();
    let elr = w.host.elr;
    let back = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        w.hvc(&[smccc::psci::PSCI_CPU_OFF as u64, 0, 0, 0]);
    }));
    assert!(back.is_err(), "CPU_OFF returned to the host");
    let held = w.cpu.held.as_ref().unwrap();
    assert_eq!(held.parked_lock_free, Some(true));
    assert_eq!(
        (w.host.elr, w.host.x[0]),
        (elr, smccc::psci::PSCI_CPU_OFF as u64)
    );
    assert!(w.cpu.relayed.is_empty());
}

#[path = "kick_tests.rs"]
mod kick_tests;
#[path = "lazy_tests.rs"]
mod lazy_tests;
#[path = "lock_tests.rs"]
mod lock_tests;
