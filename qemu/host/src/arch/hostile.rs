//! The hostile host on the real CPU (the campaign is `crate::hostile`): the snippets its
//! random guests are made of, the run pages, probe loads, and the report. The other CPUs of
//! a campaign on several are arch/hostile_smp.rs.

use super::hostile_smp::Others;
use super::vmm::call7;
use super::{cache, probe};
use crate::facts::Facts;
use crate::hostile::{self, Alone, HostileMachine, Mode, Shared, SpinLock, Targets};
use crate::hostile::{POOL_BLOCKS, RUN_PAGES};
use crate::machine::Access;
use crate::report::Report;
use core::fmt;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use stile_abi::RunPage;
use stile_hyp::addr::PhysRange;

// Two instructions each: a guest program is a random sequence of these (then a branch back).
// Assembled here, copied into guests, never run by the host.
core::arch::global_asm!(
    r#"
.section .rodata.hostile_menu, "a"
.balign 8
.global host_hostile_menu
host_hostile_menu:
    movz    x2, #0x0900, lsl #16        // MMIO read
    ldr     w1, [x2]
    movz    x2, #0x0900, lsl #16        // MMIO write
    str     w1, [x2]
    movz    x2, #0x0900, lsl #16        // MMIO without a syndrome (NISV)
    ldp     x3, x4, [x2]
    movz    x2, #0x5000, lsl #16        // no slot there
    ldr     x1, [x2]
    movz    x2, #0x4000, lsl #16        // RAM: a lazy map
    ldr     x1, [x2, #4096]
    movz    x2, #0x4000, lsl #16        // RAM write
    str     x1, [x2, #8192]
    hvc     #0                          // HVC exit (x0 as the host left it)
    nop
    smc     #0                          // guest SMC
    nop
    udf     #0                          // undefined: to the guest's own vector (VBAR 0)
    nop
    mrs     x1, pmcr_el0                // PMU: trapped for guests
    nop
    mrs     x1, cntp_ctl_el0            // physical timer: trapped for guests
    nop
    movz    x0, #0x8400, lsl #16        // PSCI_VERSION, then maybe SYSTEM_OFF
    movk    x0, #8
.global host_hostile_exit
host_hostile_exit:                      // every program ends with an exit to the host
    movz    x0, #0
    hvc     #0
.global host_hostile_menu_end
host_hostile_menu_end:
"#
);

extern "C" {
    static host_hostile_menu: [u32; 0];
    static host_hostile_menu_end: u8;
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);

static mut RUN_PAGES_H: [Page; RUN_PAGES] = [const { Page([0; 4096]) }; RUN_PAGES];

/// The hostile mode `bootargs` ask for, if any.
pub fn mode(bootargs: &str) -> Option<Mode> {
    Mode::parse(bootargs)
}

/// The probe's armed state is one for all CPUs (the guest crate's `exception`): one CPU
/// probes at a time.
static PROBE: SpinLock<()> = SpinLock::new(());

pub(super) struct Real {
    line: usize,
    menu: &'static [[u32; 2]],
}

impl Real {
    pub(super) fn new(dcache_line: usize) -> Real {
        Real {
            line: dcache_line,
            menu: menu(),
        }
    }
}

impl HostileMachine for Real {
    fn call(&mut self, x: [u64; 7]) -> [u64; 4] {
        call7(x)
    }

    fn load_aborts(&mut self, addr: u64) -> bool {
        let _one = PROBE.lock();
        // SAFETY: only ever Stile's memory or a donated guest's, which Stile must refuse;
        // if it does not, the load reads RAM, which has no side effects.
        matches!(unsafe { probe::read32(addr) }, Access::Aborted(_))
    }

    fn read_u32(&mut self, addr: u64) -> u32 {
        // SAFETY: memory VM_DESTROY gave back: host RAM in our identity map (if Stile failed
        // to give it back, the load aborts and the probe handler would not be armed: so it
        // goes through the armed probe instead).
        let _one = PROBE.lock();
        match unsafe { probe::read32(addr) } {
            Access::Done(v) => v,
            Access::Aborted(_) => u32::MAX,
        }
    }

    fn write_code(&mut self, pa: u64, words: &[u32]) {
        for (i, w) in words.iter().enumerate() {
            // SAFETY: a pool block: free host RAM the campaign owns until it donates it.
            unsafe { write_volatile((pa as *mut u32).add(i), *w) };
        }
        // SAFETY: the range was just written through our map; cleaning loses nothing.
        unsafe { cache::clean_dcache_range(pa as usize, words.len() * 4, self.line) };
    }

    fn run_page(&self, i: usize) -> u64 {
        // SAFETY: only the address of a static is formed.
        unsafe { addr_of_mut!(RUN_PAGES_H[i % RUN_PAGES]) as u64 }
    }

    fn set_action(&mut self, i: usize, action: u32, data: u64) {
        let page = self.run_page(i) as *mut RunPage;
        // SAFETY: our own run page; Stile reads it only during VCPU_RUN, not now.
        unsafe {
            write_volatile(addr_of_mut!((*page).host_action), action);
            write_volatile(addr_of_mut!((*page).data), data);
            let _ = read_volatile(addr_of_mut!((*page).version));
        }
    }

    fn menu(&self) -> &[[u32; 2]] {
        self.menu
    }
}

fn menu() -> &'static [[u32; 2]] {
    let start = (&raw const host_hostile_menu).cast::<[u32; 2]>();
    let end = (&raw const host_hostile_menu_end) as usize;
    let n = (end - start as usize) / 8;
    // SAFETY: the asm above lays out `n` pairs of instruction words between the labels, in
    // read-only data that lives as long as the image.
    unsafe { core::slice::from_raw_parts(start, n) }
}

/// The pool: POOL_BLOCKS free 2 MiB blocks of host RAM.
fn pool(facts: &Facts) -> Option<[PhysRange; POOL_BLOCKS]> {
    let mut blocks = [PhysRange::new(0, 0); POOL_BLOCKS];
    let mut facts = facts.clone();
    for b in blocks.iter_mut() {
        *b = crate::vmm::pick_memory(&facts, 2 << 20)?;
        facts.reserved.push(*b).ok()?;
    }
    Some(blocks)
}

/// What the campaign shares between its CPUs.
pub(super) static SHARED: Shared = Shared::new();

/// The targets, for the other CPUs (set before they start).
pub(super) static TARGETS: SpinLock<Option<Targets>> = SpinLock::new(None);

/// Run the campaign on `mode.cpus` CPUs (`cpus`: the DT's MPIDRs) and report it; the caller
/// powers off.
pub fn run<W: fmt::Write>(
    facts: &Facts,
    cpus: impl Iterator<Item = u64>,
    dcache_line: usize,
    mode: Mode,
    report: &mut Report<W>,
) {
    let Mode { calls, seed, .. } = mode;
    let Some(pool) = pool(facts) else {
        return report.check(
            "hostile-host",
            Err(crate::fail::Fail::Setup("no room for the pool")),
        );
    };
    let hyp = facts.stile_hyp.map_or(PhysRange::new(0, 0), |n| n.range);
    let mut assignable = [PhysRange::new(0, 0); 2];
    for (a, r) in assignable
        .iter_mut()
        .zip(facts.reserved.iter().filter(|r| **r != hyp))
    {
        *a = *r;
    }
    let t = Targets {
        pool,
        hyp,
        assignable,
    };
    *TARGETS.lock() = Some(t);
    let mut m = Real::new(dcache_line);
    let tally = if mode.cpus > 1 {
        let mut others = match Others::start(facts, cpus, mode, dcache_line) {
            Ok(o) => o,
            Err(e) => return report.check("hostile-host", Err(e)),
        };
        hostile::run(&mut m, &t, calls, seed, &SHARED, &mut others)
    } else {
        hostile::run(&mut m, &t, calls, seed, &SHARED, &mut Alone)
    };
    let e = &tally.exits;
    let n = mode.cpus;
    report.note(format_args!(
        "hostile: seed {seed}: {} calls on {n} CPU{} in {} phases: {} succeeded, {} refused; exits MMIO {}, NISV {}, MEMORY_FAULT {}, HVC {}, SYSTEM_EVENT {}, IRQ {}, UNKNOWN {}; {} VMs created, {} destroyed; invariants checked {} times: {} violations",
        tally.calls, if n == 1 { "" } else { "s" }, tally.phases, tally.succeeded, tally.refused,
        e[1], e[2], e[3], e[4], e[5], e[6], e[7],
        tally.vms_created, tally.vms_destroyed, tally.invariant_checks, tally.violations
    ));
    let result = match tally.first_violation {
        None if tally.calls >= calls => Ok(()),
        None => Err(crate::fail::Fail::Setup("fewer calls made than asked")),
        Some(v) => Err(crate::fail::Fail::Hostile(v)),
    };
    report.check("hostile-host", result);
}
