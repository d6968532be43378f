//! Boots about the host's memory map and the host bundle (docs/HOST-BUNDLE.md): the host
//! payload inside a FIT with an initramfs and a long command line it checks from its DTB,
//! RAM sizes and PCIe layouts the map must follow, and bundles that must be refused by name.

use crate::bundles::Bundle;
use crate::cases::{Case, Initrd, Load, HOST_ALL_PASSED, HOST_CHECK_FAILED};
use crate::expect::{ExitRule, Expect};

/// A boot that must run every host check, from `initrd`, on `mem` of RAM.
const fn good(
    name: &'static str,
    cpu: &'static str,
    gic: u8,
    mem: &'static str,
    initrd: Initrd,
    extra_args: &'static [&'static str],
    expect: &'static [Expect],
) -> Case {
    Case {
        name,
        cpu,
        gic,
        smp: 1,
        mem,
        load: Load::Kernel,
        initrd,
        extra_args,
        expect,
        exit: ExitRule::Status(0),
        max_secs: None,
        inner_checks: false,
    }
}

/// What every good bundle boot must show besides its own lines.
macro_rules! passes {
    ($($e:expr),* $(,)?) => {
        &[
            HOST_ALL_PASSED,
            Expect::Never(HOST_CHECK_FAILED),
            Expect::Never("stile: fatal:"),
            Expect::Never("panic"),
            $($e),*
        ]
    };
}

/// The payload found its initramfs and its whole command line in the DTB Stile wrote.
const FROM_THE_BUNDLE: [Expect; 3] = [
    Expect::Starts("check host-bundle-initrd: ok"),
    Expect::Starts("check host-bundle-bootargs: ok"),
    Expect::StartsMentioning {
        prefix: "stile: host: bundle",
        word: "bootargs from the bundle",
    },
];

/// A bundle Stile must refuse (`expect`: [`refusal!`]'s lines), then power off.
const fn refused(name: &'static str, bundle: Bundle, expect: &'static [Expect]) -> Case {
    Case {
        name,
        cpu: "max",
        gic: 3,
        smp: 1,
        mem: "1G",
        load: Load::Kernel,
        initrd: Initrd::Bundle(bundle),
        extra_args: &[],
        expect,
        exit: ExitRule::Status(0),
        max_secs: Some(10),
        inner_checks: false,
    }
}

/// The named refusal, then the power-off that follows it; never the host.
macro_rules! refusal {
    ($line:expr) => {
        &[
            Expect::Line($line),
            Expect::Starts("stile: error: no host VM (the host bundle could not be loaded)"),
            Expect::Never("stile: boot complete"),
            Expect::Never("panic"),
        ]
    };
}

pub static CASES: &[Case] = &[
    good(
        "bundle-fit-embedded",
        "max",
        3,
        "1G",
        Initrd::Bundle(Bundle::Fit),
        &[],
        passes!(FROM_THE_BUNDLE[0], FROM_THE_BUNDLE[1], FROM_THE_BUNDLE[2]),
    ),
    good(
        "bundle-fit-external-512m",
        "cortex-a72",
        2,
        "512M",
        Initrd::Bundle(Bundle::FitExternal),
        &[],
        passes!(FROM_THE_BUNDLE[0], FROM_THE_BUNDLE[1], FROM_THE_BUNDLE[2]),
    ),
    // Default virt (highmem on) with 2 GiB: RAM past the old static region, PCIe's high
    // ECAM and 64-bit window mapped.
    good(
        "host-map-2g-highmem-bundle",
        "max",
        3,
        "2G",
        Initrd::Bundle(Bundle::Fit),
        &[],
        passes!(
            FROM_THE_BUNDLE[0],
            Expect::Starts("stile: ram: 2048 MiB"),
            Expect::Contains("[0x4010000000..0x4020000000)"),
            Expect::Contains("[0x8000000000..0x10000000000)"),
        ),
    ),
    good(
        "host-map-4g-plain-image",
        "cortex-a72",
        3,
        "4G",
        Initrd::Host,
        &[],
        passes!(
            Expect::Starts("stile: ram: 4096 MiB"),
            Expect::Starts("check host-no-initrd: ok"),
        ),
    ),
    good(
        "host-map-highmem-off",
        "max",
        2,
        "1G",
        Initrd::Host,
        &["-M", "highmem=off"],
        passes!(
            Expect::Starts("stile: ram: 1024 MiB"),
            Expect::Never("0x4010000000"),
        ),
    ),
    refused(
        "bundle-refused-truncated",
        Bundle::Truncated,
        refusal!("stile: error: host bundle refused (truncated)"),
    ),
    refused(
        "bundle-refused-not-arm64",
        Bundle::NotArm64,
        refusal!("stile: error: host bundle refused (kernel has no arm64 Image header)"),
    ),
    refused(
        "bundle-refused-compressed",
        Bundle::Compressed,
        refusal!("stile: error: host bundle refused (unsupported compression (only \"none\"))"),
    ),
    refused(
        "bundle-refused-no-default",
        Bundle::NoDefault,
        refusal!("stile: error: host bundle refused (no default configuration)"),
    ),
    refused(
        "bundle-refused-overlap",
        Bundle::Overlap,
        refusal!("stile: error: host bundle refused (image data overlap)"),
    ),
    refused(
        "bundle-refused-garbage",
        Bundle::Garbage,
        refusal!("stile: error: host bundle refused (neither a FIT nor an arm64 Image)"),
    ),
];
