//! The vGIC bench (protocol::BenchIrq): the GIC set up as the vGIC checks do it, then one
//! loop of vbench.S under its own IRQ vector (VBAR_EL1 points at it for the loop only).

use super::vgic;
use crate::protocol::{BenchIrq, Call};
use core::arch::{asm, global_asm};

global_asm!(include_str!("vbench.S"));

extern "C" {
    static guest_vbench_vectors: u8;
    // vbench.S: count >= 1 (0 would loop 2^64 times).
    fn guest_vbench_timer(count: u64, delay: u64, out: *mut [u64; 2]);
    fn guest_vbench_sgi(count: u64, sgi1r: u64, out: *mut [u64; 2]);
    fn guest_vbench_wait(count: u64, id: u64) -> u64;
}

const VTIMER: u64 = 27;

/// Runs `f` with VBAR_EL1 at vbench.S's vectors.
fn under_vectors<T>(f: impl FnOnce() -> T) -> T {
    let old: u64;
    // SAFETY: vbench.S's table is 2 KiB aligned and sends every entry but the IRQ one to
    // the image's own vectors; the old base is put back before anything else runs.
    unsafe {
        asm!("mrs {old}, vbar_el1", "msr vbar_el1, {new}", "isb",
            old = out(reg) old, new = in(reg) &guest_vbench_vectors as *const u8 as u64,
            options(nomem, nostack))
    };
    let r = f();
    // SAFETY: as above: the image's own vectors again.
    unsafe { asm!("msr vbar_el1, {}", "isb", in(reg) old, options(nomem, nostack)) };
    r
}

/// `count` >= 1 (bench.rs checks). REPORT details per protocol's table.
pub fn run(kind: BenchIrq, count: u64, arg: u64) -> [u64; 5] {
    vgic::init();
    let mut out = [0u64; 2];
    let p = &mut out as *mut [u64; 2];
    match kind {
        BenchIrq::Timer => {
            vgic::enable_private(0, VTIMER);
            let delay = arg.clamp(16, 1 << 20);
            // SAFETY: the loop writes `out` and clobbers only caller-saved registers.
            under_vectors(|| unsafe { guest_vbench_timer(count, delay, p) });
        }
        BenchIrq::SgiSelf => {
            let sgi = arg & 0xf;
            vgic::enable_private(0, sgi);
            // SAFETY: as for the timer.
            under_vectors(|| unsafe { guest_vbench_sgi(count, sgi << 24 | 1, p) });
        }
        BenchIrq::Spi => {
            vgic::enable_spi(arg);
            // SAFETY: HVCs and the vector touch none of our memory.
            out[1] = under_vectors(|| unsafe { guest_vbench_wait(count, Call::Ping as u64) });
        }
    }
    [count, out[0], out[1], 0, 0]
}
