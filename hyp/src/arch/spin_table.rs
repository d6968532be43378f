//! Releasing the boot firmware's spin-table CPUs into Stile (dt/spin_table.rs says which,
//! vm/psci_held.rs what the host is told about them). The firmware's loop jumps, at EL2
//! with the MMU off and x0 = 0, to the address written at the CPU's `cpu-release-addr`:
//! Stile writes `stile_spin_entry`, which finds the CPU's index by its MPIDR and goes on
//! through the warm entry PSCI CPU_ON uses (own stack, vectors, EL2 MMU), to wait at EL2
//! for the host's CPU_ON (boot/src/secondary.rs).

use crate::arch::cache;
use crate::arch::smp::{self, MAX_CPUS};
use crate::dt::spin_table::SpinCpu;
use smccc::psci::AffinityState;

core::arch::global_asm!(
    r#"
.section .text.spin_entry, "ax"
.balign 4
.global stile_spin_entry
stile_spin_entry:
    mrs     x9, mpidr_el1
    and     x10, x9, #0xffffff              // Aff2..Aff0
    ubfx    x11, x9, #32, #8                // Aff3
    orr     x9, x10, x11, lsl #32
    adrp    x10, STILE_SPIN_MPIDRS
    add     x10, x10, :lo12:STILE_SPIN_MPIDRS
    mov     x0, #0
1:  ldr     x11, [x10, x0, lsl #3]
    cmp     x11, x9
    b.eq    2f
    add     x0, x0, #1
    cmp     x0, #{max}
    b.lo    1b
3:  wfe                                     // not a CPU Stile released: stay parked
    b       3b
2:  b       stile_warm_entry                // x0 = this CPU's index
"#,
    max = const MAX_CPUS,
);

extern "C" {
    static stile_spin_entry: u8;
}

/// The MPIDR of each CPU index Stile released (`u64::MAX`: none), read by
/// `stile_spin_entry` with the MMU off.
#[no_mangle]
static mut STILE_SPIN_MPIDRS: [u64; MAX_CPUS] = [u64::MAX; MAX_CPUS];

/// What [`release`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Released {
    pub cpus: usize,
    /// CPUs past [`MAX_CPUS`]: left in the firmware's loop.
    pub no_slot: usize,
}

/// Hold and release `cpus` (the boot CPU's EL2 MMU is on; the logger locks). Each comes up
/// through the warm entry and waits at EL2; the host sees it as a PSCI CPU that is off.
/// `line`: the D-cache line size, to clean what the released CPUs read with caches off.
pub fn release(cpus: &[SpinCpu], line: usize) -> Released {
    let mut out = Released::default();
    let mut table = [u64::MAX; MAX_CPUS];
    for cpu in cpus {
        match smp::index_of(cpu.mpidr).filter(|&i| i != 0) {
            Some(i) => {
                table[i] = cpu.mpidr;
                smp::hold(i, AffinityState::Off);
            }
            None => out.no_slot += 1,
        }
    }
    let at = (&raw mut STILE_SPIN_MPIDRS) as usize;
    // SAFETY: only stile_spin_entry reads the table, and no CPU has been released yet.
    unsafe { core::ptr::write_volatile(&raw mut STILE_SPIN_MPIDRS, table) };
    cache::clean_to_poc(at, core::mem::size_of_val(&table), line);
    let entry = (&raw const stile_spin_entry) as u64;
    for cpu in cpus.iter().filter(|c| table.contains(&c.mpidr)) {
        let addr = cpu.release_addr as usize;
        // SAFETY: dt/spin_table.rs accepted the address: 8-byte aligned, in the DT's RAM
        // and outside no-map memory, so EL2's identity map has it read-write; it is the
        // firmware's mailbox for this CPU, which nothing else writes now.
        unsafe { core::ptr::write_volatile(addr as *mut u64, entry) };
        cache::clean_to_poc(addr, 8, line);
        out.cpus += 1;
    }
    // The mailboxes are in memory before the event that wakes the firmware's loops.
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
    aarch64_cpu::asm::sev();
    out
}
