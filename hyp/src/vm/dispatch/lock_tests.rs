//! EL2's locks with real threads as host CPUs, all sharing one `Hyp` (each with its own fake
//! CPU and run-page view): two guests run at once, a VM is never destroyed under its running
//! vCPU, a vCPU runs on one CPU at a time, a revoked region stays unmapped whatever a racing
//! MEMSLOT_SET does. Every lock taken here is also checked against the lock order
//! (crate::lock).

use super::*;
use crate::vm::hvc::status_of;
use crate::vm::tests_fixture::{dabt, GUEST_RAM_SIZE};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// VM 2's RAM and run page (VM 1 has the fixture's).
const RAM_2: u64 = GUEST_RAM + GUEST_RAM_SIZE;
const RUN_PAGE_2: u64 = RUN_PAGE + 0x2000;
/// A third VM's, for the one that comes and goes.
const RAM_3: u64 = RAM_2 + GUEST_RAM_SIZE;
const RUN_PAGE_3: u64 = RUN_PAGE + 0x4000;
/// Every guest's MMIO slot.
const MMIO: u64 = 0x0900_0000;
/// How long a CPU waits for another before the test calls it a deadlock (no timing is
/// measured: a correct run never comes near it).
const DEADLOCK: Duration = Duration::from_secs(30);

/// A world with two guests (each one vCPU, lazy RAM at IPA 0x4000_0000, MMIO at
/// 0x0900_0000): (world, VM 1, VM 2, what the frame pool and the host's tables held before).
fn two_guests() -> (World, u64, u64, u64) {
    let mut f = fixture(true);
    let baseline = pool_and_host_tables(&f.hyp);
    let a = f.guest();
    let b = f.guest_at(RAM_2, RUN_PAGE_2);
    (world_of(f, a), a, b, baseline)
}

/// Free frames plus the host's table pages, in bytes: back where it started once every VM
/// is gone, unless a table page leaked or was freed twice.
fn pool_and_host_tables(hyp: &Hyp) -> u64 {
    hyp.frames.free_bytes() + hyp.host.lock().stage2.table_pages() * 4096
}

/// Another host CPU, with guest `vm` as its world's: the same `Hyp`, its own registers.
fn cpu(hyp: &Arc<HypCell>, vm: u64) -> World {
    World {
        hyp: hyp.clone(),
        cpu: fake_cpu(FakeMachine::default()),
        host: host_context(),
        vm,
        _pool: Vec::new(),
    }
}

/// The RAM slot of a guest whose RAM is at `ram` (as `Fixture::guest_at` sets it).
fn ram_slot(vm: u64, ram: u64) -> [u64; 7] {
    let rwx = stile_abi::slot::PERM_READ | stile_abi::slot::PERM_WRITE;
    let word = stile_abi::slot::word(stile_abi::slot::SlotKind::Ram, rwx, 0);
    let f = Function::MemslotSet as u64;
    [f, vm, 0, 0x4000_0000, ram, GUEST_RAM_SIZE, word]
}

impl World {
    /// Stile's call `x`; x0 and x1 of the answer.
    fn call(&mut self, x: &[u64]) -> [u64; 2] {
        self.hvc(x);
        [self.host.x[0], self.host.x[1]]
    }

    /// VCPU_RUN of vCPU 0 of this world's VM: the guest's Context, or the refusal's reason.
    fn run(&mut self) -> Result<*mut Context, u64> {
        let guest = self.vcpu_run(self.vm);
        match guest == self.host_ptr() {
            true => Err(self.host.x[1]),
            false => Ok(guest),
        }
    }

    fn enter(&mut self) -> *mut Context {
        let vm = self.vm;
        self.run()
            .unwrap_or_else(|r| panic!("VCPU_RUN of VM {vm} refused (reason {r})"))
    }

    /// The running guest loads 8 bytes from `ipa`: resolved in EL2 (its Context back) or an
    /// exit (the host's).
    fn load(&mut self, guest: *mut Context, ipa: u64) -> *mut Context {
        let e = Esr(dabt(8, 1, false, true, false));
        self.guest_trap(guest, TrapKind::Sync, e, ipa)
    }

    /// The running guest's HVC, which exits: the exit reason.
    fn hvc_exit(&mut self, guest: *mut Context) -> u64 {
        // SAFETY: the running vCPU's Context, stopped in EL2.
        unsafe { (*guest).x[0] = 0xC300_0001 };
        let back = self.guest_trap(guest, TrapKind::Sync, esr(0x16, 0), 0);
        assert_eq!(back, self.host_ptr(), "an HVC exits");
        self.host.x[1]
    }
}

#[test]
fn a_cpu_inside_one_vms_trap_holds_up_no_other_cpu_running_another_vm() {
    let (w, a, b, _) = two_guests();
    let (inside_tx, inside_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    thread::scope(|s| {
        let hyp = &w.hyp;
        s.spawn(move || {
            let mut cpu_a = cpu(hyp, a);
            let mut once = Some((inside_tx, done_rx));
            // CPU A stops in its switch into VM 1's vCPU, with VM 1's lock held...
            cpu_a.cpu.on_enter = Some(Box::new(move || {
                if let Some((inside, done)) = once.take() {
                    inside.send(()).unwrap();
                    let b_ran = done.recv_timeout(DEADLOCK);
                    assert!(b_ran.is_ok(), "CPU B was held up by CPU A's VM lock");
                }
            }));
            let guest = cpu_a.enter();
            assert_eq!(cpu_a.hvc_exit(guest), ExitReason::Hvc as u64);
        });
        s.spawn(move || {
            inside_rx.recv().unwrap();
            // ...while CPU B runs VM 2 (a lazy map takes a table page from the shared pool,
            // an MMIO exit), changes its slots and reads EL2's books.
            let mut cpu_b = cpu(hyp, b);
            let guest = cpu_b.enter();
            assert_eq!(cpu_b.load(guest, 0x4000_3000), guest, "a lazy map");
            assert_eq!(cpu_b.load(guest, MMIO), cpu_b.host_ptr());
            assert_eq!(cpu_b.host.x[1], ExitReason::Mmio as u64);
            assert_eq!(cpu_b.call(&ram_slot(b, RAM_2))[0], 0, "MEMSLOT_SET");
            assert_eq!(cpu_b.call(&[Function::Stats as u64, 0])[0], 0, "STATS");
            let _ = done_tx.send(());
        });
    });
}

#[test]
fn two_cpus_running_two_guests_at_once_keep_every_count_and_every_page() {
    const ROUNDS: u64 = 600;
    let (mut w, a, b, baseline) = two_guests();
    let finished = AtomicU64::new(0);
    // Each CPU runs its own VM: lazy maps (table pages from the shared pool, and back to it
    // when the slot is set again every 16 rounds), MMIO exits, their records.
    let guest_loop = |hyp: &Arc<HypCell>, vm: u64, ram: u64, run_page: u64| {
        let mut c = cpu(hyp, vm);
        for i in 0..ROUNDS {
            if i % 16 == 0 {
                assert_eq!(c.call(&ram_slot(vm, ram))[0], 0, "MEMSLOT_SET");
            }
            let guest = c.enter();
            let page = 0x4000_0000 + (i % 16) * 0x4_1000;
            assert_eq!(
                c.load(guest, page),
                guest,
                "VM {vm}: a lazy map of {page:#x}"
            );
            let ipa = MMIO + (i % 8) * 8;
            assert_eq!(c.load(guest, ipa), c.host_ptr(), "VM {vm}: an MMIO exit");
            assert_eq!(c.host.x[1], ExitReason::Mmio as u64);
            let record = c.cpu.m.0.borrow_mut().read_run_page(run_page);
            assert_eq!((record.ipa, record.exit_count), (ipa, i + 1), "VM {vm}");
        }
        finished.fetch_add(1, Ordering::Release);
    };
    thread::scope(|s| {
        let hyp = &w.hyp;
        s.spawn(|| guest_loop(hyp, a, GUEST_RAM, RUN_PAGE));
        s.spawn(|| guest_loop(hyp, b, RAM_2, RUN_PAGE_2));
        // A third CPU: a VM that comes and goes (the table, the host's stage 2, the pool),
        // EL2's books and TRANSLATEs of the running guests.
        s.spawn(|| {
            let mut c = cpu(hyp, 0);
            while finished.load(Ordering::Acquire) < 2 {
                let [status, id] = c.call(&[Function::VmCreate as u64, RAM_3, GUEST_RAM_SIZE, 0]);
                assert_eq!(status, 0, "VM_CREATE");
                let vcpu = [
                    Function::VcpuCreate as u64,
                    id,
                    0x4000_0000,
                    RUN_PAGE_3,
                    0,
                    0,
                ];
                assert_eq!(c.call(&vcpu)[0], 0, "VCPU_CREATE");
                assert_eq!(c.call(&[Function::Stats as u64, 0])[0], 0, "STATS");
                for vm in [a, b] {
                    let t = c.call(&[Function::Translate as u64, vm, 0x4000_0000]);
                    assert_ne!(t[1], Reason::NoSuchVm as u64);
                }
                assert_eq!(
                    c.call(&[Function::VmDestroy as u64, id])[0],
                    0,
                    "VM_DESTROY"
                );
            }
        });
    });
    for vm in [a, b] {
        let stats = w.call(&[Function::Stats as u64, vm]);
        assert_eq!(stats, [0, ROUNDS], "VM {vm}: one lazy map per round");
        assert_eq!(w.host.x[2], ROUNDS, "VM {vm}: one exit per round");
        assert_eq!(w.call(&[Function::VmDestroy as u64, vm])[0], 0);
    }
    let hyp = w.hyp.get().unwrap();
    assert_eq!(pool_and_host_tables(hyp), baseline, "table pages leaked");
    assert_eq!(hyp.table.lock().vmids.in_use(), 1, "VMIDs leaked");
}

#[test]
fn vm_destroy_is_refused_while_another_cpu_runs_its_vcpu_and_never_frees_it_under_it() {
    let (w, a, b, baseline) = two_guests();
    let busy = [status_of(Reason::Busy).as_u64(), Reason::Busy as u64];
    let (entered_tx, entered_rx) = mpsc::channel();
    let (tried_tx, tried_rx) = mpsc::channel();
    thread::scope(|s| {
        let hyp = &w.hyp;
        // In turn: A enters VM 1; B's destroy is refused; A exits; B's destroy succeeds;
        // A's next VCPU_RUN finds no VM.
        s.spawn(move || {
            let mut cpu_a = cpu(hyp, a);
            let guest = cpu_a.enter();
            entered_tx.send(()).unwrap();
            tried_rx.recv().unwrap();
            assert_eq!(
                cpu_a.hvc_exit(guest),
                ExitReason::Hvc as u64,
                "VM 1 is there"
            );
            entered_tx.send(()).unwrap();
            tried_rx.recv().unwrap();
            assert_eq!(cpu_a.run(), Err(Reason::NoSuchVm as u64));
        });
        s.spawn(move || {
            let mut cpu_b = cpu(hyp, 0);
            entered_rx.recv().unwrap();
            assert_eq!(cpu_b.call(&[Function::VmDestroy as u64, a]), busy);
            tried_tx.send(()).unwrap();
            entered_rx.recv().unwrap();
            assert_eq!(cpu_b.call(&[Function::VmDestroy as u64, a])[0], 0);
            tried_tx.send(()).unwrap();
        });
    });
    // The same race, unordered: A runs VM 2 until it is gone, B destroys it when it can.
    thread::scope(|s| {
        let hyp = &w.hyp;
        s.spawn(move || {
            let mut cpu_a = cpu(hyp, b);
            let mut i = 0;
            loop {
                let guest = match cpu_a.run() {
                    Ok(guest) => guest,
                    Err(reason) => break assert_eq!(reason, Reason::NoSuchVm as u64),
                };
                // Its stage 2 and vCPU are still there: a lazy map, then an HVC exit.
                let page = 0x4000_0000 + (i % 512) * 0x1000;
                assert_eq!(cpu_a.load(guest, page), guest, "VM 2 lost under its vCPU");
                assert_eq!(cpu_a.hvc_exit(guest), ExitReason::Hvc as u64);
                i += 1;
            }
        });
        s.spawn(move || {
            let mut cpu_b = cpu(hyp, 0);
            loop {
                match cpu_b.call(&[Function::VmDestroy as u64, b]) {
                    [0, _] => break,
                    refused => assert_eq!(refused, busy),
                }
                thread::yield_now();
            }
        });
    });
    let hyp = w.hyp.get().unwrap();
    assert_eq!(
        pool_and_host_tables(hyp),
        baseline,
        "table pages leaked or freed twice"
    );
}

#[test]
fn a_vcpu_runs_on_one_cpu_at_a_time_and_a_second_vcpu_run_is_refused() {
    const ROUNDS: u64 = 2000;
    let (mut w, a, _, _) = two_guests();
    let busy = Reason::Busy as u64;
    // In turn: A runs vCPU 0; B's VCPU_RUN of it is refused and enters nothing.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (tried_tx, tried_rx) = mpsc::channel();
    thread::scope(|s| {
        let hyp = &w.hyp;
        s.spawn(move || {
            let mut cpu_a = cpu(hyp, a);
            let guest = cpu_a.enter();
            entered_tx.send(()).unwrap();
            tried_rx.recv().unwrap();
            assert_eq!(cpu_a.hvc_exit(guest), ExitReason::Hvc as u64);
        });
        s.spawn(move || {
            let mut cpu_b = cpu(hyp, a);
            entered_rx.recv().unwrap();
            assert_eq!(cpu_b.run(), Err(busy));
            assert_eq!(cpu_b.cpu.entered, 0);
            tried_tx.send(()).unwrap();
        });
    });
    // Unordered: both CPUs run the same vCPU over and over; never both inside it.
    let inside = AtomicBool::new(false);
    let entries = AtomicU64::new(0);
    let hammer = |hyp: &Arc<HypCell>| {
        let mut c = cpu(hyp, a);
        for _ in 0..ROUNDS {
            let guest = match c.run() {
                Ok(guest) => guest,
                Err(reason) => {
                    assert_eq!(reason, busy);
                    continue;
                }
            };
            assert!(!inside.swap(true, Ordering::AcqRel), "two CPUs run vCPU 0");
            entries.fetch_add(1, Ordering::Relaxed);
            // The guest runs a while (a lazy map), then leaves.
            assert_eq!(c.load(guest, 0x4000_5000), guest);
            thread::yield_now();
            inside.store(false, Ordering::Release);
            assert_eq!(c.hvc_exit(guest), ExitReason::Hvc as u64);
        }
    };
    thread::scope(|s| {
        s.spawn(|| hammer(&w.hyp));
        s.spawn(|| hammer(&w.hyp));
    });
    w.call(&[Function::Stats as u64, a]);
    let exits = entries.load(Ordering::Relaxed) + 1;
    assert_eq!(w.host.x[2], exits, "one exit per entry");
    assert_eq!(w.host.x[1], exits - 1, "one lazy map per hammered entry");
}

#[test]
fn a_memslot_set_racing_region_revoke_never_leaves_the_region_mapped() {
    const ROUNDS: u64 = 100;
    // qemu-virt's fb-nc region (the fixture's first assignable one), eagerly mapped at
    // IPA 0xa000_0000 by VM 1 while another CPU revokes it.
    const FB: u64 = 0x7b00_0000;
    const WINDOW: u64 = 0xa000_0000;
    let (mut w, a, _, _) = two_guests();
    let rw = stile_abi::slot::PERM_READ | stile_abi::slot::PERM_WRITE;
    let flags = stile_abi::slot::FLAG_EAGER;
    let word = stile_abi::slot::word(stile_abi::slot::SlotKind::DeviceNc, rw, flags);
    let set = [
        Function::MemslotSet as u64,
        a,
        2,
        WINDOW,
        FB,
        0x1_0000,
        word,
    ];
    let revoked = [status_of(Reason::Revoked).as_u64(), Reason::Revoked as u64];
    for round in 0..ROUNDS {
        let sets = AtomicU64::new(0);
        thread::scope(|s| {
            let (hyp, sets) = (&w.hyp, &sets);
            // CPU A sets the slot again and again until it is refused with REVOKED...
            s.spawn(move || {
                let mut c = cpu(hyp, a);
                loop {
                    match c.call(&set) {
                        [0, _] => sets.fetch_add(1, Ordering::Release),
                        refused => break assert_eq!(refused, revoked),
                    };
                }
            });
            // ...while CPU B revokes the region, at a different point each round.
            s.spawn(move || {
                let mut c = cpu(hyp, 0);
                while sets.load(Ordering::Acquire) < 1 + round % 4 {
                    thread::yield_now();
                }
                let r = c.call(&[Function::RegionRevoke as u64, FB]);
                assert_eq!(r[0], 0, "REGION_REVOKE");
            });
        });
        // Whichever call came last, the region is mapped in no guest.
        let v = w.vm();
        let left = v.stage2.lookup(crate::mm::stage2::Ipa(WINDOW));
        assert_eq!(
            left, None,
            "round {round}: the revoked region is still mapped"
        );
        drop(v);
        assert_eq!(w.call(&[Function::RegionRestore as u64, FB])[0], 0);
    }
}
