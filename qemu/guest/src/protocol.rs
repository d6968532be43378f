//! The guest <-> VMM channel (docs/GUEST-PAYLOAD.md): what the guest asks with HVC, and what
//! each answer and report carries. Stile forwards every guest HVC that is not PSCI to the
//! host as an HVC exit with the guest's x0..x7; the VMM's answer becomes the guest's x0..x3.

/// Guest -> VMM calls are SMCCC SMC64 fast calls of the vendor-specific hypervisor service
/// numbered from 0x8000 (Stile's own host calls are 0x00..0xff).
pub const CALL_BASE: u64 = 0xC600_8000;

/// PSCI SYSTEM_OFF: the guest's last call (Stile turns it into a SYSTEM_EVENT exit).
pub const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// x0 the VMM passes at VCPU_CREATE ("StileGst"); the guest echoes it in HELLO.
pub const BOOT_X0: u64 = 0x5374_696c_6547_7374;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Call {
    /// x1 = x0 at entry, x2 = the entry address (where the guest found itself running).
    Hello = CALL_BASE,
    /// -> x0 = [`Scenario`] to run (0 = done), x1..x3 = its arguments.
    Next = CALL_BASE + 1,
    /// x1 = [`Scenario`], x2 = [`Verdict`], x3..x7 = details (per scenario, [`Report`]).
    Report = CALL_BASE + 2,
    /// x1..x7 = [`ECHO_ARGS`] -> x0..x3 = [`ECHO_RESULTS`].
    Echo = CALL_BASE + 3,
    /// An exception the guest did not expect: x1 = ESR_EL1, x2 = ELR_EL1, x3 = FAR_EL1,
    /// x4 = vector index. The guest powers off next.
    Fatal = CALL_BASE + 4,
    /// Bench: an HVC exit and nothing else (only x0 is meaningful); the answer is ignored.
    Ping = CALL_BASE + 5,
}

impl Call {
    pub const ALL: [Call; 6] = [
        Call::Hello,
        Call::Next,
        Call::Report,
        Call::Echo,
        Call::Fatal,
        Call::Ping,
    ];

    pub const fn from_u64(x0: u64) -> Option<Call> {
        let mut i = 0;
        while i < Call::ALL.len() {
            if Call::ALL[i] as u64 == x0 {
                return Some(Call::ALL[i]);
            }
            i += 1;
        }
        None
    }

    pub const fn name(self) -> &'static str {
        match self {
            Call::Hello => "HELLO",
            Call::Next => "NEXT",
            Call::Report => "REPORT",
            Call::Echo => "ECHO",
            Call::Fatal => "FATAL",
            Call::Ping => "PING",
        }
    }
}

/// ECHO's x1..x7, each one distinct, so a register lost or moved in transit shows.
pub const ECHO_ARGS: [u64; 7] = [
    0x1111_0000_0000_0001,
    0x2222_0000_0000_0002,
    0x3333_0000_0000_0003,
    0x4444_0000_0000_0004,
    0x5555_0000_0000_0005,
    0x6666_0000_0000_0006,
    0x7777_0000_0000_0007,
];
/// What the VMM answers ECHO with (the guest's x0..x3 afterwards).
pub const ECHO_RESULTS: [u64; 4] = [
    0xecc0_0000_0000_0000,
    0xecc0_0000_0000_0001,
    0xecc0_0000_0000_0002,
    0xecc0_0000_0000_0003,
];

/// What NEXT hands the guest. Arguments (x1..x3) per scenario are listed on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Scenario {
    /// No more: power off.
    Done = 0,
    /// x1 = size: one plain load of that size from PATTERN.
    MmioRead = 1,
    /// x1 = size: one store of that size to SINK.
    MmioWrite = 2,
    /// The five sign-extending loads from SIGNED.
    SignExtend = 3,
    /// x1 = [`PairMode`]: `ldp x2, x3` from PAIR.
    LoadPair = 4,
    /// x1 = first IPA, x2 = pages: write then read back one word per page.
    LazyRam = 5,
    /// x1 = IPA in no slot: one 8-byte load, which must return [`crate::layout::REPLAY_VALUE`]
    /// once the VMM has added the slot and replayed it.
    NoSlotReplay = 6,
    /// x1 = IPA of a read-only RAM slot: read, write (refused), read again.
    ReadOnlyWrite = 7,
    /// x1 = IPA, x2 = size: write and read back a word at the start, middle and end.
    Window = 8,
    /// x1..x3 = IPAs the guest must not reach (0 = none): one 8-byte load from each.
    Probe = 9,
    /// x1 = count: that many 4-byte loads from COUNTER, each must read its own index.
    FaultStorm = 10,
    /// One ECHO call.
    HvcEcho = 11,
    /// Bench (`crate::bench`): x1 = count: that many PING calls back to back.
    BenchPing = 12,
    /// Bench: x1 = count: that many 4-byte loads from PATTERN back to back. With x2 = 2:
    /// that many pairs of 8-byte loads, from PATTERN and from the same offset in the page
    /// after the device. With x2 = 3: that many 4-byte loads of GICD_TYPER from the vGIC's
    /// distributor (at [`crate::layout::VGIC_GICD`]), which EL2 answers.
    BenchMmio = 13,
    /// Bench: x1, x2 = two IPAs, x3 = count: that many pairs of 8-byte loads, from x1 then
    /// x2 (the VMM makes each one a MEMORY_FAULT it fixes with a memslot).
    BenchReplay = 14,
    /// Bench: x1 = first IPA, x2 = stride (page aligned) | [`BENCH_READ_PMU`], x3 = count:
    /// one 8-byte load every stride bytes, timed, then the same again (all mapped by now).
    BenchTouch = 15,
    /// Writes [`FP_GUEST`] into d0 and v31, makes one ECHO round trip to the VMM (which
    /// uses its own FP registers meanwhile), reads them back.
    FpState = 16,
    /// The isolation checks (`crate::regclass`): x1 = class, x2 = world (1 or 2). Reads
    /// every register of the class, writes its own markers, makes one ECHO round trip, reads
    /// them all again. The VMM judges (it knows what the CPU has).
    RegClass = 17,
    /// The vGIC checks (docs/VGIC.md): x1 = [`VgicCase`], x2 = its argument, x3 = 2 on a
    /// GICv2 (GICD_SGIR, ITARGETSR, the memory-mapped GICC), else GICv3. Reports what
    /// the guest's GIC showed it; the VMM judges.
    Vgic = 18,
    /// Bench on a vGIC guest (`crate::bench`): x1 = [`BenchIrq`], x2 = count, x3 = its
    /// argument (timer: delay in ticks; SPI, SGI: the INTID). `count` interrupts, each timed
    /// to the first instruction of the guest's IRQ vector; the SPI's are PING calls
    /// (x1 = the counter the vector read), raised by the VMM before each VCPU_RUN.
    BenchIrq = 19,
    /// x1 = the first of two RAM pages never touched, x2 = a read-only RAM page, x3 = an IPA
    /// in no slot (`crate::marked`): eight 8-byte accesses and one ECHO, each with a marker
    /// in every general register it does not read; every register must come back as the
    /// instruction leaves it.
    KeptRegisters = 20,
}

/// BenchIrq's x1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum BenchIrq {
    Timer = 0,
    Spi = 1,
    SgiSelf = 2,
}

impl BenchIrq {
    pub const fn from_u64(v: u64) -> Option<BenchIrq> {
        match v {
            0 => Some(BenchIrq::Timer),
            1 => Some(BenchIrq::Spi),
            2 => Some(BenchIrq::SgiSelf),
            _ => None,
        }
    }
}

/// Vgic's x1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum VgicCase {
    /// Reads and writes of GICD and GICR registers: [GICD_CTLR after enabling Group 1,
    /// GICD_TYPER, GICD_PIDR2, ISENABLER1 | IPRIORITYR(40) << 32 after set/clear/write,
    /// GICR_TYPER of vCPU 1].
    Registers = 1,
    /// x2 = SPI: enable it (edge, routed to vCPU 0), ECHO (the VMM raises the line), then
    /// wait with IRQs unmasked: [interrupts taken, last INTID, interrupts before ECHO].
    Spi = 2,
    /// x2 = delay in ms: arm the virtual timer, WFI until its interrupt: [interrupts, last
    /// INTID, CNTV_CVAL, CNTVCT in the handler, CNTFRQ].
    Timer = 3,
    /// x2 = SGI: ICC_SGI1R_EL1 to itself: [interrupts, last INTID].
    SgiSelf = 4,
    /// x2 = SGI: enable it in vCPU 1's redistributor, ICC_SGI1R_EL1 to vCPU 1 (the VMM asks
    /// VCPU_PENDING): [interrupts here].
    SgiOther = 5,
    /// ICC_SGI1R_EL1 on a VM without a vGIC: [1 if it was UNDEFINED].
    SgiNoVgic = 6,
    /// x2 = count: that many GICD_TYPER reads (handled in EL2), as many test-device reads
    /// (each an MMIO exit to the VMM), as many GICD_ISENABLER1 writes of 0 (in EL2, with the
    /// LRs folded and flushed), timed: [count, ticks of each loop (3), CNTFRQ in between:
    /// count, reads, exits, CNTFRQ, writes].
    Cost = 7,
    /// x2 = delay in ms: as Timer, but spinning with IRQs unmasked instead of WFI (the
    /// interrupt comes while the vCPU runs): the same details.
    TimerRunning = 8,
    /// (A VM without a vGIC, after one with:) IRQs unmasked for a while, then what the
    /// virtual CPU interface shows: [ICC_PMR_EL1, ICC_IGRPEN1_EL1, ICC_BPR1_EL1, IRQ vector
    /// entries] (GICv2: [GICC_PMR, GICC_CTLR, 0, entries], the reads fault out to the VMM).
    Leftover = 9,
    /// x2 = SPI: enable it, make it pending with GICD_ISPENDR while IRQs stay masked (it
    /// waits in a list register when the vCPU exits): [GICD_ISPENDR of its word].
    LeavePending = 10,
}

impl VgicCase {
    pub const fn from_u64(v: u64) -> Option<VgicCase> {
        Some(match v {
            1 => VgicCase::Registers,
            2 => VgicCase::Spi,
            3 => VgicCase::Timer,
            4 => VgicCase::SgiSelf,
            5 => VgicCase::SgiOther,
            6 => VgicCase::SgiNoVgic,
            7 => VgicCase::Cost,
            8 => VgicCase::TimerRunning,
            9 => VgicCase::Leftover,
            10 => VgicCase::LeavePending,
            _ => return None,
        })
    }
}

/// FP/SIMD registers a scenario sets and reads back: d0 (the low half of v0) and all of v31
/// (low half first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpRegs {
    pub d0: u64,
    pub v31: [u64; 2],
}

/// What the FpState scenario writes into its own FP registers ("guestfp0", "guestv31",
/// "GUESThi!"): none of it may ever reach the host's registers, nor theirs the guest's.
pub const FP_GUEST: FpRegs = FpRegs {
    d0: 0x6775_6573_7466_7030,
    v31: [0x6775_6573_7476_3331, 0x4755_4553_5468_6921],
};

/// BenchTouch's x2 bit 0: also read PMU event counter 0 (which the VMM programmed to count
/// EL2 instructions) around each pass. Stile's guests have no PMU (MDCR_EL2.TPM): only for
/// a hypervisor that lends its guests the host's counters; Stile's bench counts on the host.
pub const BENCH_READ_PMU: u64 = 1;

impl Scenario {
    pub const ALL: [Scenario; 21] = [
        Scenario::Done,
        Scenario::MmioRead,
        Scenario::MmioWrite,
        Scenario::SignExtend,
        Scenario::LoadPair,
        Scenario::LazyRam,
        Scenario::NoSlotReplay,
        Scenario::ReadOnlyWrite,
        Scenario::Window,
        Scenario::Probe,
        Scenario::FaultStorm,
        Scenario::HvcEcho,
        Scenario::BenchPing,
        Scenario::BenchMmio,
        Scenario::BenchReplay,
        Scenario::BenchTouch,
        Scenario::FpState,
        Scenario::RegClass,
        Scenario::Vgic,
        Scenario::BenchIrq,
        Scenario::KeptRegisters,
    ];

    pub const fn from_u64(v: u64) -> Option<Scenario> {
        let mut i = 0;
        while i < Scenario::ALL.len() {
            if Scenario::ALL[i] as u64 == v {
                return Some(Scenario::ALL[i]);
            }
            i += 1;
        }
        None
    }

    pub const fn name(self) -> &'static str {
        match self {
            Scenario::Done => "done",
            Scenario::MmioRead => "mmio-read",
            Scenario::MmioWrite => "mmio-write",
            Scenario::SignExtend => "sign-extend",
            Scenario::LoadPair => "load-pair",
            Scenario::LazyRam => "lazy-ram",
            Scenario::NoSlotReplay => "no-slot-replay",
            Scenario::ReadOnlyWrite => "read-only-write",
            Scenario::Window => "window",
            Scenario::Probe => "probe",
            Scenario::FaultStorm => "fault-storm",
            Scenario::HvcEcho => "hvc-echo",
            Scenario::BenchPing => "bench-ping",
            Scenario::BenchMmio => "bench-mmio",
            Scenario::BenchReplay => "bench-replay",
            Scenario::BenchTouch => "bench-touch",
            Scenario::FpState => "fp-state",
            Scenario::RegClass => "reg-class",
            Scenario::Vgic => "vgic",
            Scenario::BenchIrq => "bench-irq",
            Scenario::KeptRegisters => "kept-registers",
        }
    }
}

/// LoadPair's x1: what the VMM will answer the NISV exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum PairMode {
    /// Skip: the pair is stepped over, x2/x3 keep [`crate::access::LOAD_PRESET`].
    Skip = 0,
    /// InjectAbort: the guest's own vector takes a data abort at the instruction.
    Abort = 1,
}

impl PairMode {
    pub const fn from_u64(v: u64) -> Option<PairMode> {
        match v {
            0 => Some(PairMode::Skip),
            1 => Some(PairMode::Abort),
            _ => None,
        }
    }
}

/// REPORT's x2: the guest's own judgement of what it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Verdict {
    Pass = 0,
    /// A value differs from the one the protocol says (details say which).
    WrongValue = 1,
    /// An abort the guest did not expect was taken (details: ESR, FAR).
    UnexpectedAbort = 2,
    /// The NEXT answer named no scenario this guest knows.
    UnknownScenario = 3,
    /// The scenario's arguments make no sense (a size of 3, say).
    BadArgument = 4,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Pass,
        Verdict::WrongValue,
        Verdict::UnexpectedAbort,
        Verdict::UnknownScenario,
        Verdict::BadArgument,
    ];

    pub const fn from_u64(v: u64) -> Option<Verdict> {
        let mut i = 0;
        while i < Verdict::ALL.len() {
            if Verdict::ALL[i] as u64 == v {
                return Some(Verdict::ALL[i]);
            }
            i += 1;
        }
        None
    }

    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::WrongValue => "wrong value",
            Verdict::UnexpectedAbort => "unexpected abort",
            Verdict::UnknownScenario => "unknown scenario",
            Verdict::BadArgument => "bad argument",
        }
    }
}

/// One REPORT: the scenario (raw, as NEXT gave it), the verdict (raw) and five details.
///
/// Details per scenario (`-` = 0):
///
/// | scenario | d0 | d1 | d2 | d3 | d4 |
/// |---|---|---|---|---|---|
/// | MmioRead | value loaded | value wanted | - | - | - |
/// | MmioWrite | register stored | - | - | - | - |
/// | SignExtend | index of the first wrong load (5 = none) | got | want | - | - |
/// | LoadPair | x2 after | x3 after | 1 if aborted | ESR_EL1 | FAR_EL1 |
/// | LazyRam | pages | first wrong page (= pages if none) | got | want | - |
/// | NoSlotReplay | value loaded | value wanted | - | - | - |
/// | ReadOnlyWrite | before | after | 1 if the store aborted | - | - |
/// | Window | first wrong offset (= size if none) | got | want | - | - |
/// | Probe | value 1 | value 2 | value 3 | mask of probes that aborted | - |
/// | FaultStorm | loads done | first wrong index (= count if none) | got | - | - |
/// | HvcEcho | x0 | x1 | x2 | x3 | - |
/// | BenchPing | count | - | - | - | - |
/// | BenchMmio | count | last value loaded | - | - | - |
/// | BenchReplay | count | last value loaded | - | - | - |
/// | BenchTouch | ticks, first pass | ticks, second pass | EL2 count, first pass | EL2 count, second pass | count |
/// | BenchIrq | count | ticks summed (timer: from CNTV_CVAL; SGI: from the read before the write) | interrupts taken | - | - |
/// | FpState | d0 after | v31 low after | v31 high after | 1 if ECHO's results were right | - |
/// | KeptRegisters | accesses (9) if all passed, else the one that failed | mask of wrong registers (bit n: xn), or ESR_EL1 if it aborted | first wrong register, or FAR_EL1 | got | want |
/// | RegClass | what it found first, 4 bits a register | found after the ECHO | mask of UNDEFINED writes | the first value that was another world's marker | registers |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub scenario: u64,
    pub verdict: u64,
    pub detail: [u64; 5],
}

impl Report {
    pub const fn new(scenario: Scenario, verdict: Verdict, detail: [u64; 5]) -> Report {
        Report {
            scenario: scenario as u64,
            verdict: verdict as u64,
            detail,
        }
    }

    /// x0..x7 of the REPORT call.
    pub const fn to_regs(&self) -> [u64; 8] {
        let d = self.detail;
        [
            Call::Report as u64,
            self.scenario,
            self.verdict,
            d[0],
            d[1],
            d[2],
            d[3],
            d[4],
        ]
    }

    /// From the guest's x0..x7 (x0 is the call, not checked here).
    pub const fn from_regs(x: &[u64; 8]) -> Report {
        Report {
            scenario: x[1],
            verdict: x[2],
            detail: [x[3], x[4], x[5], x[6], x[7]],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_smc64_fast_vendor_hypervisor_calls_outside_stiles_own_range() {
        for c in Call::ALL {
            let id = c as u64;
            assert_eq!(id >> 32, 0);
            assert_eq!((id >> 31) & 1, 1, "fast");
            assert_eq!((id >> 30) & 1, 1, "SMC64");
            assert_eq!((id >> 24) & 0x3f, 6, "vendor hypervisor");
            assert!(id & 0xffff >= 0x8000, "not one of Stile's own numbers");
            assert_eq!(Call::from_u64(id), Some(c));
        }
        assert_eq!(Call::from_u64(PSCI_SYSTEM_OFF), None);
    }

    #[test]
    fn scenarios_and_verdicts_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_u64(s as u64), Some(s));
        }
        for v in Verdict::ALL {
            assert_eq!(Verdict::from_u64(v as u64), Some(v));
        }
        assert_eq!(Scenario::from_u64(99), None);
        assert_eq!(Verdict::from_u64(99), None);
    }

    #[test]
    fn a_report_survives_the_registers() {
        let r = Report::new(Scenario::Probe, Verdict::WrongValue, [1, 2, 3, 4, 5]);
        let regs = r.to_regs();
        assert_eq!(regs[0], Call::Report as u64);
        assert_eq!(Report::from_regs(&regs), r);
    }

    #[test]
    fn echo_values_are_distinct() {
        let mut all: std::vec::Vec<u64> = ECHO_ARGS.to_vec();
        all.extend(ECHO_RESULTS);
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
