//! Loading a kernel image for a VM the way U-Boot's `booti` does: read the arm64 Image header,
//! pick a 2 MiB-aligned base in the VM's RAM, copy it to base + text_offset.

use crate::addr::PhysRange;
use crate::mm::ranges::RangeSet;

const HEADER_LEN: usize = 64;
const MAGIC_OFFSET: usize = 0x38;
const MAGIC: u32 = 0x644d_5241; // "ARM\x64"
const ALIGN: u64 = 2 << 20;
/// Header flags bit 3: any 2 MiB-aligned base in RAM is fine (else: near the start of RAM).
const FLAG_ANYWHERE: u64 = 1 << 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub text_offset: u64,
    /// Bytes the image needs from its load address (file plus BSS); at least the file size.
    pub image_size: u64,
    pub flags: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    TooShort,
    BadMagic,
    /// Big-endian images are not supported.
    BigEndian,
    /// No 2 MiB-aligned window of host RAM can hold it.
    NoRoom,
}

impl ImageError {
    pub const fn reason(self) -> &'static str {
        match self {
            ImageError::TooShort => "shorter than an arm64 Image header",
            ImageError::BadMagic => "no arm64 Image magic",
            ImageError::BigEndian => "big-endian image",
            ImageError::NoRoom => "no room in host RAM",
        }
    }
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// Read the header of an image of `file_len` bytes starting with `head`.
pub fn parse_header(head: &[u8], file_len: u64) -> Result<ImageHeader, ImageError> {
    if head.len() < HEADER_LEN || file_len < HEADER_LEN as u64 {
        return Err(ImageError::TooShort);
    }
    let magic = u32::from_le_bytes([
        head[MAGIC_OFFSET],
        head[MAGIC_OFFSET + 1],
        head[MAGIC_OFFSET + 2],
        head[MAGIC_OFFSET + 3],
    ]);
    if magic != MAGIC {
        return Err(ImageError::BadMagic);
    }
    let flags = le64(head, 24);
    if flags & 1 != 0 {
        return Err(ImageError::BigEndian);
    }
    let image_size = le64(head, 16);
    // image_size 0 means "unknown" in old kernels: assume the file is all of it.
    let image_size = if image_size == 0 {
        file_len
    } else {
        image_size.max(file_len)
    };
    Ok(ImageHeader {
        text_offset: le64(head, 8),
        image_size,
        flags,
    })
}

/// Where to copy the image: the lowest 2 MiB-aligned base in `ram` whose window
/// [base + text_offset, + image_size) fits in one range and avoids every range in `avoid`
/// (the image's current copy, the DTB, ...). Without the "anywhere" flag only the first
/// 2 MiB-aligned base of the first RAM range is acceptable, as on Linux.
pub fn place(h: &ImageHeader, ram: &RangeSet, avoid: &[PhysRange]) -> Result<u64, ImageError> {
    let need = h
        .text_offset
        .checked_add(h.image_size)
        .ok_or(ImageError::NoRoom)?;
    for r in ram.iter() {
        let mut base = r.base.0.checked_add(ALIGN - 1).ok_or(ImageError::NoRoom)? & !(ALIGN - 1);
        while let Some(end) = base.checked_add(need) {
            if end > r.end() {
                break;
            }
            let window = PhysRange::new(base + h.text_offset, h.image_size);
            if !avoid.iter().any(|a| a.overlaps(&window)) {
                return Ok(window.base.0);
            }
            if h.flags & FLAG_ANYWHERE == 0 {
                return Err(ImageError::NoRoom);
            }
            base += ALIGN;
        }
        if h.flags & FLAG_ANYWHERE == 0 {
            break;
        }
    }
    Err(ImageError::NoRoom)
}

/// The lowest `align`-aligned address in `ram` where `size` bytes fit inside one range
/// without touching anything in `avoid` (for the host DTB and similar small blobs).
pub fn first_fit(ram: &RangeSet, align: u64, size: u64, avoid: &[PhysRange]) -> Option<u64> {
    if !align.is_power_of_two() || size == 0 {
        return None;
    }
    for r in ram.iter() {
        let mut base = r.base.0.checked_add(align - 1)? & !(align - 1);
        while base.checked_add(size)? <= r.end() {
            let window = PhysRange::new(base, size);
            match avoid
                .iter()
                .filter(|a| a.overlaps(&window))
                .map(|a| a.end())
                .max()
            {
                None => return Some(base),
                // Skip past the highest obstacle in the way.
                Some(end) => base = end.checked_add(align - 1)? & !(align - 1),
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text_offset: u64, image_size: u64, flags: u64) -> [u8; 64] {
        let mut h = [0u8; 64];
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&flags.to_le_bytes());
        h[0x38..0x3c].copy_from_slice(b"ARM\x64");
        h
    }

    fn ram(ranges: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(b, sz) in ranges {
            s.add(PhysRange::new(b, sz)).unwrap();
        }
        s
    }

    #[test]
    fn first_fit_skips_obstacles_and_respects_alignment() {
        let r = ram(&[(0x4000_0000, 0x10_0000), (0x5000_0000, 0x10_0000)]);
        assert_eq!(first_fit(&r, 0x1000, 0x2000, &[]), Some(0x4000_0000));
        let avoid = [PhysRange::new(0x4000_0000, 0x0f_f800)];
        assert_eq!(first_fit(&r, 0x1000, 0x2000, &avoid), Some(0x5000_0000));
        assert_eq!(first_fit(&r, 0x1000, 0x20_0000, &[]), None);
        assert_eq!(
            first_fit(&r, 3, 0x10, &[]),
            None,
            "alignment must be a power of two"
        );
    }

    #[test]
    fn header_fields_are_read_little_endian() {
        let h = parse_header(&header(0x8_0000, 0x2_0000, 0xa), 0x1_0000).unwrap();
        assert_eq!(
            h,
            ImageHeader {
                text_offset: 0x8_0000,
                image_size: 0x2_0000,
                flags: 0xa
            }
        );
    }

    #[test]
    fn size_is_at_least_the_file() {
        assert_eq!(
            parse_header(&header(0, 0, 0xa), 0x5000).unwrap().image_size,
            0x5000
        );
        assert_eq!(
            parse_header(&header(0, 0x1000, 0xa), 0x5000)
                .unwrap()
                .image_size,
            0x5000
        );
    }

    #[test]
    fn bad_images_are_refused_with_a_reason() {
        assert_eq!(parse_header(&[0; 10], 10), Err(ImageError::TooShort));
        assert_eq!(parse_header(&[0; 64], 64), Err(ImageError::BadMagic));
        assert_eq!(
            parse_header(&header(0, 0, 1), 64),
            Err(ImageError::BigEndian)
        );
    }

    #[test]
    fn placement_skips_windows_that_overlap_what_must_be_kept() {
        let h = parse_header(&header(0, 0x1_0000, 0xa), 0x1_0000).unwrap();
        let r = ram(&[(0x4000_0000, 0x1000_0000)]);
        assert_eq!(place(&h, &r, &[]), Ok(0x4000_0000));
        let avoid = [
            PhysRange::new(0x4000_8000, 0x1000),
            PhysRange::new(0x4020_0000, 0x20_0000),
        ];
        assert_eq!(place(&h, &r, &avoid), Ok(0x4040_0000));
    }

    #[test]
    fn placement_honours_text_offset_and_unaligned_ram() {
        let h = parse_header(&header(0x8_0000, 0x1_0000, 0xa), 0x1_0000).unwrap();
        let r = ram(&[(0x4010_0000, 0x1000_0000)]);
        assert_eq!(place(&h, &r, &[]), Ok(0x4028_0000));
    }

    #[test]
    fn without_the_anywhere_flag_only_the_first_base_will_do() {
        let h = parse_header(&header(0, 0x1_0000, 0x2), 0x1_0000).unwrap();
        let r = ram(&[(0x4000_0000, 0x1000_0000)]);
        assert_eq!(
            place(&h, &r, &[PhysRange::new(0x4000_0000, 0x1000)]),
            Err(ImageError::NoRoom)
        );
        assert_eq!(place(&h, &r, &[]), Ok(0x4000_0000));
    }

    #[test]
    fn an_image_larger_than_ram_or_absurd_does_not_fit() {
        let h = parse_header(&header(0, u64::MAX - 8, 0xa), 64).unwrap();
        assert_eq!(
            place(&h, &ram(&[(0x4000_0000, 0x1000_0000)]), &[]),
            Err(ImageError::NoRoom)
        );
        let big = parse_header(&header(0, 0x2000_0000, 0xa), 64).unwrap();
        assert_eq!(
            place(&big, &ram(&[(0x4000_0000, 0x1000_0000)]), &[]),
            Err(ImageError::NoRoom)
        );
    }
}
