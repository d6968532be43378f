//! The real [`VmmMachine`]: Stile calls with six arguments, and the two pages of the
//! payload's own BSS the VMM shares: the vCPU's run page and the page holding the secret a
//! guest must never read. The payload's identity map makes their addresses their PAs.

use super::smccc::Real;
use super::{cache, sysreg};
use crate::vmm::isolation::HostCpu;
use crate::vmm::machine::{HostFields, VmmMachine};
use core::arch::asm;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use stile_abi::RunPage;
use stile_guest::arch::regclass;
use stile_guest::protocol::FpRegs;
use stile_guest::regclass::Class;
use stile_hyp::addr::PhysAddr;
use stile_hyp::cpu_features::CpuFeatures;

macro_rules! read_id {
    ($name:literal) => {{
        let v: u64;
        // SAFETY: reading an ID register has no side effects and is allowed at EL1.
        unsafe { asm!(concat!("mrs {}, ", $name), out(reg) v, options(nomem, nostack)) };
        v
    }};
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The vCPU's run page: host RAM (inside our image), Normal-WB in our map, never donated.
static mut RUN_PAGE: Page = Page([0; 4096]);
/// A second vCPU's run page (the vGIC checks; that vCPU never runs).
static mut SPARE_RUN_PAGE: Page = Page([0; 4096]);
/// A page of our own RAM whose first word the VMM fills with the secret.
static mut SECRET_PAGE: Page = Page([0; 4096]);

const _: () = assert!(core::mem::size_of::<RunPage>() <= 4096);

/// `call`'s reply `x` as a check's result: SUCCESS, or a failure naming the call and its x0.
pub fn succeeded(call: &'static str, x: [u64; 4]) -> Result<(), crate::fail::Fail> {
    let want = stile_abi::Status::Success.as_u64();
    match x[0] == want {
        true => Ok(()),
        false => Err(crate::fail::Fail::Value {
            what: call,
            got: x[0],
            want,
        }),
    }
}

/// `hvc #0`: x0..x6 in, x0..x3 out.
pub fn call7(x: [u64; 7]) -> [u64; 4] {
    let (mut x0, mut x1, mut x2, mut x3) = (x[0], x[1], x[2], x[3]);
    // SAFETY: an SMCCC call; Stile reads and writes only the run page among our memory (as
    // the ABI says, and it is ours to share), so the asm is not `nomem`: it also orders our
    // volatile run-page accesses around the call. x4..x17 may be clobbered (SMCCC).
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
            inout("x4") x[4] => _, inout("x5") x[5] => _, inout("x6") x[6] => _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
            out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
            options(nostack),
        )
    };
    [x0, x1, x2, x3]
}

/// CPACR_EL1.FPEN = 0b11: FP/SIMD at EL1 does not trap to EL1.
const CPACR_EL1_FPEN: u64 = 3 << 20;

/// Turns FP/SIMD on at EL1 (the payload is soft-float: only the FP check uses it).
fn enable_fp() {
    // SAFETY: only CPACR_EL1.FPEN changes; the ISB makes it apply to what follows.
    unsafe {
        asm!(
            "mrs {t}, cpacr_el1",
            "orr {t}, {t}, {fpen}",
            "msr cpacr_el1, {t}",
            "isb",
            t = out(reg) _,
            fpen = const CPACR_EL1_FPEN,
            options(nostack, nomem),
        )
    };
}

fn run_page() -> *mut RunPage {
    addr_of_mut!(RUN_PAGE).cast::<RunPage>()
}

/// The run page's `data` field, for the bench's MMIO loop (which stores into it directly).
pub(super) fn run_page_data() -> *mut u64 {
    // SAFETY: only forms the field's address (RUN_PAGE is a static, so the pointer is valid).
    unsafe { addr_of_mut!((*run_page()).data) }
}

impl VmmMachine for Real {
    fn call(&mut self, x: [u64; 7]) -> [u64; 4] {
        call7(x)
    }

    fn call_marked(&mut self, x: [u64; 31]) -> [u64; 31] {
        stile_guest::arch::marked_hvc(&x)
    }

    fn let_a_second_pass(&mut self) {
        let (start, freq) = sysreg::counter();
        // A little over a second of the counter EL2's rate limit reads too.
        while sysreg::counter().0.wrapping_sub(start) < freq + freq / 8 {
            core::hint::spin_loop();
        }
    }

    fn timer_ppi(&mut self, gic: crate::facts::HostGic, on: bool) -> bool {
        super::gic::timer_ppi(gic, on);
        true
    }

    fn spare_run_page(&self) -> Option<PhysAddr> {
        Some(PhysAddr(addr_of_mut!(SPARE_RUN_PAGE) as u64))
    }

    fn run_page_pa(&self) -> PhysAddr {
        PhysAddr(run_page() as u64)
    }

    fn read_run_page(&mut self) -> RunPage {
        // SAFETY: RUN_PAGE is ours, page aligned (so aligned for RunPage) and large enough;
        // only this CPU and Stile (while we wait in VCPU_RUN) write it; a volatile read sees
        // what Stile left, every bit pattern of RunPage's integer fields is valid.
        unsafe { read_volatile(run_page()) }
    }

    fn write_host_fields(&mut self, f: &HostFields) {
        let p = run_page();
        // SAFETY: as for `read_run_page`; these are the fields the ABI gives the host.
        unsafe {
            write_volatile(addr_of_mut!((*p).host_action), f.host_action);
            write_volatile(addr_of_mut!((*p).data), f.data);
            for (i, v) in f.hvc.iter().enumerate() {
                write_volatile(addr_of_mut!((*p).hvc[i]), *v);
            }
        }
    }

    fn plant_secret(&mut self, value: u64) -> PhysAddr {
        let p = addr_of_mut!(SECRET_PAGE).cast::<u64>();
        // SAFETY: SECRET_PAGE is ours, page aligned, used for nothing else.
        unsafe { write_volatile(p, value) };
        PhysAddr(p as u64)
    }

    fn set_fp(&mut self, fp: FpRegs) {
        enable_fp();
        // SAFETY: writes only d0 and v31, which no Rust code of this soft-float image uses.
        unsafe {
            asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "fmov d0, {d0}",
                "fmov d31, {lo}",
                "fmov v31.d[1], {hi}",
                d0 = in(reg) fp.d0,
                lo = in(reg) fp.v31[0],
                hi = in(reg) fp.v31[1],
                out("v0") _, out("v31") _,
                options(nostack, nomem),
            )
        };
    }

    fn get_fp(&mut self) -> FpRegs {
        enable_fp();
        let (d0, lo, hi): (u64, u64, u64);
        // SAFETY: only reads d0 and v31.
        unsafe {
            asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "fmov {d0}, d0",
                "fmov {lo}, d31",
                "fmov {hi}, v31.d[1]",
                d0 = out(reg) d0,
                lo = out(reg) lo,
                hi = out(reg) hi,
                options(nostack, nomem),
            )
        };
        FpRegs { d0, v31: [lo, hi] }
    }

    fn host_cpu(&mut self) -> Option<HostCpu> {
        let field = |v: u64, lsb: u32| (v >> lsb) & 0xf;
        let (isar1, isar2) = (read_id!("id_aa64isar1_el1"), read_id!("S3_0_C0_C6_2"));
        let (pfr0, pfr1) = (read_id!("id_aa64pfr0_el1"), read_id!("id_aa64pfr1_el1"));
        let (mmfr1, dfr0) = (read_id!("id_aa64mmfr1_el1"), read_id!("id_aa64dfr0_el1"));
        let pmu = field(dfr0, 8);
        Some(HostCpu {
            // APA, API, GPA, GPI; APA3, GPA3.
            pauth: field(isar1, 4) | field(isar1, 8) | field(isar1, 24) | field(isar1, 28) != 0
                || field(isar2, 12) | field(isar2, 8) != 0,
            sve: field(pfr0, 32) != 0,
            sme: field(pfr1, 24) != 0,
            ras: field(pfr0, 28) != 0,
            lor: field(mmfr1, 16) != 0,
            pmu: pmu != 0 && pmu != 0xf,
        })
    }

    fn reg_read(&mut self, index: usize) -> Option<u64> {
        regclass::read(index)
    }

    fn reg_write(&mut self, index: usize, value: u64) -> bool {
        regclass::write(index, value)
    }

    fn reg_setup(&mut self) {
        regclass::enable_vector_units();
        let pmu = self.host_cpu().is_some_and(|c| c.pmu);
        // SAFETY: OSLAR_EL1 only unlocks the debug registers (the host's watchpoint must be
        // live to prove a guest never runs with it); the PMU clears only stop counters and
        // interrupts, which nothing of this payload uses outside the bench.
        unsafe {
            asm!("msr oslar_el1, xzr", "isb", options(nostack, nomem));
            if pmu {
                asm!(
                    "msr pmcntenclr_el0, {all}",
                    "msr pmintenclr_el1, {all}",
                    "msr pmovsclr_el0, {all}",
                    "isb",
                    all = in(reg) u64::MAX,
                    options(nostack, nomem),
                );
            }
        }
    }

    fn reg_reset(&mut self) {
        let Some(cpu) = self.host_cpu() else {
            return;
        };
        for c in Class::ALL {
            let (first, n) = c.regs();
            if cpu.writes(c) {
                for i in first..first + n {
                    regclass::write(i, 0);
                }
            }
        }
        self.reg_setup();
    }

    unsafe fn write_ram(&mut self, pa: PhysAddr, bytes: &[u8]) {
        let line = CpuFeatures::decode(&sysreg::id_regs()).dcache_line as usize;
        // SAFETY: the caller guarantees the range is host RAM we do not otherwise use; our
        // identity map makes the PA the address, and it cannot overlap `bytes` (our image).
        // Cleaning it to PoC afterwards only writes back what we just wrote.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), pa.0 as *mut u8, bytes.len());
            cache::clean_dcache_range(pa.0 as usize, bytes.len(), line.max(4));
        }
    }
}
