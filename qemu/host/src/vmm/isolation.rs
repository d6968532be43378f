//! The isolation checks (docs/ISOLATION.md): for every register class, the host writes its
//! markers, a guest reads what it finds (never the host's), writes its own and exits; the
//! host's must still be there; after the exit the guest finds its own again (where the class
//! is switched). Then a second guest, on a fresh VM, does the same and must not find the
//! first guest's either. Last, a flood of refused calls, which Stile must not log one by one
//! (the harness counts the lines).
//!
//! One check per class and guest: `isolation-<class>` and `isolation-<class>-second-guest`.

use super::calls::{self, Request};
use super::device::{Event, TestDevice};
use super::exit::{decode, Exit, Reply};
use super::image::Placement;
use super::machine::VmmMachine;
use super::slots;
use crate::fail::Fail;
use crate::report::Report;
use core::fmt;
use stile_abi::{Reason, Status};
use stile_guest::protocol::{Call, Report as GuestReport, Scenario, BOOT_X0, ECHO_RESULTS};
use stile_guest::regclass::{nibble, Class, Expect, Found, World, REGS};
use stile_hyp::addr::PhysRange;

/// Exits one guest may take: its banner, 2 x 13 scenarios and their ECHOs, with room.
const MAX_EXITS: u32 = 2000;
/// Refused calls the flood makes.
pub const FLOOD: u32 = 2000;

/// What the host has of a class (its own registers are not trapped: it reads the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCpu {
    pub pauth: bool,
    pub sve: bool,
    pub sme: bool,
    pub ras: bool,
    pub lor: bool,
    pub pmu: bool,
}

impl HostCpu {
    /// Whether the host writes its markers into the class's registers. Not into
    /// ACTLR_EL1: IMPLEMENTATION DEFINED, so the host only checks it keeps its value.
    pub const fn writes(&self, c: Class) -> bool {
        !matches!(c, Class::Actlr) && self.has(c)
    }

    /// Whether the host has the class's registers itself.
    pub const fn has(&self, c: Class) -> bool {
        match c {
            Class::Sve => self.sve,
            Class::Sme => self.sme,
            Class::PointerAuth => self.pauth,
            Class::RasDisr => self.ras,
            Class::LoRegions => self.lor,
            Class::Pmu => self.pmu,
            _ => true,
        }
    }

    /// What a guest must find (docs/ISOLATION.md's decisions).
    pub const fn expect(&self, c: Class) -> Expect {
        match c {
            Class::FpSimd | Class::VirtualTimer | Class::ThreadIds | Class::FaultRegs => {
                Expect::Switched
            }
            Class::Sme | Class::PointerAuth | Class::RasDisr if self.has(c) => Expect::Switched,
            Class::Debug | Class::Actlr => Expect::RazWi,
            _ => Expect::Undefined,
        }
    }
}

/// Why an isolation check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The guest found `found` in `reg` (`after`: after its exit), which `want` rules out.
    Found {
        reg: &'static str,
        after: bool,
        found: Found,
        want: Expect,
    },
    /// A write the class should have refused went through, or the reverse.
    Write { reg: &'static str, undefined: bool },
    /// The host's own value changed while the guest ran.
    HostChanged {
        reg: &'static str,
        at: &'static str,
        got: u64,
        want: u64,
    },
    /// The report does not describe this class.
    BadReport { registers: u64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Problem::Found {
                reg,
                after,
                found,
                want,
            } => write!(
                f,
                "the guest found {found:?} in {reg}{} (want {want:?})",
                if after { " after its exit" } else { "" }
            ),
            Problem::Write { reg, undefined } => write!(
                f,
                "the guest's write of {reg} was {}",
                if undefined {
                    "UNDEFINED"
                } else {
                    "not UNDEFINED"
                }
            ),
            Problem::HostChanged { reg, at, got, want } => {
                write!(f, "the host's {reg} reads {got:#x} {at}, want {want:#x}")
            }
            Problem::BadReport { registers } => {
                write!(f, "the report covers {registers} registers")
            }
        }
    }
}

/// What a guest may find in a register of a class it expects `want` of.
fn allowed(want: Expect, found: Found, after: bool) -> bool {
    match (want, after) {
        (Expect::Switched, false) => matches!(found, Found::Zero | Found::Other),
        (Expect::Switched, true) => found == Found::Own,
        (Expect::Undefined, _) => found == Found::Undefined,
        (Expect::RazWi, _) => found == Found::Zero,
    }
}

/// The guest's REPORT for `class` (details as in stile_guest::protocol) against `want`.
pub fn judge(class: Class, want: Expect, detail: &[u64; 5]) -> Result<(), Problem> {
    let (first, n) = class.regs();
    let [before, after, undefined_writes, _, registers] = *detail;
    if registers != n as u64 {
        return Err(Problem::BadReport { registers });
    }
    for i in 0..n {
        let reg = REGS[first + i].name;
        for (after, word) in [(false, before), (true, after)] {
            let found = nibble(word, i);
            if !allowed(want, found, after) {
                return Err(Problem::Found {
                    reg,
                    after,
                    found,
                    want,
                });
            }
        }
        let undefined = undefined_writes >> i & 1 != 0;
        if undefined != (want == Expect::Undefined) {
            return Err(Problem::Write { reg, undefined });
        }
    }
    Ok(())
}

/// The host's markers of one class as it read them back after writing them (None where the
/// host does not have the class).
#[derive(Debug, Clone, Copy)]
struct HostValues {
    class: Class,
    values: [Option<u64>; 16],
    problem: Option<Problem>,
}

impl HostValues {
    fn write(m: &mut impl VmmMachine, class: Class, host: &HostCpu) -> HostValues {
        let (first, n) = class.regs();
        let mut values = [None; 16];
        if host.has(class) {
            for (i, v) in values.iter_mut().enumerate().take(n) {
                if host.writes(class) {
                    m.reg_write(first + i, REGS[first + i].markers[World::Host as usize]);
                }
                *v = m.reg_read(first + i);
            }
        }
        HostValues {
            class,
            values,
            problem: None,
        }
    }

    /// Reads them again: the first that changed is the problem.
    fn check(&mut self, m: &mut impl VmmMachine, at: &'static str) {
        let (first, n) = self.class.regs();
        for i in 0..n {
            let (Some(want), None) = (self.values[i], self.problem) else {
                continue;
            };
            let reg = &REGS[first + i];
            let got = m.reg_read(first + i).unwrap_or(!want);
            if got & reg.mask != want & reg.mask {
                self.problem = Some(Problem::HostChanged {
                    reg: reg.name,
                    at,
                    got,
                    want,
                });
            }
        }
    }
}

struct CheckName(Class, World);

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "isolation-{}", self.0.name())?;
        match self.1 {
            World::Second => f.write_str("-second-guest"),
            _ => Ok(()),
        }
    }
}

/// Both guests, one after the other on `block` (free again: the first VM is destroyed),
/// then the refusal flood.
pub fn run<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    block: PhysRange,
    p: &Placement,
    image: &[u8],
) {
    let Some(host) = m.host_cpu() else {
        report.note(format_args!(
            "vmm: isolation: this machine cannot touch registers: checks skipped"
        ));
        return;
    };
    report.note(format_args!("vmm: isolation: the host has {host:?}"));
    m.reg_setup();
    for world in [World::First, World::Second] {
        let why = match guest(m, report, block, p, image, world, &host) {
            Ok(()) => continue,
            Err(why) => why,
        };
        for c in Class::ALL {
            report.check(CheckName(c, world), Err(Fail::NotRun(why)));
        }
    }
    m.reg_reset();
    flood(m, report);
}

/// One guest on a fresh VM: every class, in order.
fn guest<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    block: PhysRange,
    p: &Placement,
    image: &[u8],
    world: World,
    host: &HostCpu,
) -> Result<(), &'static str> {
    super::load(m, report, block, p, image);
    let vm = calls::vm_create(m, block.base, block.size).map_err(|_| "VM_CREATE refused")?;
    let run_page = m.run_page_pa();
    let made = calls::vcpu_create(m, vm, p.entry, run_page, BOOT_X0)
        .map_err(|_| "VCPU_CREATE refused")
        .and_then(|vcpu| {
            for s in slots::initial(block.base) {
                calls::memslot_set(m, vm, &s.req).map_err(|_| "MEMSLOT_SET refused")?;
            }
            Ok(vcpu)
        });
    let outcome = made.map(|vcpu| {
        report.note(format_args!(
            "vmm: isolation: vm {vm}, vcpu {vcpu}: guest {world:?}"
        ));
        drive(m, report, vm, vcpu, world, host);
    });
    let _ = calls::vm_destroy(m, vm);
    outcome
}

/// The VCPU_RUN loop of one isolation guest.
fn drive<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    vcpu: u64,
    world: World,
    host: &HostCpu,
) {
    let mut device = TestDevice::new();
    let mut next = 0;
    let mut current: Option<HostValues> = None;
    let mut fatal: Option<[u64; 3]> = None;
    let mut reply = Reply::COMPLETE;
    let mut exits = 0;
    let end = loop {
        exits += 1;
        if exits > MAX_EXITS {
            break "the guest would not stop";
        }
        m.write_host_fields(&reply.fields());
        if calls::call(m, &Request::vcpu_run(vm, vcpu)).is_err() {
            break "VCPU_RUN was refused";
        }
        let page = m.read_run_page();
        reply = match decode(&page) {
            Exit::Hvc(x) => match Call::from_u64(x[0]) {
                Some(Call::Next) => match Class::ALL.get(next) {
                    Some(&c) => {
                        next += 1;
                        current = Some(HostValues::write(m, c, host));
                        Reply::hvc([Scenario::RegClass as u64, c as u64, world as u64, 0])
                    }
                    None => Reply::hvc([Scenario::Done as u64, 0, 0, 0]),
                },
                Some(Call::Echo) => {
                    if let Some(h) = &mut current {
                        h.check(m, "while the guest waits in its exit");
                    }
                    Reply::hvc(ECHO_RESULTS)
                }
                Some(Call::Report) => {
                    let r = GuestReport::from_regs(&x);
                    if let Some(mut h) = current.take() {
                        h.check(m, "after the guest ran");
                        let result = match (h.problem, r.scenario == Scenario::RegClass as u64) {
                            (Some(p), _) => Err(p),
                            (None, true) => judge(h.class, host.expect(h.class), &r.detail),
                            (None, false) => Err(Problem::BadReport { registers: 0 }),
                        };
                        report.check(CheckName(h.class, world), result.map_err(Fail::Isolation));
                    }
                    Reply::hvc([0; 4])
                }
                Some(Call::Fatal) => {
                    report.note(format_args!(
                        "vmm: isolation: guest FATAL: ESR {:#x} ELR {:#x} FAR {:#x}",
                        x[1], x[2], x[3]
                    ));
                    fatal = Some([x[1], x[2], x[3]]);
                    Reply::hvc([0; 4])
                }
                _ => Reply::hvc([Status::NotSupported.as_u64(), 0, 0, 0]),
            },
            Exit::Mmio(mm) => {
                let (value, event) = device.access(&mm);
                if let Event::Line(line) = event {
                    report.note(format_args!("guest: {line}"));
                }
                match mm.write {
                    true => Reply::COMPLETE,
                    false => Reply::read(value),
                }
            }
            Exit::SystemEvent(_) => break "the guest powered off",
            Exit::Irq => Reply::COMPLETE,
            other => {
                report.note(format_args!("vmm: isolation: unexpected {other}: SKIP"));
                Reply::SKIP
            }
        };
    };
    if let Some(h) = current {
        let fail = match fatal {
            Some([esr, elr, far]) => Fail::GuestFatal { esr, elr, far },
            None => Fail::NotRun(end),
        };
        report.check(CheckName(h.class, world), Err(fail));
    }
    for &c in Class::ALL.iter().skip(next) {
        report.check(CheckName(c, world), Err(Fail::NotRun(end)));
    }
}

/// FLOOD refused calls in a row (VM_DESTROY of a VM that does not exist): each must be
/// refused as usual; Stile must not print a line for each (the harness counts them).
fn flood<M: VmmMachine, W: fmt::Write>(m: &mut M, report: &mut Report<W>) {
    let mut result = Ok(());
    for _ in 0..FLOOD {
        match calls::call(m, &Request::vm_destroy(77)) {
            Err(e) if e.is(Reason::NoSuchVm) => {}
            Err(e) => {
                result = Err(Fail::WrongRefusal {
                    got: e,
                    want: Reason::NoSuchVm,
                });
                break;
            }
            Ok(_) => {
                result = Err(Fail::Accepted {
                    call: "VM_DESTROY",
                    want: Reason::NoSuchVm,
                });
                break;
            }
        }
    }
    // One more after a second: Stile prints how many lines it dropped with the first
    // refusal it logs again.
    m.let_a_second_pass();
    let _ = calls::call(m, &Request::vm_destroy(77));
    report.note(format_args!(
        "vmm: {FLOOD} VM_DESTROY(77) in a row, each refused NO_SUCH_VM"
    ));
    report.check("hypercall-refusal-flood", result);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(found: &[Found]) -> u64 {
        found
            .iter()
            .enumerate()
            .fold(0, |w, (i, f)| w | (*f as u64) << (4 * i))
    }

    #[test]
    fn a_switched_class_passes_fresh_then_own() {
        let d = [
            word(&[Found::Zero, Found::Other, Found::Zero, Found::Zero]),
            word(&[Found::Own; 4]),
            0,
            0,
            4,
        ];
        assert_eq!(judge(Class::FpSimd, Expect::Switched, &d), Ok(()));
    }

    #[test]
    fn the_hosts_or_the_other_guests_marker_fails_a_switched_class() {
        for leak in [Found::Host, Found::First] {
            let d = [word(&[Found::Zero, leak]), word(&[Found::Own; 2]), 0, 0, 2];
            assert_eq!(
                judge(Class::FaultRegs, Expect::Switched, &d),
                Err(Problem::Found {
                    reg: "FAR_EL1",
                    after: false,
                    found: leak,
                    want: Expect::Switched
                })
            );
        }
        // Own values lost across the exit.
        let d = [0, word(&[Found::Own, Found::Zero]), 0, 0, 2];
        assert!(matches!(
            judge(Class::FaultRegs, Expect::Switched, &d),
            Err(Problem::Found { after: true, .. })
        ));
    }

    #[test]
    fn a_trapped_class_must_be_undefined_both_ways() {
        let undef = word(&[Found::Undefined; 2]);
        assert_eq!(
            judge(
                Class::PhysicalTimer,
                Expect::Undefined,
                &[undef, undef, 0b11, 0, 2]
            ),
            Ok(())
        );
        assert_eq!(
            judge(
                Class::PhysicalTimer,
                Expect::Undefined,
                &[undef, undef, 0b01, 0, 2]
            ),
            Err(Problem::Write {
                reg: "CNTP_CVAL_EL0",
                undefined: false
            })
        );
        // Readable: the trap is gone (and the host's timer with it).
        let seen = word(&[Found::Host, Found::Undefined]);
        assert!(judge(
            Class::PhysicalTimer,
            Expect::Undefined,
            &[seen, undef, 0b11, 0, 2]
        )
        .is_err());
    }

    #[test]
    fn raz_wi_reads_zero_and_takes_writes() {
        assert_eq!(judge(Class::Actlr, Expect::RazWi, &[0, 0, 0, 0, 1]), Ok(()));
        let own = word(&[Found::Own]);
        assert!(judge(Class::Actlr, Expect::RazWi, &[0, own, 0, 0, 1]).is_err());
        assert_eq!(
            judge(Class::Actlr, Expect::RazWi, &[0, 0, 0, 0, 2]),
            Err(Problem::BadReport { registers: 2 })
        );
    }

    #[test]
    fn expectations_follow_what_the_cpu_has() {
        let none = HostCpu {
            pauth: false,
            sve: false,
            sme: false,
            ras: false,
            lor: false,
            pmu: true,
        };
        let all = HostCpu {
            pauth: true,
            sve: true,
            sme: true,
            ras: true,
            lor: true,
            pmu: true,
        };
        assert_eq!(none.expect(Class::PointerAuth), Expect::Undefined);
        assert_eq!(all.expect(Class::PointerAuth), Expect::Switched);
        assert_eq!(all.expect(Class::Sve), Expect::Undefined);
        assert_eq!(all.expect(Class::Pmu), Expect::Undefined);
        assert_eq!(all.expect(Class::Debug), Expect::RazWi);
        assert_eq!(none.expect(Class::VirtualTimer), Expect::Switched);
        assert!(!none.has(Class::Sme) && all.has(Class::Sme) && none.has(Class::Debug));
        assert_eq!(
            CheckName(Class::Pmu, World::Second).to_string(),
            "isolation-pmu-second-guest"
        );
    }
}
