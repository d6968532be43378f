//! The DTB walk: check the blob ourselves, then one depth-first pass routes each node to
//! the decoder for what it is.

use super::cells::Cells;
use super::gic::FoundGic;
use super::node::{base_name, from_fdt, phandle, Node};
use super::timer::RawTimer;
use super::uart::Uart;
use super::walk::{depth_first, find_path};
use super::{
    chosen, cpu, devices, earlycon, gic, header, memory, memreserve, psci, stdout_path, structure,
    timer, uart,
};
use super::{ConsoleSource, DtError, GicNode, NoConsole, Platform, ReservedSource, MAX_COMPATIBLE};
use fdt::nodes::AsNode;
use fdt::Fdt;

pub(super) fn parse(dtb: &[u8]) -> Result<Platform, DtError> {
    let platform = discover(dtb)?;
    if platform.ram.is_empty() {
        return Err(DtError::NoMemory);
    }
    Ok(platform)
}

/// Everything [`parse`] reads, without requiring RAM: a board's DTB as the kernel package
/// ships it often has no `/memory` (the boot firmware adds it), and nothing else depends on
/// it. The DTB-corpus test reads those.
pub(super) fn discover(dtb: &[u8]) -> Result<Platform, DtError> {
    let h = header::check(dtb)?;
    let blob = dtb.get(..h.total_size).ok_or(DtError::Truncated)?;
    structure::validate(blob, &h)?;
    let fdt = Fdt::new_unaligned_fallible(blob).map_err(from_fdt)?;
    let root = fdt.root().map_err(from_fdt)?.as_node();

    let (uart, unsupported_uart) = match console(root)? {
        Ok(uart) => (Ok(uart), heapless::String::new()),
        Err((why, compatible)) => (Err(why), compatible),
    };
    let mut found = Found {
        platform: Platform {
            // header::check bounds it by MAX_DTB_SIZE.
            dtb_size: h.total_size as u32,
            unsupported_uart,
            ..Platform::default()
        },
        uart,
        clock_rate: None,
        gic: None,
        timer: None,
        visited: 0,
    };
    memreserve::read(blob, &h, &mut found.platform)?;
    if let Some(node) = find_path(root, "/chosen")?.and_then(|c| c.last().copied()) {
        chosen::decode(&node, &mut found.platform)?;
    }
    depth_first(root, |chain| found.visit(chain))?;
    found.finish()
}

/// The UART `/chosen` names, or why it names none Stile drives (with the node's first
/// `compatible` when that is the reason).
fn console(
    root: Node<'_>,
) -> Result<Result<Uart, (NoConsole, heapless::String<MAX_COMPATIBLE>)>, DtError> {
    let none = |why| Ok(Err((why, heapless::String::new())));
    let Some(chosen) = find_path(root, "/chosen")? else {
        return none(NoConsole::NoStdoutPath);
    };
    let Some(stdout) = chosen.last().map(stdout_path::read).transpose()?.flatten() else {
        return none(NoConsole::NoStdoutPath);
    };
    let Some(chain) = stdout_path::resolve(root, stdout.path)? else {
        return none(NoConsole::PathNotFound);
    };
    match uart::decode(&chain, stdout.options.and_then(stdout_path::baud))? {
        Ok(uart) => Ok(Ok(uart)),
        Err(NoConsole::NoDriver) => match chain.last() {
            Some(node) => Ok(Err((NoConsole::NoDriver, uart::first_compatible(node)?))),
            None => none(NoConsole::NoDriver),
        },
        Err(why) => none(why),
    }
}

/// What the walk has gathered; parts that depend on each other are settled in `finish`.
struct Found<'a> {
    platform: Platform,
    uart: Result<Uart, NoConsole>,
    /// Rate of the UART's `clocks` provider, when it has no `clock-frequency` itself.
    clock_rate: Option<u32>,
    gic: Option<FoundGic>,
    timer: Option<RawTimer<'a>>,
    /// Nodes visited so far (the next one's ordinal).
    visited: u32,
}

impl<'a> Found<'a> {
    fn visit(&mut self, chain: &[Node<'a>]) -> Result<(), DtError> {
        let Some(node) = chain.last() else {
            return Ok(());
        };
        let ordinal = self.visited;
        self.visited = self.visited.saturating_add(1);
        match chain {
            [_root] => return Ok(()),
            [_root, _] => {
                memory::add_ram(chain, &mut self.platform)?;
                if self.platform.psci.is_none() {
                    self.platform.psci = psci::decode(node)?;
                }
            }
            [_root, parent, _] => match base_name(parent)? {
                "reserved-memory" => memory::add_reserved(parent, node, &mut self.platform)?,
                "cpus" => self.add_cpu(parent, node)?,
                // Newer trees (all TI K3 boards) keep PSCI under /firmware.
                "firmware" if self.platform.psci.is_none() => {
                    self.platform.psci = psci::decode(node)?;
                }
                _ => {}
            },
            _ => {}
        }
        devices::add(chain, &mut self.platform.devices)?;
        // The first GIC and timer in blob order win (a second GIC would be cascaded).
        if self.gic.is_none() {
            self.gic = gic::decode(chain)?;
            if self.gic.is_some() {
                let parent = chain.len().checked_sub(2).and_then(|i| chain.get(i));
                if let Some(parent) = parent {
                    let cells = Cells::of(parent)?;
                    self.platform.gic_node = Some(GicNode {
                        ordinal,
                        reg_entry: (cells.addr + cells.size) * 4,
                    });
                }
            }
        }
        if self.timer.is_none() {
            self.timer = timer::find(chain)?;
        }
        if let Some(wanted) = self.wanted_clock() {
            if phandle(node)? == Some(wanted) {
                self.clock_rate = uart::fixed_clock_rate(node)?;
            }
        }
        Ok(())
    }

    /// The UART's clock provider, while its rate is still needed and unknown.
    fn wanted_clock(&self) -> Option<u32> {
        let uart = self.uart.as_ref().ok()?;
        if uart.info.clock_frequency.is_some() || self.clock_rate.is_some() {
            return None;
        }
        uart.clock
    }

    /// Two CPUs with one MPIDR would make "start CPU x" ambiguous: `Malformed`.
    fn add_cpu(&mut self, cpus: &Node<'a>, node: &Node<'a>) -> Result<(), DtError> {
        let Some(cpu) = cpu::decode(cpus, node)? else {
            return Ok(());
        };
        if self.platform.cpus.iter().any(|c| c.mpidr == cpu.mpidr) {
            return Err(DtError::Malformed);
        }
        self.platform.cpus.push(cpu).map_err(|_| DtError::TooMany)
    }

    fn finish(mut self) -> Result<Platform, DtError> {
        // U-Boot's `booti` adds a /memreserve/ for exactly the initrd it placed (so a kernel
        // keeps it until unpacked). Stile consumes the initrd itself (the host payload is
        // copied out of it): reserving it would keep it out of host RAM, where it must be.
        if let Some(initrd) = self.platform.initrd {
            self.platform
                .reserved
                .retain(|r| !(r.source == ReservedSource::MemReserve && r.range == initrd));
        }
        if let (Some(raw), Some(found)) = (&self.timer, &self.gic) {
            self.platform.timer = timer::decode(raw, found)?;
        }
        self.platform.gic = self.gic.map(|g| g.gic);
        match self.uart {
            Ok(u) => {
                let mut info = u.info;
                info.clock_frequency = info.clock_frequency.or(self.clock_rate);
                self.platform.console = Some(info);
                self.platform.console_source = ConsoleSource::StdoutPath;
            }
            Err(why) => match earlycon::find(&self.platform.bootargs) {
                Some(info) => {
                    self.platform.console = Some(info);
                    self.platform.console_source = ConsoleSource::Earlycon;
                }
                None => self.platform.no_console = Some(why),
            },
        }
        Ok(self.platform)
    }
}
