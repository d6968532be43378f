//! Moving a world's EL1 system registers and FP/SIMD state in and out of the CPU.

use crate::vm::id_regs::RawIdSpace;
use crate::vm::vcpu::{El1Regs, FpRegs, PauthKeys};
use core::mem::offset_of;

core::arch::global_asm!(include_str!("fp.S"));

extern "C" {
    fn stile_fp_save(regs: *mut FpRegs);
    fn stile_fp_restore(regs: *const FpRegs);
}

const _: () = assert!(offset_of!(FpRegs, fpsr) == 512 && offset_of!(FpRegs, fpcr) == 520);

core::arch::global_asm!(include_str!("el1_state.S"));

extern "C" {
    fn stile_el1_save(regs: *mut El1Regs);
    fn stile_el1_load(regs: *const El1Regs);
    fn stile_el1_switch(save: *mut El1Regs, load: *const El1Regs);
    fn stile_keys_save(keys: *mut PauthKeys);
    fn stile_keys_load(keys: *const PauthKeys);
    fn stile_read_id_space(out: *mut RawIdSpace);
}

// el1_state.S walks El1Regs by offset, in declaration order, 8 bytes a register.
const _: () = assert!(core::mem::size_of::<El1Regs>() == 26 * 8);
const _: () = assert!(
    offset_of!(El1Regs, sp_el1) == 13 * 8
        && offset_of!(El1Regs, cntv_cval) == 24 * 8
        && offset_of!(El1Regs, mdscr) == 25 * 8
);
const _: () = assert!(core::mem::size_of::<PauthKeys>() == 80);

/// Save the EL1 registers of the world that was running.
pub fn save_el1(r: &mut El1Regs) {
    // SAFETY: reads EL1 registers (no side effects) and stores 208 bytes into `r`.
    unsafe { stile_el1_save(r) }
}

/// Load the EL1 registers of the world about to run (the ERET into it synchronizes them).
pub fn restore_el1(r: &El1Regs) {
    // SAFETY: EL1 registers only affect the EL1&0 regime, which does not run until the ERET
    // into the world these values belong to.
    unsafe { stile_el1_load(r) }
}

/// Save the running world's EL1 registers into `out` and load `next`'s, in one pass.
#[inline]
pub fn switch_el1(out: &mut El1Regs, next: &El1Regs) {
    // SAFETY: as for `save_el1` and `restore_el1`; `out` and `next` are distinct (one is
    // borrowed mutably).
    unsafe { stile_el1_switch(out, next) }
}

#[inline]
pub fn save_fp(f: &mut FpRegs) {
    // SAFETY: stores 528 bytes into `f`, which is exactly an FpRegs (offsets asserted).
    unsafe { stile_fp_save(f) }
}

#[inline]
pub fn restore_fp(f: &FpRegs) {
    // SAFETY: loads 528 bytes from `f`; only FP/SIMD registers change.
    unsafe { stile_fp_restore(f) }
}

/// Save the pointer-authentication keys in use. Only on a CPU with FEAT_PAuth.
#[inline]
pub fn save_keys(k: &mut PauthKeys) {
    // SAFETY: reads the key registers (EL2 may, whatever HCR_EL2.APK says) into the 80 bytes
    // of `k`; the caller has checked the CPU has them.
    unsafe { stile_keys_save(k) }
}

/// Load pointer-authentication keys. Only on a CPU with FEAT_PAuth.
#[inline]
pub fn load_keys(k: &PauthKeys) {
    // SAFETY: EL2 does not use pointer authentication (SCTLR_EL2.EnIA.. are clear), so the
    // EL1 keys only matter after the ERET into the world they belong to.
    unsafe { stile_keys_load(k) }
}

/// The CPU's ID space (op0 3, op1 0, CRn 0, CRm 1..7), read once at boot.
pub fn read_id_space() -> RawIdSpace {
    let mut raw = [[0; 8]; 7];
    // SAFETY: ID register reads have no side effects; the function fills exactly 56 words.
    unsafe { stile_read_id_space(&mut raw) };
    raw
}
