//! Placing the kernel and initramfs in host RAM around (or over) the bundle.

use crate::addr::PhysRange;
use crate::bundle::place::{plan, Move, PlaceError};
use crate::mm::ranges::RangeSet;
use crate::vm::image::ImageHeader;

const MIB: u64 = 1 << 20;

fn ram(ranges: &[(u64, u64)]) -> RangeSet {
    let mut s = RangeSet::new();
    for &(b, e) in ranges {
        s.add(PhysRange::new(b, e - b)).unwrap();
    }
    s
}

/// Debian 6.1's numbers: text_offset 0, image_size 0x2010000, placement anywhere.
const DEBIAN: ImageHeader = ImageHeader {
    text_offset: 0,
    image_size: 0x201_0000,
    flags: 0xa,
};

#[test]
fn with_room_nothing_overlaps_the_bundle() {
    let host = ram(&[(0x4000_0000, 0x4020_0000), (0x4160_0000, 0x8000_0000)]);
    let bundle = PhysRange::new(0x4800_0000, 40 * MIB);
    let kernel = PhysRange::new(0x4800_1000, 33 * MIB);
    let rd = PhysRange::new(0x4a20_0000, 5 * MIB);
    let p = plan(&DEBIAN, kernel, Some(rd), bundle, &host).unwrap();
    assert_eq!(p.kernel_dst, PhysRange::new(0x4160_0000, 0x201_0000));
    let Move { src, dst } = p.ramdisk.unwrap();
    assert_eq!(src, rd);
    assert!(!dst.overlaps(&bundle) && !dst.overlaps(&p.kernel_dst));
    assert!(!p.ramdisk_first);
}

#[test]
fn in_tight_ram_the_kernel_may_land_on_the_bundle_and_the_initramfs_moves_first() {
    // 48 MiB of host RAM, the bundle (initramfs then kernel) at its start.
    let host = ram(&[(0x4000_0000, 0x4300_0000)]);
    let bundle = PhysRange::new(0x4000_0000, 40 * MIB);
    let rd = PhysRange::new(0x4000_1000, 5 * MIB);
    let kernel = PhysRange::new(0x4060_0000, 33 * MIB);
    let p = plan(&DEBIAN, kernel, Some(rd), bundle, &host).unwrap();
    assert!(p.kernel_dst.overlaps(&bundle));
    let m = p.ramdisk.unwrap();
    assert!(!m.dst.overlaps(&p.kernel_dst) && !m.dst.overlaps(&kernel));
    // The kernel's window covers the initramfs' source: the initramfs goes first.
    assert!(p.ramdisk_first);
}

#[test]
fn an_initramfs_with_no_room_left_is_refused() {
    let host = ram(&[(0x4000_0000, 0x4300_0000)]);
    let bundle = PhysRange::new(0x4000_0000, 48 * MIB);
    let kernel = PhysRange::new(0x4000_1000, 28 * MIB);
    let rd = PhysRange::new(0x41d0_0000, 19 * MIB);
    assert_eq!(
        plan(&DEBIAN, kernel, Some(rd), bundle, &host),
        Err(PlaceError::RamdiskNoRoom)
    );
}

#[test]
fn a_kernel_larger_than_host_ram_is_refused() {
    let host = ram(&[(0x4000_0000, 0x4100_0000)]);
    let bundle = PhysRange::new(0x4000_0000, 0x1000);
    assert_eq!(
        plan(&DEBIAN, bundle, None, bundle, &host),
        Err(PlaceError::KernelNoRoom)
    );
}

#[test]
fn a_bundle_outside_host_ram_is_refused() {
    let host = ram(&[(0x4000_0000, 0x8000_0000)]);
    let bundle = PhysRange::new(0x7ff0_0000, 2 * MIB);
    assert_eq!(
        plan(&DEBIAN, bundle, None, bundle, &host),
        Err(PlaceError::BundleOutsideRam)
    );
}

#[test]
fn a_plain_image_alone_has_no_initramfs_move() {
    let host = ram(&[(0x4000_0000, 0x8000_0000)]);
    let bundle = PhysRange::new(0x4800_0000, 0x1000);
    let h = ImageHeader {
        text_offset: 0,
        image_size: 0x6_1000,
        flags: 0xa,
    };
    let p = plan(&h, bundle, None, bundle, &host).unwrap();
    assert_eq!(p.kernel_dst, PhysRange::new(0x4000_0000, 0x6_1000));
    assert_eq!(p.ramdisk, None);
}
