//! The payload's run, phase by phase: DTB and console (MMU off), the EL1 identity map and
//! MMU, the checks, the VMM and its guest, the summary, power off. With `bench` in its
//! bootargs, the bench instead of the checks and the VMM.

use super::console::{self, Out};
use super::{bench, cache, fatal, hostile, layout, mmu, probe, smccc, smp, sysreg};
use crate::bench::mode::{self, Mode};
use crate::bench::Out as BenchOut;
use crate::checks;
use crate::dt_facts::{self, HostDt};
use crate::el1_attrs::El1Use;
use crate::el1_map;
use crate::facts::Facts;
use crate::report::Report;
use crate::vmm;
use core::fmt::Write;
use stile_hyp::addr::PhysRange;
use stile_hyp::cpu_features::CpuFeatures;
use stile_hyp::dt::{self, Conduit, DtError};
use stile_hyp::mm::bump::BumpTables;
use stile_hyp::mm::pgtable::PAGE_SIZE;

/// Table pages for the EL1 map (BSS: zeroed by entry.S, inside the image). qemu-virt needs 1;
/// the rest covers RAM ranges whose edges are not 1 GiB / 2 MiB aligned.
const TABLE_PAGES: usize = 64;
#[repr(C, align(4096))]
struct TablePool([[u64; 512]; TABLE_PAGES]);
static mut TABLES: TablePool = TablePool([[0; 512]; TABLE_PAGES]);

/// From entry.S, on our stack, MMU off, VBAR_EL1 set; `entry_ticks`: CNTVCT_EL0 at entry.
pub fn run(dtb: usize, entry_ticks: u64) -> ! {
    // Phase 1, MMU off: no atomic read-modify-write, nothing but plain loads and stores.
    let image = layout::image();
    let host_dt = read_dtb(dtb, image);
    // qemu-virt's PL011 is a fallback only where it exists: on qemu-virt, or when the DT
    // cannot tell (unreadable). On a board it could be RAM.
    let on_virt = host_dt
        .as_ref()
        .map_or(true, |d| matches!(d.machine, Some(("qemu-virt", _))));
    console::init(
        host_dt
            .as_ref()
            .ok()
            .and_then(|d| d.platform.console.as_ref()),
        on_virt,
    );
    let host_dt = match host_dt {
        Ok(d) => d,
        Err(e) => fatal::stop(format_args!("device tree refused ({})", e.reason())),
    };
    let platform = &host_dt.platform;
    fatal::set_conduit(platform.psci.map_or(Conduit::Smc, |p| p.conduit));
    let el = sysreg::current_el();
    if el != 1 {
        fatal::stop(format_args!(
            "entered at EL{el}: this payload is Stile's host VM and runs at EL1"
        ));
    }
    let cpu = CpuFeatures::decode(&sysreg::id_regs());
    let _ = writeln!(
        Out,
        "host: stile-host {} at EL1: image {image}, dtb {dtb:#x} ({} bytes)",
        env!("CARGO_PKG_VERSION"),
        platform.dtb_size
    );
    let _ = writeln!(
        Out,
        "host: cpu: FWB={} DIC={} PARange={}",
        u8::from(cpu.fwb),
        u8::from(cpu.dic),
        cpu.pa_bits
    );
    for r in platform.ram.iter() {
        let _ = writeln!(Out, "host: ram: {r}");
    }
    match host_dt.machine {
        Some((board, _)) => {
            let _ = writeln!(Out, "host: machine: {board}");
        }
        None => {
            let _ = writeln!(
                Out,
                "host: machine: unknown root compatible (no region oracle)"
            );
        }
    }
    match &host_dt.stile_hyp {
        Some(n) => {
            let no_map = if n.no_map { ", no-map" } else { "" };
            let _ = writeln!(Out, "host: stile-hyp: {}{no_map}", n.range);
        }
        None => {
            let _ = writeln!(Out, "host: stile-hyp: no such node in the DTB");
        }
    }

    // Phase 2: the EL1 identity map, then MMU and caches on.
    let ram = match el1_map::ram_set(&platform.ram) {
        Ok(r) => r,
        Err(_) => fatal::stop(format_args!("too many RAM ranges for the EL1 map")),
    };
    let is_ram = |addr| el1_map::use_at(addr, &ram) == Some(El1Use::Ram);
    if !is_ram(image.base.0) || !is_ram(image.end() - 1) {
        fatal::stop(format_args!(
            "image {image} is not inside the DT's RAM: Stile must place the host in host RAM"
        ));
    }
    enable_mmu(&host_dt, image, &cpu);

    // Phase 3: the checks.
    let facts = Facts {
        ram,
        stile_hyp: host_dt.stile_hyp,
        image,
        fwb: cpu.fwb,
        dic: cpu.dic,
        park_entry: probe::park_entry(),
        dtb: PhysRange::new(dtb as u64, platform.dtb_size.into()),
        reserved: heapless::Vec::new(),
        machine: host_dt.machine,
        psci: platform.psci.is_some(),
        gic: match &platform.gic {
            Some(stile_hyp::dt::Gic::V3 { gicd, gicr }) => gicr
                .first()
                .map(|r| crate::facts::HostGic::V3(gicd.base.0, r.base.0)),
            Some(stile_hyp::dt::Gic::V2 { gicd, gicc, .. }) => {
                Some(crate::facts::HostGic::V2(gicd.base.0, gicc.base.0))
            }
            None => None,
        },
        virq_wired: !platform
            .bootargs
            .split_ascii_whitespace()
            .any(|w| w == "vgic.no-virq"),
    };
    let mut facts = facts;
    for r in platform.reserved.iter() {
        // Same capacity as the parser's list: cannot fail.
        let _ = facts.reserved.push(r.range);
    }
    if let Some(mode) = hostile::mode(&platform.bootargs) {
        // The hostile host: a seeded campaign of random hypercalls, then power off.
        let mut report = Report::new(Out);
        let cpus = platform.cpus.iter().map(|c| c.mpidr);
        hostile::run(&facts, cpus, cpu.dcache_line as usize, mode, &mut report);
        report.summary();
        fatal::power_off()
    }
    let mode = match mode::parse(&platform.bootargs) {
        Ok(m) => m,
        Err(e) => fatal::stop(format_args!("{e}")),
    };
    if mode != Mode::Checks {
        // The bench: no checks, one line per metric, power off.
        let hz = bench::counter_hz();
        if !crate::bench::measure::set_counter_hz(hz) {
            let _ = writeln!(
                Out,
                "host: bench: CNTFRQ_EL0 {hz} Hz is no whole number of ns per tick: figures assume 16 instructions per tick"
            );
        }
        if bench::pmu_setup() {
            let _ = writeln!(Out, "host: bench: pmu: event counters 0 and 1 programmed");
        }
        let mut out = BenchOut::new(Out);
        crate::bench::run(
            &mut smccc::Real,
            &facts,
            vmm::image::GUEST_IMAGE,
            mode,
            entry_ticks,
            &mut out,
        );
        fatal::power_off()
    }
    let mut report = Report::new(Out);
    checks::run_all(&mut smccc::Real, &facts, &mut report);
    // SAFETY: /chosen names the initramfs Stile placed in our RAM (which the EL1 map covers
    // as Normal memory); nothing writes it while we read.
    let in_ram = |addr| el1_map::use_at(addr, &facts.ram) == Some(El1Use::Ram);
    let initrd = platform
        .initrd
        .filter(|r| in_ram(r.base.0) && in_ram(r.end() - 1))
        .map(|r| unsafe {
            core::slice::from_raw_parts(r.base.0 as usize as *const u8, r.size as usize)
        });
    checks::bundle::run(&platform.bootargs, initrd, &mut report);
    // Phase 4: the VMM runs the embedded guest.
    vmm::run(
        &mut smccc::Real,
        &facts,
        vmm::image::GUEST_IMAGE,
        &mut report,
    );
    // Phase 5: a guest's own SMP (PSCI CPU_ON between its vCPUs), then a second host CPU,
    // and guests on two CPUs at once.
    super::guest_smp::run(&facts, cpu.dcache_line as usize, &mut report);
    smp::run(
        &facts,
        platform.cpus.iter().map(|c| c.mpidr),
        cpu.dcache_line as usize,
        &mut report,
    );
    // Phase 6: IPIs between the vCPUs of one guest running on two CPUs at once.
    super::vgic_ipi::run(
        &facts,
        platform.cpus.iter().map(|c| c.mpidr),
        cpu.dcache_line as usize,
        &mut report,
    );
    report.summary();
    fatal::power_off()
}

/// Bound, check and parse the DTB at `dtb` (MMU off).
fn read_dtb(dtb: usize, image: PhysRange) -> Result<HostDt, DtError> {
    if dtb == 0 {
        return Err(DtError::NoDtb);
    }
    if !dtb.is_multiple_of(8) {
        return Err(DtError::Misaligned);
    }
    let mut header = [0u8; 8];
    for (i, b) in header.iter_mut().enumerate() {
        // SAFETY: Stile's contract says x0 points at a DTB in RAM; its first 8 bytes are the
        // magic and size, and reading RAM with the MMU off has no side effects.
        *b = unsafe { core::ptr::read_volatile((dtb + i) as *const u8) };
    }
    let size = dt::dtb_total_size(&header)?;
    if PhysRange::new(dtb as u64, size as u64).overlaps(&image) {
        // entry.S zeroed our BSS over it: the blob cannot be trusted.
        return Err(DtError::SizeMismatch);
    }
    // SAFETY: `size` is bounded by MAX_DTB_SIZE and the blob does not overlap our image (the
    // only memory we write); nobody else writes it while we run.
    let blob = unsafe { core::slice::from_raw_parts(dtb as *const u8, size) };
    dt_facts::read(blob)
}

fn enable_mmu(host_dt: &HostDt, image: PhysRange, cpu: &CpuFeatures) {
    let pool = PhysRange::new((&raw mut TABLES) as u64, (TABLE_PAGES as u64) * PAGE_SIZE);
    // SAFETY: TABLES is page aligned, inside our image, and used by nothing else.
    let mut tables = unsafe { BumpTables::new(pool) };
    let (table, stats) = match el1_map::build(&mut tables, &host_dt.platform.ram) {
        Ok(built) => built,
        Err(e) => fatal::stop(format_args!("EL1 map refused ({e:?})")),
    };
    // Everything since entry was written with the data cache off: drop any stale lines
    // over the image (code, data, BSS with the tables, stack) before caches come on.
    // SAFETY: caches are off, so memory holds the only current copy of our writes, and
    // Stile cleaned the image to PoC before entering us (the boot contract).
    unsafe {
        cache::invalidate_dcache_range(
            image.base.0 as usize,
            image.size as usize,
            cpu.dcache_line as usize,
        )
    };
    // SAFETY: the table maps all RAM (our image, stack and tables included) Normal-WB and
    // everything else below 512 GiB Device-nGnRE (the UART included); stale lines are gone.
    unsafe { mmu::enable_el1_mmu(table.root(), cpu.pa_range) };
    let _ = writeln!(
        Out,
        "host: mmu: EL1 stage 1 on: {} table page(s), {} x 1 GiB + {} x 2 MiB blocks + {} pages",
        tables.used(),
        stats.blocks_1g,
        stats.blocks_2m,
        stats.pages_4k
    );
}
