//! The embedded guest image: where it goes in guest RAM, as its arm64 Image header says
//! (U-Boot `booti`'s rules: a 2 MiB-aligned base + text_offset, image_size bytes reserved).

use core::fmt;
use stile_guest::ipa::Ipa;
use stile_guest::layout;
use stile_hyp::vm::image::{parse_header, ImageError};

/// What build.rs embedded (empty when STILE_GUEST_BIN was not set).
pub static GUEST_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.bin"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Offset from the start of guest RAM (and of the donated memory) where the file goes.
    pub offset: u64,
    /// Bytes to copy.
    pub file_len: u64,
    /// Bytes the image needs from `offset` (code, data, BSS, stack).
    pub footprint: u64,
    /// Where the vCPU starts: the image's first byte.
    pub entry: Ipa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageProblem {
    Empty,
    Header(ImageError),
    /// text_offset + image_size does not fit below the layout's limit.
    TooBig {
        offset: u64,
        footprint: u64,
    },
    /// text_offset is not 4-byte aligned (no instruction can start there).
    MisalignedEntry(u64),
}

impl fmt::Display for ImageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ImageProblem::Empty => f.write_str("no guest image embedded"),
            ImageProblem::Header(e) => write!(f, "not a guest image: {}", e.reason()),
            ImageProblem::TooBig { offset, footprint } => write!(
                f,
                "the image needs {footprint:#x} bytes at text_offset {offset:#x}, more than the \
                 {:#x} the guest layout has for it",
                layout::IMAGE_LIMIT
            ),
            ImageProblem::MisalignedEntry(o) => {
                write!(f, "text_offset {o:#x} is not 4-byte aligned")
            }
        }
    }
}

/// Where `image` goes in guest RAM (based at [`layout::RAM`]).
pub fn place(image: &[u8]) -> Result<Placement, ImageProblem> {
    if image.is_empty() {
        return Err(ImageProblem::Empty);
    }
    let file_len = image.len() as u64;
    let header = parse_header(image, file_len).map_err(ImageProblem::Header)?;
    let offset = header.text_offset;
    if offset % 4 != 0 {
        return Err(ImageProblem::MisalignedEntry(offset));
    }
    let footprint = header.image_size;
    if offset
        .checked_add(footprint)
        .is_none_or(|end| end > layout::IMAGE_LIMIT)
    {
        return Err(ImageProblem::TooBig { offset, footprint });
    }
    Ok(Placement {
        offset,
        file_len,
        footprint,
        entry: layout::RAM.base.add(offset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal arm64 Image: header with `text_offset` and `image_size`, `len` bytes long.
    pub fn image(text_offset: u64, image_size: u64, len: usize) -> std::vec::Vec<u8> {
        let mut b = std::vec![0u8; len.max(64)];
        b[8..16].copy_from_slice(&text_offset.to_le_bytes());
        b[16..24].copy_from_slice(&image_size.to_le_bytes());
        b[24..32].copy_from_slice(&0xau64.to_le_bytes());
        b[0x38..0x3c].copy_from_slice(b"ARM\x64");
        b
    }

    #[test]
    fn the_image_goes_to_ram_plus_text_offset_with_its_whole_footprint() {
        let p = place(&image(0x8_0000, 0x9000, 0x4000)).unwrap();
        assert_eq!(
            p,
            Placement {
                offset: 0x8_0000,
                file_len: 0x4000,
                footprint: 0x9000,
                entry: Ipa(0x8008_0000)
            }
        );
    }

    #[test]
    fn image_size_zero_means_the_file() {
        let p = place(&image(0, 0, 0x2000)).unwrap();
        assert_eq!((p.footprint, p.entry), (0x2000, Ipa(0x8000_0000)));
    }

    #[test]
    fn an_empty_blob_means_no_image_was_embedded() {
        assert_eq!(place(&[]), Err(ImageProblem::Empty));
        assert_eq!(ImageProblem::Empty.to_string(), "no guest image embedded");
    }

    #[test]
    fn images_that_do_not_fit_or_are_not_images_are_refused() {
        assert_eq!(
            place(&image(0x10_0000, 0x10_0001, 64)),
            Err(ImageProblem::TooBig {
                offset: 0x10_0000,
                footprint: 0x10_0001
            })
        );
        assert_eq!(
            place(&image(u64::MAX - 1, 0x10, 64)),
            Err(ImageProblem::MisalignedEntry(u64::MAX - 1))
        );
        assert_eq!(
            place(&image(u64::MAX - 3, 0x10, 64)),
            Err(ImageProblem::TooBig {
                offset: u64::MAX - 3,
                footprint: 64
            })
        );
        let mut bad = image(0, 0, 64);
        bad[0x38] = b'X';
        assert_eq!(place(&bad), Err(ImageProblem::Header(ImageError::BadMagic)));
        assert_eq!(
            place(&[1, 2, 3]),
            Err(ImageProblem::Header(ImageError::TooShort))
        );
    }
}
