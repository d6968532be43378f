//! The host VM: an identity stage 2 over exactly what the board config gives the host
//! (its RAM minus EL2's memory and every carve-out, its devices), never EL2's own memory.

use crate::addr::{PhysAddr, PhysRange};
use crate::config::{Owner, RegionCheck};
use crate::cpu_features::CpuFeatures;
use crate::mm::pgtable::{MapStats, TableAlloc};
use crate::mm::stage2::{Ipa, S2Error, Stage2};
use crate::mm::tlb::S2Maintenance;
use crate::mm::vmid::Vmid;
use crate::mm::vtcr::{vtcr_for, VtcrError};
use crate::vm::hvc::Translation;
use heapless::Vec;
use stile_abi::Reason;

const MAX_UNMAPPED_NOTES: usize = 24;

/// Why an address has no host mapping (for TRANSLATE and abort logs).
#[derive(Debug, Clone, Copy)]
struct UnmappedNote {
    range: PhysRange,
    reason: Reason,
}

pub struct HostVm {
    pub stage2: Stage2,
    notes: Vec<UnmappedNote, MAX_UNMAPPED_NOTES>,
    /// RAM donated to guests (out of the host's stage 2 until given back).
    donated: Vec<PhysRange, 8>,
}

/// What building the host's stage 2 cost, per accepted region, for the boot report.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostMapReport {
    pub per_region: [MapStats; crate::config::MAX_CHECKED],
    pub table_pages: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostVmError {
    Vtcr(VtcrError),
    Map(S2Error, &'static str),
}

impl HostVm {
    /// The host's stage 2, mapping every accepted host region at its own address. The host
    /// runs with HCR_EL2.FWB on where the CPU has it (cacheable device memory has no other
    /// safe encoding); its RAM is then "stage 1 decides" (`s2_attrs::host_leaf_attrs`).
    /// `hyp` is EL2's memory: recorded so a host access there is reported as HYP_MEMORY.
    pub fn build(
        check: &RegionCheck,
        cpu: &CpuFeatures,
        vmid: Vmid,
        hyp: &[PhysRange],
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
    ) -> Result<(HostVm, HostMapReport), HostVmError> {
        let cfg =
            vtcr_for(cpu.pa_range, cpu.pa_bits, cpu.vmid_bits == 16).map_err(HostVmError::Vtcr)?;
        let mut stage2 =
            Stage2::new_host(alloc, cfg, vmid, cpu.fwb).map_err(|e| HostVmError::Map(e, "root"))?;
        let mut report = HostMapReport::default();
        for (i, a) in check.accepted.iter().enumerate() {
            if a.region.owner != Owner::Host {
                continue;
            }
            for r in a.ranges.iter() {
                let s = stage2
                    .map(
                        alloc,
                        tlb,
                        Ipa(r.base.0),
                        PhysAddr(r.base.0),
                        r.size,
                        a.region.kind,
                        a.perms,
                    )
                    .map_err(|e| HostVmError::Map(e, a.region.name))?;
                if let Some(slot) = report.per_region.get_mut(i) {
                    slot.blocks_1g += s.blocks_1g;
                    slot.blocks_2m += s.blocks_2m;
                    slot.pages_4k += s.pages_4k;
                    slot.tables += s.tables;
                }
            }
        }
        report.table_pages = stage2.table_pages();
        let mut notes = Vec::new();
        for h in hyp {
            let _ = notes.push(UnmappedNote {
                range: *h,
                reason: Reason::HypMemory,
            });
        }
        for r in check.refused.iter() {
            let _ = notes.push(UnmappedNote {
                range: r.region.range,
                reason: r.reason,
            });
        }
        Ok((
            HostVm {
                stage2,
                notes,
                donated: Vec::new(),
            },
            report,
        ))
    }

    /// `range` now belongs to a guest.
    pub fn note_donated(&mut self, range: PhysRange) {
        let _ = self.donated.push(range);
    }

    /// `range` is the host's again.
    pub fn note_returned(&mut self, range: PhysRange) {
        self.donated.retain(|d| *d != range);
    }

    /// A host stage-2 abort at `ipa`, decided under the host's stage-2 lock, which every edit
    /// of it holds: a translation fault on an IPA that is mapped now was another CPU's
    /// break-before-make (a donation splitting the block around it) caught mid-way, and is
    /// replayed; anything else is refused with the reason TRANSLATE gives.
    pub fn abort(&self, ipa: u64, translation_fault: bool) -> Result<(), Reason> {
        if translation_fault && self.stage2.lookup(Ipa(ipa)).is_some() {
            return Ok(());
        }
        Err(self.why_unmapped(ipa))
    }

    /// Why the host has nothing at `ipa`.
    pub fn why_unmapped(&self, ipa: u64) -> Reason {
        if self.donated.iter().any(|d| d.contains(PhysAddr(ipa))) {
            return Reason::NotOwned;
        }
        self.notes
            .iter()
            .find(|n| n.range.contains(PhysAddr(ipa)))
            .map_or(Reason::NoMapping, |n| n.reason)
    }

    /// TRANSLATE for the host (VM 0): the stage-2 leaf, and what `at` (the CPU's own
    /// two-stage walk of `addr`, returning PAR_EL1) says the combined attribute is.
    pub fn translate(&self, vm: u64, addr: u64, at: impl FnOnce(u64) -> u64) -> Translation {
        if vm != 0 {
            return Translation::Invalid(Reason::NoSuchVm);
        }
        if addr >= self.stage2.vtcr().ipa_limit() {
            return Translation::Invalid(Reason::OutOfRange);
        }
        match self.stage2.lookup(Ipa(addr)) {
            None => Translation::Unmapped(self.why_unmapped(addr)),
            Some(leaf) => {
                let par = at(addr);
                // PAR_EL1.F set: the VM's own stage 1 does not map it; report attr 0.
                let par_attr = if par & 1 == 0 { (par >> 56) as u8 } else { 0 };
                Translation::Mapped {
                    pa: leaf.pa.0,
                    par_attr,
                    s2_attrs: leaf.attrs,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::check_regions;
    use crate::config::tests::qemu_virt;
    use crate::dt::Platform;
    use crate::mm::pgtable::tests::TestAlloc;
    use crate::mm::s2_attrs::memattr;
    use crate::mm::tlb::fake::RecordingTlb;

    const HYP: PhysRange = PhysRange::new(0x4020_0000, 0x120_0000);
    const DTB: PhysRange = PhysRange::new(0x4800_0000, 0x10_0000);
    const QEMU_1G: &[u8] = include_bytes!("../../testdata/qemu-virt-gicv3-smp4-1g.dtb");

    fn cpu(fwb: bool) -> CpuFeatures {
        CpuFeatures {
            fwb,
            dic: false,
            pa_bits: 48,
            pa_range: 5,
            vmid_bits: 16,
            dcache_line: 64,
        }
    }

    fn host(fwb: bool) -> (HostVm, HostMapReport, TestAlloc) {
        let platform = Platform::from_dtb(QEMU_1G).unwrap();
        let check = check_regions(&qemu_virt(), &platform, &cpu(fwb), &[HYP], DTB);
        let mut alloc = TestAlloc::new(64);
        let (vm, report) = HostVm::build(
            &check,
            &cpu(fwb),
            Vmid::HOST,
            &[HYP],
            &mut alloc,
            &mut RecordingTlb::new(),
        )
        .unwrap();
        (vm, report, alloc)
    }

    #[test]
    fn the_host_never_maps_hypervisor_memory() {
        for fwb in [false, true] {
            let (vm, _, _a) = host(fwb);
            for page in (HYP.base.0..HYP.end()).step_by(0x1000) {
                assert!(vm.stage2.lookup(Ipa(page)).is_none(), "{page:#x}");
            }
            assert_eq!(vm.why_unmapped(HYP.base.0), Reason::HypMemory);
        }
    }

    #[test]
    fn a_gigabyte_of_host_ram_and_every_dt_device_take_a_handful_of_table_pages() {
        let (vm, report, _a) = host(true);
        assert!(
            report.table_pages <= 16,
            "{} table pages",
            report.table_pages
        );
        assert_eq!(
            vm.stage2.lookup(Ipa(0x5000_0000)).map(|l| l.level),
            Some(2),
            "2 MiB blocks"
        );
    }

    #[test]
    fn aperture_is_forced_write_back_with_fwb_and_refused_without() {
        let (vm, _, _a) = host(true);
        let leaf = vm.stage2.lookup(Ipa(0x7c00_0000)).unwrap();
        assert_eq!(memattr(leaf.attrs), 0b0110);
        assert_eq!(
            memattr(vm.stage2.lookup(Ipa(0x4000_0000)).unwrap().attrs),
            0b0111,
            "host RAM: stage 1 decides"
        );
        let (vm, _, _a) = host(false);
        assert!(vm.stage2.lookup(Ipa(0x7c00_0000)).is_none());
        assert_eq!(vm.why_unmapped(0x7c00_0000), Reason::NeedsFwb);
        assert_eq!(
            memattr(vm.stage2.lookup(Ipa(0x4000_0000)).unwrap().attrs),
            0xf
        );
    }

    #[test]
    fn translate_refuses_other_vms_and_addresses_past_the_ipa_space() {
        let (vm, _, _a) = host(true);
        let never = |_: u64| -> u64 { panic!("AT must not run for a refused query") };
        assert_eq!(
            vm.translate(1, 0x4000_0000, never),
            Translation::Invalid(Reason::NoSuchVm)
        );
        assert_eq!(
            vm.translate(0, 1 << 48, never),
            Translation::Invalid(Reason::OutOfRange)
        );
        assert_eq!(
            vm.translate(0, 0x50_0000_0000, never),
            Translation::Unmapped(Reason::NoMapping)
        );
        let t = vm.translate(0, 0x0900_0000, |_| 0x04 << 56);
        assert!(
            matches!(
                t,
                Translation::Mapped {
                    pa: 0x0900_0000,
                    par_attr: 0x04,
                    ..
                }
            ),
            "{t:?}"
        );
        let faulted = vm.translate(0, 0x0900_0000, |_| 0xa0d);
        assert!(matches!(faulted, Translation::Mapped { par_attr: 0, .. }));
    }
}

#[cfg(test)]
#[path = "host_map_rule_tests.rs"]
mod host_map_rule_tests;
