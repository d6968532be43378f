//! One VM's stage-2 translation: its table, VMID and geometry. Callers speak in memory
//! kinds and permissions; `s2_attrs` picks the bits, `pgtable` edits the table with
//! break-before-make, and `tlb` invalidates for this VM's VMID. Every argument a host or
//! guest can influence is checked; every failure is a value.

use crate::addr::PhysAddr;
use crate::mm::kind::{MemoryKind, Perms};
use crate::mm::pgtable::{Leaf, MapError, MapStats, PageTable, TableAlloc};
use crate::mm::s2_attrs::{host_leaf_attrs, s2_leaf_attrs, AttrError};
use crate::mm::tlb::{ForVm, S2Maintenance};
use crate::mm::vmid::Vmid;
use crate::mm::vtcr::{vtcr_for, VtcrConfig};

pub use crate::addr::Ipa;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S2Error {
    /// The table refused: misaligned, out of range (IPA beyond `ipa_bits`, PA beyond the
    /// CPU's PA size, overflow), already mapped, out of table pages, bad geometry.
    Table(MapError),
    /// The kind cannot be encoded for this VM (cacheable device memory without FWB).
    Attr(AttrError),
    /// The VMID does not fit the width VTCR_EL2 selects (16-bit VMID, 8-bit VTCR).
    VmidTooWide(Vmid),
}

impl From<MapError> for S2Error {
    fn from(e: MapError) -> Self {
        S2Error::Table(e)
    }
}

impl From<AttrError> for S2Error {
    fn from(e: AttrError) -> Self {
        S2Error::Attr(e)
    }
}

const PAGE_4K: u64 = 4 << 10;
const BLOCK_2M: u64 = 2 << 20;
const BLOCK_1G: u64 = 1 << 30;
const VTCR_PS_SHIFT: u32 = 16;
const VTCR_VS: u64 = 1 << 19;
const VTTBR_VMID_SHIFT: u32 = 48;

pub struct Stage2 {
    table: PageTable,
    vmid: Vmid,
    cfg: VtcrConfig,
    /// Whether this VM runs with HCR_EL2.FWB = 1. Fixed for the VM's life: descriptors
    /// encoded for one setting mean something else under the other, so one table never
    /// mixes them.
    fwb: bool,
    /// Leaf attribute bits for every (kind, perms) of this VM, encoded once by `s2_attrs`
    /// (`host_leaf_attrs` for the host VM, whose stage 1 decides under FWB): a fault then
    /// reads its bits instead of encoding them again. Indexed by [`attr_index`].
    attrs: [Result<u64, AttrError>; ATTR_COMBINATIONS],
}

/// Every (kind, perms) pair: 4 kinds x 8 permission sets.
const ATTR_COMBINATIONS: usize = 32;

/// Where (kind, perms) sits in `Stage2::attrs`: always below [`ATTR_COMBINATIONS`].
const fn attr_index(kind: MemoryKind, perms: Perms) -> usize {
    attr_index_of_bits(kind, perms.bits())
}

/// [`attr_index`] from [`Perms::bits`].
#[inline(always)]
const fn attr_index_of_bits(kind: MemoryKind, perm_bits: u8) -> usize {
    (kind as usize) << 3 | (perm_bits & 7) as usize
}

/// The attribute table of a VM with these FWB / host settings.
fn encode_attrs(fwb: bool, host: bool) -> [Result<u64, AttrError>; ATTR_COMBINATIONS] {
    let mut attrs = [Err(AttrError::NeedsFwb); ATTR_COMBINATIONS];
    for kind in MemoryKind::ALL {
        for bits in 0..8u8 {
            let perms = Perms {
                read: bits & 1 != 0,
                write: bits & 2 != 0,
                exec: bits & 4 != 0,
            };
            attrs[attr_index(kind, perms)] = if host {
                host_leaf_attrs(kind, fwb, perms)
            } else {
                s2_leaf_attrs(kind, fwb, perms)
            };
        }
    }
    attrs
}

impl Stage2 {
    /// As [`Stage2::new`], for the host VM (see `s2_attrs::host_leaf_attrs`).
    pub fn new_host(
        alloc: &mut impl TableAlloc,
        cfg: VtcrConfig,
        vmid: Vmid,
        fwb: bool,
    ) -> Result<Stage2, S2Error> {
        let mut s = Stage2::new(alloc, cfg, vmid, fwb)?;
        s.attrs = encode_attrs(fwb, true);
        Ok(s)
    }

    fn leaf_attrs(&self, kind: MemoryKind, perms: Perms) -> Result<u64, AttrError> {
        self.attrs[attr_index(kind, perms)]
    }

    /// An empty stage 2 for a VM with `vmid`, geometry `cfg` (from [`vtcr_for`]), running
    /// with HCR_EL2.FWB = `fwb` (only where the CPU has FEAT_S2FWB).
    pub fn new(
        alloc: &mut impl TableAlloc,
        cfg: VtcrConfig,
        vmid: Vmid,
        fwb: bool,
    ) -> Result<Stage2, S2Error> {
        // Only a geometry vtcr_for would produce: VTCR and the table must agree.
        let pa_range = (cfg.vtcr >> VTCR_PS_SHIFT & 7) as u8;
        let vmid16 = cfg.vtcr & VTCR_VS != 0;
        if vtcr_for(pa_range, cfg.ipa_bits, vmid16) != Ok(cfg) {
            return Err(MapError::BadGeometry.into());
        }
        if !vmid16 && vmid.raw() > 0xff {
            return Err(S2Error::VmidTooWide(vmid));
        }
        let table = PageTable::new(alloc, cfg.start_level, cfg.ipa_bits)?;
        Ok(Stage2 {
            table,
            vmid,
            cfg,
            fwb,
            attrs: encode_attrs(fwb, false),
        })
    }

    /// Map `[ipa, ipa + size)` to `[pa, pa + size)` as `kind` with `perms`, with 1 GiB /
    /// 2 MiB blocks where both sides are aligned. All or nothing; `AlreadyMapped` if any
    /// page of the range is mapped (use [`Stage2::remap`] to replace).
    #[allow(clippy::too_many_arguments)]
    pub fn map(
        &mut self,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
        ipa: Ipa,
        pa: PhysAddr,
        size: u64,
        kind: MemoryKind,
        perms: Perms,
    ) -> Result<MapStats, S2Error> {
        let attrs = self.leaf_attrs(kind, perms)?;
        self.check_pa(pa, size)?;
        let mut sync = ForVm {
            tlb,
            vmid: self.vmid,
        };
        Ok(self
            .table
            .map_atomic(alloc, &mut sync, ipa.0, pa, size, attrs, true)?)
    }

    /// The level of the one leaf that maps exactly `[ipa, ipa + size)` to `pa`: a 4 KiB
    /// page, or a 2 MiB / 1 GiB block where both sides are aligned to it and this table
    /// starts high enough to hold it. `None`: the range needs [`Stage2::map`].
    #[inline]
    pub fn leaf_level(&self, ipa: Ipa, pa: PhysAddr, size: u64) -> Option<u8> {
        // Every start level holds 2 MiB blocks and pages; a 1 GiB block needs level 1.
        let level = match size {
            PAGE_4K => 3,
            BLOCK_2M => 2,
            BLOCK_1G if self.cfg.start_level <= 1 => 1,
            _ => return None,
        };
        ((ipa.0 | pa.0) & (size - 1) == 0).then_some(level)
    }

    /// Map the one leaf at `level` ([`Stage2::leaf_level`]) for `ipa` -> `pa` as `kind`
    /// with `perms`: what a stage-2 fault needs, in one walk. A leaf that already covers
    /// `ipa` (another vCPU's fault got there first) is success; see
    /// [`PageTable::map_leaf`]. All or nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn map_leaf(
        &mut self,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
        ipa: Ipa,
        pa: PhysAddr,
        level: u8,
        kind: MemoryKind,
        perms: Perms,
    ) -> Result<(), S2Error> {
        self.map_leaf_bits(alloc, tlb, ipa, pa, level, kind, perms.bits())
    }

    /// [`Stage2::map_leaf`] with the permissions as [`Perms::bits`] (how a memslot keeps
    /// them). Inlined into each caller, so a caller with a fixed level gets a walk for it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn map_leaf_bits(
        &mut self,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
        ipa: Ipa,
        pa: PhysAddr,
        level: u8,
        kind: MemoryKind,
        perm_bits: u8,
    ) -> Result<(), S2Error> {
        let attrs = self.attrs[attr_index_of_bits(kind, perm_bits)]?;
        if pa.0 >= self.cfg.pa_limit() {
            // Aligned, so a start below the limit ends at or below it.
            return Err(MapError::OutOfRange.into());
        }
        let mut sync = ForVm {
            tlb,
            vmid: self.vmid,
        };
        Ok(self
            .table
            .map_leaf(alloc, &mut sync, ipa.0, pa, level, attrs)?)
    }

    /// Replace whatever is mapped in the range (e.g. a memslot that changed kind or
    /// backing) with break-before-make. On error no page of the range has the new
    /// mapping: each is the old one or unmapped (the guest faults, the host retries).
    #[allow(clippy::too_many_arguments)]
    pub fn remap(
        &mut self,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
        ipa: Ipa,
        pa: PhysAddr,
        size: u64,
        kind: MemoryKind,
        perms: Perms,
    ) -> Result<MapStats, S2Error> {
        let attrs = self.leaf_attrs(kind, perms)?;
        self.check_pa(pa, size)?;
        let mut sync = ForVm {
            tlb,
            vmid: self.vmid,
        };
        Ok(self
            .table
            .remap(alloc, &mut sync, ipa.0, pa, size, attrs, true)?)
    }

    /// Unmap `[ipa, ipa + size)` (holes are fine), splitting blocks at the ends and freeing
    /// emptied tables. Needs a table page only to split; without one, `OutOfTables` with a
    /// prefix of the range unmapped. (No counts: nobody outside the tests reads them, and
    /// MEMSLOT_CLEAR should not copy them around.)
    pub fn unmap(
        &mut self,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
        ipa: Ipa,
        size: u64,
    ) -> Result<(), S2Error> {
        let mut sync = ForVm {
            tlb,
            vmid: self.vmid,
        };
        let mut stats = MapStats::default();
        Ok(self
            .table
            .unmap_into(alloc, &mut sync, ipa.0, size, &mut stats)?)
    }

    /// Make every mapped page of `[ipa, ipa + size)` `kind` with `perms` (addresses stay;
    /// holes stay holes), splitting blocks at the ends.
    pub fn protect(
        &mut self,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
        ipa: Ipa,
        size: u64,
        kind: MemoryKind,
        perms: Perms,
    ) -> Result<MapStats, S2Error> {
        let attrs = self.leaf_attrs(kind, perms)?;
        let mut sync = ForVm {
            tlb,
            vmid: self.vmid,
        };
        Ok(self.table.protect(alloc, &mut sync, ipa.0, size, attrs)?)
    }

    /// The leaf translating `ipa` (its PA is `ipa`'s own, offset included), if mapped.
    pub fn lookup(&self, ipa: Ipa) -> Option<Leaf> {
        self.table.lookup(ipa.0)
    }

    /// VTTBR_EL2 for this VM: root table | VMID << 48 (CnP = 0).
    #[inline]
    pub fn vttbr(&self) -> u64 {
        self.table.root().0 | (self.vmid.raw() as u64) << VTTBR_VMID_SHIFT
    }

    pub fn vmid(&self) -> Vmid {
        self.vmid
    }

    #[inline]
    pub fn vtcr(&self) -> &VtcrConfig {
        &self.cfg
    }

    /// Whether this VM must run with HCR_EL2.FWB = 1.
    #[inline]
    pub fn fwb(&self) -> bool {
        self.fwb
    }

    /// Table pages this VM's stage 2 uses now, root included (for the boot report).
    pub fn table_pages(&self) -> u64 {
        self.table.table_pages()
    }

    /// Give every table page back, after invalidating the whole VMID. The VM must not be
    /// running on any CPU. The VMID itself goes back through `VmidAlloc::free`.
    pub fn destroy(self, alloc: &mut impl TableAlloc, tlb: &mut impl S2Maintenance) {
        let mut sync = ForVm {
            tlb,
            vmid: self.vmid,
        };
        self.table.teardown(alloc, &mut sync);
    }

    /// The output side must stay below the CPU's PA size (the table only knows 48 bits).
    fn check_pa(&self, pa: PhysAddr, size: u64) -> Result<(), S2Error> {
        match pa.0.checked_add(size) {
            Some(end) if end <= self.cfg.pa_limit() => Ok(()),
            _ => Err(MapError::OutOfRange.into()),
        }
    }
}

#[cfg(test)]
impl Stage2 {
    /// The table, for structural checks.
    pub(crate) fn table(&self) -> &PageTable {
        &self.table
    }

    /// [`Stage2::unmap`] with the counts of what it did.
    pub(crate) fn unmap_counted(
        &mut self,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
        ipa: Ipa,
        size: u64,
    ) -> Result<MapStats, S2Error> {
        let mut sync = ForVm {
            tlb,
            vmid: self.vmid,
        };
        Ok(self.table.unmap(alloc, &mut sync, ipa.0, size)?)
    }

    /// A recording TLB fake that watches this table: each invalidation records what a walk
    /// of its IPA found at that moment.
    pub(crate) fn recording_tlb(&self) -> crate::mm::tlb::fake::RecordingTlb {
        use crate::mm::tlb::fake::{RecordingTlb, Seen};
        let probe = self.table.probe();
        RecordingTlb::with_probe(move |ipa| match probe(ipa.0) {
            Ok(_) => Seen::Mapped,
            Err(level) => Seen::HoleAt(level),
        })
    }
}

#[cfg(test)]
#[path = "tests/stage2.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/stage2_edge_tests.rs"]
mod edge_tests;
