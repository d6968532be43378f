//! The host's memory map on every DTB fixture in hyp/testdata (QEMU dumps for 512 MiB to
//! 4 GiB, highmem on and off, and board trees): the rule "the host's DTB never promises what
//! its stage 2 does not map" checked end to end — check the regions, build the stage 2,
//! write the host DTB with the held-back pieces, parse that DTB back as the host would, and
//! look every promised byte up in the stage 2.

use super::*;
use crate::config::tests::qemu_virt;
use crate::config::{check_regions, held_back, Region};
use crate::dt::spin_table::SpinTable;
use crate::dt::{build_host_dtb, Conduit, EnableMethod, HostDtbEdits, Platform};
use crate::mm::pgtable::tests::TestAlloc;
use crate::mm::ranges::RangeSet;
use crate::mm::s2_attrs::memattr;
use crate::mm::tlb::fake::RecordingTlb;
use std::vec::Vec as StdVec;

const MIB: u64 = 1 << 20;
const BLOCK: u64 = 2 * MIB;

/// Every *.dtb under hyp/testdata (and its subdirectories) that parses (a fixture kept to
/// test a refusal does not). `STILE_EXTRA_DTBS=<dir>` adds a directory tree more, e.g. the
/// board corpus `scripts/fetch-board-dtbs.sh` caches.
fn fixtures() -> StdVec<(String, StdVec<u8>)> {
    let mut paths = StdVec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata"
    ))];
    dirs.extend(std::env::var_os("STILE_EXTRA_DTBS").map(Into::into));
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "dtb") {
                paths.push(path);
            }
        }
    }
    let mut out: StdVec<_> = paths
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .filter(|(_, b)| Platform::from_dtb(b).is_ok())
        .collect();
    out.sort();
    out
}

fn cpus() -> [CpuFeatures; 2] {
    let max = CpuFeatures {
        fwb: true,
        dic: false,
        pa_bits: 48,
        pa_range: 5,
        vmid_bits: 16,
        dcache_line: 64,
    };
    let a72 = CpuFeatures {
        fwb: false,
        pa_bits: 40,
        pa_range: 2,
        ..max
    };
    [max, a72]
}

/// Where a loader could have put Stile and the DTB: 16 MiB of EL2 memory 2 MiB into the
/// first RAM range, the DTB (unaligned) 8 MiB further.
fn layout(p: &Platform) -> (PhysRange, PhysRange) {
    let ram = p.ram[0];
    let hyp = PhysRange::new(ram.base.0.next_multiple_of(BLOCK) + BLOCK, 16 * MIB);
    let dtb = PhysRange::new(hyp.end() + 8 * MIB + 0x40, u64::from(p.dtb_size));
    (hyp, dtb)
}

struct Built {
    vm: HostVm,
    host_dtb: Platform,
    _alloc: TestAlloc,
}

/// The qemu-virt board's regions on QEMU's trees; none on other boards' (qemu-virt's flash
/// region would sit on their RAM).
fn regions(name: &str) -> StdVec<Region> {
    if name.contains("qemu-virt") {
        qemu_virt().to_vec()
    } else {
        StdVec::new()
    }
}

/// The spin-table CPUs Stile would hold on `p` (booted on its first CPU), as boot does.
fn spin_table(p: &Platform) -> SpinTable {
    SpinTable::from_platform(p, p.cpus.first().map_or(0, |c| c.mpidr))
}

/// As boot/src/host.rs does it: EL2's memory and the held CPUs' mailbox pages kept from the
/// host, which sees the held CPUs as PSCI CPUs.
fn build(name: &str, original: &[u8], cpu: &CpuFeatures) -> Built {
    let p = Platform::from_dtb(original).unwrap();
    let (hyp, dtb) = layout(&p);
    let spin = spin_table(&p);
    let held_cpus = !spin.cpus.is_empty();
    let mut el2_only = vec![hyp];
    if held_cpus {
        el2_only.extend(spin.pages.iter().copied());
    }
    let check = check_regions(&regions(name), &p, cpu, &el2_only, dtb);
    let mut alloc = TestAlloc::new(512);
    let (vm, _) = HostVm::build(
        &check,
        cpu,
        Vmid::HOST,
        &el2_only,
        &mut alloc,
        &mut RecordingTlb::new(),
    )
    .unwrap();
    let held = held_back(&check, &p, &el2_only, dtb).unwrap();
    let carve: StdVec<(&str, PhysRange)> = held.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    let edits = HostDtbEdits {
        carve_outs: &carve,
        remove_initrd: true,
        bootargs: None,
        extra_chosen: &[],
        spin_table_to_psci: held_cpus,
        add_psci_hvc: held_cpus && p.psci.is_none(),
        trim_reg: p.gic_reg_trim(),
    };
    let mut out = vec![0; original.len() + 64 * 1024];
    let len = build_host_dtb(original, &edits, &mut out).unwrap();
    let host_dtb = Platform::from_dtb(&out[..len]).unwrap();
    Built {
        vm,
        host_dtb,
        _alloc: alloc,
    }
}

/// Addresses to look up in a range: its first and last page and every 2 MiB boundary.
fn probes(r: PhysRange) -> impl Iterator<Item = u64> {
    let first_block = r.base.0.next_multiple_of(BLOCK);
    [r.base.0, r.end() - 0x1000]
        .into_iter()
        .chain((first_block..r.end()).step_by(BLOCK as usize))
}

/// RAM the host DTB offers: /memory less every `no-map` reservation, in whole pages.
fn promised_ram(host: &Platform) -> RangeSet {
    let mut set = RangeSet::new();
    for r in host.ram.iter() {
        set.add(*r).unwrap();
    }
    for r in host.reserved.iter().filter(|r| r.no_map) {
        set.remove(r.range).unwrap();
    }
    set.align_inward(0x1000);
    set
}

#[test]
fn every_fixture_host_dtb_promises_only_ram_its_stage_2_maps() {
    let all = fixtures();
    assert!(all.len() >= 8, "{} fixtures", all.len());
    for (name, dtb) in &all {
        for cpu in cpus() {
            let b = build(name, dtb, &cpu);
            let ram_attr = if cpu.fwb { 0b0111 } else { 0xf };
            let promised = promised_ram(&b.host_dtb);
            assert!(!promised.is_empty(), "{name}");
            for r in promised.iter() {
                for ipa in probes(*r) {
                    let leaf = b.vm.stage2.lookup(Ipa(ipa));
                    let leaf =
                        leaf.unwrap_or_else(|| panic!("{name}: {ipa:#x} promised, unmapped"));
                    assert_eq!(memattr(leaf.attrs), ram_attr, "{name}: {ipa:#x}");
                }
            }
        }
    }
}

/// Every device address of `ranges` worth probing on one fixture and CPU: inside the PA
/// range, not RAM, not a board region (which overrides the DT: flash read-only,
/// carve-outs), not EL2's own memory, and (`el2_gic`) not a GICv2's GICH/GICV either.
fn device_probes<'a>(
    name: &str,
    p: &'a Platform,
    cpu: &CpuFeatures,
    ranges: &'a RangeSet,
) -> impl Iterator<Item = u64> + 'a {
    let (hyp, _) = layout(p);
    let limit = 1u64 << cpu.pa_bits;
    let board = regions(name);
    let skip = move |a: u64| {
        let at = PhysAddr(a);
        p.ram.iter().any(|r| r.contains(at))
            || board.iter().any(|r| r.range.contains(at))
            || p.gic_virt_frames().any(|r| r.contains(at))
            || hyp.contains(at)
    };
    ranges
        .iter()
        .filter(move |r| r.end() <= limit)
        .flat_map(|r| probes(*r))
        .filter(move |&a| !skip(a))
}

/// The rule for devices: every device range the host DTB describes (inside the PA range, not
/// RAM, not EL2's memory, not a board region that overrides it) is mapped; a GICv2's GICH
/// and GICV are neither described nor mapped.
#[test]
fn every_fixture_host_dtb_promises_only_devices_its_stage_2_maps() {
    for (name, dtb) in &fixtures() {
        for cpu in cpus() {
            let b = build(name, dtb, &cpu);
            let p = Platform::from_dtb(dtb).unwrap();
            for ipa in device_probes(name, &p, &cpu, &b.host_dtb.devices) {
                let mapped = b.vm.stage2.lookup(Ipa(ipa)).is_some();
                assert!(mapped, "{name}: device {ipa:#x} promised, unmapped");
            }
            for frame in p.gic_virt_frames() {
                for ipa in probes(frame) {
                    let mapped = b.vm.stage2.lookup(Ipa(ipa)).is_some();
                    assert!(
                        !mapped,
                        "{name}: EL2's GIC frame {ipa:#x} mapped for the host"
                    );
                }
            }
            if let Some(crate::dt::Gic::V2 { gich, gicv, .. }) = &b.host_dtb.gic {
                assert_eq!((gich, gicv), (&None, &None), "{name}: the host DTB's GIC");
            }
        }
    }
}

#[test]
fn every_fixture_maps_every_dt_device_inside_the_pa_range_as_device() {
    for (name, dtb) in &fixtures() {
        for cpu in cpus() {
            let b = build(name, dtb, &cpu);
            let p = Platform::from_dtb(dtb).unwrap();
            for ipa in device_probes(name, &p, &cpu, &p.devices) {
                let leaf = b.vm.stage2.lookup(Ipa(ipa));
                let leaf = leaf.unwrap_or_else(|| panic!("{name}: device {ipa:#x} unmapped"));
                assert_eq!(
                    memattr(leaf.attrs),
                    0b0001,
                    "{name}: {ipa:#x} not Device-nGnRE"
                );
            }
        }
    }
}

#[test]
fn every_fixture_keeps_stile_out_of_the_host_and_says_so_in_its_dtb() {
    for (name, dtb) in &fixtures() {
        let b = build(name, dtb, &cpus()[0]);
        let (hyp, boot_dtb) = layout(&Platform::from_dtb(dtb).unwrap());
        for ipa in probes(hyp) {
            assert!(b.vm.stage2.lookup(Ipa(ipa)).is_none(), "{name}: {ipa:#x}");
        }
        let reserved = |r: PhysRange| {
            b.host_dtb
                .reserved
                .iter()
                .any(|x| x.no_map && x.range.base.0 <= r.base.0 && r.end() <= x.range.end())
        };
        assert!(reserved(hyp), "{name}: Stile's memory not reserved");
        assert!(reserved(boot_dtb), "{name}: the boot DTB not reserved");
    }
}

#[test]
fn held_spin_table_cpus_are_psci_cpus_to_the_host_and_their_mailboxes_are_not_its() {
    let mut seen = 0;
    for (name, dtb) in &fixtures() {
        let spin = spin_table(&Platform::from_dtb(dtb).unwrap());
        if spin.cpus.is_empty() {
            continue;
        }
        seen += 1;
        let b = build(name, dtb, &cpus()[0]);
        for page in spin.pages.iter() {
            assert!(
                b.vm.stage2.lookup(Ipa(page.base.0)).is_none(),
                "{name}: {page}"
            );
            let reserved =
                b.host_dtb.reserved.iter().any(|r| {
                    r.no_map && r.range.base.0 <= page.base.0 && page.end() <= r.range.end()
                });
            assert!(reserved, "{name}: mailbox page {page} not reserved no-map");
        }
        let spin_left = b
            .host_dtb
            .cpus
            .iter()
            .any(|c| matches!(c.enable_method, EnableMethod::SpinTable { .. }));
        assert!(!spin_left, "{name}: a spin-table CPU left to the host");
        assert!(
            b.host_dtb.psci.is_some(),
            "{name}: no PSCI for the held CPUs"
        );
        if Platform::from_dtb(dtb).unwrap().psci.is_none() {
            assert_eq!(b.host_dtb.psci.map(|p| p.conduit), Some(Conduit::Hvc));
        }
    }
    // The Raspberry Pi 3 and the hand-written spin-table board.
    assert!(seen >= 2, "{seen} spin-table fixtures");
}

#[test]
fn qemu_2g_gives_the_host_the_ram_above_the_carve_outs_and_the_high_pcie_windows() {
    let dtb = include_bytes!("../../testdata/qemu-virt-gicv3-smp4-2g.dtb");
    let b = build("qemu-virt-2g", dtb, &cpus()[0]);
    for ipa in [
        0x8000_0000,
        0xbfff_f000,
        0x40_1000_0000,
        0x80_0000_0000,
        0xff_ffff_f000,
    ] {
        assert!(b.vm.stage2.lookup(Ipa(ipa)).is_some(), "{ipa:#x}");
    }
    // Not past the 64-bit window.
    assert!(b.vm.stage2.lookup(Ipa(0x100_0000_0000)).is_none());
}
