//! Boot phase 5: check the board's regions against this machine, build the host VM's
//! stage 2, load the host payload (the initrd) like `booti`, give it a DTB with EL2's memory
//! and the carve-outs taken out, and enter it at EL1.

use alloc::boxed::Box;
use alloc::vec;
use log::{error, info};
use stile_hyp::addr::PhysRange;
use stile_hyp::arch::cache;
use stile_hyp::arch::host_entry::{enter_host, HostSetup};
use stile_hyp::arch::tlb::ArchTlb;
use stile_hyp::arch::traps::HYP;
use stile_hyp::arch::world::Context;
use stile_hyp::bootargs;
use stile_hyp::config::{check_regions, region_table, RegionCheck};
use stile_hyp::cpu_features::CpuFeatures;
use stile_hyp::dt::{build_host_dtb, Gic, HostDtbEdits, Platform};
use stile_hyp::mm::frames::Frames;
use stile_hyp::mm::ranges::RangeSet;
use stile_hyp::mm::s2_attrs;
use stile_hyp::mm::vmid::{Vmid, VmidAlloc};
use stile_hyp::mm::vtcr::vtcr_for;
use stile_hyp::vm::host::HostVm;
use stile_hyp::vm::hyp::Hyp;
use stile_hyp::vm::image;
use stile_hyp::vm::memslot::Assignable;
use stile_platform::BOARD;

/// Room for the host DTB: the original's content plus carve-outs (QEMU's is ~9 KiB).
const HOST_DTB_MAX: usize = 64 * 1024;
const MAX_CARVE_OUTS: usize = 16;

/// Everything phase 5 needs from earlier phases.
pub struct HostBoot<'a> {
    pub platform: &'a Platform,
    pub features: &'a CpuFeatures,
    pub dtb: PhysRange,
    /// EL2's memory: image, heap, stacks, page-frame pool.
    pub hyp: PhysRange,
    pub frames: Frames,
    pub stack_top: u64,
}

/// The host's saved registers while EL2 runs; only ever touched through `enter_host`'s
/// pointer and the trap path.
static mut HOST_CONTEXT: Context = Context::ZERO;

/// Build and enter the host. Returns only with a reason when there is nothing to run.
pub fn boot_host(mut b: HostBoot) -> &'static str {
    let check: Box<RegionCheck> = Box::new(check_regions(
        BOARD.regions,
        b.platform,
        b.features,
        &[b.hyp],
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
        &[b.hyp],
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
    let entry = match load_payload(initrd, &host_ram) {
        Ok(e) => e,
        Err(why) => {
            error!("host payload refused ({why})");
            return "the host payload could not be loaded";
        }
    };
    let dtb = match host_dtb(&b, &check, &host_ram, initrd, entry) {
        Ok(d) => d,
        Err(why) => {
            error!("host DTB refused ({why})");
            return "no DTB for the host";
        }
    };

    let setup = HostSetup {
        vttbr: host.stage2.vttbr(),
        vtcr: host.stage2.vtcr().vtcr,
        entry: entry.base.0,
        x0: dtb.base.0,
        gic_v3: matches!(b.platform.gic, Some(Gic::V3 { .. })),
        fwb,
    };
    // The host starts with its MMU and caches off: what EL2 wrote through its cacheable
    // map must be in memory, and no stale instructions may be cached.
    let line = b.features.dcache_line as usize;
    cache::clean_to_poc(entry.base.0 as usize, entry.size as usize, line);
    cache::clean_to_poc(dtb.base.0 as usize, dtb.size as usize, line);
    let stack_top = b.stack_top;
    let Some(hyp) = hyp_state(host, host_ram, b, &check) else {
        return "no guest stage-2 geometry for this CPU";
    };
    *HYP.lock() = Some(Box::new(hyp));
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
fn hyp_state(host: HostVm, host_ram: RangeSet, b: HostBoot, check: &RegionCheck) -> Option<Hyp> {
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
        host,
        host_ram,
        frames: b.frames,
        vmids,
        cpu: *f,
        guest_vtcr,
        assignable,
        vms: Default::default(),
        run_pages: heapless::Vec::new(),
    })
}

/// Copy the payload out of the initrd to a 2 MiB-aligned place in host RAM; its range.
fn load_payload(initrd: PhysRange, host_ram: &RangeSet) -> Result<PhysRange, &'static str> {
    if !host_ram
        .iter()
        .any(|r| r.base.0 <= initrd.base.0 && initrd.end() <= r.end())
    {
        return Err("the initrd is not in host RAM");
    }
    // SAFETY: the initrd lies in host RAM, which EL2 maps read-write, and nothing else uses
    // it before the host runs.
    let src = unsafe {
        core::slice::from_raw_parts(initrd.base.0 as usize as *const u8, initrd.size as usize)
    };
    let header = image::parse_header(src, initrd.size).map_err(|e| e.reason())?;
    let at = image::place(&header, host_ram, &[initrd]).map_err(|e| e.reason())?;
    // SAFETY: `place` chose [at, at + image_size) inside host RAM and clear of the initrd,
    // so source and destination do not overlap; the tail past the file is the image's BSS.
    unsafe {
        let dst = at as usize as *mut u8;
        core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len());
        core::ptr::write_bytes(
            dst.add(src.len()),
            0,
            (header.image_size - initrd.size) as usize,
        );
    }
    info!(
        "host: payload {} bytes copied from initrd {} to {:#x}",
        initrd.size, initrd, at
    );
    Ok(PhysRange::new(at, header.image_size))
}

/// The host's DTB, written into host RAM clear of the payload and the initrd.
fn host_dtb(
    b: &HostBoot,
    check: &RegionCheck,
    host_ram: &RangeSet,
    initrd: PhysRange,
    payload: PhysRange,
) -> Result<PhysRange, &'static str> {
    // EL2's memory, and every carve-out that sits in RAM, must never become host RAM.
    let mut names: heapless::Vec<heapless::String<32>, MAX_CARVE_OUTS> = heapless::Vec::new();
    let mut ranges: heapless::Vec<PhysRange, MAX_CARVE_OUTS> = heapless::Vec::new();
    let mut add = |name: &str, r: PhysRange| {
        let mut n = heapless::String::new();
        let _ = n.push_str("stile-");
        let _ = n.push_str(name);
        if names.push(n).is_ok() {
            let _ = ranges.push(r);
        }
    };
    add("hyp", b.hyp);
    let in_ram = |r: &PhysRange| b.platform.ram.iter().any(|ram| ram.overlaps(r));
    for a in check
        .accepted
        .iter()
        .filter(|a| !a.region.is_host_ram() && in_ram(&a.region.range))
    {
        add(a.region.name, a.region.range);
    }
    for r in check.refused.iter().filter(|r| in_ram(&r.region.range)) {
        add(r.region.name, r.region.range);
    }
    let carve: heapless::Vec<(&str, PhysRange), MAX_CARVE_OUTS> = names
        .iter()
        .zip(ranges.iter())
        .map(|(n, r)| (n.as_str(), *r))
        .collect();

    let args: heapless::String<256> = bootargs::without_stile_options(&b.platform.bootargs);
    let edits = HostDtbEdits {
        carve_outs: &carve,
        remove_initrd: true,
        bootargs: Some(args.as_str()),
        extra_chosen: &[],
    };
    // SAFETY: the original DTB was validated at boot and is still where the loader put it.
    let original = unsafe {
        core::slice::from_raw_parts(b.dtb.base.0 as usize as *const u8, b.dtb.size as usize)
    };
    let mut out = vec![0u8; HOST_DTB_MAX];
    let len = build_host_dtb(original, &edits, &mut out).map_err(|e| e.reason())?;
    let at = image::first_fit(host_ram, 0x1000, len as u64, &[initrd, payload])
        .ok_or("no room in host RAM")?;
    // SAFETY: `first_fit` chose a window inside host RAM (mapped read-write at EL2) that
    // overlaps neither the payload nor the initrd.
    unsafe { core::ptr::copy_nonoverlapping(out.as_ptr(), at as usize as *mut u8, len) };
    Ok(PhysRange::new(at, len as u64))
}
