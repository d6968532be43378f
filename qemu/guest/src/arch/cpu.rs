//! The real [`Cpu`]: HVC, and the fixed access instructions of access.S run armed, so an
//! abort the VMM has Stile inject at one of them is recorded and stepped over.

use crate::access::{Load, Store, LOAD_PRESET};
use crate::cpu::{Abort, Cpu, Loaded, LoadedPair};
use crate::ipa::Ipa;
use crate::marked::{MarkedOp, MarkedRegs};
use crate::protocol::{Call, FpRegs};
use core::arch::asm;

core::arch::global_asm!(include_str!("access.S"));
core::arch::global_asm!(include_str!("bench.S"));
core::arch::global_asm!(include_str!("marked.S"));

extern "C" {
    static __image_start: u8;
    static __image_end: u8;

    fn guest_ld_b(addr: u64, preset: u64) -> u64;
    fn guest_ld_h(addr: u64, preset: u64) -> u64;
    fn guest_ld_w(addr: u64, preset: u64) -> u64;
    fn guest_ld_x(addr: u64, preset: u64) -> u64;
    fn guest_ld_sbw(addr: u64, preset: u64) -> u64;
    fn guest_ld_sbx(addr: u64, preset: u64) -> u64;
    fn guest_ld_shw(addr: u64, preset: u64) -> u64;
    fn guest_ld_shx(addr: u64, preset: u64) -> u64;
    fn guest_ld_swx(addr: u64, preset: u64) -> u64;
    fn guest_st_b(addr: u64, value: u64);
    fn guest_st_h(addr: u64, value: u64);
    fn guest_st_w(addr: u64, value: u64);
    fn guest_st_x(addr: u64, value: u64);
    fn guest_ldp(addr: u64, preset: u64, out: *mut [u64; 2]);
    // marked.S: x0..x30 right after the access into `out`.
    fn guest_marked_load(regs: *const [u64; 31], out: *mut [u64; 31]);
    fn guest_marked_store(regs: *const [u64; 31], out: *mut [u64; 31]);
    fn guest_marked_hvc(regs: *const [u64; 31], out: *mut [u64; 31]);

    // bench.S: count >= 1 (0 would loop 2^64 times).
    fn guest_bench_ping(count: u64, id: u64);
    fn guest_bench_mmio(count: u64, addr: u64) -> u64;
    fn guest_bench_alternate(count: u64, a: u64, b: u64) -> u64;
    fn guest_bench_touch(count: u64, first: u64, stride: u64);

    // Labels of the access instructions (never called: only their addresses are used).
    fn guest_ld_b_access();
    fn guest_ld_h_access();
    fn guest_ld_w_access();
    fn guest_ld_x_access();
    fn guest_ld_sbw_access();
    fn guest_ld_sbx_access();
    fn guest_ld_shw_access();
    fn guest_ld_shx_access();
    fn guest_ld_swx_access();
    fn guest_st_b_access();
    fn guest_st_h_access();
    fn guest_st_w_access();
    fn guest_st_x_access();
    fn guest_ldp_access();
    fn guest_marked_load_access();
    fn guest_marked_store_access();
    fn guest_marked_hvc_access();
}

/// `hvc #0` with every general register set from `regs`: x0..x30 right after it. For the
/// host payload (which links this library): its VCPU_RUN with markers around it.
pub fn marked_hvc(regs: &[u64; 31]) -> [u64; 31] {
    let mut out = [0; 31];
    // SAFETY: the HVC touches no memory of ours (as `hvc`); the function restores every
    // register the C ABI has it keep and writes only `out`, our array.
    unsafe { guest_marked_hvc(regs, &raw mut out) };
    out
}

/// `hvc #0`: x0..x7 in, x0..x3 out.
pub fn hvc(x: [u64; 8]) -> [u64; 4] {
    let (mut x0, mut x1, mut x2, mut x3) = (x[0], x[1], x[2], x[3]);
    // SAFETY: the call touches no memory of ours (Stile saves and restores our registers; the
    // VMM writes only x0..x3); x4..x17 are declared clobbered as SMCCC allows the callee.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
            inout("x4") x[4] => _, inout("x5") x[5] => _, inout("x6") x[6] => _,
            inout("x7") x[7] => _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
            out("x14") _, out("x15") _, out("x16") _, out("x17") _,
            options(nostack),
        )
    };
    [x0, x1, x2, x3]
}

/// CPACR_EL1.FPEN = 0b11: FP/SIMD at EL1 and EL0 does not trap to EL1 (it still traps to EL2
/// while Stile has CPTR_EL2.TFP set, which is the point of the FpState scenario).
const CPACR_EL1_FPEN: u64 = 3 << 20;

/// Writes `fp` into d0 and v31, `hvc #0` with `x`, reads d0 and v31 back; all one asm block,
/// so nothing between the writes and the reads but the HVC (this image is soft-float anyway).
pub fn fp_round_trip(fp: FpRegs, x: [u64; 8]) -> ([u64; 4], FpRegs) {
    let (mut x0, mut x1, mut x2, mut x3) = (x[0], x[1], x[2], x[3]);
    let (d0, lo, hi): (u64, u64, u64);
    // SAFETY: enabling FP at EL1 changes no memory; d0 and v31 are declared clobbered (no
    // Rust code of this soft-float image keeps anything in them); the HVC is as in `hvc`.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "mrs x9, cpacr_el1",
            "orr x9, x9, {fpen}",
            "msr cpacr_el1, x9",
            "isb",
            "fmov d0, {d0}",
            "fmov d31, {lo}",
            "fmov v31.d[1], {hi}",
            "hvc #0",
            "fmov x9, d0",
            "fmov x10, d31",
            "fmov x11, v31.d[1]",
            fpen = const CPACR_EL1_FPEN,
            d0 = in(reg) fp.d0,
            lo = in(reg) fp.v31[0],
            hi = in(reg) fp.v31[1],
            inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
            inout("x4") x[4] => _, inout("x5") x[5] => _, inout("x6") x[6] => _,
            inout("x7") x[7] => _,
            out("x8") _, out("x9") d0, out("x10") lo, out("x11") hi, out("x12") _,
            out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
            out("v0") _, out("v31") _,
            options(nostack),
        )
    };
    ([x0, x1, x2, x3], FpRegs { d0, v31: [lo, hi] })
}

/// Runs `access` (a call to one of access.S's functions) armed at `pc`.
fn armed_at<T>(pc: u64, access: impl FnOnce() -> T) -> (T, Option<Abort>) {
    let (value, abort) = crate::exception::run_armed(pc, access);
    (value, abort.map(|(esr, far)| Abort { esr, far }))
}

/// The scenarios' addresses are the test device, slot memory the VMM set aside, or holes;
/// never this image, where our code, data and stack live. Refusing the image is what keeps
/// [`Real`]'s raw accesses sound behind a safe trait: such an access is not made and comes
/// back as an abort with ESR 0 (no exception was taken), which the scenario reports.
fn in_image(addr: Ipa, len: u64) -> Option<Abort> {
    let start = (&raw const __image_start) as u64;
    let end = (&raw const __image_end) as u64;
    (addr.0 < end && start < addr.0.saturating_add(len)).then_some(Abort {
        esr: 0,
        far: addr.0,
    })
}

type LoadFn = unsafe extern "C" fn(u64, u64) -> u64;
type StoreFn = unsafe extern "C" fn(u64, u64);
type MarkedFn = unsafe extern "C" fn(*const [u64; 31], *mut [u64; 31]);

fn load_fn(load: Load) -> (LoadFn, unsafe extern "C" fn()) {
    match load {
        Load::B => (guest_ld_b, guest_ld_b_access),
        Load::H => (guest_ld_h, guest_ld_h_access),
        Load::W => (guest_ld_w, guest_ld_w_access),
        Load::X => (guest_ld_x, guest_ld_x_access),
        Load::SbW => (guest_ld_sbw, guest_ld_sbw_access),
        Load::SbX => (guest_ld_sbx, guest_ld_sbx_access),
        Load::ShW => (guest_ld_shw, guest_ld_shw_access),
        Load::ShX => (guest_ld_shx, guest_ld_shx_access),
        Load::SwX => (guest_ld_swx, guest_ld_swx_access),
    }
}

fn store_fn(store: Store) -> (StoreFn, unsafe extern "C" fn()) {
    match store {
        Store::B => (guest_st_b, guest_st_b_access),
        Store::H => (guest_st_h, guest_st_h_access),
        Store::W => (guest_st_w, guest_st_w_access),
        Store::X => (guest_st_x, guest_st_x_access),
    }
}

/// The CPU itself.
pub struct Real;

impl Cpu for Real {
    fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
        hvc(x)
    }

    fn fp_round_trip(&mut self, fp: FpRegs, x: [u64; 8]) -> ([u64; 4], FpRegs) {
        fp_round_trip(fp, x)
    }

    fn load(&mut self, load: Load, addr: Ipa) -> Loaded {
        if let Some(refused) = in_image(addr, u64::from(load.size())) {
            return Loaded {
                value: LOAD_PRESET,
                abort: Some(refused),
            };
        }
        let (f, label) = load_fn(load);
        // SAFETY: `addr` is outside this image, so the load reads nothing Rust owns; with
        // the MMU off it goes straight to stage 2, where it either completes, exits to the
        // VMM, or comes back as an injected abort that the armed vector steps over.
        let (value, abort) = armed_at(label as *const () as u64, || unsafe {
            f(addr.0, LOAD_PRESET)
        });
        Loaded { value, abort }
    }

    fn store(&mut self, store: Store, addr: Ipa, value: u64) -> Option<Abort> {
        if let Some(refused) = in_image(addr, u64::from(store.size())) {
            return Some(refused);
        }
        let (f, label) = store_fn(store);
        // SAFETY: as for `load`: the store cannot land on anything of ours.
        armed_at(label as *const () as u64, || unsafe { f(addr.0, value) }).1
    }

    fn ticks(&mut self) -> u64 {
        let t: u64;
        // SAFETY: reading the virtual counter has no side effects; the ISB keeps the read
        // from moving across the instructions it brackets.
        unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack)) };
        t
    }

    fn reg_read(&mut self, index: usize) -> Option<u64> {
        super::regclass::read(index)
    }

    fn reg_write(&mut self, index: usize, value: u64) -> bool {
        super::regclass::write(index, value)
    }

    fn enable_vector_units(&mut self) {
        super::regclass::enable_vector_units();
    }

    fn vgic(&mut self, case: crate::protocol::VgicCase, arg: u64, gic: u64) -> Option<[u64; 5]> {
        Some(super::vgic::run(case, arg, gic == 2))
    }

    fn bench_irq(&mut self, kind: crate::protocol::BenchIrq, n: u64, arg: u64) -> Option<[u64; 5]> {
        Some(super::vbench::run(kind, n, arg))
    }

    fn debug_exceptions(&mut self, on: bool) {
        super::regclass::debug_exceptions(on);
    }

    fn el2_count(&mut self) -> u64 {
        let n: u64;
        // SAFETY: reading a PMU counter has no side effects; called only when the VMM says it
        // lent the guest its counters (MDCR_EL2.TPM = 0; Stile never does: the read is then
        // UNDEFINED and the guest reports it as fatal).
        unsafe { asm!("mrs {}, pmevcntr0_el0", out(reg) n, options(nomem, nostack)) };
        n
    }

    fn ping_loop(&mut self, count: u64) {
        if count == 0 {
            return;
        }
        // SAFETY: HVCs touch none of our memory (as `hvc`); the loop clobbers only what its
        // C signature allows.
        unsafe { guest_bench_ping(count, Call::Ping as u64) }
    }

    fn mmio_loop(&mut self, addr: Ipa, count: u64) -> u64 {
        if count == 0 || in_image(addr, 4).is_some() {
            return LOAD_PRESET;
        }
        // SAFETY: as for `load`: the address is outside this image (an MMIO slot: each load
        // exits to the VMM). Unarmed: an abort here is fatal, as it should be in a bench.
        unsafe { guest_bench_mmio(count, addr.0) }
    }

    fn alternate_loop(&mut self, a: Ipa, b: Ipa, count: u64) -> u64 {
        if count == 0 || in_image(a, 8).is_some() || in_image(b, 8).is_some() {
            return LOAD_PRESET;
        }
        // SAFETY: as for `mmio_loop`, for two addresses outside this image.
        unsafe { guest_bench_alternate(count, a.0, b.0) }
    }

    fn touch_loop(&mut self, first: Ipa, stride: u64, count: u64) {
        let Some(span) = stride.checked_mul(count).filter(|_| count != 0) else {
            return;
        };
        if in_image(first, span).is_some() {
            return;
        }
        // SAFETY: as for `mmio_loop`: every address is in [first, first + span), outside
        // this image; the loads only read.
        unsafe { guest_bench_touch(count, first.0, stride) }
    }

    fn marked_access(&mut self, op: MarkedOp, regs: [u64; 31]) -> MarkedRegs {
        let mut x = [0; 31];
        let (f, label): (MarkedFn, unsafe extern "C" fn()) = match op {
            MarkedOp::Load => (guest_marked_load, guest_marked_load_access),
            MarkedOp::Store => (guest_marked_store, guest_marked_store_access),
            MarkedOp::Hvc => (guest_marked_hvc, guest_marked_hvc_access),
        };
        if op != MarkedOp::Hvc {
            if let Some(refused) = in_image(Ipa(regs[0]), 8) {
                return MarkedRegs {
                    x,
                    abort: Some(refused),
                };
            }
        }
        let out = &raw mut x;
        // SAFETY: as for `load`: a load or store cannot reach anything of ours, and the HVC
        // touches no memory of ours (as `hvc`); the function restores every register the C
        // ABI has it keep and writes only `out`, our array.
        let ((), abort) = armed_at(label as *const () as u64, || unsafe { f(&regs, out) });
        MarkedRegs { x, abort }
    }

    fn load_pair(&mut self, addr: Ipa) -> LoadedPair {
        if let Some(refused) = in_image(addr, 16) {
            return LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: Some(refused),
            };
        }
        #[repr(C, align(16))]
        struct Out([u64; 2]);
        let mut out = Out([LOAD_PRESET; 2]);
        let out_ptr = &raw mut out.0;
        // SAFETY: as for `load`; `out_ptr` is our own 16-byte aligned stack array, which
        // guest_ldp writes with one stp.
        let ((), abort) = armed_at(guest_ldp_access as *const () as u64, || unsafe {
            guest_ldp(addr.0, LOAD_PRESET, out_ptr)
        });
        LoadedPair {
            first: out.0[0],
            second: out.0[1],
            abort,
        }
    }
}
