//! A CPU the host started (its PSCI CPU_ON, or a power-down CPU_SUSPEND, relayed by
//! arch/smp.rs), or a spin-table CPU Stile released at boot (arch/spin_table.rs): entry.S's
//! warm entry gave it its stack, vectors, per-CPU block and EL2 MMU; here it enters the
//! host where the host asked, with the host's context id. A CPU Stile holds waits here for
//! the host's CPU_ON first (and again after each CPU_OFF).

use crate::layout;
use log::{info, warn};
use stile_hyp::arch::host_entry::{enter_host, host_mpidr, HostSetup};
use stile_hyp::arch::psci;
use stile_hyp::arch::smp::{self, MAX_CPUS};
use stile_hyp::arch::world::Context;

/// Each CPU's saved host registers while EL2 runs (the boot CPU's first entry uses its
/// own, in host.rs; after a CPU_OFF it comes back here like any other).
static mut HOST_CONTEXTS: [Context; MAX_CPUS] = [const { Context::ZERO }; MAX_CPUS];

/// Called by entry.S's `stile_warm_entry` with this CPU's index (< MAX_CPUS, checked there).
#[no_mangle]
extern "C" fn stile_secondary_main(index: usize) -> ! {
    let (entry, context) = match smp::take_start_request(index) {
        Some(start) => start,
        None if smp::is_held(index) => {
            if !smp::arrived(index) {
                info!(
                    "cpu {index}: up at EL2 from the spin table (MPIDR {:#x}); waiting for the host's CPU_ON",
                    host_mpidr()
                );
            }
            smp::wait_for_start(index)
        }
        None => {
            warn!("cpu {index}: entered EL2 without a start request from the host; parked");
            psci::park()
        }
    };
    let (Some(host), Ok(image)) = (smp::host_setup(), layout::image_layout()) else {
        warn!("cpu {index}: no host to enter yet; parked");
        psci::park()
    };
    let setup = HostSetup {
        entry,
        x0: context,
        ..*host
    };
    info!(
        "cpu {index}: up at EL2 (MPIDR {:#x}); entering the host at {entry:#x}",
        host_mpidr()
    );
    let index = index.min(MAX_CPUS - 1);
    // SAFETY: the host's stage 2 is the boot CPU's (never maps EL2's memory); slot `index`
    // of HOST_CONTEXTS belongs to this CPU alone, which runs nothing else now; this CPU's
    // stack frames below are abandoned.
    unsafe {
        enter_host(
            &setup,
            &raw mut HOST_CONTEXTS[index],
            image.stack(index as u64).end(),
        )
    }
}
