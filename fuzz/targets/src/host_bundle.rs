//! The host bundle parser (hyp/src/bundle): a FIT or a plain arm64 Image from the initrd
//! slot. Whatever it accepts must be made of the input's own bytes, with a checked kernel
//! header and a command line Linux can take; and the placement plan for an accepted bundle
//! must follow the arm64 boot protocol, keep every destination in RAM and apart, and never
//! overwrite a piece before it has moved.

use stile_hyp::addr::PhysRange;
use stile_hyp::bundle::{self, place, MAX_BUNDLE_BOOTARGS};
use stile_hyp::mm::ranges::RangeSet;

/// Where the bundle sits in the plan's model RAM (1 GiB at 0x4000_0000).
const BUNDLE_AT: u64 = 0x4800_0000;
const RAM: PhysRange = PhysRange::new(0x4000_0000, 0x4000_0000);

fn inside(piece: &[u8], whole: &[u8]) -> bool {
    let (p, w) = (piece.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + piece.len() <= w + whole.len()
}

fn at(piece: &[u8], whole: &[u8]) -> PhysRange {
    let off = piece.as_ptr() as u64 - whole.as_ptr() as u64;
    PhysRange::new(BUNDLE_AT + off, piece.len() as u64)
}

pub fn run(data: &[u8]) {
    let Ok(b) = bundle::parse(data) else {
        return;
    };
    assert!(inside(b.kernel, data), "kernel outside the bundle");
    assert!(
        b.kernel_header.image_size >= b.kernel.len() as u64,
        "image_size below the file"
    );
    if let Some(r) = b.ramdisk {
        assert!(inside(r, data), "ramdisk outside the bundle");
    }
    if let Some(args) = b.bootargs {
        assert!(
            args.len() <= MAX_BUNDLE_BOOTARGS,
            "bootargs longer than Linux takes"
        );
        assert!(!args.contains('\0'), "bootargs with a NUL inside");
    }
    let mut ram = RangeSet::new();
    ram.add(RAM).unwrap();
    let bundle = PhysRange::new(BUNDLE_AT, data.len() as u64);
    let kernel = at(b.kernel, data);
    let ramdisk = b.ramdisk.map(|r| at(r, data));
    let Ok(p) = place::plan(&b.kernel_header, kernel, ramdisk, bundle, &ram) else {
        return;
    };
    let in_ram = |r: PhysRange| r.base.0 >= RAM.base.0 && r.end() <= RAM.end();
    assert!(in_ram(p.kernel_dst), "kernel placed outside RAM");
    // The arm64 boot protocol: a 2 MiB-aligned base plus text_offset.
    let base = p
        .kernel_dst
        .base
        .0
        .wrapping_sub(b.kernel_header.text_offset);
    assert!(
        base % (2 << 20) == 0,
        "kernel at {:#x}",
        p.kernel_dst.base.0
    );
    assert_eq!(
        p.kernel_dst.size, b.kernel_header.image_size,
        "kernel window"
    );
    if let Some(m) = p.ramdisk {
        assert!(in_ram(m.dst), "initramfs placed outside RAM");
        assert!(!m.dst.overlaps(&p.kernel_dst), "initramfs over the kernel");
        if p.ramdisk_first {
            // The initramfs moves first: its destination must not cover the kernel's source.
            assert!(
                !m.dst.overlaps(&p.kernel_src),
                "initramfs moved over the unmoved kernel"
            );
        } else {
            assert!(
                !p.kernel_dst.overlaps(&m.src),
                "kernel moved over the unmoved initramfs"
            );
        }
    }
}
