//! The isolation checks' register accessors (qemu/regclass.S), run armed so that an
//! UNDEFINED access is recorded and stepped over instead of ending the run. Shared with the
//! host payload, which links this library.

use crate::regclass::REGS;

core::arch::global_asm!(include_str!("../../../regclass.S"));

extern "C" {
    // Tables of 8-byte entries (never called by name: entry n is at the table + 8 * n).
    fn regclass_read();
    fn regclass_write();
}

/// What a read returns when it was UNDEFINED (the entry hands back x0 as given).
const PRESET: u64 = 0x5ca1_ab1e_0dd0_0dd0;

/// Runs entry `index` of `table` armed, with x0 = `x0`: x0 afterwards, and whether the
/// access was UNDEFINED (any exception at it, in fact: only UNDEFINED is possible for these).
fn run(table: unsafe extern "C" fn(), index: usize, x0: u64) -> Option<u64> {
    if index >= REGS.len() {
        return None;
    }
    let pc = table as usize as u64 + 8 * index as u64;
    // SAFETY: `pc` is entry `index` of a regclass.S table (bounds checked above): one
    // register access and `ret`, a function taking and returning x0 that touches no memory
    // and no other register.
    let entry: extern "C" fn(u64) -> u64 = unsafe { core::mem::transmute(pc as usize) };
    let (value, undefined) = crate::exception::run_armed(pc, || entry(x0));
    match undefined {
        None => Some(value),
        Some(_) => None,
    }
}

/// Register `index` of `REGS`, or None if reading it was UNDEFINED.
pub fn read(index: usize) -> Option<u64> {
    run(regclass_read, index, PRESET)
}

/// Writes register `index`; false if that was UNDEFINED.
pub fn write(index: usize, value: u64) -> bool {
    run(regclass_write, index, value).is_some()
}

/// CPACR_EL1: FPEN [21:20] and ZEN [17:16] = 0b11, so FP/SIMD and SVE do not trap to EL1
/// (whatever EL2 traps still traps to EL2).
pub fn enable_vector_units() {
    // SAFETY: only CPACR_EL1's enables change; the ISB makes them apply to what follows.
    unsafe {
        core::arch::asm!(
            "mrs {t}, cpacr_el1",
            "orr {t}, {t}, {en}",
            "msr cpacr_el1, {t}",
            "isb",
            t = out(reg) _,
            en = in(reg) (3u64 << 20) | (3 << 16),
            options(nostack, nomem),
        )
    };
}

/// PSTATE.D: debug exceptions unmasked (`on`) or masked.
pub fn debug_exceptions(on: bool) {
    // SAFETY: only PSTATE.D changes; the ISB makes it apply before the accesses that follow.
    unsafe {
        if on {
            core::arch::asm!("msr daifclr, #8", "isb", options(nostack, nomem));
        } else {
            core::arch::asm!("msr daifset, #8", "isb", options(nostack, nomem));
        }
    }
}
