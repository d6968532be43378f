//! Decoding `reg`-style arrays of cells into 64-bit numbers.

use super::node::{u32_prop, Node};
use super::DtError;

/// Most cells one number may span. Wider numbers (e.g. PCI's 3-cell addresses) are accepted
/// while their high cells are 0 so the value still fits a u64.
const MAX_CELLS: u32 = 4;

/// `#address-cells` / `#size-cells` a node sets for its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cells {
    pub addr: u32,
    pub size: u32,
}

impl Cells {
    /// Devicetree spec defaults when a node does not say: 2 address cells, 1 size cell.
    /// (Not inherited from further up: the spec says each bus states its own.)
    pub fn of(node: &Node<'_>) -> Result<Cells, DtError> {
        let cells = Cells {
            addr: u32_prop(node, "#address-cells")?.unwrap_or(2),
            size: u32_prop(node, "#size-cells")?.unwrap_or(1),
        };
        if cells.addr > MAX_CELLS || cells.size > MAX_CELLS {
            return Err(DtError::Malformed);
        }
        Ok(cells)
    }
}

/// Reads `n` cells from the front of `bytes` as one big-endian number and returns it with
/// the rest. Too few bytes, or a value above u64, is `Malformed`.
pub(super) fn take(bytes: &[u8], n: u32) -> Result<(u64, &[u8]), DtError> {
    let len = n as usize * 4;
    let (head, rest) = bytes.split_at_checked(len).ok_or(DtError::Malformed)?;
    let mut value = 0u64;
    for cell in head.chunks_exact(4) {
        if value >> 32 != 0 {
            return Err(DtError::Malformed);
        }
        value = (value << 32) | u64::from(u32::from_be_bytes([cell[0], cell[1], cell[2], cell[3]]));
    }
    Ok((value, rest))
}

/// Iterator over (address, size) entries of a `reg` property.
pub(super) struct RegIter<'a> {
    rest: &'a [u8],
    cells: Cells,
}

/// Splits `bytes` into entries of `cells`; a length that is not a whole number of entries,
/// or entries of zero cells, is `Malformed`.
pub(super) fn reg_entries(bytes: &[u8], cells: Cells) -> Result<RegIter<'_>, DtError> {
    let entry = (cells.addr + cells.size) as usize * 4;
    if entry == 0 || !bytes.len().is_multiple_of(entry) {
        return Err(DtError::Malformed);
    }
    Ok(RegIter { rest: bytes, cells })
}

impl Iterator for RegIter<'_> {
    type Item = Result<(u64, u64), DtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let entry = take(self.rest, self.cells.addr).and_then(|(addr, rest)| {
            let (size, rest) = take(rest, self.cells.size)?;
            Ok((addr, size, rest))
        });
        match entry {
            Ok((addr, size, rest)) => {
                self.rest = rest;
                Some(Ok((addr, size)))
            }
            Err(e) => {
                // Stop after the first error so a caller that keeps polling cannot spin.
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}
