//! What the VM core needs from the CPU and from memory it reaches by physical address.
//! arch/aarch64 implements it for real; tests implement it over a map of pages.

use crate::addr::PhysRange;
use crate::mm::tlb::S2Maintenance;
use crate::vm::vcpu::El1Regs;
use stile_abi::run_page::WORDS;
use stile_abi::RunPage;

/// A guest's translation regime, loaded for the duration of one AT.
pub struct GuestRegime<'a> {
    pub el1: &'a El1Regs,
    pub vttbr: u64,
    pub vtcr: u64,
    pub fwb: bool,
}

pub trait Machine: S2Maintenance {
    /// Zero `range` (EL2 maps all RAM) and make it visible to non-cacheable observers.
    fn scrub(&mut self, range: PhysRange);
    /// Write back and drop cached copies of `range` (EL2 maps it), so an observer with its
    /// caches off (a guest whose MMU is off, without FWB) sees what the host wrote.
    fn clean(&mut self, range: PhysRange);
    fn read_run_page(&mut self, pa: u64) -> RunPage;
    fn write_run_page(&mut self, pa: u64, page: &RunPage);
    /// Word `index` (< `run_page::WORDS`) of the run page at `pa`: the trap path touches
    /// the shared page one word at a time, only the words it needs.
    fn run_page_word(&mut self, pa: u64, index: usize) -> u64 {
        self.read_run_page(pa).to_words()[index % WORDS]
    }
    fn set_run_page_word(&mut self, pa: u64, index: usize, value: u64) {
        let mut words = self.read_run_page(pa).to_words();
        words[index % WORDS] = value;
        self.write_run_page(pa, &RunPage::from_words(&words));
    }
    /// Words `INDEX` and `INDEX + 1` (< `run_page::WORDS`) in one store where the CPU can.
    fn set_run_page_pair<const INDEX: usize>(&mut self, pa: u64, first: u64, second: u64) {
        self.set_run_page_word(pa, INDEX, first);
        self.set_run_page_word(pa, INDEX + 1, second);
    }
    /// `AT S12E1R` of `addr` in the running (host) regime, or in `guest`'s: PAR_EL1.
    fn at_s12e1r(&mut self, guest: Option<&GuestRegime>, addr: u64) -> u64;
    /// The physical counter (CNTPCT_EL0), which is also every VM's virtual counter
    /// (CNTVOFF_EL2 is 0).
    fn counter(&mut self) -> u64;
    /// Kick the CPU that ICC_SGI1R_EL1 value `sgi1r` names (vgic/kick.rs): it traps to EL2
    /// if it runs a vGIC guest.
    fn kick(&mut self, sgi1r: u64);
}
