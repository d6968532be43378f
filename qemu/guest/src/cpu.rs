//! What the scenarios need from the CPU, as a trait: `arch` implements it with the fixed
//! instructions of access.S; the host's tests implement it against a fake Stile.

use crate::access::{Load, Store};
use crate::ipa::Ipa;

/// A synchronous exception the guest's vector took at an access (and stepped over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    /// ESR_EL1; 0 when the guest refused the access itself (an address inside its own
    /// image) without making it.
    pub esr: u64,
    /// FAR_EL1.
    pub far: u64,
}

/// How a load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// The destination register afterwards ([`crate::access::LOAD_PRESET`] if the load was
    /// skipped or aborted).
    pub value: u64,
    pub abort: Option<Abort>,
}

/// How a load pair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedPair {
    pub first: u64,
    pub second: u64,
    pub abort: Option<Abort>,
}

pub trait Cpu {
    /// `hvc #0` with x0..x7; returns x0..x3.
    fn hvc(&mut self, x: [u64; 8]) -> [u64; 4];
    /// One `load` from `addr`, its destination preset to `LOAD_PRESET`.
    fn load(&mut self, load: Load, addr: Ipa) -> Loaded;
    /// One `store` of `value` (the whole source register) to `addr`.
    fn store(&mut self, store: Store, addr: Ipa, value: u64) -> Option<Abort>;
    /// `ldp x2, x3` from `addr`, both preset to `LOAD_PRESET`.
    fn load_pair(&mut self, addr: Ipa) -> LoadedPair;
}
