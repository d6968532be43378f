//! Stile's EL2 image: entry (entry.S) and the boot flow, phase by phase.
#![no_std]
#![no_main]

extern crate alloc;
// The lower-EL trap entry (vectors.S calls it): its own crate, built at opt-level 3.
extern crate stile_trap;

mod heap;
mod host;
mod layout;
mod panic;
mod secondary;
mod selftest;

use log::{error, info, LevelFilter};
use stile_hyp::addr::PhysRange;
use stile_hyp::arch::{cache, exceptions, mmu, psci, smp, spin_table, sysreg};
use stile_hyp::console::Console;
use stile_hyp::cpu_features::CpuFeatures;
use stile_hyp::dt::spin_table::SpinTable;
use stile_hyp::dt::{self, Conduit, DtError, Gic, Platform};
use stile_hyp::logger;
use stile_hyp::mm::bump::BumpTables;
use stile_hyp::mm::el2_map::{build_el2_map, ImageLayout};
use stile_hyp::mm::frames::Frames;
use stile_hyp::mm::pgtable::{PageTable, PAGE_SIZE};
use stile_hyp::mm::ranges::RangeSet;
use stile_platform::BOARD;

core::arch::global_asm!(
    include_str!("../../linker/self-relocate.S"),
    include_str!("entry.S")
);

/// Page-table pages for EL2's own map (BSS: zeroed by entry.S, inside the image).
const BOOT_TABLE_PAGES: usize = 32;
#[repr(C, align(4096))]
struct TablePool([[u64; 512]; BOOT_TABLE_PAGES]);
static mut BOOT_TABLES: TablePool = TablePool([[0; 512]; BOOT_TABLE_PAGES]);

/// Called by entry.S on the boot CPU: MMU off, BSS zeroed, relocations applied, on CPU 0's
/// stack, VBAR_EL2 set (when at EL2).
#[no_mangle]
extern "C" fn stile_main(dtb: usize, entry_el: u64, _image_base: usize) -> ! {
    // Phase 1, MMU off: no atomics read-modify-write, no heap.
    // Until the DT says otherwise, the fatal paths use the board's PSCI (or park without).
    psci::set_firmware(BOARD.default_psci_conduit);
    let image = layout::image_layout();
    let platform = read_platform(dtb, image.as_ref().ok());
    open_console(platform.as_ref().ok());
    let platform = match platform {
        Ok(p) => p,
        Err(e) => {
            error!("device tree refused ({})", e.reason());
            psci::power_off_or_park(BOARD.default_psci_conduit);
        }
    };
    // The DT decides: a DT without PSCI means none, whatever the board data says.
    let conduit = platform.psci.map(|p| p.conduit);
    if entry_el != 2 {
        error!("entered at EL{entry_el} (Stile must be entered at EL2: boot it with virtualization enabled)");
        if entry_el == 1 {
            psci::power_off_or_park(conduit);
        }
        // At EL3 there is no firmware below us to call.
        psci::park();
    }
    psci::set_firmware(conduit);
    let image = match image {
        Ok(i) => i,
        Err(why) => {
            error!("image layout refused ({why})");
            psci::power_off_or_park(conduit);
        }
    };
    info!(
        "Stile {} on {} entered at EL2: image {} ({} KiB incl. BSS and stacks), dtb {:#x} ({} bytes)",
        env!("CARGO_PKG_VERSION"),
        BOARD.name,
        image.image,
        image.image.size / 1024,
        dtb,
        platform.dtb_size
    );
    let features = CpuFeatures::decode(&sysreg::id_regs());

    // Phase 2: EL2's own identity map, then MMU and caches on.
    let dtb_range = PhysRange::new(dtb as u64, platform.dtb_size as u64);
    enable_mmu(&image, &platform, dtb_range, &features, conduit);
    logger::enable_locking();
    for cpu in 0..image.cpus {
        exceptions::register_stack_guard(cpu as usize, image.guard(cpu));
    }

    // Phase 3: allocators, and EL2's share of RAM.
    let heap_bytes = heap::init();
    let hyp = hyp_memory(&image);
    let frames = match init_frames(&platform, &image, hyp, dtb_range) {
        Ok(f) => f,
        Err(why) => {
            error!("memory map refused ({why})");
            psci::power_off_or_park(conduit);
        }
    };
    info!(
        "memory: EL2 owns {hyp}: image, heap {} KiB, {} MiB of page frames",
        heap_bytes / 1024,
        frames.free_bytes() >> 20
    );

    // Phase 4: report what we found.
    info!("cpu: {features}");
    report_platform(&platform);
    let held = start_smp(&platform, features.dcache_line as usize);
    selftest::run(stile_hyp::bootargs::option(&platform.bootargs, "selftest"));

    // Phase 5: the host VM. Only returns if there is nothing to run.
    let why = host::boot_host(host::HostBoot {
        platform: &platform,
        features: &features,
        dtb: dtb_range,
        hyp,
        frames,
        stack_top: image.stack(0).end(),
        spin_pages: held.as_ref().map_or(&[], |t| &t.pages[..]),
    });
    error!("no host VM ({why}); powering off");
    psci::power_off_or_park(conduit)
}

/// Number the CPUs and learn which PSCI calls the firmware has, so the host's can be
/// relayed. Without PSCI in the DT nothing is asked (an SMC nobody answers is UNDEFINED).
/// Spin-table CPUs are released into EL2 and held for the host (arch/spin_table.rs); the
/// spin table is returned if any was.
fn start_smp(p: &Platform, dcache_line: usize) -> Option<SpinTable> {
    let boot = stile_hyp::arch::host_entry::host_mpidr() & smp::MPIDR_AFFINITY;
    let n = smp::init_cpus(p.cpus.iter().map(|c| c.mpidr), boot);
    if p.cpus.len() > n {
        error!(
            "cpus: only {n} of {} CPUs can run the host (MAX_CPUS)",
            p.cpus.len()
        );
    }
    if p.psci.is_some_and(|c| c.conduit == Conduit::Smc) {
        let fw = smp::probe_firmware();
        info!(
            "psci: firmware PSCI {}.{}; the host's calls are relayed ({} of {} implemented)",
            fw.version >> 16,
            fw.version & 0xffff,
            fw.implemented.count_ones(),
            stile_hyp::vm::psci_policy::RELAYABLE.len()
        );
    } else if p.psci.is_some() {
        info!("psci: no SMC firmware in the DT; the host's PSCI calls are refused");
    }
    hold_spin_table(p, boot, dcache_line)
}

/// Release the spin-table secondaries into EL2, where they wait for the host's CPU_ON
/// (vm/psci_held.rs); with no PSCI firmware Stile answers all the host's PSCI calls.
fn hold_spin_table(p: &Platform, boot: u64, dcache_line: usize) -> Option<SpinTable> {
    let spin = SpinTable::from_platform(p, boot);
    for (mpidr, why) in spin.refused.iter() {
        error!(
            "cpus: spin-table CPU MPIDR {mpidr:#x} left to the firmware ({})",
            why.reason()
        );
    }
    if spin.cpus.is_empty() {
        if p.psci.is_none() {
            info!("psci: no PSCI firmware in the DT and no CPU to hold; the host's PSCI calls are refused");
        }
        return None;
    }
    let released = spin_table::release(&spin.cpus, dcache_line);
    if released.no_slot > 0 {
        error!(
            "cpus: {} spin-table CPUs left to the firmware (MAX_CPUS)",
            released.no_slot
        );
    }
    if released.cpus == 0 {
        return None;
    }
    if p.psci.is_none() {
        smp::set_psci_emulated();
    }
    // The released CPUs say so themselves; wait for them briefly so the log is in order.
    let (start, freq) = sysreg::counter();
    while smp::held_arrived() < released.cpus && sysreg::counter().0.wrapping_sub(start) < freq / 10
    {
        core::hint::spin_loop();
    }
    info!(
        "cpus: {} spin-table CPUs released into EL2, {} waiting there for the host's CPU_ON",
        released.cpus,
        smp::held_arrived()
    );
    if p.psci.is_none() {
        info!("psci: no PSCI firmware in the DT; Stile answers the host's PSCI (1.0, hvc) for the CPUs it holds");
    }
    Some(spin)
}

/// Board regions inside RAM that are not host RAM (coherent device memory, NC windows):
/// EL2 never maps them, whatever the boot-time checks later decide about them.
fn carve_outs() -> heapless::Vec<PhysRange, 16> {
    BOARD
        .regions
        .iter()
        .filter(|r| !r.is_host_ram() && r.kind != stile_hyp::mm::kind::MemoryKind::Device)
        .map(|r| r.range)
        .collect()
}

/// Page frames for stage-2 tables and EL2's own bookkeeping, right after the image.
const HYP_POOL_SIZE: u64 = 16 << 20;
const BLOCK_2M: u64 = 2 << 20;

/// EL2's memory: the image (from its 2 MiB-aligned base) plus the frame pool after it,
/// in whole 2 MiB blocks so the host's map around it can use blocks.
fn hyp_memory(image: &ImageLayout) -> PhysRange {
    let start = image.image.base.0 & !(BLOCK_2M - 1);
    let end = image.image.end().next_multiple_of(BLOCK_2M) + HYP_POOL_SIZE;
    PhysRange::new(start, end - start)
}

/// Bound, check and parse the DTB at `dtb` (MMU off).
fn read_platform(dtb: usize, image: Option<&ImageLayout>) -> Result<Platform, DtError> {
    if dtb == 0 {
        return Err(DtError::NoDtb);
    }
    if !dtb.is_multiple_of(8) {
        return Err(DtError::Misaligned);
    }
    let mut header = [0u8; 8];
    for (i, b) in header.iter_mut().enumerate() {
        // SAFETY: the boot protocol says x0 points at a DTB in RAM; the first 8 bytes of any
        // DTB are its magic and size, and reading RAM with the MMU off has no side effects.
        *b = unsafe { core::ptr::read_volatile((dtb + i) as *const u8) };
    }
    let size = dt::dtb_total_size(&header)?;
    if let Some(image) = image {
        if PhysRange::new(dtb as u64, size as u64).overlaps(&image.image) {
            return Err(DtError::SizeMismatch);
        }
    }
    // SAFETY: `size` is bounded by MAX_DTB_SIZE and the blob does not overlap our image (which
    // we write); the boot protocol places it in RAM and nobody else writes it while we boot.
    let blob = unsafe { core::slice::from_raw_parts(dtb as *const u8, size) };
    Platform::from_dtb(blob)
}

/// The DT's console (stdout-path, else `earlycon=`). Only a DTB Stile cannot read at all
/// falls back to the board's fixed console, and only a board that has one (qemu-virt):
/// otherwise Stile boots without a console rather than write to a guessed address.
fn open_console(platform: Option<&Platform>) {
    let console = match platform {
        Some(p) => p.console.as_ref().and_then(|info| {
            // SAFETY: the DT says this is the console UART; with the MMU off its registers
            // are reached directly, and nothing else drives it while EL2 boots.
            unsafe { Console::from_uart_info(info) }.ok()
        }),
        None => BOARD.default_console.as_ref().and_then(|default| {
            // SAFETY: the board data names its console's registers; as above.
            unsafe { Console::from_default(default) }.ok()
        }),
    };
    if let Some(c) = console {
        logger::init(c, LevelFilter::Info);
    }
}

fn enable_mmu(
    image: &ImageLayout,
    platform: &Platform,
    dtb: PhysRange,
    f: &CpuFeatures,
    conduit: Option<Conduit>,
) {
    let pool = PhysRange::new(
        (&raw mut BOOT_TABLES) as u64,
        (BOOT_TABLE_PAGES as u64) * PAGE_SIZE,
    );
    // SAFETY: BOOT_TABLES is used by nothing else, and is page aligned.
    let mut tables = unsafe { BumpTables::new(pool) };
    let built = PageTable::new(&mut tables, 0, mmu::EL2_VA_BITS)
        .map_err(|e| (e, "root"))
        .and_then(|mut t| {
            build_el2_map(&mut t, &mut tables, image, platform, &carve_outs(), &[])
                .map(|report| (t, report))
                .map_err(|e| match e {
                    stile_hyp::mm::el2_map::El2MapError::Map(e, what) => (e, what),
                    stile_hyp::mm::el2_map::El2MapError::TooManyRanges => (
                        stile_hyp::mm::pgtable::MapError::OutOfRange,
                        "too many RAM ranges",
                    ),
                })
        });
    let (table, report) = match built {
        Ok(ok) => ok,
        Err((e, what)) => {
            error!("EL2 map refused ({what}: {e:?})");
            psci::power_off_or_park(conduit);
        }
    };
    // Everything written with the data cache off must not be shadowed by stale lines later.
    // SAFETY: caches are off, so memory holds the only current copy of these ranges.
    unsafe {
        cache::invalidate_dcache_range(
            image.image.base.0 as usize,
            image.image.size as usize,
            f.dcache_line as usize,
        );
        cache::invalidate_dcache_range(
            dtb.base.0 as usize,
            dtb.size as usize,
            f.dcache_line as usize,
        );
    }
    // SAFETY: the table identity-maps the image (text executable), stacks, RAM and the devices
    // we use, and stale cache lines were just discarded.
    unsafe { mmu::enable_el2_mmu(table.root(), f.pa_range) };
    info!(
        "mmu: EL2 stage 1 on: {} table pages, {} x 1 GiB + {} x 2 MiB blocks + {} pages; text RX, rodata R, data RW+XN, {} stack guard pages unmapped",
        tables.used(),
        report.stats.blocks_1g,
        report.stats.blocks_2m,
        report.stats.pages_4k,
        image.cpus
    );
}

/// The frame pool: EL2's memory minus the image. It must not hold anything the loader put
/// there (DTB, initrd, reserved memory): refuse to boot rather than clobber it.
fn init_frames(
    platform: &Platform,
    image: &ImageLayout,
    hyp: PhysRange,
    dtb: PhysRange,
) -> Result<Frames, &'static str> {
    if !platform
        .ram
        .iter()
        .any(|r| r.base.0 <= hyp.base.0 && hyp.end() <= r.end())
    {
        return Err("EL2's memory does not fit in the RAM range the image was loaded into");
    }
    if hyp.overlaps(&dtb) || platform.initrd.is_some_and(|i| i.overlaps(&hyp)) {
        return Err("the DTB or the initrd sits where EL2's frame pool goes: load them higher");
    }
    if platform.reserved.iter().any(|r| r.range.overlaps(&hyp)) {
        return Err("reserved memory overlaps EL2's memory");
    }
    let too_many = |_| "too many RAM ranges";
    let mut free = RangeSet::new();
    free.add(hyp).map_err(too_many)?;
    free.remove(image.image).map_err(too_many)?;
    free.align_inward(PAGE_SIZE);
    let mut frames = Frames::new();
    frames.add(&free);
    Ok(frames)
}

fn report_platform(p: &Platform) {
    match (&p.console, p.no_console) {
        (Some(c), _) => info!(
            "console: {} at {:#x} (from {})",
            c.kind.name(),
            c.regs.base.0,
            match p.console_source {
                dt::ConsoleSource::Earlycon => "earlycon= in bootargs",
                _ => "/chosen stdout-path",
            }
        ),
        (None, Some(why)) if !p.unsupported_uart.is_empty() => {
            info!("console: none ({}: {})", why.reason(), p.unsupported_uart)
        }
        (None, Some(why)) => info!("console: none ({})", why.reason()),
        (None, None) => info!("console: none"),
    }
    info!(
        "cpus: {} ({})",
        p.cpus.len(),
        p.cpus.first().map_or("none", |c| match c.enable_method {
            dt::EnableMethod::Psci => "enable-method psci",
            dt::EnableMethod::SpinTable { .. } => "enable-method spin-table",
            dt::EnableMethod::None => "no enable-method",
        })
    );
    info!(
        "ram: {} MiB in {} range(s)",
        p.ram_bytes() >> 20,
        p.ram.len()
    );
    for r in p.ram.iter() {
        info!("ram:   {r}");
    }
    for r in p.reserved.iter() {
        info!(
            "reserved: {} ({:?}{})",
            r.range,
            r.source,
            if r.no_map { ", no-map" } else { "" }
        );
    }
    match &p.gic {
        Some(Gic::V2 { gicd, gicc, .. }) => info!("gic: v2 (GICv2) gicd {gicd} gicc {gicc}"),
        Some(Gic::V3 { gicd, gicr }) => {
            info!("gic: v3 (GICv3) gicd {} gicr {} range(s)", gicd, gicr.len())
        }
        None => info!("gic: none in the DT"),
    }
    match &p.psci {
        Some(psci) => info!(
            "psci: {}",
            if psci.conduit == Conduit::Hvc {
                "hvc"
            } else {
                "smc"
            }
        ),
        None => info!("psci: none in the DT (power-off and reset park the CPU)"),
    }
    if let Some(t) = &p.timer {
        info!("timer: hyp PPI INTID {} virt {}", t.hyp_phys, t.virt);
    }
}
