//! The kick through the dispatcher (vgic/kick.rs): who is kicked when a vCPU's SGI or the
//! host's SPI lands on a vCPU that runs elsewhere, and what a kicked CPU does.

use super::*;
use crate::vgic::lr::lr_intid;

const GICD: u64 = 0x0800_0000;
const GICR: u64 = 0x080a_0000;
const RUN_PAGE_1: u64 = RUN_PAGE + 0x1000;
/// The ICC_SGI1R_EL1 value of the other CPU, where vCPU 1 "runs".
const KICK_OTHER_CPU: u64 = 15 << 24 | 1 << 1;

/// `world()` with a vGIC and a second vCPU; `vcpu1_running`: vCPU 1 runs on another CPU.
fn vgic_world(vcpu1_running: bool) -> World {
    let mut w = world();
    let vm = w.vm;
    w.hvc(&[Function::VgicConfig as u64, vm, GICD, GICR]);
    assert_eq!(w.host.x[0], 0, "VGIC_CONFIG");
    w.hvc(&[
        Function::VcpuCreate as u64,
        vm,
        0x4000_0000,
        RUN_PAGE_1,
        0,
        0,
    ]);
    assert_eq!(w.host.x[..2], [0, 1], "VCPU_CREATE");
    let mut v = w.vm();
    let vc = &mut v.vcpus[1];
    vc.running = vcpu1_running;
    vc.kick = KICK_OTHER_CPU;
    drop(v);
    w
}

impl World {
    fn kicks(&self) -> Vec<u64> {
        self.cpu.m.0.borrow().kicks.clone()
    }

    /// The guest enabled `intid` and another CPU made it pending.
    fn set_pending(&mut self, vcpu: usize, intid: u32) {
        let mut v = self.vm();
        let g = v.vgic.as_deref_mut().unwrap();
        g.update(vcpu, intid, |irq| irq.enabled = true).unwrap();
        g.raise_private(vcpu, intid);
    }
}

/// ESR of a guest MSR ICC_SGI1R_EL1, x<rt> (op0 3, op1 0, CRn 12, CRm 11, op2 5; a write).
fn msr_sgi1r(rt: u64) -> Esr {
    esr(0x18, 3 << 20 | 5 << 17 | 12 << 10 | rt << 5 | 11 << 1)
}

/// vCPU 0 runs here and writes ICC_SGI1R_EL1 = `value` from x3.
fn send_sgi(w: &mut World, value: u64) -> *mut Context {
    let guest = w.vcpu_run(w.vm);
    assert_ne!(guest, w.host_ptr(), "vCPU 0 entered");
    // SAFETY: the running vCPU's Context, stopped in EL2 here.
    unsafe { (*guest).x[3] = value };
    w.guest_trap(guest, TrapKind::Sync, msr_sgi1r(3), 0)
}

#[test]
fn vcpu_run_of_a_vgic_vcpu_records_where_it_can_be_kicked() {
    let mut w = vgic_world(false);
    w.vcpu_run(w.vm);
    assert_eq!(w.vm().vcpus[0].kick, KICK_THIS_CPU);
}

#[test]
fn an_sgi_to_a_vcpu_running_on_another_cpu_kicks_that_cpu_once() {
    let mut w = vgic_world(true);
    let back = send_sgi(&mut w, 3 << 24 | 1 << 1);
    assert_ne!(back, w.host_ptr(), "the sender goes on");
    assert_eq!(w.kicks(), [KICK_OTHER_CPU]);
}

#[test]
fn an_sgi_to_a_vcpu_that_is_not_running_or_to_itself_kicks_nobody() {
    let mut w = vgic_world(false);
    send_sgi(&mut w, 3 << 24 | 1 << 1);
    assert_eq!(w.kicks(), []);
    let mut w = vgic_world(true);
    send_sgi(&mut w, 3 << 24 | 1);
    assert_eq!(w.kicks(), [], "to itself");
}

#[test]
fn the_hosts_spi_for_a_running_vcpu_kicks_its_cpu_on_the_rising_edge_only() {
    let mut w = vgic_world(false);
    // SPIs route to vCPU 0 at reset; make vCPU 0 the one running elsewhere.
    {
        let mut v = w.vm();
        let vc = &mut v.vcpus[0];
        vc.running = true;
        vc.kick = KICK_OTHER_CPU;
    }
    let vm = w.vm;
    w.hvc(&[Function::IrqLine as u64, vm, 40, 1]);
    assert_eq!(w.host.x[0], 0, "IRQ_LINE high");
    w.hvc(&[Function::IrqLine as u64, vm, 40, 0]);
    assert_eq!(w.host.x[0], 0, "IRQ_LINE low");
    assert_eq!(w.kicks(), [KICK_OTHER_CPU]);
}

#[test]
fn a_kicked_cpu_resumes_its_guest_with_the_new_interrupt_in_a_list_register() {
    let mut w = vgic_world(false);
    let guest = w.vcpu_run(w.vm);
    // Another CPU made SGI 5 pending for vCPU 0 and kicked this one.
    w.set_pending(0, 5);
    w.cpu.kicked = true;
    let back = w.guest_trap(guest, TrapKind::Irq, Esr(0), 0);
    assert_eq!(back, guest, "resumed, no exit");
    assert!(!w.cpu.kicked, "the kick was taken");
    assert!(w.cpu.lrs.iter().any(|&lr| lr_intid(lr) == 5));
    // An IRQ that is not a kick (nor the timer or maintenance) is the host's: an exit.
    let back = w.guest_trap(guest, TrapKind::Irq, Esr(0), 0);
    assert_eq!(back, w.host_ptr());
}
