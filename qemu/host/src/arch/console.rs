//! The payload's console: the UART the DT's /chosen names (or, on qemu-virt, its PL011),
//! shared by the main flow and the fatal path.

use super::cell::SingleCpu;
use core::fmt;
use stile_hyp::addr::PhysAddr;
use stile_hyp::console::Console;
use stile_hyp::dt::{UartInfo, UartKind};

static CONSOLE: SingleCpu<Option<Console>> = SingleCpu::new(None);

/// qemu-virt's PL011, for a DT that names no usable console.
const FALLBACK_PL011: u64 = 0x0900_0000;

/// Take over the DT's console (or the fallback). With the MMU off, or later identity mapped
/// as Device memory by `el1_map`.
///
/// `virt_fallback`: the machine is qemu-virt (or unknown because the DT is unreadable), so
/// its PL011 may stand in for a DT console; elsewhere no console rather than a guess.
pub fn init(info: Option<&UartInfo>, virt_fallback: bool) {
    // SAFETY: the DT says this UART is the console; its registers are reached directly (MMU
    // off) or through the identity map (Device-nGnRE); Stile shares it with us but never
    // while we run (it prints only while the host is stopped in a trap).
    let from_dt = info.and_then(|i| unsafe { Console::from_uart_info(i) }.ok());
    let console = from_dt.or_else(|| {
        if !virt_fallback {
            return None;
        }
        // SAFETY: as above, for the PL011 every qemu-virt has at this address.
        unsafe { Console::new(UartKind::Pl011, PhysAddr(FALLBACK_PL011), 0, 1) }.ok()
    });
    // SAFETY: called once, before anything prints and before any exception can be taken
    // by a path that prints.
    unsafe { *CONSOLE.get() = console };
}

/// `write!(Out, ...)` prints to the console (nothing if there is none).
pub struct Out;

impl fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: one CPU; the only other user is the fatal path, which never returns to an
        // interrupted print.
        match unsafe { CONSOLE.get() } {
            Some(c) => c.write_str(s),
            None => Ok(()),
        }
    }
}
