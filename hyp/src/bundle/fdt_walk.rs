//! A bounds-checked walk over a flattened device tree's structure block, for bundles.
//!
//! Not the DT module's parser: a FIT carries its images inside properties, so it is tens of
//! megabytes where a DTB is at most `MAX_DTB_SIZE`, and only a few paths matter. Every
//! offset is checked against the blob; a token the walk does not know is `Malformed`.

use super::BundleError;

pub const FDT_MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
const HEADER_LEN: usize = 40;
/// Deeper trees are refused: a FIT is three levels (root, /images, an image, its hashes).
pub const MAX_DEPTH: usize = 8;

/// The FDT header fields the walk needs.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub total_size: usize,
    off_struct: usize,
    size_struct: usize,
    off_strings: usize,
    size_strings: usize,
}

fn be32(b: &[u8], at: usize) -> Result<u32, BundleError> {
    let bytes = b
        .get(at..at.checked_add(4).ok_or(BundleError::Truncated)?)
        .ok_or(BundleError::Truncated)?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Checks the header and that every block lies inside `totalsize` and `blob`.
pub fn header(blob: &[u8]) -> Result<Header, BundleError> {
    if blob.len() < HEADER_LEN {
        return Err(BundleError::Truncated);
    }
    let field = |i: usize| be32(blob, i * 4).map(|v| v as usize);
    let h = Header {
        total_size: field(1)?,
        off_struct: field(2)?,
        off_strings: field(3)?,
        size_strings: field(8)?,
        size_struct: field(9)?,
    };
    let (version, last_compatible) = (field(5)?, field(6)?);
    if version < 17 || last_compatible > 17 {
        return Err(BundleError::UnsupportedVersion);
    }
    if h.total_size > blob.len() {
        return Err(BundleError::Truncated);
    }
    let inside = |off: usize, len: usize| {
        off >= HEADER_LEN && off.checked_add(len).is_some_and(|end| end <= h.total_size)
    };
    if !inside(h.off_struct, h.size_struct)
        || !inside(h.off_strings, h.size_strings)
        || !h.off_struct.is_multiple_of(4)
    {
        return Err(BundleError::Malformed);
    }
    Ok(h)
}

/// One event of the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A node opens; `depth` is 1 for the root's children.
    Begin {
        name: &'a [u8],
        depth: usize,
    },
    /// A property of the innermost open node.
    Prop {
        name: &'a [u8],
        value: &'a [u8],
        depth: usize,
    },
    End {
        depth: usize,
    },
}

/// Calls `visit` for every node and property, in blob order, then checks the tree ended
/// properly. `visit` may stop the walk early with an error.
pub fn walk<'a>(
    blob: &'a [u8],
    h: &Header,
    mut visit: impl FnMut(Event<'a>) -> Result<(), BundleError>,
) -> Result<(), BundleError> {
    let structure = &blob[h.off_struct..h.off_struct + h.size_struct];
    let strings = &blob[h.off_strings..h.off_strings + h.size_strings];
    let mut at = 0usize;
    // Depth of open nodes, the root counting 1.
    let mut open = 0usize;
    loop {
        let token = be32(structure, at).map_err(|_| BundleError::Malformed)?;
        at += 4;
        match token {
            BEGIN_NODE => {
                let name = cstr(structure, at).ok_or(BundleError::Malformed)?;
                at = align4(at + name.len() + 1);
                open += 1;
                if open > MAX_DEPTH {
                    return Err(BundleError::Malformed);
                }
                visit(Event::Begin {
                    name,
                    depth: open - 1,
                })?;
            }
            END_NODE => {
                if open == 0 {
                    return Err(BundleError::Malformed);
                }
                open -= 1;
                visit(Event::End { depth: open })?;
            }
            PROP => {
                if open == 0 {
                    return Err(BundleError::Malformed);
                }
                let len = be32(structure, at).map_err(|_| BundleError::Malformed)? as usize;
                let name_off = be32(structure, at + 4).map_err(|_| BundleError::Malformed)?;
                at += 8;
                let value = at
                    .checked_add(len)
                    .and_then(|end| structure.get(at..end))
                    .ok_or(BundleError::Malformed)?;
                let name = cstr(strings, name_off as usize).ok_or(BundleError::Malformed)?;
                at = align4(at + len);
                visit(Event::Prop {
                    name,
                    value,
                    depth: open - 1,
                })?;
            }
            NOP => {}
            END if open == 0 => return Ok(()),
            _ => return Err(BundleError::Malformed),
        }
    }
}

/// The NUL-terminated string at `at` (without the NUL).
fn cstr(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    let len = rest.iter().position(|&c| c == 0)?;
    Some(&rest[..len])
}

fn align4(n: usize) -> usize {
    n.next_multiple_of(4)
}
