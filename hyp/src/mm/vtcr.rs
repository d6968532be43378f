//! VTCR_EL2 for a VM: the stage-2 geometry (IPA size, start level, concatenated root pages)
//! derived from what the CPU offers (docs/ARCHITECTURE.md, "Arm facts"). 4 KiB granule only.
//!
//! Start level: the FEWEST levels that can hold the IPA size, using concatenation (up to 16
//! tables side by side at the start level) to save a level where it can. Each level
//! resolves 9 bits and a page offset is 12, so a start at level L covers
//! 12 + 9 * (4 - L) bits from one table and 4 more with 16 concatenated tables:
//!   level 2: up to 34 bits (30 + 4), level 1: up to 43 bits (39 + 4), level 0: up to 48.
//! So 32 bits starts at level 2 with 4 root pages, 40 bits at level 1 with 2, 43 bits at
//! level 1 with 16, and 44 bits needs level 0 (16 level-1 tables cover only 43 bits). This
//! is also Linux's rule (stage2_pgtable_levels: levels for ipa - 4 bits).

/// The smallest IPA size we configure: every VM gets at least 4 GiB of IPA space (32-bit
/// PARange is the smallest a CPU can report, so this never refuses a CPU).
pub const MIN_IPA_BITS: u8 = 32;

/// PARange encodings 0..=5 -> bits. 6 (52 bits) needs the LPA/LPA2 descriptor formats,
/// which this engine does not write.
const PA_BITS: [u8; 6] = [32, 36, 40, 42, 44, 48];

const T0SZ_SHIFT: u32 = 0;
const SL0_SHIFT: u32 = 6;
/// Table walks are Normal WB read-allocate write-allocate cacheable, inner shareable:
/// IRGN0[9:8] = ORGN0[11:10] = 0b01, SH0[13:12] = 0b11.
const IRGN0_WBWA: u64 = 1 << 8;
const ORGN0_WBWA: u64 = 1 << 10;
const SH0_INNER: u64 = 3 << 12;
/// TG0[15:14] = 0b00: 4 KiB granule.
const TG0_4K: u64 = 0 << 14;
const PS_SHIFT: u32 = 16;
/// VS[19]: 16-bit VMIDs.
const VS_16BIT: u64 = 1 << 19;
const RES1: u64 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VtcrConfig {
    /// The register value.
    pub vtcr: u64,
    /// Level of the root table (0, 1 or 2).
    pub start_level: u8,
    pub ipa_bits: u8,
    /// Output (physical) address size the CPU reported; no mapping may point above it.
    pub pa_bits: u8,
    /// Concatenated root pages (1..=16); the root must be aligned to `root_pages` pages.
    pub root_pages: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VtcrError {
    /// PARange field above 5 (52-bit PAs are not supported).
    BadPaRange(u8),
    /// Fewer IPA bits than [`MIN_IPA_BITS`].
    IpaTooSmall(u8),
    /// More IPA bits than the CPU has PA bits: refused rather than clamped, so a caller
    /// asking for 44 bits on a 40-bit CPU learns that it did not get them.
    IpaBeyondPa { ipa_bits: u8, pa_bits: u8 },
}

/// Bits a table at `level` covers from one page (page offset + 9 bits per level below).
const fn bits_below(level: u8) -> u8 {
    12 + 9 * (3 - level) + 9
}

/// The deepest start level that reaches `ipa_bits` with at most 16 concatenated tables.
const fn start_level_for(ipa_bits: u8) -> u8 {
    if ipa_bits <= bits_below(2) + 4 {
        2
    } else if ipa_bits <= bits_below(1) + 4 {
        1
    } else {
        0
    }
}

/// VTCR_EL2 for a VM with `ipa_bits` of IPA space on a CPU whose
/// ID_AA64MMFR0_EL1.PARange is `pa_range`; `vmid16` when 16-bit VMIDs are in use.
pub const fn vtcr_for(pa_range: u8, ipa_bits: u8, vmid16: bool) -> Result<VtcrConfig, VtcrError> {
    if pa_range as usize >= PA_BITS.len() {
        return Err(VtcrError::BadPaRange(pa_range));
    }
    let pa_bits = PA_BITS[pa_range as usize];
    if ipa_bits < MIN_IPA_BITS {
        return Err(VtcrError::IpaTooSmall(ipa_bits));
    }
    if ipa_bits > pa_bits {
        return Err(VtcrError::IpaBeyondPa { ipa_bits, pa_bits });
    }
    let start_level = start_level_for(ipa_bits);
    // Level 0 is only a legal start with more than 42 PA bits; IPA <= PA and level 0 only
    // for IPA >= 44 bits make that hold, so this is a guard against editing mistakes.
    if start_level == 0 && pa_bits <= 42 {
        return Err(VtcrError::IpaBeyondPa { ipa_bits, pa_bits });
    }
    let extra = ipa_bits.saturating_sub(bits_below(start_level));
    let root_pages = 1u8 << extra;
    // SL0 for a 4 KiB granule: 0 = level 2, 1 = level 1, 2 = level 0.
    let sl0 = (2 - start_level) as u64;
    let mut vtcr = ((64 - ipa_bits as u64) << T0SZ_SHIFT)
        | sl0 << SL0_SHIFT
        | IRGN0_WBWA
        | ORGN0_WBWA
        | SH0_INNER
        | TG0_4K
        | (pa_range as u64) << PS_SHIFT
        | RES1;
    if vmid16 {
        vtcr |= VS_16BIT;
    }
    Ok(VtcrConfig {
        vtcr,
        start_level,
        ipa_bits,
        pa_bits,
        root_pages,
    })
}

impl VtcrConfig {
    /// One past the highest IPA.
    pub const fn ipa_limit(&self) -> u64 {
        1u64 << self.ipa_bits
    }

    /// One past the highest PA a mapping may reach.
    pub const fn pa_limit(&self) -> u64 {
        1u64 << self.pa_bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::pgtable::tests::TestAlloc;
    use crate::mm::pgtable::PageTable;

    #[test]
    fn vtcr_fields_are_where_the_arm_arm_puts_them() {
        // 40-bit PA and IPA, 8-bit VMIDs: the value Linux programs on such a CPU.
        assert_eq!(vtcr_for(2, 40, false).unwrap().vtcr, 0x8002_3558);
        assert_eq!(vtcr_for(2, 40, true).unwrap().vtcr, 0x800a_3558);
    }

    #[test]
    fn ipa_32_starts_at_level_2_with_4_root_pages() {
        let c = vtcr_for(0, 32, false).unwrap();
        assert_eq!((c.start_level, c.root_pages), (2, 4));
        assert_eq!(c.vtcr & 0x3f, 32);
        assert_eq!(c.vtcr >> 6 & 3, 0);
    }

    #[test]
    fn ipa_34_is_the_largest_level_2_start_and_35_moves_to_level_1() {
        assert_eq!(
            (
                vtcr_for(5, 34, false).unwrap().start_level,
                vtcr_for(5, 34, false).unwrap().root_pages
            ),
            (2, 16)
        );
        let c = vtcr_for(5, 35, false).unwrap();
        assert_eq!((c.start_level, c.root_pages), (1, 1));
    }

    #[test]
    fn ipa_40_starts_at_level_1_with_2_concatenated_root_pages() {
        let c = vtcr_for(2, 40, false).unwrap();
        assert_eq!((c.start_level, c.root_pages), (1, 2));
        assert_eq!(c.vtcr >> 6 & 3, 1);
    }

    #[test]
    fn ipa_43_uses_16_concatenated_level_1_tables() {
        let c = vtcr_for(4, 43, false).unwrap();
        assert_eq!((c.start_level, c.root_pages), (1, 16));
    }

    #[test]
    fn ipa_44_needs_level_0_because_16_level_1_tables_cover_only_43_bits() {
        let c = vtcr_for(4, 44, false).unwrap();
        assert_eq!((c.start_level, c.root_pages), (0, 1));
        assert_eq!(c.vtcr >> 6 & 3, 2);
    }

    #[test]
    fn ipa_48_starts_at_level_0_with_one_page() {
        let c = vtcr_for(5, 48, true).unwrap();
        assert_eq!((c.start_level, c.root_pages), (0, 1));
        assert_eq!(c.vtcr & 0x3f, 16);
    }

    #[test]
    fn ipa_beyond_pa_is_refused_not_clamped() {
        assert_eq!(
            vtcr_for(2, 44, false),
            Err(VtcrError::IpaBeyondPa {
                ipa_bits: 44,
                pa_bits: 40
            })
        );
    }

    #[test]
    fn ipa_below_32_bits_is_refused() {
        assert_eq!(vtcr_for(5, 31, false), Err(VtcrError::IpaTooSmall(31)));
        assert_eq!(vtcr_for(5, 0, false), Err(VtcrError::IpaTooSmall(0)));
    }

    #[test]
    fn parange_above_5_is_refused() {
        for p in 6..=15 {
            assert_eq!(vtcr_for(p, 40, false), Err(VtcrError::BadPaRange(p)));
        }
    }

    #[test]
    fn every_parange_and_ipa_size_gives_a_legal_geometry() {
        for pa_range in 0..=5u8 {
            let pa_bits = PA_BITS[pa_range as usize];
            for ipa in 0..=64u8 {
                let got = vtcr_for(pa_range, ipa, pa_range % 2 == 0);
                if ipa < MIN_IPA_BITS {
                    assert_eq!(got, Err(VtcrError::IpaTooSmall(ipa)));
                    continue;
                }
                if ipa > pa_bits {
                    assert!(matches!(got, Err(VtcrError::IpaBeyondPa { .. })), "{ipa}");
                    continue;
                }
                let c = got.unwrap();
                let what = format!("PARange {pa_range} ({pa_bits} bits), IPA {ipa}");
                // The Arm ARM's legal ranges per start level (4 KiB granule).
                let legal = match c.start_level {
                    2 => 22..=34,
                    1 => 31..=43,
                    0 => 40..=48,
                    _ => 0..=0,
                };
                assert!(legal.contains(&ipa), "{what}: {c:?}");
                assert!(c.start_level != 0 || pa_bits > 42, "{what}");
                // Fewest levels: one level deeper would not fit even with 16 tables.
                if c.start_level < 2 {
                    assert!(ipa > bits_below(c.start_level + 1) + 4, "{what}");
                }
                assert!((1..=16).contains(&c.root_pages), "{what}");
                assert_eq!(c.vtcr & 0x3f, 64 - ipa as u64, "{what}");
                assert_eq!(c.vtcr >> 6 & 3, 2 - c.start_level as u64, "{what}");
                assert_eq!(c.vtcr >> 8 & 0xff, 0x35, "{what}: IRGN0/ORGN0/SH0");
                assert_eq!(c.vtcr >> 14 & 3, 0, "{what}: TG0");
                assert_eq!(c.vtcr >> 16 & 7, pa_range as u64, "{what}: PS");
                assert_eq!(c.vtcr >> 19 & 1, (pa_range % 2 == 0) as u64, "{what}: VS");
                assert_eq!(c.vtcr >> 31 & 1, 1, "{what}: RES1");
                assert_eq!(c.vtcr & !0x800f_ffff, 0, "{what}: stray bits");
            }
        }
    }

    #[test]
    fn table_engine_agrees_on_root_pages_for_every_geometry() {
        for ipa in MIN_IPA_BITS..=48 {
            let c = vtcr_for(5, ipa, false).unwrap();
            let mut a = TestAlloc::new(32);
            let t = PageTable::new(&mut a, c.start_level, c.ipa_bits).unwrap();
            assert_eq!(t.root_pages(), c.root_pages as u64, "IPA {ipa}");
            assert_eq!(a.used(), c.root_pages as usize, "IPA {ipa}");
            assert!(t.root().is_aligned(c.root_pages as u64 * 4096), "IPA {ipa}");
        }
    }
}
