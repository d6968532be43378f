//! abi/include/stile_abi.h is generated from the crate (via `common`) and must match it
//! byte for byte; a C compiler, when there is one, must see the same values and layout.
//!
//! Regenerate the header after changing the crate:
//!     STILE_REGEN_HEADER=1 cargo test -p stile-abi --test c_header

#[macro_use]
mod common;

use common::{Const, Field, Group, Ty};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use stile_abi::run_page::{ExitReason, RunPage};
use stile_abi::slot::{self, SlotKind};
use stile_abi::{caps, Function, Reason};

const REGEN: &str = "STILE_REGEN_HEADER=1 cargo test -p stile-abi --test c_header";

fn header_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include/stile_abi.h")
}

/// `#define NAME  VALUE` lines of a group, values aligned.
fn defines(out: &mut String, consts: &[Const]) {
    let width = consts.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in consts {
        writeln!(out, "#define {:width$} {}", c.name, c.literal()).unwrap();
    }
}

fn name_fn(out: &mut String, g: &Group) {
    let Some(f) = &g.name_fn else { return };
    writeln!(out).unwrap();
    writeln!(
        out,
        "/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */"
    )
    .unwrap();
    writeln!(out, "static inline const char *{}({} v)", f.name, f.arg).unwrap();
    writeln!(out, "{{").unwrap();
    writeln!(out, "\tswitch (v) {{").unwrap();
    for c in &g.consts {
        if let Some(label) = &c.label {
            writeln!(out, "\tcase {}: return \"{}\";", c.name, label).unwrap();
        }
    }
    writeln!(out, "\tdefault: return NULL;").unwrap();
    writeln!(out, "\t}}").unwrap();
    writeln!(out, "}}").unwrap();
}

fn struct_decl(out: &mut String, fields: &[Field]) {
    let decls: Vec<String> = fields
        .iter()
        .map(|f| match f.len {
            Some(n) => format!("{} {}[{n}];", f.c_type, f.name),
            None => format!("{} {};", f.c_type, f.name),
        })
        .collect();
    let width = decls.iter().map(String::len).max().unwrap_or(0);
    writeln!(out, "struct stile_run_page {{").unwrap();
    for (f, d) in fields.iter().zip(&decls) {
        writeln!(out, "\t{d:width$} /* {:3}: {} */", f.offset, f.comment).unwrap();
    }
    writeln!(out, "}};").unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "STILE_STATIC_ASSERT(sizeof(struct stile_run_page) == {}, \"run page layout\");",
        common::RUN_PAGE_SIZE
    )
    .unwrap();
    for f in fields {
        writeln!(
            out,
            "STILE_STATIC_ASSERT(offsetof(struct stile_run_page, {}) == {}, \"run page layout\");",
            f.name, f.offset
        )
        .unwrap();
    }
}

/// A C block comment: `/* line */`, or `/*\n * line\n */` for several.
fn comment(out: &mut String, lines: &[String]) {
    match lines {
        [] => {}
        [one] => writeln!(out, "/* {one} */").unwrap(),
        many => {
            out.push_str("/*\n");
            for l in many {
                if l.is_empty() {
                    out.push_str(" *\n");
                } else {
                    writeln!(out, " * {l}").unwrap();
                }
            }
            out.push_str(" */\n");
        }
    }
}

fn text(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

const PRELUDE: &[&str] = &[
    "#ifndef STILE_ABI_H",
    "#define STILE_ABI_H",
    "",
    "#ifdef __KERNEL__",
    "#include <linux/stddef.h>",
    "#include <linux/types.h>",
    "#else",
    "#include <stddef.h>",
    "#include <stdint.h>",
    "#endif",
    "",
    "#ifdef __cplusplus",
    "#define STILE_STATIC_ASSERT(cond, msg) static_assert(cond, msg)",
    "#else",
    "#define STILE_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)",
    "#endif",
];

const HELPERS: &[&str] = &[
    "static inline uint64_t stile_cap_reason(uint64_t x2, uint64_t bit)",
    "{",
    "\tunsigned int n = 0;",
    "",
    "\tif (bit == 0)",
    "\t\treturn 0;",
    "\twhile (!(bit & 1u)) {",
    "\t\tbit >>= 1;",
    "\t\tn++;",
    "\t}",
    "\treturn n < 8 ? (x2 >> (8 * n)) & 0xffu : 0;",
    "}",
];

/// One Stile call, for C hosts at EL1 (a kernel: HVC is UNDEFINED at EL0). Only on arm64.
const CALL: &[&str] = &[
    "#if defined(__aarch64__)",
    "struct stile_ret {",
    "\tint64_t status;   /* x0: STILE_STATUS_* (or CALL_UID's w0, REVISION's major) */",
    "\tuint64_t x1, x2, x3; /* results; with an error status x1 = STILE_REASON_* */",
    "};",
    "",
    "static inline struct stile_ret stile_call(uint32_t fn, uint64_t a1, uint64_t a2, uint64_t a3,",
    "\t\t\t\t\t   uint64_t a4, uint64_t a5, uint64_t a6)",
    "{",
    "\tregister uint64_t x0 __asm__(\"x0\") = fn;",
    "\tregister uint64_t x1 __asm__(\"x1\") = a1, x2 __asm__(\"x2\") = a2, x3 __asm__(\"x3\") = a3;",
    "\tregister uint64_t x4 __asm__(\"x4\") = a4, x5 __asm__(\"x5\") = a5, x6 __asm__(\"x6\") = a6;",
    "\tstruct stile_ret r;",
    "",
    "\t__asm__ volatile(\"hvc #0\"",
    "\t\t\t : \"+r\"(x0), \"+r\"(x1), \"+r\"(x2), \"+r\"(x3), \"+r\"(x4), \"+r\"(x5), \"+r\"(x6)",
    "\t\t\t :",
    "\t\t\t : \"x7\", \"x8\", \"x9\", \"x10\", \"x11\", \"x12\", \"x13\", \"x14\", \"x15\",",
    "\t\t\t   \"x16\", \"x17\", \"memory\");",
    "\tr.status = (int64_t)x0;",
    "\tr.x1 = x1;",
    "\tr.x2 = x2;",
    "\tr.x3 = x3;",
    "\treturn r;",
    "}",
    "#endif /* __aarch64__ */",
];

const SLOT_WORD: &[&str] = &[
    "static inline uint64_t stile_slot_word(uint64_t kind, uint64_t perms, uint64_t flags)",
    "{",
    "\treturn kind | perms | flags;",
    "}",
];

/// The whole header.
fn render() -> String {
    let (major, minor) = stile_abi::REVISION;
    let mut o = String::from("/* SPDX-License-Identifier: Apache-2.0 OR MIT */\n");
    comment(
        &mut o,
        &[
            format!("stile_abi.h - Stile's hypercall ABI, revision {major}.{minor}, for C hosts"),
            "(a Linux driver, a VMM). Every call's arguments, results, status and reason".into(),
            "codes are explained in docs/ABI.md.".into(),
            String::new(),
            "GENERATED from the stile-abi crate (abi/src) by abi/tests/c_header.rs: do not".into(),
            "edit. Change the crate, then regenerate with".into(),
            format!("    {REGEN}"),
            "(`cargo test -p stile-abi` fails while this file and the crate disagree).".into(),
        ],
    );
    for l in PRELUDE {
        writeln!(o, "{l}").unwrap();
    }
    for g in common::groups() {
        o.push('\n');
        let mut head = vec![format!("{}.", g.title)];
        head.extend(g.note.iter().cloned());
        comment(&mut o, &head);
        defines(&mut o, &g.consts);
        name_fn(&mut o, &g);
    }
    o.push('\n');
    comment(
        &mut o,
        &text(&[
            "The reason for capability `bit` (one STILE_CAP_* bit) out of GET_CAPS' x2:",
            "STILE_REASON_NONE when the bit is on, and for bits above 7.",
        ]),
    );
    for l in HELPERS {
        writeln!(o, "{l}").unwrap();
    }
    o.push('\n');
    comment(
        &mut o,
        &text(&["The MEMSLOT_SET descriptor word: kind | STILE_SLOT_PERM_* | STILE_SLOT_FLAG_*."]),
    );
    for l in SLOT_WORD {
        writeln!(o, "{l}").unwrap();
    }
    o.push('\n');
    comment(
        &mut o,
        &text(&[
            "One call: HVC #0 from EL1 with x0 = fn, x1..x6 = a1..a6 (pass 0 for arguments a",
            "call does not use). SMCCC allows x4..x17 to be clobbered; x0..x3 come back.",
        ]),
    );
    for l in CALL {
        writeln!(o, "{l}").unwrap();
    }
    o.push('\n');
    comment(
        &mut o,
        &text(&[
            "The run page: one 4 KiB page of host RAM per vCPU, given at VCPU_CREATE; the",
            "record sits at its start. Stile writes every field except host_action, data",
            "(the value an MMIO read loads) and hvc[0..3] (HVC results), which the host",
            "writes before the next VCPU_RUN. Offsets are fixed: a new layout gets a new",
            "STILE_RUN_PAGE_VERSION.",
        ]),
    );
    struct_decl(&mut o, &common::run_page_fields());
    o.push_str("\n#endif /* STILE_ABI_H */\n");
    o
}

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

/// A C compiler to try: $CC, else `cc`.
fn c_compiler() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let ok = Command::new(&cc)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(cc)
}

/// The C program: prints every constant, the struct's size and each field's offset and
/// size, and what the inline helpers answer, one `key value` line each.
fn probe_source() -> String {
    let mut c = String::from(
        "#include <stdio.h>\n#include \"stile_abi.h\"\n\n\
         #define U(x) printf(\"%s %llu\\n\", #x, (unsigned long long)(x))\n\
         #define S(x) printf(\"%s %lld\\n\", #x, (long long)(x))\n\
         #define F(f) printf(\"field %s %zu %zu\\n\", #f, offsetof(struct stile_run_page, f), \
         sizeof(((struct stile_run_page *)0)->f))\n\
         #define N(s) printf(\"name %s\\n\", (s) ? (s) : \"(null)\")\n\n\
         int main(void)\n{\n",
    );
    for g in common::groups() {
        for k in &g.consts {
            let m = if k.ty == Ty::I64 { 'S' } else { 'U' };
            writeln!(c, "\t{m}({});", k.name).unwrap();
            if let (Some(f), Some(_)) = (&g.name_fn, &k.label) {
                writeln!(c, "\tN({}({}));", f.name, k.name).unwrap();
            }
        }
        if let Some(f) = &g.name_fn {
            writeln!(c, "\tN({}(0x7fff));", f.name).unwrap();
        }
    }
    writeln!(
        c,
        "\tprintf(\"sizeof %zu\\n\", sizeof(struct stile_run_page));"
    )
    .unwrap();
    for f in common::run_page_fields() {
        writeln!(c, "\tF({});", f.name).unwrap();
    }
    for (x2, bit) in cap_reason_cases() {
        writeln!(c, "\tU(stile_cap_reason({x2:#x}ull, {bit:#x}ull));").unwrap();
    }
    writeln!(
        c,
        "\tU(stile_slot_word(STILE_SLOT_KIND_CACHEABLE_DEVICE, STILE_SLOT_PERM_READ | STILE_SLOT_PERM_WRITE, STILE_SLOT_FLAG_CACHEABLE_OPT_IN));"
    )
    .unwrap();
    c.push_str("\treturn 0;\n}\n");
    c
}

fn cap_reason_cases() -> Vec<(u64, u64)> {
    let x2 = 0x0807_0605_0403_0201u64;
    let mut v: Vec<(u64, u64)> = caps::ALL.iter().map(|(bit, _)| (x2, *bit)).collect();
    v.extend([(x2, 0), (x2, 1 << 8), (x2, 1 << 63), (x2, 0b110)]);
    v
}

/// What the probe must print, from the crate.
fn probe_expected() -> Vec<String> {
    let mut e = Vec::new();
    for g in common::groups() {
        for k in &g.consts {
            let v = if k.ty == Ty::I64 {
                (k.value as i64).to_string()
            } else {
                k.value.to_string()
            };
            e.push(format!("{} {v}", k.name));
            if let (Some(_), Some(label)) = (&g.name_fn, &k.label) {
                e.push(format!("name {label}"));
            }
        }
        if g.name_fn.is_some() {
            e.push("name (null)".into());
        }
    }
    e.push(format!("sizeof {}", common::RUN_PAGE_SIZE));
    for f in common::run_page_fields() {
        e.push(format!("field {} {} {}", f.name, f.offset, f.size));
    }
    for (x2, bit) in cap_reason_cases() {
        e.push(format!(
            "stile_cap_reason({x2:#x}ull, {bit:#x}ull) {}",
            caps::reason_of(x2, bit)
        ));
    }
    e.push(format!(
        "stile_slot_word(STILE_SLOT_KIND_CACHEABLE_DEVICE, STILE_SLOT_PERM_READ | STILE_SLOT_PERM_WRITE, STILE_SLOT_FLAG_CACHEABLE_OPT_IN) {}",
        slot::word(
            SlotKind::CacheableDevice,
            slot::PERM_READ | slot::PERM_WRITE,
            slot::FLAG_CACHEABLE_OPT_IN
        )
    ));
    e
}

#[test]
fn c_compiler_sees_the_crate_values_and_run_page_layout() {
    let Some(cc) = c_compiler() else {
        eprintln!("note: no C compiler ($CC or cc): stile_abi.h was not compiled (skipped)");
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_header_probe");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, probe_source()).unwrap();
    // The generated text is compiled (c_header_is_generated_from_the_crate checks that the
    // committed file is the same), with strict warnings so that a host building with
    // -Werror is not broken by it.
    let include = dir.join("include");
    std::fs::create_dir_all(&include).unwrap();
    std::fs::write(include.join("stile_abi.h"), render()).unwrap();
    let out = Command::new(&cc)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Wconversion",
            "-Werror",
        ])
        .arg("-I")
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cc} could not compile {} with stile_abi.h:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success(), "probe failed: {run:?}");
    let have = String::from_utf8(run.stdout).unwrap();
    let have: Vec<&str> = have.lines().collect();
    let want = probe_expected();
    for (i, w) in want.iter().enumerate() {
        assert_eq!(
            have.get(i).copied(),
            Some(w.as_str()),
            "C and Rust disagree (line {} of the probe's output; source {})",
            i + 1,
            src.display()
        );
    }
    assert_eq!(have.len(), want.len(), "the probe printed extra lines");
}

/// The call helper (arm64 only) compiles cleanly with a cross compiler for arm64, the way a
/// C host builds it, and its HVC really is there. Skipped where no arm64 C compiler exists.
#[test]
fn call_helper_compiles_for_arm64() {
    let cc = "aarch64-linux-gnu-gcc";
    if Command::new(cc).arg("--version").output().is_err() {
        eprintln!("note: no {cc}: stile_call() was not compiled (skipped)");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_header_call");
    let include = dir.join("include");
    std::fs::create_dir_all(&include).unwrap();
    std::fs::write(include.join("stile_abi.h"), render()).unwrap();
    let src = dir.join("call.c");
    std::fs::write(
        &src,
        "#include \"stile_abi.h\"\n\
         int64_t caps(uint64_t *x1)\n{\n\
         \tstruct stile_ret r = stile_call(STILE_FN_GET_CAPS, 0, 0, 0, 0, 0, 0);\n\
         \t*x1 = r.x1;\n\treturn r.status;\n}\n",
    )
    .unwrap();
    let asm = dir.join("call.s");
    let out = Command::new(cc)
        // Freestanding: the header needs only <stdint.h>/<stddef.h>, which gcc ships itself.
        .args([
            "-std=c11",
            "-ffreestanding",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-S",
        ])
        .arg("-I")
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&asm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&asm).unwrap();
    assert!(
        text.contains("hvc\t#0") || text.contains("hvc #0"),
        "{text}"
    );
}
