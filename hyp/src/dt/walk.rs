//! Visiting nodes with their ancestry: depth-first over the tree, or down one path.
//!
//! Each visit sees the chain root..=node, which is what `reg` decoding needs (cell counts
//! come from the parent, address translation from every bus above). Iterative with a
//! bounded stack: no recursion, no heap. The crate's own `all_nodes` iterator silently
//! stops at depth 16, so it is not used.

use super::node::{from_fdt, Node};
use super::structure::MAX_DEPTH;
use super::DtError;
use fdt::nodes::NodeChildrenIter;
use fdt::parsing::{unaligned::UnalignedParser, NoPanic};
use heapless::Vec;

/// Root first, the visited node last.
pub(super) type Chain<'a> = Vec<Node<'a>, MAX_DEPTH>;

type Children<'a> = NodeChildrenIter<'a, (UnalignedParser<'a>, NoPanic)>;

fn children<'a>(node: &Node<'a>) -> Result<Children<'a>, DtError> {
    Ok(node.children().map_err(from_fdt)?.iter())
}

/// Calls `visit` for every node, parents before children, in blob order.
pub(super) fn depth_first<'a>(
    root: Node<'a>,
    mut visit: impl FnMut(&[Node<'a>]) -> Result<(), DtError>,
) -> Result<(), DtError> {
    let mut chain: Chain<'a> = Vec::new();
    let mut pending: Vec<Children<'a>, MAX_DEPTH> = Vec::new();
    chain.push(root).map_err(|_| DtError::TooMany)?;
    visit(&chain)?;
    pending
        .push(children(&root)?)
        .map_err(|_| DtError::TooMany)?;
    while let Some(siblings) = pending.last_mut() {
        match siblings.next() {
            Some(child) => {
                let child = child.map_err(from_fdt)?;
                chain.push(child).map_err(|_| DtError::TooMany)?;
                visit(&chain)?;
                pending
                    .push(children(&child)?)
                    .map_err(|_| DtError::TooMany)?;
            }
            None => {
                pending.pop();
                chain.pop();
            }
        }
    }
    Ok(())
}

/// The first child of `parent` that `component` names: "name@unit" exactly, or for a
/// component without '@', a child called "name" or "name@<anything>". That is libfdt's rule
/// (U-Boot writes /chosen by it, Linux's early boot reads it by it, and the host DTB
/// rewriter edits the node it picks), so Stile reads the node they all mean.
fn child_named<'a>(parent: &Node<'a>, component: &str) -> Result<Option<Node<'a>>, DtError> {
    let any_unit = !component.contains('@');
    for child in children(parent)? {
        let child = child.map_err(from_fdt)?;
        let name = child.name().map_err(from_fdt)?;
        let matches = match name.unit_address {
            Some(unit) => {
                component
                    .split_once('@')
                    .is_some_and(|(n, u)| n == name.name && u == unit)
                    || (any_unit && component == name.name)
            }
            None => component == name.name,
        };
        if matches {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

/// Extends `chain` down the '/'-separated `path` (empty components are skipped, so
/// "/a//b/" is "/a/b"). `None` when some component does not exist.
pub(super) fn descend<'a>(mut chain: Chain<'a>, path: &str) -> Result<Option<Chain<'a>>, DtError> {
    for component in path.split('/').filter(|c| !c.is_empty()) {
        let Some(here) = chain.last() else {
            return Ok(None);
        };
        let Some(next) = child_named(here, component)? else {
            return Ok(None);
        };
        // Deeper than any node the structure check let through: cannot exist.
        if chain.push(next).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(chain))
}

/// The chain for an absolute path ("/" is the root alone).
pub(super) fn find_path<'a>(root: Node<'a>, path: &str) -> Result<Option<Chain<'a>>, DtError> {
    let mut chain = Chain::new();
    chain.push(root).map_err(|_| DtError::TooMany)?;
    descend(chain, path)
}
