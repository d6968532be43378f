//! The EL2 vector table and the fatal-exception report.

use crate::addr::PhysRange;
use crate::arch::psci;
use crate::esr::Esr;
use crate::logger::emergency_print;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

core::arch::global_asm!(
    include_str!("vectors.S"),
    fn_revision = const stile_abi::FN_REVISION,
    fn_vcpu_run = const stile_abi::Function::VcpuRun as u32,
    rev_major = const stile_abi::REVISION.0,
    rev_minor = const stile_abi::REVISION.1,
);

/// Registers saved by `vectors.S` (layout shared with it: keep in sync).
#[repr(C)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub sp: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 288);

const KINDS: [&str; 4] = ["synchronous exception", "IRQ", "FIQ", "SError"];
const ORIGINS: [&str; 4] = [
    "EL2 (SP_EL0)",
    "EL2",
    "a lower EL (AArch64)",
    "a lower EL (AArch32)",
];

const MAX_GUARDS: usize = 8;
static GUARD_BASE: [AtomicU64; MAX_GUARDS] = [const { AtomicU64::new(0) }; MAX_GUARDS];
static GUARD_SIZE: [AtomicU64; MAX_GUARDS] = [const { AtomicU64::new(0) }; MAX_GUARDS];
static IN_FATAL: AtomicBool = AtomicBool::new(false);

extern "C" {
    static el2_vectors: u8;
}

/// Address of the vector table, for VBAR_EL2.
pub fn vector_base() -> usize {
    core::ptr::addr_of!(el2_vectors) as usize
}

/// Remember CPU `cpu`'s stack guard page, so a fault there is reported as a stack overflow.
pub fn register_stack_guard(cpu: usize, guard: PhysRange) {
    if cpu < MAX_GUARDS {
        GUARD_BASE[cpu].store(guard.base.0, Ordering::Relaxed);
        GUARD_SIZE[cpu].store(guard.size, Ordering::Relaxed);
    }
}

fn guard_hit(far: u64) -> Option<usize> {
    (0..MAX_GUARDS).find(|&i| {
        let base = GUARD_BASE[i].load(Ordering::Relaxed);
        let size = GUARD_SIZE[i].load(Ordering::Relaxed);
        size != 0 && far >= base && far - base < size
    })
}

#[no_mangle]
extern "C" fn el2_fatal_exception(frame: &TrapFrame, kind: u64) -> ! {
    // Plain load/store, not a swap: this may run with the MMU off.
    if IN_FATAL.load(Ordering::Relaxed) {
        psci::power_off_default();
    }
    IN_FATAL.store(true, Ordering::Relaxed);

    let what = KINDS[(kind & 3) as usize];
    let from = ORIGINS[((kind >> 2) & 3) as usize];
    let esr = Esr(frame.esr);
    emergency_print(format_args!(
        "\nstile: fatal: {what} taken from {from}: {esr}\n"
    ));
    emergency_print(format_args!(
        "stile: fatal: ELR={:#x} FAR={:#x} SPSR={:#x} SP={:#x} x0={:#x} x1={:#x} x30={:#x}\n",
        frame.elr, frame.far, frame.spsr, frame.sp, frame.x[0], frame.x[1], frame.x[30]
    ));
    if esr.is_abort() {
        if let Some(cpu) = guard_hit(frame.far) {
            emergency_print(format_args!(
                "stile: fatal: stack overflow on CPU {cpu} (FAR is in its guard page)\n"
            ));
        }
    }
    emergency_print(format_args!("stile: fatal: powering off\n"));
    psci::power_off_default()
}
