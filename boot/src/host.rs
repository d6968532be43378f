//! Boot phase 5: check the board's regions against this machine, build the host VM's
//! stage 2, load the host payload (the initrd) like `booti`, give it a DTB with EL2's memory
//! and the carve-outs taken out, and enter it at EL1.

use alloc::boxed::Box;
use alloc::vec;
use log::{error, info};
use stile_hyp::addr::PhysRange;
use stile_hyp::arch::host_entry::{enter_host, HostSetup};
use stile_hyp::arch::tlb::ArchTlb;
use stile_hyp::arch::traps::HYP;
use stile_hyp::arch::world::Context;
use stile_hyp::arch::{bulk_copy, cache};
use stile_hyp::bootargs;
use stile_hyp::bundle::{self, place, place::PlaceError};
use stile_hyp::config::{check_regions, held_back, region_table, RegionCheck, MAX_HELD_BACK};
use stile_hyp::cpu_features::CpuFeatures;
use stile_hyp::dt::spin_table::MAX_SPIN_PAGES;
use stile_hyp::dt::{self, build_host_dtb, Gic, HostDtbEdits, Platform};
use stile_hyp::lock::Lock;
use stile_hyp::mm::frames::FramePool;
use stile_hyp::mm::frames::Frames;
use stile_hyp::mm::ranges::RangeSet;
use stile_hyp::mm::s2_attrs;
use stile_hyp::mm::vmid::{Vmid, VmidAlloc};
use stile_hyp::mm::vtcr::vtcr_for;
use stile_hyp::vm::host::HostVm;
use stile_hyp::vm::hyp::{Hyp, VmTable};
use stile_hyp::vm::image;
use stile_hyp::vm::memslot::Assignable;
use stile_platform::BOARD;

/// Room for the host DTB: the original's content plus carve-outs (QEMU's is ~9 KiB).
const HOST_DTB_MAX: usize = 64 * 1024;

/// Everything phase 5 needs from earlier phases.
pub struct HostBoot<'a> {
    pub platform: &'a Platform,
    pub features: &'a CpuFeatures,
    pub dtb: PhysRange,
    /// EL2's memory: image, heap, stacks, page-frame pool.
    pub hyp: PhysRange,
    pub frames: Frames,
    pub stack_top: u64,
    /// The spin-table mailbox pages of the CPUs Stile holds (empty if none): EL2's, never
    /// the host's.
    pub spin_pages: &'a [PhysRange],
}

impl HostBoot<'_> {
    /// Memory only EL2 may touch: its own, and the mailboxes of the CPUs it released.
    fn el2_only(&self) -> heapless::Vec<PhysRange, { 1 + MAX_SPIN_PAGES }> {
        core::iter::once(self.hyp)
            .chain(self.spin_pages.iter().copied())
            .take(1 + MAX_SPIN_PAGES)
            .collect()
    }
}

/// The host's saved registers while EL2 runs; only ever touched through `enter_host`'s
/// pointer and the trap path.
static mut HOST_CONTEXT: Context = Context::ZERO;

/// Build and enter the host. Returns only with a reason when there is nothing to run.
pub fn boot_host(mut b: HostBoot) -> &'static str {
    let el2_only = b.el2_only();
    let check: Box<RegionCheck> = Box::new(check_regions(
        BOARD.regions,
        b.platform,
        b.features,
        &el2_only,
        b.dtb,
    ));
    for refused in check.refused.iter() {
        error!("{refused}");
    }

    let vmid = Vmid::HOST;
    let (host, report) = match HostVm::build(
        &check,
        b.features,
        vmid,
        &el2_only,
        &mut b.frames,
        &mut ArchTlb,
    ) {
        Ok(ok) => ok,
        Err(e) => {
            error!("host stage 2 refused ({e:?})");
            return "host stage 2 could not be built";
        }
    };
    let fwb = host.stage2.fwb();
    info!("regions: name, range(s), kind, perms, stage-2 memory type (host), blocks used:");
    for (i, line) in region_table(&check, |k| s2_attrs::describe_host(k, fwb)).enumerate() {
        match report
            .per_region
            .get(i)
            .filter(|s| s.blocks_1g + s.blocks_2m + s.pages_4k > 0)
        {
            Some(s) => info!(
                "  {line}  [{} x 1G, {} x 2M, {} x 4K]",
                s.blocks_1g, s.blocks_2m, s.pages_4k
            ),
            None => info!("  {line}"),
        }
    }
    info!(
        "host: stage 2 ready: VMID {}, {}-bit IPA, {} table pages",
        vmid.raw(),
        host.stage2.vtcr().ipa_bits,
        report.table_pages
    );

    let host_ram = match check.accepted.iter().find(|a| a.region.is_host_ram()) {
        Some(a) => a.ranges.clone(),
        None => return "no host RAM",
    };
    let Some(initrd) = b.platform.initrd else {
        return "no host payload: pass one as the initrd (QEMU -initrd, booti's initrd argument)";
    };
    let loaded = match load_host(&b, &check, &host_ram, initrd) {
        Ok(l) => l,
        Err(why) => {
            error!("host bundle refused ({why})");
            return "the host bundle could not be loaded";
        }
    };
    let (entry, dtb) = (loaded.kernel, loaded.dtb);

    stile_hyp::arch::host_tick::set_source(b.platform.gic.as_ref(), b.platform.timer.as_ref());
    // GICv2 with its virtualization frames: vGICs for guests.
    let (gich, gicv) = match &b.platform.gic {
        Some(Gic::V2 {
            gich: Some(h),
            gicv: Some(v),
            ..
        }) => (h.base.0, stile_hyp::vgic::gicv_pages(v.base.0, v.size)),
        _ => (0, None),
    };
    let setup = HostSetup {
        vttbr: host.stage2.vttbr(),
        vtcr: host.stage2.vtcr().vtcr,
        entry: entry.base.0,
        x0: dtb.base.0,
        gic_v3: matches!(b.platform.gic, Some(Gic::V3 { .. })),
        gich: gicv.map(|_| gich),
        fwb,
    };
    // The host starts with its MMU and caches off: what EL2 wrote through its cacheable
    // map must be in memory, and no stale instructions may be cached.
    let line = b.features.dcache_line as usize;
    // (The kernel and initramfs were cleaned as they were moved.)
    cache::clean_to_poc(dtb.base.0 as usize, dtb.size as usize, line);
    let stack_top = b.stack_top;
    let gic_lrs = stile_hyp::arch::gic::probe(setup.gic_v3, setup.gich).map_or(0, |g| g.lrs);
    match (gic_lrs, gicv) {
        (0, _) => info!("vgic: none (no GICv3, nor GICv2 virtualization frames in the DT)"),
        (n, None) => info!("vgic: GICv3, {n} list registers"),
        (n, Some(v)) => info!(
            "vgic: GICv2, {n} list registers; GICH {gich:#x} and GICV {:#x} kept from the host",
            v[0]
        ),
    }
    let Some(hyp) = hyp_state(host, host_ram, b, &check, (gic_lrs, gicv)) else {
        return "no guest stage-2 geometry for this CPU";
    };
    if HYP.set(Box::new(hyp)).is_err() {
        return "EL2's VM state was set twice";
    }
    info!(
        "boot complete; entering the host at EL1: entry {:#x}, dtb {:#x} ({} bytes)",
        setup.entry, setup.x0, dtb.size
    );
    stile_hyp::arch::smp::set_host_setup(&setup);
    // SAFETY: the host's stage 2 maps only what the board config grants the host (never
    // `b.hyp`); HOST_CONTEXT is used by nobody else; this CPU's boot frames are abandoned.
    unsafe { enter_host(&setup, &raw mut HOST_CONTEXT, stack_top) }
}

/// Guests get up to a 40-bit IPA space (1 TiB), never more than the CPU has PA bits.
const GUEST_IPA_BITS: u8 = 40;

/// EL2's bookkeeping for VMs, taking over the frame pool.
fn hyp_state(
    host: HostVm,
    host_ram: RangeSet,
    b: HostBoot,
    check: &RegionCheck,
    (gic_lrs, gicv): (u8, Option<[u64; 2]>),
) -> Option<Hyp> {
    let f = b.features;
    let guest_vtcr = vtcr_for(f.pa_range, GUEST_IPA_BITS.min(f.pa_bits), f.vmid_bits == 16).ok()?;
    let vmids = VmidAlloc::new(f.vmid_bits)?;
    let mut assignable = heapless::Vec::new();
    for r in check.assignable() {
        let _ = assignable.push(Assignable {
            range: r.range,
            kind: r.kind,
        });
    }
    Some(Hyp {
        host_ram,
        cpu: *f,
        guest_vtcr,
        assignable,
        gic_lrs,
        gicv,
        revoked: Default::default(),
        table: Lock::new(VmTable::new(vmids)),
        vms: Default::default(),
        host: Lock::new(host),
        frames: FramePool::new(b.frames),
    })
}

/// Where the host's kernel and DTB ended up.
struct Loaded {
    /// The kernel's window (entry at its base).
    kernel: PhysRange,
    dtb: PhysRange,
}

/// Reads the bundle in the initrd slot, moves its kernel and initramfs to their places in
/// host RAM, and writes the host's DTB after them. Nothing is moved until every check has
/// passed and the host DTB is built (it is read from the boot DTB, which the moves may
/// not touch either, but the bundle's own pieces may be written over in the right order).
fn load_host(
    b: &HostBoot,
    check: &RegionCheck,
    host_ram: &RangeSet,
    initrd: PhysRange,
) -> Result<Loaded, &'static str> {
    if !host_ram
        .iter()
        .any(|r| r.base.0 <= initrd.base.0 && initrd.end() <= r.end())
    {
        return Err(PlaceError::BundleOutsideRam.reason());
    }
    // SAFETY: the bundle lies in host RAM, which EL2 maps read-write (identity), and nothing
    // else touches it before the host runs. The slice is dropped before any move below.
    let bytes = unsafe {
        core::slice::from_raw_parts(initrd.base.0 as usize as *const u8, initrd.size as usize)
    };
    let bundle = bundle::parse(bytes).map_err(|e| e.reason())?;
    let at = |piece: &[u8]| PhysRange::new(piece.as_ptr() as u64, piece.len() as u64);
    let kernel_src = at(bundle.kernel);
    let plan = place::plan(
        &bundle.kernel_header,
        kernel_src,
        bundle.ramdisk.map(at),
        initrd,
        host_ram,
    )
    .map_err(|e| e.reason())?;
    let dtb = build_dtb(b, check, &bundle, &plan)?;
    let mut avoid: heapless::Vec<PhysRange, 2> = heapless::Vec::new();
    let _ = avoid.push(plan.kernel_dst);
    if let Some(m) = plan.ramdisk {
        let _ = avoid.push(m.dst);
    }
    let dtb_at = image::first_fit(host_ram, 0x1000, dtb.len() as u64, &avoid)
        .ok_or("no room in host RAM for the host DTB")?;
    info!(
        "host: bundle {initrd} ({:?}): kernel {} bytes to {:#x}, bootargs from the {}",
        bundle.format,
        kernel_src.size,
        plan.kernel_dst.base.0,
        if bundle.bootargs.is_some() {
            "bundle"
        } else {
            "boot DTB"
        },
    );
    if let Some(m) = plan.ramdisk {
        info!("host: initramfs {} bytes to {}", m.src.size, m.dst);
    }
    let line = b.features.dcache_line as usize;
    // SAFETY: every destination lies in host RAM (mapped read-write at EL2); `plan` ordered
    // the moves so that none writes over a source still to be read, and each move is a
    // memmove. `bytes` and `bundle` are not used past this point.
    unsafe {
        if plan.ramdisk_first {
            move_ramdisk(&plan, line);
            move_kernel(&plan, line);
        } else {
            move_kernel(&plan, line);
            move_ramdisk(&plan, line);
        }
        core::ptr::copy_nonoverlapping(dtb.as_ptr(), dtb_at as usize as *mut u8, dtb.len());
    }
    Ok(Loaded {
        kernel: plan.kernel_dst,
        dtb: PhysRange::new(dtb_at, dtb.len() as u64),
    })
}

/// # Safety
/// `plan`'s ranges are host RAM that EL2 maps, and the kernel's source is still intact.
unsafe fn move_kernel(plan: &place::Plan, line: usize) {
    let (src, dst) = (plan.kernel_src, plan.kernel_dst);
    // SAFETY: as the caller promises; `move_bytes` allows overlap, and the BSS tail is inside
    // `dst` (image_size >= the file).
    unsafe {
        let to = dst.base.0 as usize as *mut u8;
        bulk_copy::move_bytes(to, src.base.0 as usize as *const u8, src.size as usize);
        core::ptr::write_bytes(to.add(src.size as usize), 0, (dst.size - src.size) as usize);
    }
    // The host starts with its MMU and caches off: the image must be in memory.
    cache::clean_to_poc(dst.base.0 as usize, dst.size as usize, line);
}

/// # Safety
/// As [`move_kernel`], for the initramfs.
unsafe fn move_ramdisk(plan: &place::Plan, line: usize) {
    if let Some(m) = plan.ramdisk {
        // SAFETY: as the caller promises; `move_bytes` allows overlap.
        unsafe {
            bulk_copy::move_bytes(
                m.dst.base.0 as usize as *mut u8,
                m.src.base.0 as usize as *const u8,
                m.src.size as usize,
            )
        };
        cache::clean_to_poc(m.dst.base.0 as usize, m.dst.size as usize, line);
    }
}

/// The host's DTB: the boot DTB with every held-back piece of RAM reserved `no-map`, the
/// initrd properties pointing at the placed initramfs (or gone), and the bootargs the
/// bundle carries (else the boot DTB's, less Stile's own `stile.*` words).
fn build_dtb(
    b: &HostBoot,
    check: &RegionCheck,
    bundle: &bundle::Bundle<'_>,
    plan: &place::Plan,
) -> Result<alloc::vec::Vec<u8>, &'static str> {
    let held = held_back(check, b.platform, &b.el2_only(), b.dtb)
        .map_err(|_| "more held-back RAM ranges than the host DTB takes")?;
    let carve: heapless::Vec<(&str, PhysRange), MAX_HELD_BACK> =
        held.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    let from_boot: heapless::String<{ dt::MAX_BOOTARGS }> =
        bootargs::without_stile_options(&b.platform.bootargs);
    let args = bundle.bootargs.unwrap_or(from_boot.as_str());
    let initrd = plan.ramdisk.map(|m| {
        [
            ("linux,initrd-start", m.dst.base.0),
            ("linux,initrd-end", m.dst.end()),
        ]
    });
    let held_cpus = !b.spin_pages.is_empty();
    let edits = HostDtbEdits {
        carve_outs: &carve,
        remove_initrd: true,
        bootargs: Some(args),
        extra_chosen: initrd.as_ref().map_or(&[], |i| &i[..]),
        // The CPUs Stile holds are PSCI CPUs to the host; Stile is their PSCI, over HVC,
        // when the DT names none.
        spin_table_to_psci: held_cpus,
        add_psci_hvc: held_cpus && b.platform.psci.is_none(),
        // GICH and GICV are EL2's (and its guests'): not in the host's stage 2, so not in
        // its DTB either.
        trim_reg: b.platform.gic_reg_trim(),
    };
    // SAFETY: the original DTB was validated at boot and is still where the loader put it
    // (host RAM has a hole for it, so no move touches it).
    let original = unsafe {
        core::slice::from_raw_parts(b.dtb.base.0 as usize as *const u8, b.dtb.size as usize)
    };
    let mut out = vec![0u8; HOST_DTB_MAX];
    let len = build_host_dtb(original, &edits, &mut out).map_err(|e| e.reason())?;
    out.truncate(len);
    Ok(out)
}
