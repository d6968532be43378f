//! What the VMM needs from the CPU beyond the checks' [`Machine`]: Stile calls with up to
//! six arguments, the run page, and writes into host RAM it is about to donate. `arch`
//! implements it for real; the tests implement a fake Stile running the real guest code.

use super::isolation::HostCpu;
use crate::machine::Machine;
use stile_abi::RunPage;
use stile_guest::protocol::FpRegs;
use stile_hyp::addr::PhysAddr;

/// The host-written fields of the run page, written together before VCPU_RUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFields {
    /// `stile_abi::run_page::HostAction` as u32 (any value: the garbage checks write bad ones).
    pub host_action: u32,
    pub data: u64,
    pub hvc: [u64; 4],
}

pub trait VmmMachine: Machine {
    /// `hvc #0` with x0..x6 (SMCCC); returns x0..x3.
    fn call(&mut self, x: [u64; 7]) -> [u64; 4];
    /// `hvc #0` with every general register set from `x`: x0..x30 right after it. The
    /// default (a machine that is not a CPU) is [`VmmMachine::call`] with x0..x6, which keeps
    /// every register but the results x0..x3.
    fn call_marked(&mut self, x: [u64; 31]) -> [u64; 31] {
        let mut args = [0; 7];
        args.copy_from_slice(&x[..7]);
        let mut out = x;
        out[..4].copy_from_slice(&self.call(args));
        out
    }
    /// Where the vCPU's run page is: a 4 KiB-aligned page of host RAM, never donated.
    fn run_page_pa(&self) -> PhysAddr;
    /// The run page as Stile left it (volatile reads).
    fn read_run_page(&mut self) -> RunPage;
    /// The host's answer (volatile writes of `host_action`, `data`, `hvc[0..4]`).
    fn write_host_fields(&mut self, fields: &HostFields);
    /// Writes `value` into a page of the payload's own memory reserved for it and returns
    /// that page's address: host RAM a guest must never be able to read.
    fn plant_secret(&mut self, value: u64) -> PhysAddr;
    /// Copies `bytes` to host RAM at `pa` and cleans them to the point of coherency (where
    /// guests run without FWB, a guest with its MMU off reads memory non-cacheable, and
    /// Stile does not clean donated memory: docs/ABI.md, VM_CREATE).
    ///
    /// # Safety
    /// `[pa, pa + bytes.len())` must be host RAM (identity mapped) that the payload does not
    /// use for anything else, and that is not donated.
    unsafe fn write_ram(&mut self, pa: PhysAddr, bytes: &[u8]);
    /// Writes the host's own d0 and v31 (FP/SIMD, enabled at EL1 first if need be).
    fn set_fp(&mut self, fp: FpRegs);
    /// Reads the host's own d0 and v31.
    fn get_fp(&mut self) -> FpRegs;

    /// Wait until the refusal log's one-second window has surely turned over (the count of
    /// dropped lines is printed with the next refusal after that). Fakes need not wait.
    fn let_a_second_pass(&mut self) {}
    /// Let (or stop letting) this CPU's physical virtual-timer PPI 27 through the host's
    /// GIC `gic`: a guest's timer firing while it runs then traps to EL2. False where the
    /// machine cannot.
    fn timer_ppi(&mut self, _gic: crate::facts::HostGic, _on: bool) -> bool {
        false
    }
    /// A second run page, for a second vCPU (the vGIC checks); None where there is none.
    fn spare_run_page(&self) -> Option<PhysAddr> {
        None
    }

    // The isolation checks (vmm::isolation). The defaults are a machine that has none of
    // the registers, and the checks are then skipped.

    /// What the host's CPU has; None: the isolation checks cannot run here.
    fn host_cpu(&mut self) -> Option<HostCpu> {
        None
    }
    /// Register `index` of `stile_guest::regclass::REGS`; None if UNDEFINED.
    fn reg_read(&mut self, _index: usize) -> Option<u64> {
        None
    }
    /// Writes register `index`; false if UNDEFINED.
    fn reg_write(&mut self, _index: usize, _value: u64) -> bool {
        false
    }
    /// Before the checks: FP/SIMD and SVE enabled at EL1, the OS lock cleared (so that the
    /// host's watchpoint is live), the PMU's enables and overflow flags clear.
    fn reg_setup(&mut self) {}
    /// After them: the debug, PMU and timer state back to quiet.
    fn reg_reset(&mut self) {}
}
