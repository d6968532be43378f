//! Fatal paths provoked on purpose (`stile.selftest=<name>` in bootargs), so the harness can
//! prove that stack guards, the EL2 vectors and the panic handler report and power off.

use core::hint::black_box;
use log::{error, info};

/// Run the named self-test if one is asked for. Each one ends in a fatal report (power-off);
/// an unknown name is refused and boot goes on.
pub fn run(name: Option<&str>) {
    let Some(name) = name else { return };
    info!("selftest: {name}: provoking it on purpose");
    match name {
        "stack-overflow" => {
            black_box(recurse(black_box(0)));
        }
        "el2-abort" => {
            // Nothing is mapped at EL2 below the devices: flash at PA 0x8 is not ours.
            // SAFETY: deliberately faulting; the read has no effect beyond the abort.
            let v = unsafe { core::ptr::read_volatile(black_box(0x8usize) as *const u64) };
            black_box(v);
        }
        // allow-panic: the panic self-test, asked for on the command line by whoever boots Stile
        "panic" => panic!("self-test panic (stile.selftest=panic)"), // allow-panic: on purpose
        other => error!("selftest '{other}' refused (unknown: stack-overflow, el2-abort, panic)"),
    }
}

/// Uses 1 KiB of stack per level until the guard page below the stack is hit.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 1024];
    black_box(&mut frame);
    recurse(black_box(depth + 1)) + frame[(depth % 1024) as usize] as u64
}
