//! The host DTB: hyp's [`Platform`] plus what the payload needs beyond it, the
//! `/reserved-memory/stile-hyp@<addr>` node (Platform keeps reserved ranges without names).

use crate::oracle::Region;
use crate::oracle_boards::for_root_compatible;
use fdt::helpers::UnalignedFallibleNode;
use fdt::nodes::AsNode;
use fdt::Fdt;
use stile_hyp::addr::PhysRange;
use stile_hyp::dt::{DtError, Platform};

/// The node name (before `@`) Stile gives its own memory in the host DTB.
pub const STILE_HYP_NODE: &str = "stile-hyp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HypNode {
    /// The node's first `reg` entry; size 0 when it has no `reg`.
    pub range: PhysRange,
    pub no_map: bool,
}

#[derive(Debug, Clone)]
pub struct HostDt {
    pub platform: Platform,
    pub stile_hyp: Option<HypNode>,
    /// The board the root `compatible` names and the regions the checks expect there.
    pub machine: Option<(&'static str, &'static [Region])>,
}

/// Parses the host DTB. hyp's parser runs first and validates the whole blob, so the `fdt`
/// crate only ever walks a structure block already known to be sound.
pub fn read(dtb: &[u8]) -> Result<HostDt, DtError> {
    let platform = Platform::from_dtb(dtb)?;
    let blob = dtb
        .get(..platform.dtb_size as usize)
        .ok_or(DtError::Truncated)?;
    let stile_hyp = find_stile_hyp(blob)?;
    let fdt = Fdt::new_unaligned_fallible(blob).map_err(malformed)?;
    let root = fdt.root().map_err(malformed)?.as_node();
    let compatible = root.raw_property("compatible").map_err(malformed)?;
    let machine = compatible.and_then(|p| for_root_compatible(p.value));
    Ok(HostDt {
        platform,
        stile_hyp,
        machine,
    })
}

type Node<'a> = UnalignedFallibleNode<'a>;

fn malformed<E>(_: E) -> DtError {
    DtError::Malformed
}

fn find_stile_hyp(blob: &[u8]) -> Result<Option<HypNode>, DtError> {
    let fdt = Fdt::new_unaligned_fallible(blob).map_err(malformed)?;
    let root = fdt.root().map_err(malformed)?.as_node();
    let Some(reserved) = child_named(&root, "reserved-memory")? else {
        return Ok(None);
    };
    let Some(node) = child_named(&reserved, STILE_HYP_NODE)? else {
        return Ok(None);
    };
    let addr_cells = u32_prop(&reserved, "#address-cells")?.unwrap_or(2);
    let size_cells = u32_prop(&reserved, "#size-cells")?.unwrap_or(1);
    let range = match node.raw_property("reg").map_err(malformed)? {
        Some(reg) => first_reg(reg.value, addr_cells, size_cells)?,
        None => PhysRange::new(0, 0),
    };
    let no_map = node.raw_property("no-map").map_err(malformed)?.is_some();
    Ok(Some(HypNode { range, no_map }))
}

/// The first child whose name before `@` is `name`.
fn child_named<'a>(parent: &Node<'a>, name: &str) -> Result<Option<Node<'a>>, DtError> {
    for child in parent.children().map_err(malformed)?.iter() {
        let child = child.map_err(malformed)?;
        if child.name().map_err(malformed)?.name == name {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

fn u32_prop(node: &Node<'_>, name: &str) -> Result<Option<u32>, DtError> {
    match node.raw_property(name).map_err(malformed)? {
        None => Ok(None),
        Some(p) => match p.value {
            &[a, b, c, d] => Ok(Some(u32::from_be_bytes([a, b, c, d]))),
            _ => Err(DtError::Malformed),
        },
    }
}

/// Reads `cells` big-endian cells as one number; `None` if too short or wider than 64 bits.
fn take(bytes: &[u8], cells: u32) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_at_checked(cells as usize * 4)?;
    let mut value = 0u64;
    for cell in head.chunks_exact(4) {
        if value >> 32 != 0 {
            return None;
        }
        value = value << 32 | u64::from(u32::from_be_bytes([cell[0], cell[1], cell[2], cell[3]]));
    }
    Some((value, rest))
}

fn first_reg(reg: &[u8], addr_cells: u32, size_cells: u32) -> Result<PhysRange, DtError> {
    if addr_cells == 0 || addr_cells > 4 || size_cells > 4 {
        return Err(DtError::Malformed);
    }
    let (base, rest) = take(reg, addr_cells).ok_or(DtError::Malformed)?;
    let (size, _) = take(rest, size_cells).ok_or(DtError::Malformed)?;
    if base.checked_add(size).is_none() {
        return Err(DtError::Malformed);
    }
    Ok(PhysRange::new(base, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_1G: &[u8] = include_bytes!("../testdata/host-virt-1g.dtb");
    const PLAIN_VIRT: &[u8] = include_bytes!("../../../hyp/testdata/qemu-virt-gicv3-smp4-1g.dtb");

    #[test]
    fn finds_the_stile_hyp_node_with_its_range_and_no_map() {
        let dt = read(HOST_1G).unwrap();
        assert_eq!(
            dt.stile_hyp,
            Some(HypNode {
                range: PhysRange::new(0x4020_0000, 0x60_0000),
                no_map: true
            })
        );
        assert_eq!(dt.platform.ram.len(), 1);
        assert_eq!(dt.platform.reserved.len(), 2);
    }

    #[test]
    fn a_dtb_without_reserved_memory_has_no_stile_hyp_node() {
        assert_eq!(read(PLAIN_VIRT).unwrap().stile_hyp, None);
    }

    #[test]
    fn a_broken_dtb_is_refused_before_the_node_lookup() {
        let mut broken = HOST_1G.to_vec();
        broken[0] = 0;
        assert_eq!(read(&broken).map(|_| ()), Err(DtError::BadMagic));
        assert!(read(&HOST_1G[..100]).is_err());
    }

    #[test]
    fn reg_cells_decode_with_the_parents_cell_counts() {
        let reg = [0u8, 0, 0, 0, 0x40, 0, 0, 0, 0, 0x10, 0, 0];
        assert_eq!(
            first_reg(&reg, 2, 1),
            Ok(PhysRange::new(0x4000_0000, 0x10_0000))
        );
        assert_eq!(first_reg(&reg, 1, 1), Ok(PhysRange::new(0, 0x4000_0000)));
        assert_eq!(first_reg(&reg[..8], 2, 1), Err(DtError::Malformed));
        assert_eq!(first_reg(&reg, 0, 1), Err(DtError::Malformed));
    }
}
