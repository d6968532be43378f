//! The Rust side of the EL1 vectors (qemu/el1-vectors.S): an abort at the armed access is recorded
//! and stepped over; anything else is reported to the VMM and ends the run.

use super::{fatal, sysreg};
use crate::exception::{classify, Action, Vector};

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

/// "Current EL with SP_ELx, IRQ".
const IRQ_CURRENT_SPX: u64 = 5;

/// The handler qemu/el1-vectors.S calls (bound in main.rs: the vectors belong to the image,
/// not to this library, which the host payload links too).
pub extern "C" fn guest_exception(frame: &mut Frame, vector: u64) {
    if vector == IRQ_CURRENT_SPX {
        // Only the vGIC cases unmask IRQs.
        super::vgic::irq();
        return;
    }
    let esr = sysreg::esr_el1();
    let far = sysreg::far_el1();
    match classify(Vector(vector), frame.elr, crate::exception::armed()) {
        Action::RecordAndSkip => {
            crate::exception::record(esr, far);
            // Every A64 instruction is 4 bytes; the armed one is a load or store.
            frame.elr += 4;
        }
        Action::Fatal => fatal::stop(esr, frame.elr, far, vector),
    }
}
