//! Build-time validation: each check, its error, its message.

use super::{qemu_virt, region, MIB};
use crate::addr::PhysRange;
use crate::config::{static_errors, validate, ConfigError, Region, RegionError, MAX_REGIONS};
use crate::mm::kind::{MemoryKind, Perms};

fn errors(regions: &[Region]) -> Vec<RegionError> {
    let mut all = Vec::new();
    static_errors(regions, |e| all.push(e));
    all
}

fn only_error(regions: &[Region]) -> RegionError {
    let all = errors(regions);
    assert_eq!(all.len(), 1, "expected one error, got {all:?}");
    all[0]
}

fn ram(name: &'static str, base: u64, size: u64) -> Region {
    region(name, base, size, MemoryKind::Ram, Perms::RWX)
}

#[test]
fn qemu_virt_config_is_valid() {
    assert_eq!(validate(&qemu_virt()), Ok(()));
}

#[test]
fn unaligned_base_is_refused_with_the_address() {
    let mut regions = qemu_virt();
    regions[2].range.base.0 = 0x7C00_0800;
    let e = only_error(&regions);
    assert_eq!(e.error, ConfigError::BaseMisaligned { base: 0x7C00_0800 });
    assert_eq!(
        e.to_string(),
        "region 'aperture': base 0x7c000800 is not 4 KiB aligned"
    );
}

#[test]
fn unaligned_size_is_refused() {
    let e = only_error(&[ram("a", 0x1000, 0x1800)]);
    assert_eq!(e.error, ConfigError::SizeMisaligned { size: 0x1800 });
    assert_eq!(
        e.to_string(),
        "region 'a': size 0x1800 is not a multiple of 4 KiB"
    );
}

#[test]
fn unaligned_base_and_size_are_both_reported() {
    let all: Vec<_> = errors(&[ram("a", 0x1800, 0x1800)])
        .iter()
        .map(|e| e.error)
        .collect();
    assert_eq!(
        all,
        [
            ConfigError::BaseMisaligned { base: 0x1800 },
            ConfigError::SizeMisaligned { size: 0x1800 }
        ]
    );
}

#[test]
fn zero_size_is_refused() {
    let e = only_error(&[ram("empty", 0x1000, 0)]);
    assert_eq!(e.error, ConfigError::ZeroSize);
    assert_eq!(e.to_string(), "region 'empty': size is 0");
}

#[test]
fn size_wrapping_past_the_top_is_refused() {
    let base = 0xFFFF_FFFF_FFFF_0000;
    let e = only_error(&[ram("top", base, 0x10_0000)]);
    assert_eq!(
        e.error,
        ConfigError::SizeOverflow {
            base,
            size: 0x10_0000
        }
    );
    assert_eq!(
        e.to_string(),
        "region 'top': base 0xffffffffffff0000 + size 0x100000 wraps past the top of the address space"
    );
}

#[test]
fn executable_device_is_refused() {
    let e = only_error(&[region(
        "uart",
        0x900_0000,
        0x1000,
        MemoryKind::Device,
        Perms::RWX,
    )]);
    assert_eq!(
        e.error,
        ConfigError::ExecutableDevice {
            kind: MemoryKind::Device
        }
    );
    assert_eq!(
        e.to_string(),
        "region 'uart': device memory is never executable: perms must not contain 'x'"
    );
}

#[test]
fn executable_device_nc_is_refused() {
    let e = only_error(&[region(
        "fb",
        0x1000,
        0x1000,
        MemoryKind::DeviceNc,
        Perms::RX,
    )]);
    assert_eq!(
        e.error,
        ConfigError::ExecutableDevice {
            kind: MemoryKind::DeviceNc
        }
    );
}

#[test]
fn executable_ram_and_cacheable_device_are_fine() {
    let regions = [
        ram("ram", 0x1000, 0x1000),
        region(
            "cd",
            0x2000,
            0x1000,
            MemoryKind::CacheableDevice,
            Perms::RWX,
        ),
    ];
    assert_eq!(validate(&regions), Ok(()));
}

#[test]
fn overlap_is_reported_on_the_later_region_naming_the_earlier() {
    let e = only_error(&[ram("a", 0x1000, 0x2000), ram("b", 0x2000, 0x2000)]);
    assert_eq!(
        e.error,
        ConfigError::Overlap {
            other: "a",
            other_range: PhysRange::new(0x1000, 0x2000)
        }
    );
    assert_eq!(e.index, 1);
    assert_eq!(
        e.to_string(),
        "region 'b': overlaps region 'a' [0x1000..0x3000)"
    );
}

#[test]
fn touching_regions_do_not_overlap() {
    assert_eq!(
        validate(&[ram("a", 0x1000, 0x1000), ram("b", 0x2000, 0x1000)]),
        Ok(())
    );
}

#[test]
fn region_inside_another_overlaps() {
    let e = only_error(&[ram("big", 0, 64 * MIB), ram("small", MIB, MIB)]);
    assert_eq!(e.name, "small");
    assert_eq!(e.error.reason(), "overlapping regions");
}

#[test]
fn duplicate_name_is_refused_on_the_second_use() {
    let e = only_error(&[ram("a", 0x1000, 0x1000), ram("a", 0x2000, 0x1000)]);
    assert_eq!(e.error, ConfigError::DuplicateName { first: 0 });
    assert_eq!(e.index, 1);
    assert_eq!(
        e.to_string(),
        "region 'a': name is already used by region #1"
    );
}

#[test]
fn empty_name_is_refused_and_named_by_position() {
    let e = only_error(&[ram("a", 0x1000, 0x1000), ram("", 0x2000, 0x1000)]);
    assert_eq!(e.error, ConfigError::EmptyName);
    assert_eq!(e.to_string(), "region #2: name is empty");
}

#[test]
fn more_than_max_regions_is_refused() {
    let names: Vec<&'static str> = (0..=MAX_REGIONS)
        .map(|i| &*Box::leak(format!("r{i}").into_boxed_str()))
        .collect();
    let regions: Vec<Region> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ram(name, i as u64 * 0x1000, 0x1000))
        .collect();
    assert_eq!(validate(&regions[..MAX_REGIONS]), Ok(()));
    let e = only_error(&regions);
    assert_eq!(e.error, ConfigError::TooMany);
    assert_eq!(
        e.to_string(),
        "region 'r16': more than 16 regions (MAX_REGIONS)"
    );
}

#[test]
fn broken_ranges_are_not_also_reported_as_overlaps() {
    let all = errors(&[ram("a", 0x1000, 0x10_000), ram("b", 0x1800, 0x1000)]);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].error, ConfigError::BaseMisaligned { base: 0x1800 });
}

#[test]
fn every_error_in_a_file_is_reported_in_order() {
    let regions = [
        ram("", 0x1001, 0),
        region("d", 0x2000, 0x1000, MemoryKind::Device, Perms::RWX),
        ram("d", 0x2000, 0x1000),
    ];
    let reasons: Vec<_> = errors(&regions).iter().map(|e| e.error.reason()).collect();
    assert_eq!(
        reasons,
        [
            "empty name",
            "zero size",
            "executable device memory",
            "duplicate name",
            "overlapping regions"
        ]
    );
}

#[test]
fn validate_returns_the_first_error() {
    let regions = [ram("a", 0x1000, 0), ram("a", 0x1000, 0)];
    assert_eq!(validate(&regions).unwrap_err().error, ConfigError::ZeroSize);
}
