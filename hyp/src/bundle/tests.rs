//! Bundle parsing: FITs written by U-Boot's mkimage (hyp/testdata/bundle, made by
//! scripts/make-bundle-fixtures.sh), a plain Image, and FITs built or broken on purpose here.

use super::{parse, Bundle, BundleError, Format, MAX_BUNDLE_BOOTARGS};
use crate::dt::tests::builder::Dtb;

mod place;

const KERNEL: &[u8] = include_bytes!("../../testdata/bundle/kernel.bin");
const RAMDISK: &[u8] = include_bytes!("../../testdata/bundle/ramdisk.bin");
const EMBEDDED: &[u8] = include_bytes!("../../testdata/bundle/host.itb");
const EXTERNAL: &[u8] = include_bytes!("../../testdata/bundle/host-external.itb");
const POSITION: &[u8] = include_bytes!("../../testdata/bundle/host-position.itb");
const GZIP: &[u8] = include_bytes!("../../testdata/bundle/host-gzip.itb");

fn ok(bytes: &[u8]) -> Bundle<'_> {
    parse(bytes).unwrap_or_else(|e| panic!("refused: {e:?} ({})", e.reason()))
}

/// A FIT with one kernel and one ramdisk; `tweak` edits the tree through the builder as it
/// is written (`Part` says where).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Kernel,
    Ramdisk,
    Config,
    Configurations,
}

fn fit(tweak: impl Fn(Part, &mut Dtb) -> bool) -> Vec<u8> {
    let mut d = Dtb::new();
    d.begin("").str("description", "test");
    d.begin("images");
    d.begin("kernel-1");
    if !tweak(Part::Kernel, &mut d) {
        d.prop("data", KERNEL)
            .str("type", "kernel")
            .str("arch", "arm64")
            .str("compression", "none");
    }
    d.end();
    d.begin("ramdisk-1");
    if !tweak(Part::Ramdisk, &mut d) {
        d.prop("data", RAMDISK)
            .str("type", "ramdisk")
            .str("compression", "none");
    }
    d.end();
    d.end();
    d.begin("configurations");
    if !tweak(Part::Configurations, &mut d) {
        d.str("default", "conf-1");
    }
    d.begin("conf-1");
    if !tweak(Part::Config, &mut d) {
        d.str("kernel", "kernel-1")
            .str("ramdisk", "ramdisk-1")
            .str("bootargs", "console=ttyAMA0");
    }
    d.end().end().end();
    d.finish()
}

fn plain() -> Vec<u8> {
    fit(|_, _| false)
}

/// The default FIT with `part`'s properties replaced by `write`.
fn with(part: Part, write: impl Fn(&mut Dtb)) -> Vec<u8> {
    fit(|p, d| {
        if p == part {
            write(d);
            true
        } else {
            false
        }
    })
}

fn refused(bytes: &[u8]) -> BundleError {
    match parse(bytes) {
        Ok(b) => panic!("accepted: {:?} {:?}", b.format, b.bootargs),
        Err(e) => e,
    }
}

// --- What mkimage writes -------------------------------------------------------------------

#[test]
fn mkimage_fits_with_embedded_external_and_positioned_data_give_the_same_pieces() {
    for (name, bytes) in [
        ("embedded", EMBEDDED),
        ("-E", EXTERNAL),
        ("-E -p", POSITION),
    ] {
        let b = ok(bytes);
        assert_eq!(b.format, Format::Fit, "{name}");
        assert_eq!(b.kernel, KERNEL, "{name}");
        assert_eq!(b.ramdisk, Some(RAMDISK), "{name}");
        assert_eq!(
            b.bootargs,
            Some("console=ttyAMA0 rdinit=/init quiet"),
            "{name}"
        );
        assert_eq!(b.kernel_header.image_size, 0x10000, "{name}");
    }
}

#[test]
fn a_mkimage_fit_labelled_gzip_is_refused_compressed() {
    assert_eq!(refused(GZIP), BundleError::Compressed);
}

#[test]
fn a_plain_arm64_image_is_the_kernel_alone() {
    let b = ok(KERNEL);
    assert_eq!(b.format, Format::Image);
    assert_eq!(b.kernel, KERNEL);
    assert_eq!((b.ramdisk, b.bootargs), (None, None));
}

#[test]
fn anything_else_is_unrecognised() {
    assert_eq!(refused(b""), BundleError::Unrecognised);
    assert_eq!(refused(&[0u8; 4096]), BundleError::Unrecognised);
    assert_eq!(refused(RAMDISK), BundleError::Unrecognised);
}

// --- Truncation ----------------------------------------------------------------------------

#[test]
fn every_prefix_of_a_fit_is_refused_never_a_panic() {
    for bytes in [EMBEDDED, EXTERNAL, POSITION] {
        for len in 0..bytes.len() {
            assert!(parse(&bytes[..len]).is_err(), "{len}");
        }
    }
    assert_eq!(
        refused(&EMBEDDED[..EMBEDDED.len() - 1]),
        BundleError::Truncated
    );
}

#[test]
fn external_data_past_the_end_is_truncated() {
    assert_eq!(
        refused(&EXTERNAL[..EXTERNAL.len() - 1]),
        BundleError::Truncated
    );
    assert_eq!(
        refused(&POSITION[..POSITION.len() - 100]),
        BundleError::Truncated
    );
}

// --- The tree: what must be there ----------------------------------------------------------

#[test]
fn the_builder_fit_parses() {
    let bytes = plain();
    let b = ok(&bytes);
    assert_eq!(
        (b.kernel, b.ramdisk, b.bootargs),
        (KERNEL, Some(RAMDISK), Some("console=ttyAMA0"))
    );
}

#[test]
fn missing_nodes_and_names_each_have_their_reason() {
    let no_default = with(Part::Configurations, |_| {});
    assert_eq!(refused(&no_default), BundleError::NoDefaultConfiguration);
    let bad_default = with(Part::Configurations, |d| {
        d.str("default", "conf-9");
    });
    assert_eq!(refused(&bad_default), BundleError::NoDefaultConfiguration);
    let no_kernel = with(Part::Config, |d| {
        d.str("ramdisk", "ramdisk-1");
    });
    assert_eq!(refused(&no_kernel), BundleError::NoKernel);
    let missing_kernel = with(Part::Config, |d| {
        d.str("kernel", "kernel-9");
    });
    assert_eq!(refused(&missing_kernel), BundleError::MissingImage);
    let missing_ramdisk = with(Part::Config, |d| {
        d.str("kernel", "kernel-1").str("ramdisk", "nope");
    });
    assert_eq!(refused(&missing_ramdisk), BundleError::MissingImage);

    let mut d = Dtb::new();
    d.begin("")
        .begin("configurations")
        .str("default", "c")
        .end()
        .end();
    assert_eq!(refused(&d.finish()), BundleError::NoImages);
    let mut d = Dtb::new();
    d.begin("").begin("images").end().end();
    assert_eq!(refused(&d.finish()), BundleError::NoConfigurations);
}

#[test]
fn a_ramdisk_is_optional_and_so_is_bootargs() {
    let bytes = with(Part::Config, |d| {
        d.str("kernel", "kernel-1");
    });
    let b = ok(&bytes);
    assert_eq!((b.ramdisk, b.bootargs), (None, None));
}

#[test]
fn image_types_arch_and_compression_are_checked() {
    let kernel = |kind: &str, arch: &str, comp: &str| {
        with(Part::Kernel, |d| {
            d.prop("data", KERNEL)
                .str("type", kind)
                .str("arch", arch)
                .str("compression", comp);
        })
    };
    assert_eq!(
        refused(&kernel("ramdisk", "arm64", "none")),
        BundleError::WrongType
    );
    assert_eq!(
        refused(&kernel("kernel", "arm", "none")),
        BundleError::WrongArch
    );
    assert_eq!(
        refused(&kernel("kernel", "arm64", "lzma")),
        BundleError::Compressed
    );
    assert!(parse(&kernel("kernel_noload", "arm64", "none")).is_ok());
    let ramdisk = with(Part::Ramdisk, |d| {
        d.prop("data", RAMDISK).str("type", "kernel");
    });
    assert_eq!(refused(&ramdisk), BundleError::WrongType);
    let gz = with(Part::Ramdisk, |d| {
        d.prop("data", RAMDISK)
            .str("type", "ramdisk")
            .str("compression", "gzip");
    });
    assert_eq!(refused(&gz), BundleError::Compressed);
}

#[test]
fn a_kernel_without_the_arm64_header_is_refused() {
    let bytes = with(Part::Kernel, |d| {
        d.prop("data", RAMDISK)
            .str("type", "kernel")
            .str("arch", "arm64");
    });
    assert_eq!(refused(&bytes), BundleError::NotArm64Image);
    let empty = with(Part::Kernel, |d| {
        d.prop("data", &[])
            .str("type", "kernel")
            .str("arch", "arm64");
    });
    assert_eq!(refused(&empty), BundleError::NotArm64Image);
}

#[test]
fn an_image_without_data_is_refused() {
    let bytes = with(Part::Kernel, |d| {
        d.str("type", "kernel").str("arch", "arm64");
    });
    assert_eq!(refused(&bytes), BundleError::NoData);
    let size_only = with(Part::Kernel, |d| {
        d.str("type", "kernel")
            .str("arch", "arm64")
            .cells("data-size", &[16]);
    });
    assert_eq!(refused(&size_only), BundleError::NoData);
}

/// A FIT whose images are external, at `kernel_at` and `ramdisk_at` (data-position), with
/// the kernel and ramdisk bytes written there.
fn external(kernel_at: u32, ramdisk_at: u32) -> Vec<u8> {
    let mut bytes = fit(|p, d| match p {
        Part::Kernel => {
            d.str("type", "kernel")
                .str("arch", "arm64")
                .cells("data-position", &[kernel_at])
                .cells("data-size", &[KERNEL.len() as u32]);
            true
        }
        Part::Ramdisk => {
            d.str("type", "ramdisk")
                .cells("data-position", &[ramdisk_at])
                .cells("data-size", &[RAMDISK.len() as u32]);
            true
        }
        _ => false,
    });
    let end = (kernel_at as usize + KERNEL.len()).max(ramdisk_at as usize + RAMDISK.len());
    bytes.resize(bytes.len().max(end), 0);
    bytes[ramdisk_at as usize..][..RAMDISK.len()].copy_from_slice(RAMDISK);
    bytes[kernel_at as usize..][..KERNEL.len()].copy_from_slice(KERNEL);
    bytes
}

#[test]
fn external_data_is_read_where_data_position_says() {
    let bytes = external(0x4000, 0x8000);
    let b = ok(&bytes);
    assert_eq!((b.kernel, b.ramdisk), (KERNEL, Some(RAMDISK)));
}

#[test]
fn overlapping_images_or_data_inside_the_tree_are_refused() {
    assert_eq!(refused(&external(0x4000, 0x4800)), BundleError::Overlap);
    let in_tree = with(Part::Kernel, |d| {
        d.str("type", "kernel")
            .str("arch", "arm64")
            .cells("data-position", &[0])
            .cells("data-size", &[64]);
    });
    assert_eq!(refused(&in_tree), BundleError::Overlap);
}

#[test]
fn bootargs_up_to_2047_bytes_pass_and_longer_or_unterminated_do_not() {
    let long = "x".repeat(MAX_BUNDLE_BOOTARGS);
    let args = |value: &[u8]| {
        with(Part::Config, |d| {
            d.str("kernel", "kernel-1").prop("bootargs", value);
        })
    };
    let mut v = long.clone().into_bytes();
    v.push(0);
    assert_eq!(ok(&args(&v)).bootargs, Some(long.as_str()));
    v.insert(0, b'y');
    assert_eq!(refused(&args(&v)), BundleError::BadBootargs);
    assert_eq!(refused(&args(b"no nul")), BundleError::BadBootargs);
    assert_eq!(refused(&args(b"a\0b\0")), BundleError::BadBootargs);
    assert_eq!(refused(&args(b"\xff\0")), BundleError::BadBootargs);
}

#[test]
fn two_images_of_one_name_are_malformed() {
    let mut d = Dtb::new();
    d.begin("").begin("images");
    for _ in 0..2 {
        d.begin("kernel-1")
            .prop("data", KERNEL)
            .str("type", "kernel")
            .str("arch", "arm64")
            .end();
    }
    d.end()
        .begin("configurations")
        .str("default", "c")
        .begin("c");
    d.str("kernel", "kernel-1").end().end().end();
    assert_eq!(refused(&d.finish()), BundleError::Malformed);
}

#[test]
fn more_images_than_stile_reads_is_too_many() {
    let mut d = Dtb::new();
    d.begin("").begin("images");
    for i in 0..9 {
        d.begin(&format!("k{i}")).end();
    }
    d.end().end();
    assert_eq!(refused(&d.finish()), BundleError::TooMany);
}

#[test]
fn header_version_and_structure_are_checked() {
    let mut v16 = plain();
    v16[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(refused(&v16), BundleError::UnsupportedVersion);
    let mut bad_token = plain();
    let off_struct = u32::from_be_bytes(bad_token[8..12].try_into().unwrap()) as usize;
    bad_token[off_struct..off_struct + 4].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(refused(&bad_token), BundleError::Malformed);
    let mut huge_struct = plain();
    huge_struct[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(refused(&huge_struct), BundleError::Malformed);
}

#[test]
fn random_corruption_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for base in [EMBEDDED, EXTERNAL, &plain()[..]] {
        for _ in 0..3000 {
            let mut bytes = base.to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let _ = parse(&bytes);
        }
    }
}
