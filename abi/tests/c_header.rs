//! abi/include/stile_abi.h is generated from the crate (via `common` and `header`) and must
//! match it byte for byte; the model behind it must cover every variant and field. (A C
//! compiler's view of it: `c_compiler.rs`.)
//!
//! Regenerate the header after changing the crate:
//!     STILE_REGEN_HEADER=1 cargo test -p stile-abi --test c_header

#[macro_use]
mod common;
mod header;

use header::{header_path, render, REGEN};
use std::path::Path;
use stile_abi::run_page::{ExitReason, RunPage};
use stile_abi::slot::{self, SlotKind};
use stile_abi::{caps, Function, Reason};

fn first_difference(want: &str, have: &str) -> String {
    let (w, h): (Vec<_>, Vec<_>) = (want.lines().collect(), have.lines().collect());
    for i in 0..w.len().max(h.len()) {
        let (a, b) = (w.get(i), h.get(i));
        if a != b {
            return format!(
                "first difference at abi/include/stile_abi.h:{}\n  crate says: {}\n  file says:  {}",
                i + 1,
                a.unwrap_or(&"<end of file>"),
                b.unwrap_or(&"<end of file>")
            );
        }
    }
    "the files differ only in line endings".into()
}

#[test]
fn c_header_is_generated_from_the_crate() {
    let want = render();
    let path = header_path();
    if std::env::var_os("STILE_REGEN_HEADER").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
        eprintln!("note: wrote {}", path.display());
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let expected = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stile_abi.h.expected");
        std::fs::write(&expected, &want).unwrap();
        panic!(
            "abi/include/stile_abi.h does not match the stile-abi crate.\n{}\n\
             What the crate says is in {}: `diff -u abi/include/stile_abi.h {}`.\n\
             If the crate is right, regenerate the header:\n    {REGEN}",
            first_difference(&want, &have),
            expected.display(),
            expected.display()
        );
    }
}

#[test]
fn every_enum_variant_is_in_its_all_list() {
    // These stop compiling when a variant is added, until it is listed here; then the
    // assertions check that the crate's ALL list has it too (from_* relies on ALL).
    let functions = every_variant!(Function {
        Translate,
        GetCaps,
        Stats,
        VmCreate,
        VmDestroy,
        VcpuCreate,
        VcpuRun,
        MemslotSet,
        MemslotClear,
        RegionRevoke,
        RegionRestore,
        VgicConfig,
        IrqLine,
        VcpuPending,
    });
    let reasons = every_variant!(Reason {
        None,
        NeedsFwb,
        NoDic,
        OutsideRam,
        OutsidePaRange,
        HypMemory,
        CollidesWithDtb,
        CollidesWithReserved,
        NoMapping,
        NoSuchVm,
        OutOfRange,
        OverlapsRam,
        NotOptedIn,
        NoSlot,
        Permission,
        SlotChanged,
        Misaligned,
        Overlap,
        NotOwned,
        BadKind,
        Limit,
        Busy,
        NoMemory,
        NoSuchVcpu,
        ExecNotAllowed,
        BadArgument,
        Revoked,
        NoVgic,
    });
    let exits = every_variant!(ExitReason {
        None,
        Mmio,
        Nisv,
        MemoryFault,
        Hvc,
        SystemEvent,
        Irq,
        Unknown,
        Wfi,
    });
    for (f, v) in functions {
        assert!(Function::ALL.contains(&f), "Function::ALL lacks {v}");
        assert_eq!(f.name(), common::screaming(v), "Function::{v}.name()");
    }
    for (r, v) in reasons {
        assert!(Reason::ALL.contains(&r), "Reason::ALL lacks {v}");
        assert_eq!(r.name(), common::screaming(v), "Reason::{v}.name()");
    }
    for (e, v) in exits {
        assert!(ExitReason::ALL.contains(&e), "ExitReason::ALL lacks {v}");
        assert_eq!(e.name(), common::screaming(v), "ExitReason::{v}.name()");
    }
    assert_eq!(Function::ALL.len(), functions.len());
    assert_eq!(Reason::ALL.len(), reasons.len());
    assert_eq!(ExitReason::ALL.len(), exits.len());
    for (k, v) in common::slot_kinds() {
        assert_eq!(SlotKind::from_u8(k as u8), Some(k), "SlotKind::{v}");
    }
    for (s, v) in common::statuses() {
        assert_eq!(
            stile_abi::Status::from_u64(s.as_u64()),
            Some(s),
            "Status::{v}"
        );
    }
}

#[test]
fn slot_known_bits_are_the_kind_byte_the_perms_and_the_flags() {
    let listed = 0xff
        | slot::PERM_READ
        | slot::PERM_WRITE
        | slot::PERM_EXEC
        | slot::FLAG_CACHEABLE_OPT_IN
        | slot::FLAG_EAGER;
    assert_eq!(
        slot::KNOWN_BITS,
        listed,
        "a bit was added to KNOWN_BITS: give it a constant and list it in tests/common"
    );
    for (k, _) in common::slot_kinds() {
        assert_eq!(
            slot::word(k, 0, 0) & !0xff,
            0,
            "kinds fit STILE_SLOT_KIND_MASK"
        );
    }
}

#[test]
fn header_names_are_unique_and_capability_names_match_their_bits() {
    let mut names: Vec<String> = common::groups()
        .into_iter()
        .flat_map(|g| g.consts.into_iter().map(|c| c.name))
        .collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "two constants share a C name");
    let mut bits = 0;
    for (bit, name) in caps::ALL {
        assert!(bit.is_power_of_two(), "{name}");
        assert_eq!(bits & bit, 0, "{name} reuses a bit");
        bits |= bit;
    }
}

#[test]
fn run_page_fields_cover_the_record_without_padding() {
    let mut end = 0;
    for f in common::run_page_fields() {
        assert_eq!(f.offset, end, "hidden padding before {}", f.name);
        end = f.offset + f.size;
    }
    assert_eq!(end, core::mem::size_of::<RunPage>(), "padding at the end");
}
