//! The hostile host (docs/HOST-PAYLOAD.md, "Hostile mode"): a seeded campaign of random
//! hypercalls, biased to reach deep states (guests created, slots set, vCPUs run with random
//! code that makes MMIO, NISV, memory-fault, HVC/SMC, undefined-instruction, WFI and
//! trapped-register exits), with EL2's invariants checked on every reply and after every
//! phase, from one host CPU or several at once. Arch-free: [`HostileMachine`] is the CPU and
//! [`Crew`] the other CPUs (arch/hostile.rs, arch/hostile_smp.rs).

mod gen;
mod judge;
mod lock;
mod mode;
#[cfg(test)]
mod tests;

pub use gen::Rng;
pub use judge::{reply_problem, Violation};
pub use lock::SpinLock;
pub use mode::{Mode, MAX_CPUS};

use gen::{guest_program, pick_call, with_run_page, Call};
use stile_abi::{ExitReason, Function, Status, REVISION};
use stile_hyp::addr::PhysRange;

/// Calls per phase; invariants are checked (and every guest destroyed) after each.
pub const PHASE: u64 = 10_000;
/// Guests at most (the ABI's limit).
pub const MAX_VMS: usize = 8;
/// Memory the campaign may donate: this many 2 MiB blocks.
pub const POOL_BLOCKS: usize = 8;
/// Run pages the payload shares (vCPUs beyond this reuse them: BUSY is an answer too).
pub const RUN_PAGES: usize = 8;

/// What the campaign needs from the CPU.
pub trait HostileMachine {
    /// `hvc #0` with x0..x6; x0..x3 back.
    fn call(&mut self, x: [u64; 7]) -> [u64; 4];
    /// A 32-bit load from `addr`, which Stile must refuse: true if it aborted.
    fn load_aborts(&mut self, addr: u64) -> bool;
    /// A word of host RAM the payload owns (memory given back by VM_DESTROY).
    fn read_u32(&mut self, addr: u64) -> u32;
    /// Write a guest's code at `pa` (free host RAM, about to be donated) and clean it to PoC.
    fn write_code(&mut self, pa: u64, words: &[u32]);
    /// The PA of run page `i` (< RUN_PAGES).
    fn run_page(&self, i: usize) -> u64;
    /// Set run page `i`'s host action word and data before a VCPU_RUN.
    fn set_action(&mut self, i: usize, action: u32, data: u64);
    /// The menu of two-instruction guest snippets (arch/hostile.rs assembles them).
    fn menu(&self) -> &[[u32; 2]];
}

/// What the campaign may aim at (besides its pool).
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub pool: [PhysRange; POOL_BLOCKS],
    /// Stile's own memory (the host DTB's `stile-hyp` node).
    pub hyp: PhysRange,
    /// Board regions a guest may be given (device, NC, cacheable-device), or empty.
    pub assignable: [PhysRange; 2],
}

/// What happened, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub calls: u64,
    pub succeeded: u64,
    pub refused: u64,
    /// VCPU_RUN returns by exit reason (0..=7).
    pub exits: [u64; 8],
    pub vms_created: u64,
    pub vms_destroyed: u64,
    pub phases: u64,
    pub invariant_checks: u64,
    pub violations: u64,
    pub first_violation: Option<Violation>,
}

impl Tally {
    fn violated(&mut self, v: Violation) {
        self.violations += 1;
        self.first_violation.get_or_insert(v);
    }

    /// Another CPU's counts added to these (its first violation kept if there is none yet).
    pub fn add(&mut self, o: &Tally) {
        self.calls += o.calls;
        self.succeeded += o.succeeded;
        self.refused += o.refused;
        for (e, n) in self.exits.iter_mut().zip(o.exits) {
            *e += n;
        }
        self.vms_created += o.vms_created;
        self.vms_destroyed += o.vms_destroyed;
        self.phases += o.phases;
        self.invariant_checks += o.invariant_checks;
        self.violations += o.violations;
        if self.first_violation.is_none() {
            self.first_violation = o.first_violation;
        }
    }
}

/// The other host CPUs of a campaign, as the first CPU (which checks the invariants) sees
/// them. Between phases they make no calls: stopped, or powered off.
pub trait Crew {
    /// How many other CPUs make calls (0: the first CPU alone).
    fn others(&self) -> u64;
    /// Start the next phase: each other CPU makes `calls` calls ([`share`]).
    fn start(&mut self, calls: u64);
    /// Wait until every other CPU has made its calls of this phase and stopped: false if
    /// one did not in time (EL2 hung, or a CPU died).
    fn wait(&mut self) -> bool;
}

/// The first CPU on its own.
pub struct Alone;

impl Crew for Alone {
    fn others(&self) -> u64 {
        0
    }
    fn start(&mut self, _calls: u64) {}
    fn wait(&mut self) -> bool {
        true
    }
}

/// What the CPUs of a campaign share: the model of EL2's state and their counts.
pub struct Shared {
    model: SpinLock<Model>,
    totals: SpinLock<Tally>,
}

impl Shared {
    pub const fn new() -> Shared {
        Shared {
            model: SpinLock::new(Model {
                vms: [None; MAX_VMS],
                block_in_use: [false; POOL_BLOCKS],
            }),
            totals: SpinLock::new(Tally {
                calls: 0,
                succeeded: 0,
                refused: 0,
                exits: [0; 8],
                vms_created: 0,
                vms_destroyed: 0,
                phases: 0,
                invariant_checks: 0,
                violations: 0,
                first_violation: None,
            }),
        }
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}

/// CPU `cpu`'s seed: its own stream, and CPU 0's is the campaign's seed itself (so one CPU
/// alone makes the same calls as before there were several).
pub fn cpu_seed(seed: u64, cpu: usize) -> u64 {
    seed ^ (cpu as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// How a phase's `calls` are shared among `cpus`: each other CPU's part, and the first's
/// (which takes the remainder). They add up to `calls`.
pub fn split(calls: u64, cpus: u64) -> (u64, u64) {
    let each = calls / cpus.max(1);
    (each, calls - each * cpus.saturating_sub(1))
}

/// A guest the campaign made and has not destroyed.
#[derive(Debug, Clone, Copy)]
struct LiveVm {
    id: u64,
    ram: PhysRange,
    block: usize,
    /// Run page of each vCPU created so far (vCPU ids are 0, 1, ... in creation order).
    run_pages: [Option<u8>; 4],
    vcpus: u8,
}

/// The campaign's view of EL2's state, updated from every successful call.
struct Model {
    vms: [Option<LiveVm>; MAX_VMS],
    block_in_use: [bool; POOL_BLOCKS],
}

impl Model {
    fn live(&self) -> impl Iterator<Item = &LiveVm> {
        self.vms.iter().flatten()
    }

    fn find(&mut self, id: u64) -> Option<&mut LiveVm> {
        self.vms.iter_mut().flatten().find(|v| v.id == id)
    }
}

/// Run `calls` hypercalls from `seed` on this CPU and the `crew`'s (plus the destroys and
/// checks of each phase), sharing `shared`, which must be fresh. This CPU checks the
/// invariants after each phase, when the others have stopped.
pub fn run(
    m: &mut impl HostileMachine,
    t: &Targets,
    calls: u64,
    seed: u64,
    shared: &Shared,
    crew: &mut impl Crew,
) -> Tally {
    let mut rng = Rng::new(cpu_seed(seed, 0));
    let mut tally = Tally::default();
    // Warm-up: donating each pool block once splits the host's stage 2 there for good (splits
    // are never undone), so EL2's books settle; they must come back to this after each phase.
    for b in 0..POOL_BLOCKS {
        let ram = PhysRange::new(t.pool[b].base.0, 0x3000);
        let x = m.call([Function::VmCreate as u64, ram.base.0, ram.size, 0, 0, 0, 0]);
        if x[0] == Status::Success.as_u64() {
            m.call([Function::VmDestroy as u64, x[1], 0, 0, 0, 0, 0]);
        }
    }
    let baseline = stats0(m);
    let mut done = 0;
    while done < calls {
        let n = PHASE.min(calls - done);
        let (each, mine) = split(n, 1 + crew.others());
        crew.start(each);
        share(m, t, shared, &mut rng, mine);
        if !crew.wait() {
            // Another CPU may still be calling: the books cannot be checked now.
            tally.violated(Violation::Stalled {
                phase: tally.phases,
            });
            break;
        }
        done += n;
        end_phase(m, t, &mut shared.model.lock(), &mut tally, baseline);
    }
    tally.add(&shared.totals.lock());
    tally
}

/// One CPU's part of a phase: `calls` random calls, counted into the shared totals.
pub fn share(m: &mut impl HostileMachine, t: &Targets, shared: &Shared, rng: &mut Rng, calls: u64) {
    let mut tally = Tally::default();
    for _ in 0..calls {
        step(m, t, rng, shared, &mut tally);
    }
    shared.totals.lock().add(&tally);
}

fn stats0(m: &mut impl HostileMachine) -> [u64; 3] {
    let x = m.call([Function::Stats as u64, 0, 0, 0, 0, 0, 0]);
    [x[1], x[2], x[3]]
}

/// One random call, its reply judged, the model updated. The model is held while the call
/// is chosen and its outcome applied; VM_CREATE and VM_DESTROY are also made with it held,
/// as they change which VMs exist: otherwise one CPU could apply its destroy of VM n after
/// another CPU's create of a new VM n, and the model would lose a live VM. Every other call
/// (VCPU_RUN above all) is made without it, so the CPUs contend in EL2, not here.
fn step(
    m: &mut impl HostileMachine,
    t: &Targets,
    rng: &mut Rng,
    shared: &Shared,
    tally: &mut Tally,
) {
    let mut model = shared.model.lock();
    let call = pick_call(rng, t, &model);
    if let Call::Create { block, ram } = call {
        let code = guest_program(rng, m.menu());
        m.write_code(ram.base.0, code.as_slice());
        model.block_in_use[block] = true;
    }
    if let Call::Run { vm, vcpu } = call {
        let page = model
            .find(vm)
            .and_then(|v| v.run_pages.get(vcpu as usize).copied().flatten());
        if let Some(p) = page {
            // Mostly COMPLETE; sometimes SKIP, INJECT_ABORT, or a value that means nothing.
            let action = match rng.below(16) {
                0..=10 => 0,
                11 | 12 => 1,
                13 | 14 => 2,
                _ => rng.word() as u32,
            };
            m.set_action(p as usize, action, rng.word());
        }
    }
    let mut x = call.regs();
    with_run_page(&mut x, rng, m);
    let held = matches!(
        Function::from_id(x[0] as u32),
        Some(Function::VmCreate | Function::VmDestroy)
    );
    let reply = if held {
        m.call(x)
    } else {
        drop(model);
        let reply = m.call(x);
        model = shared.model.lock();
        reply
    };
    tally.calls += 1;
    if let Some(v) = reply_problem(x, reply) {
        tally.violated(v);
    }
    if reply[0] != Status::Success.as_u64() {
        tally.refused += 1;
        if let Call::Create { block, .. } = call {
            model.block_in_use[block] = false;
        }
        return;
    }
    tally.succeeded += 1;
    apply(m, &mut model, tally, x, reply, call);
}

/// Follow a successful call in the model (whatever the campaign meant by it).
fn apply(
    m: &mut impl HostileMachine,
    model: &mut Model,
    tally: &mut Tally,
    x: [u64; 7],
    reply: [u64; 4],
    call: Call,
) {
    match Function::from_id(x[0] as u32) {
        Some(Function::VmCreate) => {
            tally.vms_created += 1;
            let block = match call {
                Call::Create { block, .. } => block,
                // Accepted although not meant: a pool block is the only RAM it may take.
                _ => {
                    tally.violated(Violation::UnplannedDonation { pa: x[1] });
                    return;
                }
            };
            let live = LiveVm {
                id: reply[1],
                ram: PhysRange::new(x[1], x[2]),
                block,
                run_pages: [None; 4],
                vcpus: 0,
            };
            if let Some(slot) = model.vms.iter_mut().find(|v| v.is_none()) {
                *slot = Some(live);
            }
        }
        Some(Function::VmDestroy) => destroyed(m, model, tally, x[1]),
        Some(Function::VcpuCreate) => {
            let page = (0..RUN_PAGES).find(|&i| m.run_page(i) == x[3]);
            if let Some(v) = model.find(x[1]) {
                if let Some(s) = v.run_pages.get_mut(reply[1] as usize) {
                    *s = page.map(|p| p as u8);
                }
                v.vcpus = v.vcpus.saturating_add(1);
            }
        }
        Some(Function::VcpuRun) => {
            if let Some(e) = tally.exits.get_mut(reply[1] as usize) {
                *e += 1;
            }
            if reply[1] == ExitReason::SystemEvent as u64 {
                // The vCPU is done; nothing else changes.
            }
        }
        _ => {}
    }
}

/// VM `id` was destroyed: its memory must be back, scrubbed, and readable.
fn destroyed(m: &mut impl HostileMachine, model: &mut Model, tally: &mut Tally, id: u64) {
    tally.vms_destroyed += 1;
    let Some(slot) = model.vms.iter_mut().find(|v| v.is_some_and(|v| v.id == id)) else {
        return;
    };
    let Some(vm) = slot.take() else {
        return;
    };
    model.block_in_use[vm.block] = false;
    // The guest's code was at the start: it must read as zero now.
    for off in [0, 4, vm.ram.size - 4] {
        let v = m.read_u32(vm.ram.base.0 + off);
        if v != 0 {
            tally.violated(Violation::NotScrubbed {
                addr: vm.ram.base.0 + off,
                value: v,
            });
        }
    }
}

/// After a phase: EL2 answers, its memory and every guest's are out of the host's reach,
/// then every guest is destroyed and EL2's books are back where they were.
fn end_phase(
    m: &mut impl HostileMachine,
    t: &Targets,
    model: &mut Model,
    tally: &mut Tally,
    baseline: [u64; 3],
) {
    tally.phases += 1;
    tally.invariant_checks += 1;
    let rev = m.call([u64::from(stile_abi::FN_REVISION), 0, 0, 0, 0, 0, 0]);
    if (rev[0], rev[1]) != (REVISION.0.into(), REVISION.1.into()) {
        tally.violated(Violation::Revision { x0: rev[0] });
    }
    if t.hyp.size != 0 && !m.load_aborts(t.hyp.base.0) {
        tally.violated(Violation::Reachable { addr: t.hyp.base.0 });
    }
    let live: heapless::Vec<LiveVm, MAX_VMS> = model.live().copied().collect();
    for vm in &live {
        if !m.load_aborts(vm.ram.base.0) {
            tally.violated(Violation::Reachable {
                addr: vm.ram.base.0,
            });
        }
    }
    for vm in &live {
        let x = [Function::VmDestroy as u64, vm.id, 0, 0, 0, 0, 0];
        let reply = m.call(x);
        tally.calls += 1;
        if reply[0] == Status::Success.as_u64() {
            tally.succeeded += 1;
            destroyed(m, model, tally, vm.id);
        } else {
            tally.refused += 1;
            tally.violated(Violation::DestroyRefused {
                vm: vm.id,
                reason: reply[1],
            });
        }
    }
    let now = stats0(m);
    if now != baseline {
        tally.violated(Violation::BooksOff { baseline, now });
    }
}
