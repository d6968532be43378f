//! Capabilities and the board's assignable regions as guest memory: GET_CAPS must say what
//! the CPU allows and why not; MEMSLOT_SET of a cacheable-device window must be refused
//! NEEDS_FWB without FEAT_S2FWB and NOT_OPTED_IN without the opt-in, and accepted with it;
//! TRANSLATE must then show the memory type the guest really gets.

use super::calls::{self, expect, Request};
use super::machine::VmmMachine;
use super::memtype::{expected_guest, guest_fwb};
use super::plan::Window;
use super::slots;
use super::Guest;
use crate::compare::compare;
use crate::expect::{expected, Env, Expected};
use crate::facts::Facts;
use crate::fail::Fail;
use crate::oracle::{Region, QEMU_VIRT};
use crate::report::Report;
use crate::translate::decode;
use core::fmt;
use stile_abi::{caps, Reason};
use stile_hyp::mm::kind::MemoryKind;

/// GET_CAPS as answered: (bits, reason bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub bits: u64,
    pub reasons: u64,
}

impl Caps {
    fn has(&self, bit: u64) -> bool {
        self.bits & bit != 0
    }

    fn reason(&self, bit: u64) -> u64 {
        caps::reason_of(self.reasons, bit).into()
    }
}

/// One capability as it must be on this CPU: on, or off for a reason.
fn cap_is(c: &Caps, bit: u64, name: &'static str, want: Option<Reason>) -> Result<(), Fail> {
    match (c.has(bit), want) {
        (true, None) => Ok(()),
        (false, Some(r)) if c.reason(bit) == r as u64 => Ok(()),
        (false, Some(r)) => Err(Fail::Value {
            what: name,
            got: c.reason(bit),
            want: r as u64,
        }),
        (on, _) => Err(Fail::Value {
            what: name,
            got: on.into(),
            want: (!on).into(),
        }),
    }
}

/// GET_CAPS: prints `guest-caps` and `guest-cacheable-device-caps`; `None` if it does not
/// answer (a Stile without guests: nothing else can run).
pub fn caps_checks<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    facts: &Facts,
) -> Option<Caps> {
    let c = match calls::call(m, &Request::get_caps()) {
        Ok(x) => Caps {
            bits: x[0],
            reasons: x[1],
        },
        Err(refusal) => {
            report.check(
                "guest-caps",
                Err(Fail::Refused {
                    call: "GET_CAPS",
                    refusal,
                }),
            );
            return None;
        }
    };
    note_caps(report, &c);
    let fwb_reason = (!facts.fwb).then_some(Reason::NeedsFwb);
    let exec_reason = match (facts.fwb, facts.dic) {
        (false, _) => Some(Reason::NeedsFwb),
        (true, false) => Some(Reason::NoDic),
        (true, true) => None,
    };
    let general = [
        (caps::DEVICE_NC, "DEVICE_NC", None),
        (caps::MMIO_EXITS, "MMIO_EXITS", None),
        (caps::NISV_EXITS, "NISV_EXITS", None),
        (caps::LAZY_MAPPING, "LAZY_MAPPING", None),
        (caps::FWB_GUESTS, "FWB_GUESTS", fwb_reason),
        (
            caps::CACHEABLE_DEVICE_EXEC,
            "CACHEABLE_DEVICE_EXEC",
            exec_reason,
        ),
    ];
    let result = general
        .iter()
        .try_for_each(|&(bit, name, want)| cap_is(&c, bit, name, want));
    report.check("guest-caps", result);
    report.check(
        "guest-cacheable-device-caps",
        cap_is(&c, caps::CACHEABLE_DEVICE, "CACHEABLE_DEVICE", fwb_reason),
    );
    Some(c)
}

fn note_caps<W: fmt::Write>(report: &mut Report<W>, c: &Caps) {
    struct Names<'a>(&'a Caps, bool);
    impl fmt::Display for Names<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut first = true;
            for (bit, name) in caps::ALL {
                if self.0.has(bit) != self.1 {
                    continue;
                }
                f.write_str(if first { "" } else { " " })?;
                first = false;
                f.write_str(name)?;
                if !self.1 {
                    let r = self.0.reason(bit);
                    write!(f, " ({})", crate::translate::reason_name(r))?;
                }
            }
            if first {
                f.write_str("none")?;
            }
            Ok(())
        }
    }
    report.note(format_args!(
        "vmm: GET_CAPS: on: {}; off: {}",
        Names(c, true),
        Names(c, false)
    ));
}

fn region(name: &str) -> Option<&'static Region> {
    QEMU_VIRT.iter().find(|r| r.name == name)
}

/// How Stile's boot treated `region` on this machine: `None` accepted, else why refused
/// (the host oracle's own answer: OUTSIDE_RAM wins over NEEDS_FWB).
fn boot_refusal(region: &Region, facts: &Facts) -> Option<Reason> {
    let env = Env {
        fwb: facts.fwb,
        dic: facts.dic,
        ram: &facts.ram,
    };
    match expected(region, region.base, &env) {
        Expected::Mapped(_) => None,
        Expected::Refused { reason, .. } => Some(reason),
    }
}

/// MEMSLOT_SET of a cacheable-device window over a region the boot treated as `boot`:
/// refused NEEDS_FWB where the region waits only for FWB (it stays assignable), NOT_OWNED
/// where it was refused for anything else, NOT_OPTED_IN without the flag, else accepted.
pub const fn want_cacheable(boot: Option<Reason>, opt_in: bool) -> Option<Reason> {
    match boot {
        Some(Reason::NeedsFwb) => Some(Reason::NeedsFwb),
        Some(_) => Some(Reason::NotOwned),
        None if !opt_in => Some(Reason::NotOptedIn),
        None => None,
    }
}

/// MEMSLOT_SET of a device-nc window: accepted over an accepted region, else NOT_OWNED.
pub const fn want_nc(boot: Option<Reason>) -> Option<Reason> {
    match boot {
        None => None,
        Some(_) => Some(Reason::NotOwned),
    }
}

/// Which windows the guest may use afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Windows {
    pub cacheable: bool,
    pub nc: bool,
}

fn set_slot<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    req: &calls::SlotRequest,
    what: &str,
) -> Result<(), calls::Refusal> {
    let r = calls::memslot_set(m, vm, req);
    let p = slots::perms(req.word);
    let perms = core::str::from_utf8(&p).unwrap_or("???");
    match r {
        Ok(()) => report.note(format_args!(
            "vmm: MEMSLOT_SET slot {} {what} {perms} IPA [{:#x}..{:#x}) -> PA {:#x}: SUCCESS",
            req.slot,
            req.ipa.0,
            req.ipa.0 + req.size,
            req.pa
        )),
        Err(e) => report.note(format_args!(
            "vmm: MEMSLOT_SET slot {} {what} {perms} IPA [{:#x}..{:#x}) -> PA {:#x}: {e}",
            req.slot,
            req.ipa.0,
            req.ipa.0 + req.size,
            req.pa
        )),
    }
    r
}

/// The three window slot checks; returns the windows that are set.
pub fn slot_checks<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    facts: &Facts,
) -> Windows {
    let mut w = Windows::default();
    match region("aperture") {
        Some(aperture) => {
            let boot = boot_refusal(aperture, facts);
            let without = slots::cacheable_window(aperture.base, false);
            let r = set_slot(m, report, vm, &without, "cacheable-device (no opt-in)");
            w.cacheable = r.is_ok();
            report.check(
                "guest-cacheable-device-without-opt-in",
                expect("MEMSLOT_SET", r, want_cacheable(boot, false)),
            );
            let with = slots::cacheable_window(aperture.base, true);
            let r = set_slot(m, report, vm, &with, "cacheable-device (opt-in)");
            w.cacheable |= r.is_ok();
            report.check(
                "guest-cacheable-device-with-opt-in",
                expect("MEMSLOT_SET", r, want_cacheable(boot, true)),
            );
        }
        None => report.check(
            "guest-cacheable-device-with-opt-in",
            Err(Fail::Missing("no aperture region in the oracle")),
        ),
    }
    match region("fb-nc") {
        Some(fb) => {
            let req = slots::nc_window(fb.base);
            let r = set_slot(m, report, vm, &req, "device-nc");
            w.nc = r.is_ok();
            report.check(
                "guest-device-nc-slot",
                expect("MEMSLOT_SET", r, want_nc(boot_refusal(fb, facts))),
            );
        }
        None => report.check(
            "guest-device-nc-slot",
            Err(Fail::Missing("no fb-nc region in the oracle")),
        ),
    }
    w
}

/// After the guest used window `w`: TRANSLATE must show the backing region's PA and the
/// kind's memory type, combined with the guest's MMU-off stage 1.
pub fn translate_check<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    g: &Guest,
    w: Window,
) {
    let (name, kind, region_name) = match w {
        Window::Cacheable => (
            "guest-cacheable-device-translate",
            MemoryKind::CacheableDevice,
            "aperture",
        ),
        Window::Nc => ("guest-device-nc-translate", MemoryKind::DeviceNc, "fb-nc"),
    };
    let Some(r) = region(region_name) else {
        report.check(name, Err(Fail::Missing("no such region in the oracle")));
        return;
    };
    let ipa = w.range().base;
    let want = expected_guest(kind, guest_fwb(g.fwb), r.base, true, false);
    let result = translate(m, report, g.vm, ipa, &want);
    report.check(name, result);
}

/// TRANSLATE(vm, ipa) held against `want`, narrated.
pub fn translate<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    ipa: stile_guest::ipa::Ipa,
    want: &Expected,
) -> Result<(), Fail> {
    let regs = m.call(Request::translate(vm, ipa).regs());
    match calls::decode(regs) {
        Ok([pa, par_attr, s2]) => report.note(format_args!(
            "vmm: TRANSLATE(vm {vm}, {ipa}) -> PA {pa:#x}, PAR attr {par_attr:#x}, stage-2 \
             MemAttr {:#x}",
            (s2 >> 2) & 0xf
        )),
        Err(r) => report.note(format_args!("vmm: TRANSLATE(vm {vm}, {ipa}) -> {r}")),
    }
    let got = decode(regs);
    compare(want, &got, regs).map_err(|mismatch| Fail::Translate { mismatch, regs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cacheable_device_refusals_follow_the_boot_verdict_then_the_opt_in() {
        // -cpu max, 1 GiB: the aperture is accepted.
        assert_eq!(want_cacheable(None, false), Some(Reason::NotOptedIn));
        assert_eq!(want_cacheable(None, true), None);
        // -cpu cortex-a72: refused at boot for lack of FWB, and so is every slot over it.
        assert_eq!(
            want_cacheable(Some(Reason::NeedsFwb), true),
            Some(Reason::NeedsFwb)
        );
        assert_eq!(
            want_cacheable(Some(Reason::NeedsFwb), false),
            Some(Reason::NeedsFwb)
        );
        // -m 512M: not there at all.
        assert_eq!(
            want_cacheable(Some(Reason::OutsideRam), true),
            Some(Reason::NotOwned)
        );
        assert_eq!(want_nc(Some(Reason::OutsideRam)), Some(Reason::NotOwned));
        assert_eq!(want_nc(None), None);
    }

    #[test]
    fn a_capability_is_right_when_on_or_off_for_the_right_reason() {
        let c = Caps {
            bits: caps::DEVICE_NC,
            reasons: (Reason::NoDic as u64) << 8,
        };
        assert!(cap_is(&c, caps::DEVICE_NC, "DEVICE_NC", None).is_ok());
        assert!(cap_is(&c, caps::CACHEABLE_DEVICE_EXEC, "X", Some(Reason::NoDic)).is_ok());
        assert_eq!(
            cap_is(&c, caps::CACHEABLE_DEVICE_EXEC, "X", Some(Reason::NeedsFwb)),
            Err(Fail::Value {
                what: "X",
                got: Reason::NoDic as u64,
                want: Reason::NeedsFwb as u64
            })
        );
        assert!(cap_is(&c, caps::DEVICE_NC, "DEVICE_NC", Some(Reason::NeedsFwb)).is_err());
        assert!(cap_is(&c, caps::MMIO_EXITS, "MMIO_EXITS", None).is_err());
    }
}
