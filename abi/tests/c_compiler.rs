//! A C compiler, when there is one, must see in abi/include/stile_abi.h (as `header`
//! renders it) the crate's values, names and run page layout, and an arm64 cross compiler
//! must build its call helper into a real HVC.

mod common;
mod header;

use common::Ty;
use header::render;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use stile_abi::caps;
use stile_abi::slot::{self, SlotKind};

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
