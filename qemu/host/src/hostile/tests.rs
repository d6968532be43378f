use super::gen::{branch_back, guest_program, pick_call, Call, PROGRAM_SNIPPETS};
use super::*;
use stile_abi::Reason;

fn targets() -> Targets {
    let mut pool = [PhysRange::new(0, 0); POOL_BLOCKS];
    for (i, b) in pool.iter_mut().enumerate() {
        *b = PhysRange::new(0x7000_0000 + (i as u64) * (2 << 20), 2 << 20);
    }
    Targets {
        pool,
        hyp: PhysRange::new(0x4020_0000, 0x120_0000),
        assignable: [PhysRange::new(0x7b00_0000, 0x100_0000); 2],
    }
}

fn empty_model() -> Model {
    Model {
        vms: [None; MAX_VMS],
        block_in_use: [false; POOL_BLOCKS],
    }
}

#[test]
fn the_same_seed_gives_the_same_calls() {
    let (t, m) = (targets(), empty_model());
    let (mut a, mut b) = (Rng::new(7), Rng::new(7));
    for _ in 0..1000 {
        assert_eq!(pick_call(&mut a, &t, &m), pick_call(&mut b, &t, &m));
    }
}

#[test]
fn a_branch_back_is_the_b_encoding() {
    // `b .` is 0x14000000; `b .-4` is 0x17ffffff; `b .-100` is 0x17ffffe7.
    assert_eq!(branch_back(0), 0x1400_0000);
    assert_eq!(branch_back(1), 0x17ff_ffff);
    assert_eq!(branch_back(25), 0x17ff_ffe7);
}

#[test]
fn a_guest_program_loops_back_to_its_first_instruction() {
    let menu = [[0xd400_0002, 0xd503_201f], [0xb940_0041, 0xd503_201f]];
    let p = guest_program(&mut Rng::new(3), &menu);
    assert_eq!(p.len(), 2 * PROGRAM_SNIPPETS + 3);
    assert_eq!(
        *p.last().unwrap(),
        branch_back(2 * PROGRAM_SNIPPETS as u32 + 2)
    );
    assert_eq!(
        p[2 * PROGRAM_SNIPPETS..2 * PROGRAM_SNIPPETS + 2],
        menu[1],
        "ends with the exit"
    );
    assert!(p[..p.len() - 1]
        .chunks(2)
        .all(|s| menu.contains(&[s[0], s[1]])));
}

#[test]
fn only_planned_creates_can_donate_pool_memory() {
    // Whatever else is generated, a VM_CREATE that is not a planned one must be refused by
    // any correct Stile: flags set, or memory that is not a whole-page pool range.
    let t = targets();
    let model = empty_model();
    let mut rng = Rng::new(11);
    let mut planned = 0;
    for _ in 0..100_000 {
        match pick_call(&mut rng, &t, &model) {
            Call::Create { block, ram } => {
                planned += 1;
                assert!(t.pool[block].base.0 == ram.base.0 && ram.end() <= t.pool[block].end());
            }
            Call::Other(x) if x[0] == Function::VmCreate as u64 => {
                let aligned = (x[1] | x[2]) % 4096 == 0 && x[2] != 0;
                let in_pool = t.pool.iter().any(|p| p.base.0 <= x[1] && x[1] < p.end());
                assert!(x[3] != 0 || !aligned || !in_pool, "{x:x?}");
            }
            _ => {}
        }
    }
    assert!(planned > 5_000, "{planned}");
}

#[test]
fn replies_are_judged_by_status_and_reason() {
    let x = [Function::VmCreate as u64, 0, 0, 0, 0, 0, 0];
    assert_eq!(reply_problem(x, [0, 1, 0, 0]), None);
    let denied = Status::Denied.as_u64();
    assert_eq!(reply_problem(x, [denied, Reason::Busy as u64, 0, 0]), None);
    assert!(matches!(
        reply_problem(x, [denied, 999, 0, 0]),
        Some(Violation::UnknownReason { .. })
    ));
    assert!(matches!(
        reply_problem(x, [5, 0, 0, 0]),
        Some(Violation::BadStatus { .. })
    ));
    assert!(matches!(
        reply_problem(x, [u64::MAX - 9, 0, 0, 0]),
        Some(Violation::BadStatus { .. })
    ));
}

#[test]
fn the_mode_reads_calls_seed_and_cpus() {
    assert_eq!(Mode::parse("console=ttyAMA0"), None);
    assert_eq!(
        Mode::parse("hostile"),
        Some(Mode {
            calls: 100_000,
            seed: 1,
            cpus: 1
        })
    );
    assert_eq!(
        Mode::parse("x hostile=500 hostile.seed=9 hostile.cpus=4"),
        Some(Mode {
            calls: 500,
            seed: 9,
            cpus: 4
        })
    );
    // More CPUs than the payload has stacks for, none, or junk.
    let cpus = |w: &str| Mode::parse(&format!("hostile {w}")).unwrap().cpus;
    assert_eq!(cpus("hostile.cpus=9"), MAX_CPUS);
    assert_eq!(cpus("hostile.cpus=0"), 1);
    assert_eq!(cpus("hostile.cpus=two"), 1);
}

#[test]
fn a_phase_is_shared_out_in_full() {
    for calls in [0, 1, 3, 4, 10_000, 10_003] {
        for cpus in 1..=4 {
            let (each, first) = split(calls, cpus);
            assert_eq!(each * (cpus - 1) + first, calls, "{calls} on {cpus}");
            assert!(first >= each && first - each < cpus);
        }
    }
}

#[test]
fn each_cpu_has_its_own_stream_and_cpu_0_the_campaigns() {
    assert_eq!(cpu_seed(2026, 0), 2026);
    let seeds: Vec<u64> = (0..MAX_CPUS).map(|c| cpu_seed(2026, c)).collect();
    for (i, a) in seeds.iter().enumerate() {
        assert!(seeds[i + 1..]
            .iter()
            .all(|b| Rng::new(*a).word() != Rng::new(*b).word()));
    }
}

#[test]
fn tallies_add_up_and_keep_the_first_violation() {
    let mut a = Tally {
        calls: 3,
        exits: [0, 1, 0, 0, 0, 0, 0, 0],
        ..Tally::default()
    };
    let v = Violation::Stalled { phase: 2 };
    let b = Tally {
        calls: 4,
        exits: [0, 2, 0, 5, 0, 0, 0, 0],
        violations: 1,
        first_violation: Some(v),
        ..Tally::default()
    };
    a.add(&b);
    assert_eq!(
        (a.calls, a.exits[1], a.exits[3], a.violations),
        (7, 3, 5, 1)
    );
    assert_eq!(a.first_violation, Some(v));
    let mut c = Tally {
        first_violation: Some(Violation::Revision { x0: 1 }),
        ..Tally::default()
    };
    c.add(&b);
    assert_eq!(c.first_violation, Some(Violation::Revision { x0: 1 }));
}

#[test]
fn the_spin_lock_lets_one_cpu_in_at_a_time() {
    let lock = std::sync::Arc::new(SpinLock::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    // A read and a write that another holder would tear apart.
                    let mut g = lock.lock();
                    let v = *g;
                    std::hint::spin_loop();
                    *g = v + 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*lock.lock(), 40_000);
}
