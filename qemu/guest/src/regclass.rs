//! The register classes the isolation checks probe (docs/ISOLATION.md), shared by the host
//! payload (which writes its markers and checks they survive) and the guest (which reads
//! what it finds, writes its own, and reads them back after an exit). Every register has one
//! accessor pair in qemu/regclass.S at its index in [`REGS`]; each world writes its own
//! marker, chosen inside the bits the register keeps (`mask`), so that a value read back says
//! whose it is.

/// Who wrote a marker: the host, the first guest, the second guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Host = 0,
    First = 1,
    Second = 2,
}

impl World {
    pub const fn from_u64(v: u64) -> Option<World> {
        match v {
            0 => Some(World::Host),
            1 => Some(World::First),
            2 => Some(World::Second),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg {
    pub name: &'static str,
    /// The bits every CPU Stile is tested on keeps as written.
    pub mask: u64,
    /// The markers of the host, the first and the second guest.
    pub markers: [u64; 3],
}

/// A marker for a full-width register: "HS" / "GA" / "GB", the register's index, and a
/// per-world pattern in the low half (which survives 32-bit masks).
const fn m(index: u64) -> [u64; 3] {
    [
        0x4853_0000_0000_1100 | index << 32,
        0x4741_0000_0000_2200 | index << 32,
        0x4742_0000_0000_3300 | index << 32,
    ]
}

const ALL: u64 = u64::MAX;

/// A register whose markers are `markers` cut to the bits it keeps.
const fn r(name: &'static str, mask: u64, markers: [u64; 3]) -> Reg {
    Reg {
        name,
        mask,
        markers: [markers[0] & mask, markers[1] & mask, markers[2] & mask],
    }
}

/// Every register, in qemu/regclass.S's order. The first guest's timer, debug and PMU
/// markers arm something (a virtual timer due at once, breakpoints and single-step enabled,
/// counting with overflow interrupts): none of it may reach the host.
pub const REGS: [Reg; 48] = [
    // fp-simd
    r("d0", ALL, m(0)),
    r("v31.d[1]", ALL, m(1)),
    // FPCR: AHP, DN, FZ, RMode.
    r("FPCR", 0x07c0_0000, [0x0340_0000, 0x0480_0000, 0x05c0_0000]),
    // FPSR: QC and the cumulative exception flags.
    r("FPSR", 0x0800_009f, [0x0800_0001, 0x06, 0x98]),
    // sve
    r("ZCR_EL1", 0xf, [1, 2, 3]),
    // P0 as the number of active byte elements (WHILELO / CNTP).
    r("P0", 0xff, [5, 3, 7]),
    // sme
    r("TPIDR2_EL0", ALL, m(6)),
    // pointer-auth
    r("APIAKeyLo_EL1", ALL, m(7)),
    r("APIAKeyHi_EL1", ALL, m(8)),
    r("APIBKeyLo_EL1", ALL, m(9)),
    r("APIBKeyHi_EL1", ALL, m(10)),
    r("APDAKeyLo_EL1", ALL, m(11)),
    r("APDAKeyHi_EL1", ALL, m(12)),
    r("APDBKeyLo_EL1", ALL, m(13)),
    r("APDBKeyHi_EL1", ALL, m(14)),
    r("APGAKeyLo_EL1", ALL, m(15)),
    r("APGAKeyHi_EL1", ALL, m(16)),
    // physical timer: ENABLE, IMASK; the first guest's fires at once.
    r("CNTP_CTL_EL0", 0x3, [0x3, 0x1, 0x2]),
    r("CNTP_CVAL_EL0", ALL, [m(18)[0], 1, m(18)[2]]),
    // virtual timer
    r("CNTV_CTL_EL0", 0x3, [0x2, 0x1, 0x3]),
    r("CNTV_CVAL_EL0", ALL, [m(20)[0], 1, m(20)[2]]),
    r("CNTKCTL_EL1", 0x3ff, [0x2a5, 0x15a, 0x0f3]),
    // debug: MDSCR_EL1 SS, TDCC, KDE, MDE. The host's watchpoint covers guest RAM
    // (0x8000_0000, 2^28 bytes, loads and stores at EL1): if a guest ever ran with the host's
    // MDSCR_EL1, its first memory access with PSTATE.D clear would take it.
    r("MDSCR_EL1", 0xb001, [0xa000, 0xa001, 0x1000]),
    r("DBGBVR0_EL1", 0x0000_ffff_ffff_fffc, m(23)),
    r(
        "DBGBCR0_EL1",
        0x00ff_e1e7,
        [0x0000_01e7, 0x0000_2063, 0x0003_0181],
    ),
    r(
        "DBGWVR0_EL1",
        0x0000_ffff_ffff_fff8,
        [0x8000_0000, m(25)[1], m(25)[2]],
    ),
    r(
        "DBGWCR0_EL1",
        0x1f1f_ffff,
        [0x1c00_1ffb, 0x1f00_1fff, 0x0000_00e1],
    ),
    // pmu: PMCR_EL0 E, D, DP, LC (never E for the host: its counters must hold still).
    r("PMCR_EL0", 0x69, [0x48, 0x61, 0x28]),
    r("PMSELR_EL0", 0x1f, [3, 1, 2]),
    r("PMCNTENSET_EL0", 0x7, [0x1, 0x7, 0x2]),
    r("PMINTENSET_EL1", 0x7, [0x4, 0x7, 0x1]),
    r("PMOVSSET_EL0", 0x7, [0x1, 0x7, 0x2]),
    r("PMUSERENR_EL0", 0xf, [0x5, 0xf, 0xa]),
    r(
        "PMEVTYPER0_EL0",
        0xf800_00ff,
        [0x8800_0011, 0x0800_0008, 0x4000_0000],
    ),
    r("PMEVCNTR0_EL0", 0xffff_ffff, m(34)),
    r(
        "PMCCFILTR_EL0",
        0xc800_0000,
        [0x8800_0000, 0x4000_0000, 0xc000_0000],
    ),
    // thread-ids
    r("TPIDR_EL0", ALL, m(36)),
    r("TPIDRRO_EL0", ALL, m(37)),
    r("TPIDR_EL1", ALL, m(38)),
    r("CONTEXTIDR_EL1", 0xffff_ffff, m(39)),
    // fault-regs
    r("PAR_EL1", 0xffff_ffff_ffff_f000, m(40)),
    r("FAR_EL1", ALL, m(41)),
    // ras: DISR_EL1 A, IDS, part of the ISS.
    r(
        "DISR_EL1",
        0x8100_ffff,
        [0x8000_0011, 0x0100_0022, 0x8100_0033],
    ),
    // lor
    r("LORSA_EL1", ALL, m(43)),
    r("LOREA_EL1", ALL, m(44)),
    r("LORN_EL1", ALL, m(45)),
    r("LORC_EL1", ALL, m(46)),
    // actlr
    r("ACTLR_EL1", ALL, m(47)),
];

/// What a guest must find in a class (docs/ISOLATION.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Its own registers: fresh (zero or a reset value) at first, its own values after an
    /// exit, never another world's.
    Switched,
    /// Every access UNDEFINED.
    Undefined,
    /// Reads 0, writes ignored.
    RazWi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    FpSimd,
    Sve,
    Sme,
    PointerAuth,
    PhysicalTimer,
    VirtualTimer,
    Debug,
    Pmu,
    ThreadIds,
    FaultRegs,
    RasDisr,
    LoRegions,
    Actlr,
}

impl Class {
    pub const ALL: [Class; 13] = [
        Class::FpSimd,
        Class::Sve,
        Class::Sme,
        Class::PointerAuth,
        Class::PhysicalTimer,
        Class::VirtualTimer,
        Class::Debug,
        Class::Pmu,
        Class::ThreadIds,
        Class::FaultRegs,
        Class::RasDisr,
        Class::LoRegions,
        Class::Actlr,
    ];

    pub const fn from_u64(v: u64) -> Option<Class> {
        if v < Class::ALL.len() as u64 {
            Some(Class::ALL[v as usize])
        } else {
            None
        }
    }

    /// The first register and how many, in [`REGS`].
    pub const fn regs(self) -> (usize, usize) {
        match self {
            Class::FpSimd => (0, 4),
            Class::Sve => (4, 2),
            Class::Sme => (6, 1),
            Class::PointerAuth => (7, 10),
            Class::PhysicalTimer => (17, 2),
            Class::VirtualTimer => (19, 3),
            Class::Debug => (22, 5),
            Class::Pmu => (27, 9),
            Class::ThreadIds => (36, 4),
            Class::FaultRegs => (40, 2),
            Class::RasDisr => (42, 1),
            Class::LoRegions => (43, 4),
            Class::Actlr => (47, 1),
        }
    }

    /// `isolation-<name>` in check names.
    pub const fn name(self) -> &'static str {
        match self {
            Class::FpSimd => "fp-simd",
            Class::Sve => "sve",
            Class::Sme => "sme-tpidr2",
            Class::PointerAuth => "pointer-auth-keys",
            Class::PhysicalTimer => "physical-timer",
            Class::VirtualTimer => "virtual-timer",
            Class::Debug => "debug",
            Class::Pmu => "pmu",
            Class::ThreadIds => "thread-ids",
            Class::FaultRegs => "fault-regs",
            Class::RasDisr => "ras-disr",
            Class::LoRegions => "loregions",
            Class::Actlr => "actlr",
        }
    }
}

/// What a guest found in one register, 4 bits of a report word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Zero = 0,
    Own = 1,
    Host = 2,
    First = 3,
    Second = 4,
    /// A value that is no world's marker (a reset value).
    Other = 5,
    Undefined = 6,
}

impl Found {
    pub const fn from_nibble(v: u64) -> Found {
        match v & 0xf {
            0 => Found::Zero,
            1 => Found::Own,
            2 => Found::Host,
            3 => Found::First,
            4 => Found::Second,
            6 => Found::Undefined,
            _ => Found::Other,
        }
    }

    /// `value` (None: the read was UNDEFINED) as `own` finds it in `reg`.
    pub fn of(reg: &Reg, value: Option<u64>, own: World) -> Found {
        let Some(v) = value else {
            return Found::Undefined;
        };
        let v = v & reg.mask;
        let mk = |w: World| reg.markers[w as usize] & reg.mask;
        if v == 0 {
            Found::Zero
        } else if v == mk(own) {
            Found::Own
        } else if v == mk(World::Host) {
            Found::Host
        } else if v == mk(World::First) {
            Found::First
        } else if v == mk(World::Second) {
            Found::Second
        } else {
            Found::Other
        }
    }
}

/// Nibble `i` of a packed report word.
pub const fn nibble(word: u64, i: usize) -> Found {
    Found::from_nibble(word >> (4 * i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_distinct_and_nonzero_inside_their_masks() {
        for reg in &REGS {
            let k = reg.markers;
            assert!(k.iter().all(|v| *v != 0), "{}", reg.name);
            assert!(k[0] != k[1] && k[1] != k[2] && k[0] != k[2], "{}", reg.name);
        }
    }

    #[test]
    fn classes_cover_every_register_once_in_order() {
        let mut next = 0;
        for c in Class::ALL {
            let (first, n) = c.regs();
            assert_eq!(first, next, "{}", c.name());
            assert!(n <= 16, "a report word holds 16 registers");
            next += n;
            assert_eq!(Class::from_u64(c as u64), Some(c));
        }
        assert_eq!(next, REGS.len());
        assert_eq!(Class::from_u64(13), None);
    }

    #[test]
    fn a_value_says_whose_marker_it_is() {
        let reg = &REGS[17]; // CNTP_CTL_EL0, two bits
        assert_eq!(Found::of(reg, Some(0x7), World::First), Found::Host);
        assert_eq!(Found::of(reg, Some(0x5), World::First), Found::Own);
        assert_eq!(Found::of(reg, Some(0x6), World::First), Found::Second);
        assert_eq!(Found::of(reg, Some(0x4), World::First), Found::Zero);
        assert_eq!(Found::of(reg, None, World::First), Found::Undefined);
        let d0 = &REGS[0];
        assert_eq!(
            Found::of(d0, Some(d0.markers[1]), World::Second),
            Found::First
        );
        assert_eq!(Found::of(d0, Some(42), World::Second), Found::Other);
        let word = (Found::Host as u64) << 4 | Found::Undefined as u64;
        assert_eq!(
            (nibble(word, 0), nibble(word, 1)),
            (Found::Undefined, Found::Host)
        );
    }
}
