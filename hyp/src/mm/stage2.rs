//! One VM's stage-2 translation: its table, VMID and geometry. Callers speak in memory
//! kinds and permissions; `s2_attrs` picks the bits, `pgtable` edits the table with
//! break-before-make, and `tlb` invalidates for this VM's VMID. Every argument a host or
//! guest can influence is checked; every failure is a value.

use core::fmt;

use crate::addr::PhysAddr;
use crate::mm::kind::{MemoryKind, Perms};
use crate::mm::pgtable::{Leaf, MapError, MapStats, PageTable, TableAlloc};
use crate::mm::s2_attrs::{host_leaf_attrs, s2_leaf_attrs, AttrError};
use crate::mm::tlb::{ForVm, S2Maintenance};
use crate::mm::vmid::Vmid;
use crate::mm::vtcr::{vtcr_for, VtcrConfig};

/// An intermediate physical address: what a guest believes is physical. Kept apart from
/// `PhysAddr` by type. (Belongs beside `PhysAddr` in addr.rs; it lives here until that file
/// is free to edit.)
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ipa(pub u64);

impl Ipa {
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Ipa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IPA({:#x})", self.0)
    }
}

impl fmt::Display for Ipa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

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
    /// The host VM: RAM encoded by `host_leaf_attrs` (its stage 1 decides under FWB).
    host: bool,
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
        s.host = true;
        Ok(s)
    }

    fn leaf_attrs(&self, kind: MemoryKind, perms: Perms) -> Result<u64, AttrError> {
        if self.host {
            host_leaf_attrs(kind, self.fwb, perms)
        } else {
            s2_leaf_attrs(kind, self.fwb, perms)
        }
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
            host: false,
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
    /// prefix of the range unmapped.
    pub fn unmap(
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
    pub fn vttbr(&self) -> u64 {
        self.table.root().0 | (self.vmid.raw() as u64) << VTTBR_VMID_SHIFT
    }

    pub fn vmid(&self) -> Vmid {
        self.vmid
    }

    pub fn vtcr(&self) -> &VtcrConfig {
        &self.cfg
    }

    /// Whether this VM must run with HCR_EL2.FWB = 1.
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
mod tests {
    use super::*;
    use crate::mm::pgtable::tests::TestAlloc;
    use crate::mm::s2_attrs::{memattr, perms, XN};
    use crate::mm::tlb::fake::{Call, RecordingTlb, Seen};

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn vm(fwb: bool) -> (Stage2, TestAlloc, RecordingTlb) {
        let mut a = TestAlloc::new(64);
        let cfg = vtcr_for(2, 40, false).unwrap();
        let s2 = Stage2::new(&mut a, cfg, Vmid::for_test(5), fwb).unwrap();
        let tlb = s2.recording_tlb();
        (s2, a, tlb)
    }

    #[test]
    fn vttbr_is_the_root_with_the_vmid_in_bits_48_and_up() {
        let (s2, _a, _t) = vm(true);
        assert_eq!(s2.vttbr() >> 48, 5);
        assert_eq!(s2.vttbr() & ((1 << 48) - 1), s2.table.root().0);
        // 40-bit IPA from level 1: two concatenated root pages, 8 KiB aligned.
        assert_eq!(s2.vttbr() & 0x1fff, 0);
        assert_eq!(s2.table_pages(), 2);
    }

    #[test]
    fn map_encodes_the_kind_with_s2_attrs_and_uses_blocks() {
        let (mut s2, mut a, mut t) = vm(true);
        let st = s2
            .map(
                &mut a,
                &mut t,
                Ipa(GIB),
                PhysAddr(0x80_0000_0000 - GIB),
                GIB + 2 * MIB,
                MemoryKind::Ram,
                Perms::RWX,
            )
            .unwrap();
        assert_eq!((st.blocks_1g, st.blocks_2m), (1, 1));
        let l = s2.lookup(Ipa(GIB + 0x1234)).unwrap();
        assert_eq!(
            l.attrs,
            s2_leaf_attrs(MemoryKind::Ram, true, Perms::RWX).unwrap()
        );
        assert_eq!(l.pa, PhysAddr(0x80_0000_0000 - GIB + 0x1234));
        assert_eq!(memattr(l.attrs), 0b0110);
    }

    #[test]
    fn cacheable_device_slot_refused_without_fwb_and_nothing_is_mapped() {
        let (mut s2, mut a, mut t) = vm(false);
        let before = a.used();
        let r = s2.map(
            &mut a,
            &mut t,
            Ipa(0),
            PhysAddr(0),
            2 * MIB,
            MemoryKind::CacheableDevice,
            Perms::RW,
        );
        assert_eq!(r, Err(S2Error::Attr(AttrError::NeedsFwb)));
        assert_eq!(s2.lookup(Ipa(0)), None);
        assert_eq!(a.used(), before);
        assert!(t.calls.is_empty());
    }

    #[test]
    fn device_is_never_executable_even_when_rwx_is_asked() {
        let (mut s2, mut a, mut t) = vm(true);
        for (i, kind) in [MemoryKind::Device, MemoryKind::DeviceNc]
            .iter()
            .enumerate()
        {
            let ipa = Ipa(i as u64 * 2 * MIB);
            s2.map(
                &mut a,
                &mut t,
                ipa,
                PhysAddr(ipa.0),
                2 * MIB,
                *kind,
                Perms::RWX,
            )
            .unwrap();
            assert_ne!(s2.lookup(ipa).unwrap().attrs & XN, 0, "{kind:?}");
        }
        // Nor after a protect that asks for exec.
        s2.protect(
            &mut a,
            &mut t,
            Ipa(0),
            4 * MIB,
            MemoryKind::Device,
            Perms::RX,
        )
        .unwrap();
        assert!(!perms(s2.lookup(Ipa(0)).unwrap().attrs).exec);
    }

    #[test]
    fn remap_to_another_kind_invalidates_this_vms_vmid_first() {
        let (mut s2, mut a, mut t) = vm(true);
        s2.map(
            &mut a,
            &mut t,
            Ipa(0),
            PhysAddr(0),
            2 * MIB,
            MemoryKind::Ram,
            Perms::RW,
        )
        .unwrap();
        t.take();
        s2.remap(
            &mut a,
            &mut t,
            Ipa(0),
            PhysAddr(0),
            2 * MIB,
            MemoryKind::DeviceNc,
            Perms::RW,
        )
        .unwrap();
        assert_eq!(memattr(s2.lookup(Ipa(0)).unwrap().attrs), 0b0101);
        let calls = t.take();
        // The block goes (level 2), and so does the level-1 entry of the table it emptied;
        // both for this VM's VMID, each broken and published before its invalidation.
        let inv: std::vec::Vec<_> = calls
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match *c {
                Call::InvalidateIpa {
                    vmid,
                    ipa,
                    level,
                    seen,
                } => Some((i, vmid, ipa, level, seen)),
                _ => None,
            })
            .collect();
        assert_eq!(
            inv.iter().map(|v| (v.2, v.3)).collect::<std::vec::Vec<_>>(),
            [(Ipa(0), 2), (Ipa(0), 1)]
        );
        for &(i, vmid, _, level, seen) in &inv {
            assert_eq!(vmid, Vmid::for_test(5));
            assert_eq!(seen, Some(Seen::HoleAt(level)));
            assert_eq!(calls[i - 1], Call::DsbIshst);
        }
    }

    #[test]
    fn protect_to_the_same_kind_and_perms_needs_no_invalidation() {
        let (mut s2, mut a, mut t) = vm(true);
        s2.map(
            &mut a,
            &mut t,
            Ipa(0),
            PhysAddr(0),
            4 * MIB,
            MemoryKind::Ram,
            Perms::RW,
        )
        .unwrap();
        t.take();
        s2.protect(&mut a, &mut t, Ipa(MIB), MIB, MemoryKind::Ram, Perms::RW)
            .unwrap();
        assert!(!t
            .calls
            .iter()
            .any(|c| matches!(c, Call::InvalidateIpa { .. })));
    }

    #[test]
    fn ipa_or_pa_beyond_the_configured_sizes_is_out_of_range() {
        let (mut s2, mut a, mut t) = vm(true);
        let oor = Err(S2Error::Table(MapError::OutOfRange));
        let m = |s2: &mut Stage2, a: &mut TestAlloc, t: &mut RecordingTlb, ipa, pa, size| {
            s2.map(
                a,
                t,
                Ipa(ipa),
                PhysAddr(pa),
                size,
                MemoryKind::Ram,
                Perms::RW,
            )
        };
        assert_eq!(m(&mut s2, &mut a, &mut t, 1 << 40, 0, 0x1000), oor);
        assert_eq!(
            m(&mut s2, &mut a, &mut t, (1 << 40) - 0x1000, 0, 0x2000),
            oor
        );
        // 40-bit PA CPU: PAs at and above 1 TiB do not exist.
        assert_eq!(m(&mut s2, &mut a, &mut t, 0, 1 << 40, 0x1000), oor);
        assert_eq!(
            m(&mut s2, &mut a, &mut t, 0, (1 << 40) - 0x1000, 0x2000),
            oor
        );
        assert!(m(&mut s2, &mut a, &mut t, 0, (1 << 40) - 0x1000, 0x1000).is_ok());
    }

    #[test]
    fn hostile_arguments_are_errors_never_panics() {
        let (mut s2, mut a, mut t) = vm(false);
        let nasty = [
            0,
            1,
            0xfff,
            0x1000,
            0x1001,
            2 * MIB,
            GIB,
            (1 << 40) - 0x1000,
            1 << 40,
            1 << 48,
            u64::MAX - 0xfff,
            u64::MAX,
        ];
        for &ipa in &nasty {
            for &pa in &nasty {
                for &size in &nasty {
                    for kind in MemoryKind::ALL {
                        let _ = s2.map(
                            &mut a,
                            &mut t,
                            Ipa(ipa),
                            PhysAddr(pa),
                            size,
                            kind,
                            Perms::RWX,
                        );
                        let _ =
                            s2.remap(&mut a, &mut t, Ipa(ipa), PhysAddr(pa), size, kind, Perms::R);
                        let _ = s2.protect(&mut a, &mut t, Ipa(ipa), size, kind, Perms::NONE);
                    }
                    let _ = s2.unmap(&mut a, &mut t, Ipa(ipa), size);
                    let _ = s2.lookup(Ipa(ipa));
                }
            }
        }
        // Whatever happened, the table is consistent and can be emptied.
        s2.unmap(&mut a, &mut t, Ipa(0), 1 << 40).unwrap();
        assert_eq!(s2.table_pages(), 2);
        assert_eq!(a.used(), 2);
    }

    #[test]
    fn running_out_of_table_pages_is_an_error_value() {
        let (mut s2, mut a, mut t) = vm(true);
        a.fail_after(Some(0));
        assert_eq!(
            s2.map(
                &mut a,
                &mut t,
                Ipa(0x1000),
                PhysAddr(0),
                0x1000,
                MemoryKind::Ram,
                Perms::RW
            ),
            Err(S2Error::Table(MapError::OutOfTables))
        );
        let mut none = TestAlloc::new(0);
        assert_eq!(
            Stage2::new(
                &mut none,
                vtcr_for(2, 40, false).unwrap(),
                Vmid::HOST,
                false
            )
            .err(),
            Some(S2Error::Table(MapError::OutOfTables))
        );
    }

    #[test]
    fn a_16_bit_vmid_needs_a_16_bit_vtcr() {
        let mut a = TestAlloc::new(8);
        let narrow = vtcr_for(2, 40, false).unwrap();
        assert_eq!(
            Stage2::new(&mut a, narrow, Vmid::for_test(256), true).err(),
            Some(S2Error::VmidTooWide(Vmid::for_test(256)))
        );
        let wide = vtcr_for(2, 40, true).unwrap();
        let s2 = Stage2::new(&mut a, wide, Vmid::for_test(0xabcd), true).unwrap();
        assert_eq!(s2.vttbr() >> 48, 0xabcd);
    }

    #[test]
    fn a_hand_built_inconsistent_geometry_is_refused() {
        let mut a = TestAlloc::new(8);
        let mut cfg = vtcr_for(2, 40, false).unwrap();
        cfg.start_level = 2;
        assert_eq!(
            Stage2::new(&mut a, cfg, Vmid::HOST, false).err(),
            Some(S2Error::Table(MapError::BadGeometry))
        );
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn destroy_invalidates_the_vmid_then_frees_every_table_page() {
        let (mut s2, mut a, mut t) = vm(true);
        s2.map(
            &mut a,
            &mut t,
            Ipa(0x1000),
            PhysAddr(0),
            3 * MIB,
            MemoryKind::Ram,
            Perms::RW,
        )
        .unwrap();
        assert!(s2.table_pages() > 2);
        t.take();
        s2.destroy(&mut a, &mut t);
        assert_eq!(a.used(), 0);
        assert_eq!(
            t.calls,
            [Call::DsbIshst, Call::InvalidateVmid(Vmid::for_test(5))]
        );
    }
}
