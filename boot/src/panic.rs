//! A panic at EL2 is a bug: say where and why, then power off.

use stile_hyp::arch::psci;
use stile_hyp::logger::emergency_print;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // The console lock may be held by the code that panicked: print around it.
    emergency_print(format_args!("\nstile: fatal: panic: {info}\n"));
    emergency_print(format_args!("stile: fatal: powering off\n"));
    psci::power_off_default()
}
