//! The struct-block pass: the original's tokens are copied in order, except NOPs (dropped,
//! so the output is packed) and the /chosen properties the edits replace. Additions go
//! where a node's property list ends (properties must precede children): new /chosen
//! properties, a missing `ranges`, and the carve-out children before /reserved-memory
//! closes; a /chosen or /reserved-memory the original lacks is added before the root closes.
//!
//! One pass, no recursion, no heap: the only state is the depth, which root child we are
//! in, and the cell counts read on the way down (properties come before children, so the
//! root's cells are known before any child is written).

use super::out::{Out, FDT_END};
use super::strings::Strings;
use super::tokens::{read, Token, MALFORMED};
use super::{HostDtbEdits, HostDtbError};

/// Copies `block` (the original struct block) to `out` with `edits` applied.
pub(super) fn run(
    block: &[u8],
    strings_block: &[u8],
    edits: &HostDtbEdits<'_>,
    strings: &Strings<'_>,
    out: &mut Out<'_>,
) -> Result<(), HostDtbError> {
    let mut pass = Pass::new(edits, strings);
    let mut at = 0;
    loop {
        let (token, next) = read(block, strings_block, at)?;
        at = next;
        match token {
            Token::Nop => {}
            Token::Begin { name, raw } => {
                pass.close_props(out)?;
                pass.enter(name)?;
                out.bytes(raw)?;
            }
            Token::Prop { name, value, raw } => match pass.keep(name, value) {
                Keep::Copy => out.bytes(raw)?,
                Keep::Drop => {}
                Keep::Replace(with) => out.prop(strings.offset("enable-method")?, &[with])?,
                Keep::Cut(len) => out.prop(strings.offset("reg")?, &[&value[..len]])?,
            },
            Token::EndNode => {
                pass.close_props(out)?;
                pass.leave(out)?;
                out.end_node()?;
            }
            Token::End if pass.depth == 0 => return out.word(FDT_END),
            Token::End => return Err(MALFORMED),
        }
    }
}

/// Which root child the walk is inside (it stays set below that child).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Other,
    Chosen,
    ReservedMemory,
    Cpus,
    Firmware,
}

/// What happens to one property of the original.
enum Keep {
    Copy,
    Drop,
    /// The `enable-method` of a CPU Stile holds, with this value instead.
    Replace(&'static [u8]),
    /// The `reg` of the node `trim_reg` names, cut to this many bytes.
    Cut(usize),
}

/// `#address-cells` / `#size-cells` as a node states them (absent stays `None`: Linux and
/// Stile disagree on the defaults, so an absent count is never guessed).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct CellCounts {
    addr: Option<u32>,
    size: Option<u32>,
}

impl CellCounts {
    fn note(&mut self, name: &[u8], value: &[u8]) {
        let cells = match *value {
            [a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        };
        match name {
            b"#address-cells" => self.addr = cells,
            b"#size-cells" => self.size = cells,
            _ => {}
        }
    }

    /// Both counts, if stated and ones a carve-out's `reg` can be written in.
    fn usable(self) -> Option<(u32, u32)> {
        match (self.addr, self.size) {
            (Some(a @ 1..=2), Some(s @ 1..=2)) => Some((a, s)),
            _ => None,
        }
    }
}

struct Pass<'e> {
    edits: &'e HostDtbEdits<'e>,
    strings: &'e Strings<'e>,
    depth: usize,
    section: Section,
    /// The current node has not yet reached its first child or its end.
    props_open: bool,
    root_cells: CellCounts,
    /// The /reserved-memory being walked is the one that gets the carve-outs.
    rm_target: bool,
    rm_cells: CellCounts,
    rm_has_ranges: bool,
    seen_chosen: bool,
    chosen_added: bool,
    carved: bool,
    /// The tree has `/psci` or `/firmware/psci`.
    seen_psci: bool,
    /// Nodes begun so far (the next one's ordinal), and whether the current node is the
    /// one whose `reg` is cut.
    nodes: u32,
    trim_here: bool,
}

impl<'e> Pass<'e> {
    fn new(edits: &'e HostDtbEdits<'e>, strings: &'e Strings<'e>) -> Pass<'e> {
        Pass {
            edits,
            strings,
            depth: 0,
            section: Section::Other,
            props_open: false,
            root_cells: CellCounts::default(),
            rm_target: false,
            rm_cells: CellCounts::default(),
            rm_has_ranges: false,
            seen_chosen: false,
            chosen_added: false,
            carved: false,
            seen_psci: false,
            nodes: 0,
            trim_here: false,
        }
    }

    fn enter(&mut self, name: &[u8]) -> Result<(), HostDtbError> {
        self.depth += 1;
        self.props_open = true;
        self.trim_here = self.edits.trim_reg.is_some_and(|(at, _)| at == self.nodes);
        self.nodes = self.nodes.saturating_add(1);
        if self.depth == 2 {
            // Matched without the unit address, as Linux's path lookup and Stile's parser do.
            let base = name.split(|&b| b == b'@').next().unwrap_or(name);
            self.section = match base {
                b"chosen" => Section::Chosen,
                b"reserved-memory" => Section::ReservedMemory,
                b"cpus" => Section::Cpus,
                b"firmware" => Section::Firmware,
                _ => Section::Other,
            };
            self.seen_psci |= base == b"psci";
            match self.section {
                Section::Chosen => self.seen_chosen = true,
                Section::ReservedMemory => {
                    // A second /reserved-memory (broken, but seen) is copied untouched.
                    self.rm_target = !self.carved && !self.edits.carve_outs.is_empty();
                    self.rm_cells = CellCounts::default();
                    self.rm_has_ranges = false;
                }
                Section::Other | Section::Cpus | Section::Firmware => {}
            }
        } else if self.depth == 3 && self.section == Section::Firmware {
            self.seen_psci |= name.split(|&b| b == b'@').next() == Some(b"psci");
        } else if self.depth == 3 && self.rm_target {
            // Replacing a firmware reservation would hand its memory to the host.
            let taken = self
                .edits
                .carve_outs
                .iter()
                .any(|(n, r)| is_node_name(name, n, r.base.as_u64()));
            if taken {
                return Err(HostDtbError::NameTaken);
            }
        }
        Ok(())
    }

    /// What to do with a property of the current node; notes the cells it states.
    fn keep(&mut self, name: &[u8], value: &[u8]) -> Keep {
        if let (true, b"reg", Some((_, len))) = (self.trim_here, name, self.edits.trim_reg) {
            if len < value.len() {
                return Keep::Cut(len);
            }
        }
        match (self.depth, self.section) {
            (1, _) => self.root_cells.note(name, value),
            (2, Section::Chosen) if self.replaced(name) => return Keep::Drop,
            (2, Section::ReservedMemory) => {
                self.rm_cells.note(name, value);
                self.rm_has_ranges |= name == b"ranges";
            }
            (3, Section::Cpus) if self.edits.spin_table_to_psci => match name {
                b"enable-method" if value == b"spin-table\0" => return Keep::Replace(b"psci\0"),
                b"cpu-release-addr" => return Keep::Drop,
                _ => {}
            },
            _ => {}
        }
        Keep::Copy
    }

    /// A /chosen property the edits drop or rewrite.
    fn replaced(&self, name: &[u8]) -> bool {
        let e = self.edits;
        (e.remove_initrd && matches!(name, b"linux,initrd-start" | b"linux,initrd-end"))
            || (e.bootargs.is_some() && name == b"bootargs")
            || e.extra_chosen.iter().any(|(n, _)| n.as_bytes() == name)
    }

    /// At the end of the current node's property list: append the properties it gains.
    fn close_props(&mut self, out: &mut Out<'_>) -> Result<(), HostDtbError> {
        if !core::mem::replace(&mut self.props_open, false) || self.depth != 2 {
            return Ok(());
        }
        match self.section {
            Section::Chosen if !self.chosen_added => {
                self.chosen_added = true;
                self.chosen_props(out)
            }
            Section::ReservedMemory if self.rm_target => {
                self.existing_rm_cells()?;
                // Linux ignores a /reserved-memory without `ranges`; the binding demands
                // an empty one (1:1), which is also how Stile reads it.
                if !self.rm_has_ranges {
                    out.prop(self.strings.offset("ranges")?, &[])?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Cells of the existing /reserved-memory. Linux ignores the whole node (every
    /// carve-out with it) unless they are stated and equal the root's.
    fn existing_rm_cells(&self) -> Result<(u32, u32), HostDtbError> {
        match self.rm_cells.usable() {
            Some(cells) if self.root_cells.usable() == Some(cells) => Ok(cells),
            _ => Err(HostDtbError::ReservedMemoryCells),
        }
    }

    /// At the current node's `FDT_END_NODE` (its children done): append the nodes it gains.
    fn leave(&mut self, out: &mut Out<'_>) -> Result<(), HostDtbError> {
        match self.depth {
            2 => {
                if self.section == Section::ReservedMemory && self.rm_target {
                    let (addr, size) = self.existing_rm_cells()?;
                    self.carve_out_nodes(out, addr, size)?;
                    self.carved = true;
                    self.rm_target = false;
                }
                self.section = Section::Other;
            }
            1 => {
                let e = self.edits;
                if !self.seen_chosen && (e.bootargs.is_some() || !e.extra_chosen.is_empty()) {
                    out.begin_node(&[b"chosen"])?;
                    self.chosen_props(out)?;
                    out.end_node()?;
                }
                if !self.carved && !e.carve_outs.is_empty() {
                    self.reserved_memory_node(out)?;
                }
                if e.add_psci_hvc {
                    self.psci_node(out)?;
                }
            }
            _ => {}
        }
        self.depth = self.depth.checked_sub(1).ok_or(MALFORMED)?;
        Ok(())
    }

    fn chosen_props(&self, out: &mut Out<'_>) -> Result<(), HostDtbError> {
        if let Some(args) = self.edits.bootargs {
            out.prop(self.strings.offset("bootargs")?, &[args.as_bytes(), &[0]])?;
        }
        for (name, value) in self.edits.extra_chosen {
            // Two cells, most significant first: a u64 is its big-endian bytes.
            out.prop(self.strings.offset(name)?, &[&value.to_be_bytes()])?;
        }
        Ok(())
    }

    /// `/psci` for Stile's own PSCI (vm/psci_held.rs), reached with HVC.
    fn psci_node(&self, out: &mut Out<'_>) -> Result<(), HostDtbError> {
        if self.seen_psci {
            return Err(HostDtbError::PsciExists);
        }
        out.begin_node(&[b"psci"])?;
        out.prop(self.strings.offset("compatible")?, &[b"arm,psci-1.0\0"])?;
        out.prop(self.strings.offset("method")?, &[b"hvc\0"])?;
        out.end_node()
    }

    /// A new /reserved-memory in the root's cells, as Linux requires.
    fn reserved_memory_node(&mut self, out: &mut Out<'_>) -> Result<(), HostDtbError> {
        let (addr, size) = self
            .root_cells
            .usable()
            .ok_or(HostDtbError::ReservedMemoryCells)?;
        out.begin_node(&[b"reserved-memory"])?;
        out.prop(
            self.strings.offset("#address-cells")?,
            &[&addr.to_be_bytes()],
        )?;
        out.prop(self.strings.offset("#size-cells")?, &[&size.to_be_bytes()])?;
        out.prop(self.strings.offset("ranges")?, &[])?;
        self.carve_out_nodes(out, addr, size)?;
        self.carved = true;
        out.end_node()
    }

    /// `<name>@<hex base> { reg = <base size>; no-map; }` for every carve-out.
    fn carve_out_nodes(&self, out: &mut Out<'_>, addr: u32, size: u32) -> Result<(), HostDtbError> {
        let reg = self.strings.offset("reg")?;
        let no_map = self.strings.offset("no-map")?;
        for (name, range) in self.edits.carve_outs {
            let base = range.base.as_u64();
            let (mut a, mut s) = ([0u8; 8], [0u8; 8]);
            let a = encode(base, addr, &mut a)?;
            let s = encode(range.size, size, &mut s)?;
            out.begin_node(&[name.as_bytes(), b"@", Hex::new(base).as_bytes()])?;
            out.prop(reg, &[a, s])?;
            out.prop(no_map, &[])?;
            out.end_node()?;
        }
        Ok(())
    }
}

/// `value` as `cells` big-endian cells (1 or 2).
fn encode(value: u64, cells: u32, buf: &mut [u8; 8]) -> Result<&[u8], HostDtbError> {
    *buf = value.to_be_bytes();
    match cells {
        1 if value <= u64::from(u32::MAX) => Ok(&buf[4..]),
        1 => Err(HostDtbError::CarveOutTooWide),
        2 => Ok(&buf[..]),
        _ => Err(HostDtbError::ReservedMemoryCells),
    }
}

/// Whether `existing` is exactly the node name `<name>@<hex addr>` a carve-out gets.
fn is_node_name(existing: &[u8], name: &str, addr: u64) -> bool {
    existing
        .strip_prefix(name.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"@"))
        == Some(Hex::new(addr).as_bytes())
}

/// Lower-case hex without `0x` or leading zeros: dtc's unit-address style.
struct Hex {
    digits: [u8; 16],
    start: usize,
}

impl Hex {
    fn new(mut value: u64) -> Hex {
        let mut hex = Hex {
            digits: [b'0'; 16],
            start: 15,
        };
        for (i, digit) in hex.digits.iter_mut().enumerate().rev() {
            *digit = b"0123456789abcdef"[(value & 0xf) as usize];
            value >>= 4;
            if *digit != b'0' {
                hex.start = i;
            }
        }
        hex
    }

    fn as_bytes(&self) -> &[u8] {
        self.digits.get(self.start..).unwrap_or(b"0")
    }
}
