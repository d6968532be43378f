//! The host bundle: what the loader put in the initrd slot (QEMU `-initrd`, U-Boot `booti`'s
//! second argument). Either a plain arm64 Image (the host kernel alone), or a U-Boot FIT
//! (`mkimage -f host.its host.itb`) holding the kernel, an optional initramfs and an optional
//! command line. docs/HOST-BUNDLE.md is the format as Stile reads it.
//!
//! [`parse`] is the one entry point (also the fuzz target's): bytes in, borrowed pieces or a
//! named reason out; nothing in a bundle can make it panic, loop or read out of bounds.

mod fdt_walk;
mod fit;
pub mod place;

use crate::vm::image::{self, ImageHeader};

/// Longest command line a bundle may carry, without its NUL (Linux arm64's COMMAND_LINE_SIZE
/// is 2048 with the NUL).
pub const MAX_BUNDLE_BOOTARGS: usize = 2047;

/// The pieces of a bundle, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bundle<'a> {
    /// The arm64 Image, header checked.
    pub kernel: &'a [u8],
    pub kernel_header: ImageHeader,
    pub ramdisk: Option<&'a [u8]>,
    /// The configuration's `bootargs` (replaces the boot DTB's /chosen/bootargs).
    pub bootargs: Option<&'a str>,
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A plain arm64 Image: the kernel alone.
    Image,
    Fit,
}

/// Why a bundle was refused; `reason()` is the text of `stile: error: host bundle refused (..)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleError {
    /// Neither the FDT magic nor an arm64 Image header.
    Unrecognised,
    /// A header, block or image's data reaches past the end of the bundle.
    Truncated,
    /// The FIT's structure does not parse (bad token, unterminated name, bad sizes, ...).
    Malformed,
    UnsupportedVersion,
    NoImages,
    NoConfigurations,
    /// `/configurations` has no `default`, or it names no configuration node.
    NoDefaultConfiguration,
    /// The configuration has no `kernel` property.
    NoKernel,
    /// A configuration names an image `/images` does not have.
    MissingImage,
    /// The kernel image's `type` is not "kernel", or the ramdisk's not "ramdisk".
    WrongType,
    /// The kernel image's `arch` is not "arm64".
    WrongArch,
    /// `compression` is not "none" (Stile does not decompress).
    Compressed,
    /// An image has neither `data` nor `data-size` with an offset or position.
    NoData,
    /// Two images' data overlap, or external data overlaps the FIT's own tree.
    Overlap,
    /// The kernel lacks the arm64 Image header (magic "ARM\x64" at 0x38), or is big-endian.
    NotArm64Image,
    /// `bootargs` is not a NUL-terminated string, or is longer than [`MAX_BUNDLE_BOOTARGS`].
    BadBootargs,
    /// More images or configurations than Stile looks through.
    TooMany,
}

impl BundleError {
    pub const fn reason(self) -> &'static str {
        match self {
            BundleError::Unrecognised => "neither a FIT nor an arm64 Image",
            BundleError::Truncated => "truncated",
            BundleError::Malformed => "malformed FIT structure",
            BundleError::UnsupportedVersion => "unsupported FIT (FDT) version",
            BundleError::NoImages => "no /images node",
            BundleError::NoConfigurations => "no /configurations node",
            BundleError::NoDefaultConfiguration => "no default configuration",
            BundleError::NoKernel => "configuration names no kernel",
            BundleError::MissingImage => "configuration names a missing image",
            BundleError::WrongType => "image type is not kernel/ramdisk as named",
            BundleError::WrongArch => "kernel arch is not arm64",
            BundleError::Compressed => "unsupported compression (only \"none\")",
            BundleError::NoData => "image has no data",
            BundleError::Overlap => "image data overlap",
            BundleError::NotArm64Image => "kernel has no arm64 Image header",
            BundleError::BadBootargs => "bootargs not a string of at most 2047 bytes",
            BundleError::TooMany => "more images or configurations than Stile reads",
        }
    }
}

/// Reads a bundle. `bytes` is exactly what the loader placed (the initrd's extent).
pub fn parse(bytes: &[u8]) -> Result<Bundle<'_>, BundleError> {
    if bytes.get(..4) == Some(&fdt_walk::FDT_MAGIC.to_be_bytes()) {
        let fit = fit::read(bytes)?;
        return Ok(Bundle {
            kernel: fit.kernel,
            kernel_header: kernel_header(fit.kernel)?,
            ramdisk: fit.ramdisk,
            bootargs: fit.bootargs,
            format: Format::Fit,
        });
    }
    match image::parse_header(bytes, bytes.len() as u64) {
        Ok(h) => Ok(Bundle {
            kernel: bytes,
            kernel_header: h,
            ramdisk: None,
            bootargs: None,
            format: Format::Image,
        }),
        Err(_) => Err(BundleError::Unrecognised),
    }
}

fn kernel_header(kernel: &[u8]) -> Result<ImageHeader, BundleError> {
    image::parse_header(kernel, kernel.len() as u64).map_err(|_| BundleError::NotArm64Image)
}

#[cfg(test)]
mod tests;
