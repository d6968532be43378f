//! What a guest sees of the CPU's ID registers (HCR_EL2.TID3 traps every read of the
//! AArch64/AArch32 feature registers, op0 = 3, op1 = 0, CRn = 0, CRm = 1..7): the real values
//! with every feature Stile refuses to guests shown as absent, and every field Stile does not
//! know shown as 0, so that a new CPU's unknown state cannot reach a guest by default.
//! docs/ISOLATION.md has the table.

/// The raw ID space Stile reads once at boot: `raw[crm - 1][op2]`.
pub type RawIdSpace = [[u64; 8]; 7];

/// A 4-bit ID field at bit `lsb`.
const fn field(v: u64, lsb: u32) -> u64 {
    (v >> lsb) & 0xf
}

const fn mask(lsb: u32) -> u64 {
    0xf << lsb
}

/// The features that decide traps and optional switched state, from the real ID registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsolationFeatures {
    /// FEAT_PAuth (any algorithm, address or generic keys).
    pub pauth: bool,
    pub sve: bool,
    /// FEAT_SME: TPIDR2_EL0 exists at EL0/EL1 whatever CPTR_EL2.TSM says.
    pub sme: bool,
    /// FEAT_RAS: with HCR_EL2.AMO a guest's DISR_EL1 is VDISR_EL2; HCR_EL2.TERR exists.
    pub ras: bool,
    /// FEAT_LOR: HCR_EL2.TLOR exists.
    pub lor: bool,
    /// FEAT_AMUv1: CPTR_EL2.TAM exists.
    pub amu: bool,
    /// FEAT_SPE: MDCR_EL2.TPMS exists.
    pub spe: bool,
    /// FEAT_TRF: MDCR_EL2.TTRF exists.
    pub trace_filter: bool,
}

// Offsets into RawIdSpace.
const PFR0: (usize, usize) = (3, 0);
const PFR1: (usize, usize) = (3, 1);
const DFR0: (usize, usize) = (4, 0);
const ISAR1: (usize, usize) = (5, 1);
const ISAR2: (usize, usize) = (5, 2);
const MMFR1: (usize, usize) = (6, 1);
/// AArch32 ID_DFR0_EL1 (CRm 1, op2 2): PerfMon [27:24].
const ID_DFR0: (usize, usize) = (0, 2);

fn at(raw: &RawIdSpace, (crm, op2): (usize, usize)) -> u64 {
    raw[crm][op2]
}

impl IsolationFeatures {
    pub fn decode(raw: &RawIdSpace) -> IsolationFeatures {
        let pfr0 = at(raw, PFR0);
        let pfr1 = at(raw, PFR1);
        let dfr0 = at(raw, DFR0);
        let isar1 = at(raw, ISAR1);
        // APA [7:4], API [11:8], GPA [27:24], GPI [31:28]; APA3 [15:12] and GPA3 [11:8] in ISAR2.
        let pauth = field(isar1, 4) | field(isar1, 8) | field(isar1, 24) | field(isar1, 28) != 0
            || field(at(raw, ISAR2), 12) | field(at(raw, ISAR2), 8) != 0;
        IsolationFeatures {
            pauth,
            sve: field(pfr0, 32) != 0,
            sme: field(pfr1, 24) != 0,
            ras: field(pfr0, 28) != 0,
            lor: field(at(raw, MMFR1), 16) != 0,
            amu: field(pfr0, 44) != 0,
            spe: field(dfr0, 32) != 0,
            trace_filter: field(dfr0, 40) != 0,
        }
    }
}

/// Fields a guest sees as the CPU has them, per AArch64 register; everything else reads 0.
/// Absent on purpose: SVE and SME (CPTR_EL2.TZ/TSM trap them), MTE (HCR_EL2.ATA = 0), AMU,
/// MPAM, RME, the PMU, statistical profiling, trace, BRBE, LORegions, and every MMFR3/MMFR4
/// field (their EL1 registers — TCR2, SCTLR2, PIR, POR, ... — are not switched).
const KEEP: [((usize, usize), u64); 10] = [
    // ID_AA64PFR0_EL1: EL0..EL3 [15:0], FP [19:16], AdvSIMD [23:20], GIC [27:24], RAS
    // [31:28] (its error records read as zero: HCR_EL2.TERR), SEL2 [39:36], DIT [51:48],
    // CSV2 [59:56] (capped below), CSV3 [63:60].
    (
        PFR0,
        0xffff
            | mask(16)
            | mask(20)
            | mask(24)
            | mask(28)
            | mask(36)
            | mask(48)
            | mask(56)
            | mask(60),
    ),
    // ID_AA64PFR1_EL1: BT [3:0], SSBS [7:4], RAS_frac [15:12].
    (PFR1, mask(0) | mask(4) | mask(12)),
    // ID_AA64DFR0_EL1: DebugVer [3:0], BRPs [15:12], WRPs [23:20], CTX_CMPs [31:28],
    // DoubleLock [39:36]. Debug registers read as zero and ignore writes (MDCR_EL2.TDA).
    (DFR0, mask(0) | mask(12) | mask(20) | mask(28) | mask(36)),
    // ID_AA64ISAR0/1/2_EL1: instructions, no state of their own, except pointer
    // authentication, whose keys Stile switches.
    ((5, 0), u64::MAX),
    (ISAR1, u64::MAX),
    (ISAR2, u64::MAX),
    // ID_AA64MMFR0/2_EL1 as they are; MMFR1 without LO [19:16].
    ((6, 0), u64::MAX),
    (MMFR1, !mask(16)),
    ((6, 2), u64::MAX),
    // ID_AA64AFR0/1 (IMPLEMENTATION DEFINED), PFR2, ZFR0, SMFR0, DFR1, MMFR3/4: nothing.
    ((4, 4), 0),
];

/// CSV2 [59:56] = 2 (FEAT_CSV2_2) promises SCXTNUM_ELx, which HCR_EL2.EnSCXT = 0 traps.
const CSV2_LSB: u32 = 56;

/// The ID space as guests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestIdRegs {
    view: RawIdSpace,
}

impl GuestIdRegs {
    pub const EMPTY: GuestIdRegs = GuestIdRegs { view: [[0; 8]; 7] };

    /// From the real registers. The AArch32 registers (CRm 1..3) pass through but for
    /// ID_DFR0_EL1.PerfMon (the PMU traps for AArch32 EL0 as well).
    pub fn new(raw: &RawIdSpace) -> GuestIdRegs {
        let mut view = [[0; 8]; 7];
        view[..3].copy_from_slice(&raw[..3]);
        view[ID_DFR0.0][ID_DFR0.1] &= !mask(24);
        for &((crm, op2), keep) in &KEEP {
            view[crm][op2] = raw[crm][op2] & keep;
        }
        let pfr0 = &mut view[PFR0.0][PFR0.1];
        if field(*pfr0, CSV2_LSB) > 1 {
            *pfr0 = (*pfr0 & !mask(CSV2_LSB)) | 1 << CSV2_LSB;
        }
        GuestIdRegs { view }
    }

    /// The value a guest reads at (op0 3, op1 0, CRn 0, `crm`, `op2`), `crm` in 1..=7.
    pub fn read(&self, crm: u8, op2: u8) -> Option<u64> {
        let row = self.view.get((crm as usize).checked_sub(1)?)?;
        row.get(op2 as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Roughly QEMU 7.2's `-cpu max`: SVE, SME, RAS, LOR, pauth, PMUv3, CSV2_2, MTE.
    fn max_like() -> RawIdSpace {
        let mut raw = [[0; 8]; 7];
        raw[3][0] = 0x1201_0011_1111_2222 | 1 << 32 | 1 << 28; // PFR0: CSV2=2, SVE, RAS
        raw[3][1] = 0x0000_0000_0100_0321; // PFR1: SME [27:24], MTE [11:8], SSBS, BT
        raw[3][4] = 0x0110_1100_0011_0011; // ZFR0
        raw[4][0] = 0x0000_0000_f010_5508 | 1 << 36; // DFR0: PMUVer 5, BRPs 5, WRPs 3 ...
        raw[5][1] = 0x0000_0000_0110_0051; // ISAR1: APA 5, GPA 1
        raw[6][1] = 0x0000_0000_1011_2122; // MMFR1: LO [19:16] = 1
        raw[6][3] = 0x1111; // MMFR3
        raw[0][2] = 0x0300_0000 | 0x6; // ID_DFR0: PerfMon 3
        raw
    }

    #[test]
    fn refused_features_read_as_absent() {
        let g = GuestIdRegs::new(&max_like());
        let pfr0 = g.read(4, 0).unwrap();
        assert_eq!(field(pfr0, 32), 0, "SVE hidden");
        assert_eq!(field(pfr0, 28), 1, "RAS kept");
        assert_eq!(field(pfr0, 56), 1, "CSV2_2 capped at CSV2");
        let pfr1 = g.read(4, 1).unwrap();
        assert_eq!(
            (field(pfr1, 24), field(pfr1, 8)),
            (0, 0),
            "SME and MTE hidden"
        );
        assert_eq!(field(pfr1, 0), 1, "BTI kept");
        assert_eq!(g.read(4, 4), Some(0), "ZFR0");
        let dfr0 = g.read(5, 0).unwrap();
        assert_eq!(field(dfr0, 8), 0, "PMUVer hidden");
        assert_eq!((field(dfr0, 0), field(dfr0, 12)), (8, 5), "debug kept");
        assert_eq!(field(g.read(7, 1).unwrap(), 16), 0, "LO hidden");
        assert_eq!(g.read(7, 3), Some(0), "MMFR3: unswitched EL1 state");
        assert_eq!(
            field(g.read(1, 2).unwrap(), 24),
            0,
            "AArch32 PerfMon hidden"
        );
        assert_eq!(g.read(1, 2).unwrap() & 0xf, 6, "the rest of ID_DFR0 kept");
        assert_eq!(
            g.read(6, 1),
            Some(0x0000_0000_0110_0051),
            "pauth shown: switched"
        );
    }

    #[test]
    fn outside_the_id_space_there_is_no_value() {
        let g = GuestIdRegs::new(&max_like());
        assert_eq!(g.read(0, 0), None);
        assert_eq!(g.read(8, 0), None);
        assert_eq!(g.read(1, 8), None);
    }

    #[test]
    fn features_decode_from_the_real_registers() {
        let f = IsolationFeatures::decode(&max_like());
        assert!(f.pauth && f.sve && f.sme && f.ras && f.lor);
        assert!(!f.amu && !f.spe && !f.trace_filter);
        let none = IsolationFeatures::decode(&[[0; 8]; 7]);
        assert_eq!(none, IsolationFeatures::default());
        let mut only_apa3 = [[0; 8]; 7];
        only_apa3[5][2] = 1 << 12;
        assert!(IsolationFeatures::decode(&only_apa3).pauth);
    }
}
