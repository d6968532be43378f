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
