//! The Rust side of the EL1 vectors (qemu/el1-vectors.S): an abort at the armed probe instruction is
//! recorded and skipped; anything else is reported and powers the machine off.

use super::{fatal, sysreg};
use stile_guest::exception::{classify, Action, Vector};

core::arch::global_asm!(include_str!("../../../el1-vectors.S"), handler = sym host_exception);

/// Registers saved by qemu/el1-vectors.S (layout shared with it: keep in sync).
#[repr(C)]
pub struct Frame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

const _: () = assert!(core::mem::size_of::<Frame>() == 272);
const _: () = assert!(core::mem::offset_of!(Frame, elr) == 248);
const _: () = assert!(core::mem::offset_of!(Frame, spsr) == 256);

#[no_mangle]
extern "C" fn host_exception(frame: &mut Frame, vector: u64) {
    let esr = sysreg::esr_el1();
    let far = sysreg::far_el1();
    let vector = Vector(vector);
    match classify(vector, frame.elr, stile_guest::exception::armed()) {
        Action::RecordAndSkip => {
            stile_guest::exception::record(esr, far);
            // Every A64 instruction is 4 bytes; the probe's is an LDR/STR.
            frame.elr += 4;
        }
        Action::Fatal => fatal::exception(vector, frame, esr, far),
    }
}
