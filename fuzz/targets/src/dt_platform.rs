//! DT discovery: the firmware's DTB through `Platform::from_dtb`, then the boot-time
//! config check (`check_regions`) that turns it into the host's memory map, as EL2 does
//! at boot. Whatever the bytes: no panic, and what is accepted is self-consistent.

use stile_hyp::addr::PhysRange;
use stile_hyp::config::check_regions;
use stile_hyp::cpu_features::CpuFeatures;
use stile_hyp::dt::{dtb_total_size, Platform, MAX_DTB_SIZE};

/// Where EL2 and the DTB sit in the QEMU virt layout the tests use.
pub const HYP_MEM: PhysRange = PhysRange::new(0x4020_0000, 0x120_0000);
pub const DTB_AT: PhysRange = PhysRange::new(0x4800_0000, 0x10_0000);

pub const CPU_FWB: CpuFeatures = CpuFeatures {
    fwb: true,
    dic: false,
    pa_bits: 48,
    pa_range: 5,
    vmid_bits: 16,
    dcache_line: 64,
};

pub fn run(data: &[u8]) {
    if let Some(head) = data.first_chunk::<8>() {
        if let Ok(size) = dtb_total_size(head) {
            assert!((40..=MAX_DTB_SIZE).contains(&size));
        }
    }
    let Ok(p) = Platform::from_dtb(data) else {
        return;
    };
    check_platform(&p, data.len());
    let check = check_regions(stile_platform::REGIONS, &p, &CPU_FWB, &[HYP_MEM], DTB_AT);
    for a in &check.accepted {
        for r in a.ranges.iter() {
            assert!(wraps_not(r), "accepted {} range {r:?} wraps", a.region.name);
            if a.region.is_host_ram() {
                assert!(
                    !r.overlaps(&HYP_MEM) && !r.overlaps(&DTB_AT),
                    "host RAM {r:?} overlaps hyp memory or the DTB"
                );
                for res in p.reserved.iter().filter(|res| res.no_map) {
                    assert!(
                        !r.overlaps(&res.range),
                        "host RAM {r:?} over no-map {res:?}"
                    );
                }
            }
        }
    }
}

fn wraps_not(r: &PhysRange) -> bool {
    r.base.0.checked_add(r.size).is_some()
}

/// What an accepted DTB promises (dt/mod.rs, `DtError::Malformed`).
fn check_platform(p: &Platform, len: usize) {
    let size = p.dtb_size as usize;
    assert!(
        (40..=len.min(MAX_DTB_SIZE)).contains(&size),
        "dtb_size {size}"
    );
    assert!(!p.ram.is_empty(), "accepted without RAM");
    for r in &p.ram {
        assert!(r.size != 0 && wraps_not(r), "RAM {r:?}");
    }
    for r in &p.reserved {
        assert!(r.range.size != 0 && wraps_not(&r.range), "reserved {r:?}");
    }
    for (i, c) in p.cpus.iter().enumerate() {
        assert!(
            p.cpus[..i].iter().all(|o| o.mpidr != c.mpidr),
            "two CPUs with MPIDR {:#x}",
            c.mpidr
        );
    }
    if let Some(t) = p.timer {
        for intid in [t.secure_phys, t.nonsecure_phys, t.virt, t.hyp_phys] {
            let ppi = (16..32).contains(&intid) || (1056..1120).contains(&intid);
            assert!(ppi, "timer INTID {intid} is not a PPI");
        }
    }
    if let Some(r) = p.initrd {
        assert!(r.size != 0 && wraps_not(&r), "initrd {r:?}");
    }
    if let Some(u) = p.console {
        // reg-shift and reg-io-width are the console driver's to check (console::layout).
        assert!(wraps_not(&u.regs), "console {u:?}");
    }
    let _ = p.ram_bytes();
}
