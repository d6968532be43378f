//! What the host bundle gave the payload (docs/HOST-BUNDLE.md), read back from its DTB: the
//! harness's FIT carries `host.bundle=<initramfs length>:<fnv1a hex>:<bootargs length>` in
//! its command line, so the payload can tell that Stile placed the whole initramfs where
//! `linux,initrd-start/end` say and passed the whole (long) command line. Booted from a
//! plain Image, the DTB must name no initramfs at all (the Image was the initrd).

use crate::fail::Fail;
use crate::report::Report;
use core::fmt;

/// The word's parts, or why it does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub initrd_len: u64,
    pub fnv1a: u32,
    pub bootargs_len: usize,
}

/// `host.bundle=...` in `bootargs`, if present (`Err` if present but malformed).
pub fn expected(bootargs: &str) -> Option<Result<Expected, Fail>> {
    let word = bootargs
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("host.bundle="))?;
    let mut parts = word.split(':');
    let parsed = (|| {
        let initrd_len = parts.next()?.parse().ok()?;
        let fnv1a = u32::from_str_radix(parts.next()?, 16).ok()?;
        let bootargs_len = parts.next()?.parse().ok()?;
        Some(Expected {
            initrd_len,
            fnv1a,
            bootargs_len,
        })
    })();
    Some(parsed.ok_or(Fail::Setup("host.bundle= word does not parse")))
}

/// FNV-1a, 32 bits (the harness computes the same over the initramfs it bundles).
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Runs the bundle checks. `initrd`: the range `/chosen` names and its bytes.
pub fn run<W: fmt::Write>(bootargs: &str, initrd: Option<&[u8]>, report: &mut Report<W>) {
    let Some(want) = expected(bootargs) else {
        let none = match initrd {
            None => Ok(()),
            Some(_) => Err(Fail::Setup(
                "linux,initrd-* present without a bundle initramfs",
            )),
        };
        report.check("host-no-initrd", none);
        return;
    };
    let want = match want {
        Ok(w) => w,
        Err(why) => {
            report.check("host-bundle-initrd", Err(why));
            return;
        }
    };
    report.check("host-bundle-initrd", initrd_matches(initrd, &want));
    let args = if bootargs.len() == want.bootargs_len {
        Ok(())
    } else {
        Err(Fail::Value {
            what: "bootargs length",
            got: bootargs.len() as u64,
            want: want.bootargs_len as u64,
        })
    };
    report.check("host-bundle-bootargs", args);
}

fn initrd_matches(initrd: Option<&[u8]>, want: &Expected) -> Result<(), Fail> {
    let bytes = initrd.ok_or(Fail::Missing("no linux,initrd-start/end in /chosen"))?;
    if bytes.len() as u64 != want.initrd_len {
        return Err(Fail::Value {
            what: "initramfs length",
            got: bytes.len() as u64,
            want: want.initrd_len,
        });
    }
    let got = fnv1a(bytes);
    if got != want.fnv1a {
        return Err(Fail::Value {
            what: "initramfs FNV-1a",
            got: got.into(),
            want: want.fnv1a.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bootargs: &str, initrd: Option<&[u8]>) -> String {
        let mut r = Report::new(String::new());
        run(bootargs, initrd, &mut r);
        r.into_inner()
    }

    #[test]
    fn a_bundle_initramfs_and_bootargs_that_match_pass() {
        let rd = b"hello initramfs";
        let args = format!("host.bundle=15:{:08x}:0000 pad=x", fnv1a(rd));
        let args = args.replace("0000", &format!("{:04}", args.len()));
        let out = lines(&args, Some(rd));
        assert_eq!(
            out,
            "check host-bundle-initrd: ok\ncheck host-bundle-bootargs: ok\n"
        );
    }

    #[test]
    fn a_changed_byte_a_short_initramfs_or_a_cut_command_line_fail() {
        let rd = b"hello initramfs";
        let args = format!("host.bundle=15:{:08x}:9999", fnv1a(rd));
        let out = lines(&args, Some(b"hellO initramfs"));
        assert!(out.contains("host-bundle-initrd: FAIL"), "{out}");
        assert!(out.contains("host-bundle-bootargs: FAIL"), "{out}");
        let out = lines(&args, Some(b"hello"));
        assert!(out.contains("host-bundle-initrd: FAIL"), "{out}");
        let out = lines(&args, None);
        assert!(out.contains("host-bundle-initrd: FAIL"), "{out}");
    }

    #[test]
    fn without_a_bundle_word_there_must_be_no_initrd() {
        assert_eq!(lines("", None), "check host-no-initrd: ok\n");
        assert!(lines("quiet", Some(b"x")).contains("host-no-initrd: FAIL"));
    }

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }
}
