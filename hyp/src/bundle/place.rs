//! Where the host's kernel and initramfs go in host RAM, and in which order to move them
//! there from the bundle, which itself lies in host RAM and may overlap their destinations.
//!
//! The kernel follows the arm64 boot protocol (`vm::image::place`: a 2 MiB-aligned base plus
//! `text_offset`, `image_size` bytes free); the initramfs goes at the lowest page-aligned
//! place clear of the kernel. Places clear of the bundle are preferred; when RAM is too tight
//! for that, a destination may overlap the bundle as long as one move order never writes
//! over a source not yet moved.

use crate::addr::PhysRange;
use crate::mm::ranges::RangeSet;
use crate::vm::image::{self, ImageHeader};

const PAGE: u64 = 4096;

/// Where each piece is now (inside the bundle) and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub kernel_src: PhysRange,
    /// The whole window the kernel needs: its file, then `image_size - file` of BSS to zero.
    pub kernel_dst: PhysRange,
    pub ramdisk: Option<Move>,
    /// Move the initramfs before the kernel (the kernel's window covers its source).
    pub ramdisk_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub src: PhysRange,
    pub dst: PhysRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceError {
    /// The bundle does not lie inside host RAM.
    BundleOutsideRam,
    KernelNoRoom,
    RamdiskNoRoom,
    /// Every placement found writes over a piece before it is moved.
    Overlap,
}

impl PlaceError {
    pub const fn reason(self) -> &'static str {
        match self {
            PlaceError::BundleOutsideRam => "bundle not inside host RAM",
            PlaceError::KernelNoRoom => "kernel does not fit in host RAM",
            PlaceError::RamdiskNoRoom => "initramfs does not fit in host RAM",
            PlaceError::Overlap => "bundle overlaps where its kernel and initramfs must go",
        }
    }
}

/// Plans the moves of `kernel` (with header `h`) and `ramdisk`, both inside `bundle`.
pub fn plan(
    h: &ImageHeader,
    kernel: PhysRange,
    ramdisk: Option<PhysRange>,
    bundle: PhysRange,
    ram: &RangeSet,
) -> Result<Plan, PlaceError> {
    if !ram
        .iter()
        .any(|r| r.base.0 <= bundle.base.0 && bundle.end() <= r.end())
    {
        return Err(PlaceError::BundleOutsideRam);
    }
    let kernel_dst = image::place(h, ram, &[bundle])
        .or_else(|_| image::place(h, ram, &[]))
        .map_err(|_| PlaceError::KernelNoRoom)?;
    let kernel_dst = PhysRange::new(kernel_dst, h.image_size);
    let Some(src) = ramdisk else {
        return Ok(Plan {
            kernel_src: kernel,
            kernel_dst,
            ramdisk: None,
            ramdisk_first: false,
        });
    };
    let fit = |avoid: &[PhysRange]| image::first_fit(ram, PAGE, src.size, avoid);
    let dst = fit(&[kernel_dst, bundle])
        .or_else(|| fit(&[kernel_dst, kernel]))
        .or_else(|| fit(&[kernel_dst]))
        .ok_or(PlaceError::RamdiskNoRoom)?;
    let dst = PhysRange::new(dst, src.size);
    // Kernel first is safe unless its window covers the initramfs' source; initramfs
    // first unless its destination covers the kernel's source. (Each move itself is a
    // memmove, so a piece overlapping its own destination is fine.)
    let ramdisk_first = if !kernel_dst.overlaps(&src) {
        false
    } else if !dst.overlaps(&kernel) {
        true
    } else {
        return Err(PlaceError::Overlap);
    };
    Ok(Plan {
        kernel_src: kernel,
        kernel_dst,
        ramdisk: Some(Move { src, dst }),
        ramdisk_first,
    })
}
