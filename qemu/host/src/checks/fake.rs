//! A fake Stile that keeps the host contract (docs/HOST-PAYLOAD.md), written out by hand
//! rather than derived from the oracle, with switchable bugs to prove the checks catch them.

use crate::machine::{Access, Fault, Machine};
use crate::psci;
use stile_abi::{Reason, Status, FN_CALL_UID, FN_REVISION, REVISION, UID};
use stile_hyp::addr::{PhysAddr, PhysRange};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// virt-mmio mapped Device-nGnRnE (MemAttr 0) instead of Device-nGnRE.
    DeviceNGnRnE,
    /// Flash mapped writable.
    FlashWritable,
    /// fb-nc mapped executable.
    FbNcExecutable,
    /// PAR attr reported as if the host's MMU were off.
    ParAttrZero,
    /// With FWB on, host RAM left at the FWB=0 encoding 0xF (which the CPU then reads as
    /// Device-nGnRnE).
    RamFwb0Encoding,
    /// With FWB on, host RAM forced Write-Back (0b0110, the guests' encoding) instead of
    /// left to the host's stage 1 (0b0111).
    RamForcedWriteBack,
    /// With FWB on, the aperture left to stage 1 (0b0111) instead of forced Write-Back.
    ApertureStage1Decides,
    /// Hypervisor memory readable and writable.
    HypAccessible,
    /// The injected abort carries FAR = the page base, not the address.
    FarPageAligned,
    /// The injected abort is reported as from a lower EL (EC 0x24).
    WrongEc,
    /// NEEDS_FWB checked before OUTSIDE_RAM.
    FwbBeforeRam,
    /// The third UID word is wrong.
    UidWord2,
    /// u64::MAX translates (to something).
    MaxTranslates,
    /// CPU_ON relayed and successful.
    CpuOnStarts,
    /// PSCI 0.2.
    OldPsci,
    /// Unknown calls answered 0.
    UnknownIsSuccess,
}

pub struct FakeStile {
    /// RAM is [0x4000_0000, ram_end).
    pub ram_end: u64,
    pub fwb: bool,
    pub hyp: PhysRange,
    pub bug: Option<Bug>,
    /// Every store that reached memory: (address, value).
    pub stores: Vec<(u64, u32)>,
}

const AF: u64 = 1 << 10;
const SH: u64 = 3 << 8;
const R: u64 = 1 << 6;
const W: u64 = 1 << 7;
const XN: u64 = 1 << 54;
const DENIED: u64 = Status::Denied.as_u64();
const INVALID: u64 = Status::InvalidParameters.as_u64();

impl FakeStile {
    pub fn new(ram_end: u64, fwb: bool) -> Self {
        FakeStile {
            ram_end,
            fwb,
            hyp: PhysRange::new(0x4020_0000, 0x60_0000),
            bug: None,
            stores: Vec::new(),
        }
    }

    pub fn with_bug(mut self, bug: Bug) -> Self {
        self.bug = Some(bug);
        self
    }

    fn has(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    fn translate(&self, vm: u64, addr: u64) -> [u64; 4] {
        let mapped = |memattr: u64, bits: u64, par: u64| [0, addr, par, memattr << 2 | bits | AF];
        let refused = |status, reason: Reason| [status, reason as u64, 0, 0];
        if vm != 0 {
            return refused(INVALID, Reason::NoSuchVm);
        }
        if addr >= 1 << 40 {
            if self.has(Bug::MaxTranslates) {
                return mapped(0xf, R | W, 0xff);
            }
            return refused(INVALID, Reason::OutOfRange);
        }
        if self.hyp.contains(PhysAddr(addr)) {
            return refused(DENIED, Reason::HypMemory);
        }
        let in_ram = |end: u64| end <= self.ram_end;
        match addr {
            0..0x0800_0000 => {
                let w = if self.has(Bug::FlashWritable) { W } else { 0 };
                mapped(0x1, R | w | XN, 0x04)
            }
            0x0800_0000..0x4000_0000 => {
                let (attr, par) = if self.has(Bug::DeviceNGnRnE) {
                    (0, 0)
                } else {
                    (1, 4)
                };
                mapped(attr, R | W | XN, par)
            }
            0x4000_0000..0x7b00_0000 if addr < self.ram_end => {
                // FWB on: 0b0111, the host's own stage 1 (Normal-WB here) decides.
                let (attr, par) = match self.fwb {
                    false => (0xf, 0xff),
                    true if self.has(Bug::RamFwb0Encoding) => (0xf, 0x00),
                    true if self.has(Bug::RamForcedWriteBack) => (0x6, 0xff),
                    true => (0x7, 0xff),
                };
                let par = if self.has(Bug::ParAttrZero) { 0 } else { par };
                mapped(attr, R | W | SH, par)
            }
            0x7b00_0000..0x7c00_0000 if !in_ram(0x7c00_0000) => refused(DENIED, Reason::OutsideRam),
            0x7b00_0000..0x7c00_0000 => {
                let xn = if self.has(Bug::FbNcExecutable) { 0 } else { XN };
                mapped(0x5, R | W | xn, 0x44)
            }
            0x7c00_0000..0x8000_0000 if !self.fwb && self.has(Bug::FwbBeforeRam) => {
                refused(DENIED, Reason::NeedsFwb)
            }
            0x7c00_0000..0x8000_0000 if !in_ram(0x8000_0000) => refused(DENIED, Reason::OutsideRam),
            0x7c00_0000..0x8000_0000 if !self.fwb => refused(DENIED, Reason::NeedsFwb),
            0x7c00_0000..0x8000_0000 => {
                // Only mapped with FWB on: 0b0110 forces Normal-WB.
                let attr = if self.has(Bug::ApertureStage1Decides) {
                    0x7
                } else {
                    0x6
                };
                mapped(attr, R | W | SH, 0xff)
            }
            _ => refused(DENIED, Reason::NoMapping),
        }
    }

    fn abort(&self, addr: u64, write: bool) -> Access {
        let ec: u64 = if self.has(Bug::WrongEc) { 0x24 } else { 0x25 };
        let far = if self.has(Bug::FarPageAligned) {
            addr & !0xfff
        } else {
            addr
        };
        let esr = ec << 26 | 1 << 25 | u64::from(write) << 6 | 0x07;
        Access::Aborted(Fault { esr, far })
    }
}

impl Machine for FakeStile {
    fn hvc(&mut self, r: [u64; 4]) -> [u64; 4] {
        match r[0] {
            x if x == u64::from(FN_CALL_UID) => {
                let mut w = UID.map(u64::from);
                if self.has(Bug::UidWord2) {
                    w[2] ^= 1;
                }
                w
            }
            x if x == u64::from(FN_REVISION) => [REVISION.0.into(), REVISION.1.into(), 0, 0],
            0xC600_0001 => self.translate(r[1], r[2]),
            _ if self.has(Bug::UnknownIsSuccess) => [0; 4],
            _ => [Status::NotSupported.as_u64(), 0, 0, 0],
        }
    }

    fn smc(&mut self, r: [u64; 4]) -> [u64; 4] {
        match r[0] {
            psci::VERSION if self.has(Bug::OldPsci) => [0x2, 0, 0, 0],
            psci::VERSION => [0x1_0001, 0, 0, 0],
            psci::CPU_ON if self.has(Bug::CpuOnStarts) => [0; 4],
            psci::CPU_ON => [-2i64 as u64, 0, 0, 0],
            _ => [Status::NotSupported.as_u64(), 0, 0, 0],
        }
    }

    unsafe fn read32(&mut self, addr: u64) -> Access {
        if self.hyp.contains(PhysAddr(addr)) && !self.has(Bug::HypAccessible) {
            return self.abort(addr, false);
        }
        Access::Done(0x1234_5678)
    }

    unsafe fn write32(&mut self, addr: u64, value: u32) -> Access {
        if self.hyp.contains(PhysAddr(addr)) && !self.has(Bug::HypAccessible) {
            return self.abort(addr, true);
        }
        self.stores.push((addr, value));
        Access::Done(0)
    }
}
