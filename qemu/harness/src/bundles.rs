//! Host bundles the harness writes for its bundle cases (docs/HOST-BUNDLE.md): the host
//! payload inside a U-Boot FIT with a small initramfs and a long command line the payload
//! checks from its DTB, and bundles broken on purpose, each with the reason Stile must give.
//!
//! Written here with a tiny FDT writer, so `make test` needs no mkimage; the parser's unit
//! tests (hyp/src/bundle) run on FITs that mkimage itself wrote.

/// What goes in the initrd slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bundle {
    /// Kernel, initramfs and bootargs, embedded data.
    Fit,
    /// The same with `mkimage -E`-style external data.
    FitExternal,
    /// The FIT cut in half.
    Truncated,
    /// The kernel image is not an arm64 Image.
    NotArm64,
    /// The kernel says `compression = "gzip"`.
    Compressed,
    /// `/configurations` without `default`.
    NoDefault,
    /// External kernel and initramfs data overlap.
    Overlap,
    /// Neither a FIT nor an Image.
    Garbage,
}

/// Bytes of the initramfs stand-in.
pub const RAMDISK_LEN: usize = 300_000;
/// Length of the command line the good FITs carry (over the old 256-byte limit).
pub const BOOTARGS_LEN: usize = 1500;

/// FNV-1a, 32 bits: the checksum the payload recomputes over its initramfs.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn ramdisk() -> Vec<u8> {
    (0..RAMDISK_LEN).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// `host.bundle=<initramfs length>:<fnv1a hex>:<bootargs length>`, padded to
/// [`BOOTARGS_LEN`] bytes with a `pad=` word.
pub fn bootargs(ramdisk: &[u8]) -> String {
    let head = format!(
        "host.bundle={}:{:08x}:{BOOTARGS_LEN} pad=",
        ramdisk.len(),
        fnv1a(ramdisk)
    );
    let pad = BOOTARGS_LEN - head.len();
    format!("{head}{}", "x".repeat(pad))
}

impl Bundle {
    /// The bundle around `host` (the host payload, an arm64 Image).
    pub fn build(self, host: &[u8]) -> Vec<u8> {
        let rd = ramdisk();
        let args = bootargs(&rd);
        match self {
            Bundle::Fit => fit(host, &rd, &args, Tweak::None),
            Bundle::FitExternal => fit(host, &rd, &args, Tweak::External { overlap: false }),
            Bundle::Truncated => {
                let mut b = fit(host, &rd, &args, Tweak::None);
                b.truncate(b.len() / 2);
                b
            }
            Bundle::NotArm64 => fit(&rd, &rd, &args, Tweak::None),
            Bundle::Compressed => fit(host, &rd, &args, Tweak::Gzip),
            Bundle::NoDefault => fit(host, &rd, &args, Tweak::NoDefault),
            Bundle::Overlap => fit(host, &rd, &args, Tweak::External { overlap: true }),
            Bundle::Garbage => rd,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tweak {
    None,
    External { overlap: bool },
    Gzip,
    NoDefault,
}

fn fit(kernel: &[u8], ramdisk: &[u8], bootargs: &str, tweak: Tweak) -> Vec<u8> {
    let mut t = Fdt::default();
    t.begin("")
        .string("description", "Stile harness host bundle");
    t.u32("#address-cells", 1);
    t.begin("images");
    let external = |t: &mut Fdt, offset: usize, len: usize| {
        t.u32("data-size", len as u32)
            .u32("data-offset", offset as u32);
    };
    let ramdisk_offset = match tweak {
        Tweak::External { overlap: true } => 0x1000,
        _ => kernel.len().next_multiple_of(4),
    };
    t.begin("kernel-1");
    match tweak {
        Tweak::External { .. } => external(&mut t, 0, kernel.len()),
        _ => {
            t.prop("data", kernel);
        }
    }
    t.string("type", "kernel")
        .string("arch", "arm64")
        .string("os", "linux");
    let compression = if tweak == Tweak::Gzip { "gzip" } else { "none" };
    t.string("compression", compression).end();
    t.begin("ramdisk-1");
    match tweak {
        Tweak::External { .. } => external(&mut t, ramdisk_offset, ramdisk.len()),
        _ => {
            t.prop("data", ramdisk);
        }
    }
    t.string("type", "ramdisk")
        .string("compression", "none")
        .end();
    t.end();
    t.begin("configurations");
    if tweak != Tweak::NoDefault {
        t.string("default", "conf-1");
    }
    t.begin("conf-1")
        .string("kernel", "kernel-1")
        .string("ramdisk", "ramdisk-1")
        .string("bootargs", bootargs)
        .end();
    t.end().end();
    let mut out = t.finish();
    if let Tweak::External { .. } = tweak {
        out.resize(out.len().next_multiple_of(4), 0);
        let base = out.len();
        out.resize(base + (ramdisk_offset + ramdisk.len()).max(kernel.len()), 0);
        out[base + ramdisk_offset..][..ramdisk.len()].copy_from_slice(ramdisk);
        out[base..][..kernel.len()].copy_from_slice(kernel);
    }
    out
}

/// A flattened device tree under construction (version 17, empty /memreserve/).
#[derive(Default)]
struct Fdt {
    structs: Vec<u8>,
    strings: Vec<u8>,
}

impl Fdt {
    fn word(&mut self, w: u32) {
        self.structs.extend_from_slice(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        self.structs
            .resize(self.structs.len().next_multiple_of(4), 0);
    }

    fn begin(&mut self, name: &str) -> &mut Fdt {
        self.word(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    fn end(&mut self) -> &mut Fdt {
        self.word(2);
        self
    }

    fn prop(&mut self, name: &str, value: &[u8]) -> &mut Fdt {
        let name_off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.word(3);
        self.word(value.len() as u32);
        self.word(name_off);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    fn string(&mut self, name: &str, value: &str) -> &mut Fdt {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v)
    }

    fn u32(&mut self, name: &str, value: u32) -> &mut Fdt {
        self.prop(name, &value.to_be_bytes())
    }

    fn finish(mut self) -> Vec<u8> {
        self.word(9);
        let off_rsv = 40;
        let off_struct = off_rsv + 16;
        let off_strings = off_struct + self.structs.len();
        let total = off_strings + self.strings.len();
        let header = [
            0xd00d_feed,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ];
        let mut out: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.structs);
        out.extend_from_slice(&self.strings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(b: &[u8], i: usize) -> u32 {
        u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().unwrap())
    }

    #[test]
    fn the_good_fit_is_an_fdt_holding_kernel_and_ramdisk_bytes() {
        let kernel = vec![0x5a; 5000];
        let b = Bundle::Fit.build(&kernel);
        assert_eq!(be32(&b, 0), 0xd00d_feed);
        assert_eq!(be32(&b, 1) as usize, b.len());
        let rd = ramdisk();
        assert!(b.windows(rd.len()).any(|w| w == rd.as_slice()));
        assert!(b.windows(kernel.len()).any(|w| w == kernel.as_slice()));
    }

    #[test]
    fn external_data_follows_the_tree_four_byte_aligned() {
        let kernel = vec![0x5a; 5001];
        let b = Bundle::FitExternal.build(&kernel);
        let total = be32(&b, 1) as usize;
        let base = total.next_multiple_of(4);
        assert_eq!(&b[base..base + kernel.len()], kernel.as_slice());
        let rd = ramdisk();
        let at = base + kernel.len().next_multiple_of(4);
        assert_eq!(&b[at..at + rd.len()], rd.as_slice());
    }

    #[test]
    fn bootargs_are_exactly_as_long_as_they_say() {
        let args = bootargs(&ramdisk());
        assert_eq!(args.len(), BOOTARGS_LEN);
        assert!(args.starts_with(&format!("host.bundle={RAMDISK_LEN}:")));
    }

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }
}
