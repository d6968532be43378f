//! Spin-table CPUs (`enable-method = "spin-table"`): which ones Stile releases itself at
//! boot, through which `cpu-release-addr`, and the pages those mailboxes live in (held back
//! from the host). Pure: arch/spin_table.rs writes the addresses.

use super::{EnableMethod, Platform, MAX_CPUS};
use crate::addr::PhysRange;
use heapless::Vec;

/// Mailbox pages kept track of; boards put all their CPUs' mailboxes in one page.
pub const MAX_SPIN_PAGES: usize = 4;
const PAGE: u64 = 4096;

/// A secondary CPU Stile releases: the firmware's loop jumps to whatever 64-bit address is
/// written at `release_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpinCpu {
    pub mpidr: u64,
    pub release_addr: u64,
}

/// Why a spin-table CPU is not released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpinRefusal {
    /// `cpu-release-addr` is not 8-byte aligned (the firmware reads a 64-bit word there).
    Misaligned,
    /// `cpu-release-addr` is not in the DT's RAM: EL2 maps no such memory to write it.
    OutsideRam,
    /// `cpu-release-addr` is in `no-map` reserved memory, which EL2 does not map.
    NoMap,
    /// More mailbox pages than [`MAX_SPIN_PAGES`].
    TooManyPages,
}

impl SpinRefusal {
    pub const fn reason(self) -> &'static str {
        match self {
            SpinRefusal::Misaligned => "cpu-release-addr not 8-byte aligned",
            SpinRefusal::OutsideRam => "cpu-release-addr outside the DT's RAM",
            SpinRefusal::NoMap => "cpu-release-addr in no-map reserved memory",
            SpinRefusal::TooManyPages => "too many spin-table mailbox pages",
        }
    }
}

/// The spin-table CPUs of a DT, as Stile takes them over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpinTable {
    /// Secondaries to release (every spin-table CPU but the boot CPU), in DT order.
    pub cpus: Vec<SpinCpu, MAX_CPUS>,
    /// The pages holding the mailboxes of every accepted spin-table CPU (the boot CPU's
    /// too), page-aligned, without repeats: held back from the host.
    pub pages: Vec<PhysRange, MAX_SPIN_PAGES>,
    /// Spin-table CPUs left alone, by MPIDR, with why.
    pub refused: Vec<(u64, SpinRefusal), MAX_CPUS>,
}

impl SpinTable {
    /// Read from `platform`; `boot_mpidr` (affinity bits) is the CPU running now.
    pub fn from_platform(platform: &Platform, boot_mpidr: u64) -> SpinTable {
        let mut t = SpinTable::default();
        for cpu in platform.cpus.iter() {
            let EnableMethod::SpinTable { release_addr } = cpu.enable_method else {
                continue;
            };
            let verdict = if !release_addr.is_multiple_of(8) {
                Err(SpinRefusal::Misaligned)
            } else if !platform.ram.iter().any(|r| {
                r.base.0 <= release_addr
                    && release_addr
                        .checked_add(8)
                        .is_some_and(|end| end <= r.end())
            }) {
                Err(SpinRefusal::OutsideRam)
            } else if platform
                .reserved
                .iter()
                .any(|r| r.no_map && r.range.overlaps(&PhysRange::new(release_addr, 8)))
            {
                Err(SpinRefusal::NoMap)
            } else {
                t.add_page(release_addr)
            };
            // Capacity: at most one entry per DT CPU, and the DT has at most MAX_CPUS.
            match verdict {
                Err(why) => {
                    let _ = t.refused.push((cpu.mpidr, why));
                }
                Ok(()) if cpu.mpidr == boot_mpidr => {}
                Ok(()) => {
                    let _ = t.cpus.push(SpinCpu {
                        mpidr: cpu.mpidr,
                        release_addr,
                    });
                }
            }
        }
        t
    }

    fn add_page(&mut self, addr: u64) -> Result<(), SpinRefusal> {
        let page = PhysRange::new(addr & !(PAGE - 1), PAGE);
        if self.pages.contains(&page) {
            return Ok(());
        }
        self.pages.push(page).map_err(|_| SpinRefusal::TooManyPages)
    }
}
