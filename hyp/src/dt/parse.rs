//! The DTB walk: check the blob ourselves, then one depth-first pass routes each node to
//! the decoder for what it is.

use super::gic::FoundGic;
use super::node::{base_name, from_fdt, phandle, Node};
use super::timer::RawTimer;
use super::uart::Uart;
use super::walk::{depth_first, find_path};
use super::{
    chosen, cpu, devices, gic, header, memory, memreserve, psci, stdout_path, structure, timer,
    uart,
};
use super::{DtError, Platform};
use fdt::nodes::AsNode;
use fdt::Fdt;

pub(super) fn parse(dtb: &[u8]) -> Result<Platform, DtError> {
    let h = header::check(dtb)?;
    let blob = dtb.get(..h.total_size).ok_or(DtError::Truncated)?;
    structure::validate(blob, &h)?;
    let fdt = Fdt::new_unaligned_fallible(blob).map_err(from_fdt)?;
    let root = fdt.root().map_err(from_fdt)?.as_node();

    let mut found = Found {
        platform: Platform {
            // header::check bounds it by MAX_DTB_SIZE.
            dtb_size: h.total_size as u32,
            ..Platform::default()
        },
        uart: console(root)?,
        clock_rate: None,
        gic: None,
        timer: None,
    };
    memreserve::read(blob, &h, &mut found.platform)?;
    if let Some(node) = find_path(root, "/chosen")?.and_then(|c| c.last().copied()) {
        chosen::decode(&node, &mut found.platform)?;
    }
    depth_first(root, |chain| found.visit(chain))?;
    found.finish()
}

/// The UART `/chosen` names, if it names one we can drive.
fn console(root: Node<'_>) -> Result<Option<Uart>, DtError> {
    let Some(chosen) = find_path(root, "/chosen")? else {
        return Ok(None);
    };
    let Some(stdout) = chosen.last().map(stdout_path::read).transpose()?.flatten() else {
        return Ok(None);
    };
    let Some(chain) = stdout_path::resolve(root, stdout.path)? else {
        return Ok(None);
    };
    uart::decode(&chain, stdout.options.and_then(stdout_path::baud))
}

/// What the walk has gathered; parts that depend on each other are settled in `finish`.
struct Found<'a> {
    platform: Platform,
    uart: Option<Uart>,
    /// Rate of the UART's `clocks` provider, when it has no `clock-frequency` itself.
    clock_rate: Option<u32>,
    gic: Option<FoundGic>,
    timer: Option<RawTimer<'a>>,
}

impl<'a> Found<'a> {
    fn visit(&mut self, chain: &[Node<'a>]) -> Result<(), DtError> {
        let Some(node) = chain.last() else {
            return Ok(());
        };
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
                _ => {}
            },
            _ => {}
        }
        devices::add(chain, &mut self.platform.devices)?;
        // The first GIC and timer in blob order win (a second GIC would be cascaded).
        if self.gic.is_none() {
            self.gic = gic::decode(chain)?;
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
        let uart = self.uart?;
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
        if self.platform.ram.is_empty() {
            return Err(DtError::NoMemory);
        }
        if let (Some(raw), Some(found)) = (&self.timer, &self.gic) {
            self.platform.timer = timer::decode(raw, found)?;
        }
        self.platform.gic = self.gic.map(|g| g.gic);
        self.platform.console = self.uart.map(|u| {
            let mut info = u.info;
            info.clock_frequency = info.clock_frequency.or(self.clock_rate);
            info
        });
        Ok(self.platform)
    }
}
