//! The DTB Stile hands its host VM: the firmware's tree, copied token by token, with the
//! memory the host must not touch carved out as `no-map` /reserved-memory children, the
//! initrd slot (which carried the host bundle to Stile) replaced by the placed initramfs or
//! hidden, /chosen rewritten, and a GICv2's virtualization frames left out of its `reg`.
//!
//! Written straight into the caller's buffer, with no heap, so it also works before the
//! EL2 heap is up and a too-small buffer is an error rather than an allocation failure.
//! The output is packed: no NOPs, no free space beyond [`HOST_DTB_SLACK`].
//!
//! Hand-written rather than built on dtoolkit 0.4: every dtoolkit path (`Fdt`, `FdtMut`,
//! `model`) first validates names against the spec's 31-character limit, and real trees
//! (i.MX8MP, RK3399: `snps,dis-u2-freeclk-exists-quirk`) carry longer property names that
//! Linux and Stile accept; its `model` also merges same-named siblings (a dropped
//! /reserved-memory child would give firmware memory to the host) and zeroes
//! `boot_cpuid_phys`, and `FdtMut` cannot add nodes. The original here has passed Stile's
//! own checks (`header::check`, `structure::validate`), so a streaming copy is small.

mod out;
mod rewrite;
mod strings;
mod tokens;

use super::header::{self, HEADER_LEN, RSV_ENTRY_LEN};
use super::{structure, DtError, MAX_DTB_SIZE};
use crate::addr::PhysRange;
use out::Out;
use strings::Strings;

/// Free bytes after the strings block (counted in `totalsize`), so a later boot stage can
/// add a few /chosen properties in place without re-packing the tree.
pub const HOST_DTB_SLACK: usize = 1024;

/// What to change in the firmware's DTB for the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostDtbEdits<'a> {
    /// Memory the host must not use: each becomes `/reserved-memory/<name>@<hex base>`
    /// with `reg` and `no-map`. Names are refused, not rewritten, unless they are plain DT
    /// node names (a letter, then letters, digits, `,._+-`; at most 31).
    pub carve_outs: &'a [(&'a str, PhysRange)],
    /// Drop `/chosen/linux,initrd-start` and `-end`.
    pub remove_initrd: bool,
    /// Replaces `/chosen/bootargs` (the caller has already removed `stile.*` words).
    pub bootargs: Option<&'a str>,
    /// u64 properties set under /chosen as two cells (replacing any of the same name).
    pub extra_chosen: &'a [(&'a str, u64)],
    /// Every `/cpus` child's `enable-method = "spin-table"` becomes `"psci"` and its
    /// `cpu-release-addr` goes: Stile holds those CPUs and is their PSCI.
    pub spin_table_to_psci: bool,
    /// Add `/psci` (`compatible = "arm,psci-1.0"`, `method = "hvc"`): Stile's own PSCI
    /// for the CPUs it holds, on a machine without PSCI firmware.
    pub add_psci_hvc: bool,
    /// (node ordinal in blob order, root 0; bytes): that node's `reg` keeps only its first
    /// bytes. A GICv2's loses GICH and GICV, which are EL2's (`Platform::gic_reg_trim`).
    pub trim_reg: Option<(u32, usize)>,
}

/// Why no host DTB was produced. `reason()` gives the stable words for `stile:` log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDtbError {
    /// The original DTB fails Stile's own header or structure checks.
    Original(DtError),
    /// The output buffer is smaller than the host DTB.
    OutOfSpace,
    /// The host DTB would exceed [`MAX_DTB_SIZE`].
    TooLarge,
    /// A carve-out or /chosen property name is not a plain DT name.
    BadName,
    /// A carve-out is empty or wraps the address space.
    BadRange,
    /// Two carve-outs, or a carve-out and an existing /reserved-memory child, would share
    /// a node name (the second would replace the first for the host).
    NameTaken,
    /// A /chosen property would be written twice (two `extra_chosen` entries, or one
    /// named `bootargs` alongside `bootargs`).
    DuplicateProperty,
    /// `bootargs` contains a NUL, which would cut it short for the host.
    BadBootargs,
    /// The root does not state `#address-cells`/`#size-cells` as 1 or 2, or an existing
    /// /reserved-memory's differ from them: Linux would ignore every carve-out.
    ReservedMemoryCells,
    /// A carve-out's base or size does not fit /reserved-memory's 1-cell encoding.
    CarveOutTooWide,
    /// `/psci` is to be added but the tree has one (or `/firmware/psci`) already.
    PsciExists,
}

impl HostDtbError {
    pub const fn reason(self) -> &'static str {
        match self {
            HostDtbError::Original(e) => e.reason(),
            HostDtbError::OutOfSpace => "host DTB does not fit its buffer",
            HostDtbError::TooLarge => "host DTB larger than Stile supports",
            HostDtbError::BadName => "carve-out or /chosen property name is not a DT name",
            HostDtbError::BadRange => "carve-out empty or wrapping",
            HostDtbError::NameTaken => "carve-out node name already in /reserved-memory",
            HostDtbError::DuplicateProperty => "/chosen property set twice",
            HostDtbError::BadBootargs => "host bootargs contain a NUL",
            HostDtbError::ReservedMemoryCells => {
                "/reserved-memory cells missing or unlike the root's"
            }
            HostDtbError::CarveOutTooWide => "carve-out does not fit /reserved-memory cells",
            HostDtbError::PsciExists => "the DT has a /psci node already",
        }
    }
}

/// Writes the host DTB for `original` with `edits` into `out` and returns its length (its
/// header `totalsize`, including [`HOST_DTB_SLACK`]; a multiple of 8). `original` may be
/// longer than its `totalsize`. On error `out` holds garbage.
pub fn build_host_dtb(
    original: &[u8],
    edits: &HostDtbEdits<'_>,
    out: &mut [u8],
) -> Result<usize, HostDtbError> {
    check_edits(edits)?;
    let h = header::check(original).map_err(HostDtbError::Original)?;
    let blob = original
        .get(..h.total_size)
        .ok_or(HostDtbError::Original(DtError::Truncated))?;
    structure::validate(blob, &h).map_err(HostDtbError::Original)?;
    let block = |off: usize, len: usize| {
        off.checked_add(len)
            .and_then(|end| blob.get(off..end))
            .ok_or(HostDtbError::Original(DtError::Truncated))
    };
    let struct_block = block(h.off_struct, h.size_struct)?;
    let strings_block = block(h.off_strings, h.size_strings)?;
    let strings = Strings::new(strings_block, edits);

    let mut w = Out::new(out);
    // Header last, when the offsets are known; /memreserve/ then right after it, as dtc
    // lays a blob out (8-aligned, since the header is 40 bytes).
    w.zeros(HEADER_LEN)?;
    copy_memreserve(blob, h.off_rsvmap, &mut w)?;
    let off_struct = w.at();
    rewrite::run(struct_block, strings_block, edits, &strings, &mut w)?;
    let off_strings = w.at();
    strings.write(&mut w)?;
    let strings_end = w.at();
    let total = (strings_end + HOST_DTB_SLACK).next_multiple_of(8);
    if total > MAX_DTB_SIZE {
        return Err(HostDtbError::TooLarge);
    }
    w.zeros(total - strings_end)?;

    let field = |n: usize| u32::try_from(n).map_err(|_| HostDtbError::TooLarge);
    let header = [
        0xd00d_feed,
        field(total)?,
        field(off_struct)?,
        field(off_strings)?,
        field(HEADER_LEN)?,
        17,
        16,
        // boot_cpuid_phys: the host boots on the CPU the firmware named.
        header::be32(blob, 28).ok_or(HostDtbError::Original(DtError::Truncated))?,
        field(strings_end - off_strings)?,
        field(off_strings - off_struct)?,
    ];
    for (i, word) in header.into_iter().enumerate() {
        w.patch_word(i * 4, word)?;
    }
    Ok(total)
}

/// Copies the /memreserve/ entries up to and including the (0, 0) terminator. Kept as
/// they are: firmware reserved them for the host's kernel as much as for Stile's.
fn copy_memreserve(blob: &[u8], mut at: usize, w: &mut Out<'_>) -> Result<(), HostDtbError> {
    loop {
        let entry = at
            .checked_add(RSV_ENTRY_LEN)
            .and_then(|end| blob.get(at..end))
            .ok_or(HostDtbError::Original(DtError::Malformed))?;
        w.bytes(entry)?;
        if entry.iter().all(|&b| b == 0) {
            return Ok(());
        }
        at += RSV_ENTRY_LEN;
    }
}

/// Every edit checked before anything is written, so a bad one never half-applies.
fn check_edits(edits: &HostDtbEdits<'_>) -> Result<(), HostDtbError> {
    for (i, (name, range)) in edits.carve_outs.iter().enumerate() {
        if !is_node_name(name) {
            return Err(HostDtbError::BadName);
        }
        if range.size == 0 || range.base.checked_add(range.size).is_none() {
            return Err(HostDtbError::BadRange);
        }
        let clash = edits.carve_outs[..i]
            .iter()
            .any(|(n, r)| n == name && r.base == range.base);
        if clash {
            return Err(HostDtbError::NameTaken);
        }
    }
    if edits.bootargs.is_some_and(|args| args.contains('\0')) {
        return Err(HostDtbError::BadBootargs);
    }
    for (i, (name, _)) in edits.extra_chosen.iter().enumerate() {
        if !is_property_name(name) {
            return Err(HostDtbError::BadName);
        }
        let twice = edits.extra_chosen[..i].iter().any(|(n, _)| n == name)
            || (edits.bootargs.is_some() && *name == "bootargs");
        if twice {
            return Err(HostDtbError::DuplicateProperty);
        }
    }
    Ok(())
}

/// Devicetree spec node-name characters, 1..=31 of them, starting with a letter. Names
/// come from Stile's own code and config, so an odd one is a bug to surface: rewriting it
/// could merge two carve-outs or show the host a name no log mentions.
fn is_node_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.len() <= 31
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b',' | b'.' | b'_' | b'+' | b'-'))
}

/// Devicetree spec property-name characters, 1..=31 of them.
fn is_property_name(name: &str) -> bool {
    (1..=31).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b',' | b'.' | b'_' | b'+' | b'?' | b'#' | b'-')
        })
}
