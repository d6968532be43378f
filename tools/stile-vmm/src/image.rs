//! The guest image: an arm64 Linux `Image` (docs: Linux's arm64 booting protocol) is loaded
//! at `text_offset` from the start of guest RAM and entered there.

const MAGIC_OFFSET: usize = 0x38;
const MAGIC: &[u8; 4] = b"ARM\x64";
const HEADER_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Where the image goes, and where it is entered, as an offset into guest RAM.
    pub offset: u64,
    /// Bytes of RAM the image needs from `offset` (its `image_size`, or its file length
    /// for an old header without one).
    pub footprint: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    TooShort(usize),
    NoArm64Magic,
    /// The image does not fit in guest RAM: (needs, have).
    DoesNotFit(u64, u64),
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::TooShort(n) => write!(f, "{n} bytes: too short for an arm64 Image header"),
            ImageError::NoArm64Magic => write!(f, "no arm64 Image magic (\"ARM\\x64\" at 0x38)"),
            ImageError::DoesNotFit(need, have) => {
                write!(f, "needs {need:#x} bytes of guest RAM, has {have:#x}")
            }
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Where `image` goes in `ram_size` bytes of guest RAM.
pub fn place(image: &[u8], ram_size: u64) -> Result<Placement, ImageError> {
    if image.len() < HEADER_LEN {
        return Err(ImageError::TooShort(image.len()));
    }
    if &image[MAGIC_OFFSET..MAGIC_OFFSET + 4] != MAGIC {
        return Err(ImageError::NoArm64Magic);
    }
    let offset = u64_at(image, 8);
    let size = u64_at(image, 16);
    let footprint = size.max(image.len() as u64);
    let end = offset.saturating_add(footprint);
    if end > ram_size {
        return Err(ImageError::DoesNotFit(end, ram_size));
    }
    Ok(Placement { offset, footprint })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn header(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[8..16].copy_from_slice(&text_offset.to_le_bytes());
        b[16..24].copy_from_slice(&image_size.to_le_bytes());
        b[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(MAGIC);
        b
    }

    #[test]
    fn an_image_goes_at_its_text_offset_and_needs_its_image_size() {
        let p = place(&header(0x8_0000, 0x10_0000, 4096), 4 << 20).unwrap();
        assert_eq!(
            p,
            Placement {
                offset: 0x8_0000,
                footprint: 0x10_0000
            }
        );
    }

    #[test]
    fn a_file_longer_than_image_size_needs_its_length() {
        let p = place(&header(0, 0, 8192), 4 << 20).unwrap();
        assert_eq!(p.footprint, 8192);
    }

    #[test]
    fn bad_images_are_refused_with_why() {
        assert_eq!(place(&[0; 10], 1 << 20), Err(ImageError::TooShort(10)));
        let mut b = header(0, 0, 64);
        b[MAGIC_OFFSET] = b'X';
        assert_eq!(place(&b, 1 << 20), Err(ImageError::NoArm64Magic));
        assert_eq!(
            place(&header(0x10_0000, 0x40_0000, 64), 4 << 20),
            Err(ImageError::DoesNotFit(0x50_0000, 4 << 20))
        );
        assert!(matches!(
            place(&header(u64::MAX, 1, 64), 4 << 20),
            Err(ImageError::DoesNotFit(..))
        ));
    }
}
