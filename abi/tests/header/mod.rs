//! The C header abi/include/stile_abi.h as the crate says it must read: [`render`], from the
//! ABI model in `common`. Shared by the test that compares it with the committed file
//! (`c_header.rs`) and the ones that compile it (`c_compiler.rs`).
#![allow(dead_code)] // each test binary uses its own part

use crate::common::{self, Const, Field, Group};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const REGEN: &str = "STILE_REGEN_HEADER=1 cargo test -p stile-abi --test c_header";

pub fn header_path() -> PathBuf {
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
pub fn render() -> String {
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
