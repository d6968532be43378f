//! The host payload as a small VMM (docs/GUEST-PAYLOAD.md): it runs the embedded guest
//! payload under Stile and checks Stile's guest features through what the guest sees and
//! what Stile reports. All arch-free, over [`VmmMachine`]; the tests run it, with the real
//! guest code, against a fake Stile.
//!
//! The phases, in the order they print: the image; GET_CAPS; garbage calls before any VM;
//! the guest's memory (picked, loaded, donated by VM_CREATE, probed); the vCPU; garbage
//! calls with a VM and vCPU; memslots (cacheable-device and device-nc windows as the CPU allows);
//! garbage calls with slots; the run, one check per scenario; the end (SYSTEM_EVENT, exit
//! accounting); VM_DESTROY and the scrubbed memory; garbage calls after it.

pub mod calls;
mod checks;
pub mod device;
pub mod exit;
pub mod garbage;
pub mod image;
pub mod isolation;
mod judge;
pub mod machine;
pub mod memtype;
pub mod placement;
pub mod plan;
mod revoke;
mod runner;
pub mod slots;
mod trace;
pub mod vgic;
pub mod vgic_ipi;
mod vgic_judge;
pub mod windows;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
pub(crate) mod tests;

use crate::facts::Facts;
use crate::fail::Fail;
use crate::oracle::QEMU_VIRT;
use crate::report::Report;
use core::fmt;
use heapless::Vec;
use image::Placement;
use machine::VmmMachine;
use plan::Step;
use stile_guest::ipa::Ipa;
use stile_guest::layout;
use stile_guest::protocol::BOOT_X0;
use stile_hyp::addr::{PhysAddr, PhysRange};

/// What the VMM plants at the first address the guest probes.
pub const SECRET: u64 = 0x5345_4352_4554_2121; // "SECRET!!"

/// The guest as created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guest {
    pub vm: u64,
    pub vcpu: u64,
    /// The donated block's base: guest RAM's PA.
    pub donated: PhysAddr,
    pub entry: Ipa,
    /// FEAT_S2FWB, and so HCR_EL2.FWB for guests.
    pub fwb: bool,
}

/// Runs the guest and prints every guest check. `image` is the embedded guest.bin.
pub fn run<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    facts: &Facts,
    image: &[u8],
    report: &mut Report<W>,
) {
    let placement = match image::place(image) {
        Ok(p) => {
            report.check("host-guest-image", Ok(()));
            p
        }
        Err(e) => {
            report.check("host-guest-image", Err(Fail::Image(e)));
            report.note(format_args!("vmm: no guest to run: guest checks skipped"));
            return;
        }
    };
    report.note(format_args!(
        "vmm: guest image: {} bytes, text_offset {:#x}, image_size {:#x}: entry IPA {}",
        placement.file_len, placement.offset, placement.footprint, placement.entry
    ));
    if windows::caps_checks(m, report, facts).is_none() {
        report.note(format_args!(
            "vmm: GET_CAPS refused: this Stile runs no guests; guest checks skipped"
        ));
        return;
    }
    let Some(block) = pick_memory(facts, layout::DONATED_SIZE) else {
        report.check(
            "guest-memory",
            Err(Fail::Setup("no free 2 MiB-aligned 4 MiB block of host RAM")),
        );
        return;
    };
    let hyp = facts.stile_hyp.map_or(PhysRange::new(0, 0), |n| n.range);
    let run_page = m.run_page_pa();
    garbage::run(m, report, &garbage::before_vm(block, hyp, run_page.0));
    load(m, report, block, &placement, image);
    let vm = match calls::vm_create(m, block.base, block.size) {
        Ok(vm) => {
            report.note(format_args!(
                "vmm: VM_CREATE({:#x}, {:#x}) -> vm {vm}: the block is the guest's now",
                block.base.0, block.size
            ));
            report.check("guest-vm-create", Ok(()));
            vm
        }
        Err(refusal) => {
            report.check(
                "guest-vm-create",
                Err(Fail::Refused {
                    call: "VM_CREATE",
                    refusal,
                }),
            );
            return;
        }
    };
    checks::donated(m, report, block);
    if let Some(vcpu) = with_vm(m, report, facts, vm, block, &placement) {
        let destroyed = checks::destroy(m, report, vm, block);
        if destroyed {
            garbage::run(m, report, &garbage::after_destroy(vm, vcpu));
            isolation::run(m, report, block, &placement, image);
            vgic::run(
                m,
                report,
                block,
                &placement,
                image,
                facts.gic,
                facts.virq_wired,
            );
        }
    } else {
        checks::destroy(m, report, vm, block);
    }
}

/// The block of host RAM (`size` bytes, 2 MiB aligned) the guest gets: below the board's
/// carve-outs, clear of the payload, its DTB, Stile and everything the DTB reserves.
pub(crate) fn pick_memory(facts: &Facts, size: u64) -> Option<PhysRange> {
    let mut avoid: Vec<PhysRange, { crate::facts::MAX_RESERVED + 3 }> = Vec::new();
    let _ = avoid.push(facts.image);
    let _ = avoid.push(facts.dtb);
    if let Some(n) = facts.stile_hyp {
        let _ = avoid.push(n.range);
    }
    for r in &facts.reserved {
        let _ = avoid.push(*r);
    }
    let ceiling = QEMU_VIRT
        .iter()
        .find(|r| r.name == "host-ram")
        .map_or(u64::MAX, |r| r.end());
    let mut ram: Vec<PhysRange, 16> = Vec::new();
    for r in facts.ram.iter() {
        // More RAM ranges than this are not worth searching: the first 16 have room.
        let _ = ram.push(*r);
    }
    placement::pick_block(&ram, &avoid, ceiling, size, layout::DONATED_ALIGN)
}

/// The guest image and the pre-filled backing pages, written (and cleaned to the point of
/// coherency: the guest's MMU is off) before donation.
fn load<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    block: PhysRange,
    p: &Placement,
    image: &[u8],
) {
    let at = |off: u64| PhysAddr(block.base.0 + off);
    // SAFETY: the block is host RAM that pick_memory chose clear of everything the payload
    // and Stile use, not yet donated; every write stays inside it (the placement keeps the
    // image below IMAGE_LIMIT, the backing pages are inside DONATED_SIZE by the layout).
    unsafe {
        m.write_ram(at(p.offset), image);
        m.write_ram(
            at(layout::REPLAY_BACKING),
            &layout::REPLAY_VALUE.to_le_bytes(),
        );
        m.write_ram(
            at(layout::READ_ONLY_BACKING),
            &layout::READ_ONLY_VALUE.to_le_bytes(),
        );
    }
    report.note(format_args!(
        "vmm: guest memory: host RAM {block}: image at +{:#x}, replay page at +{:#x} \
         ({:#x}), read-only page at +{:#x} ({:#x}); cleaned to PoC",
        p.offset,
        layout::REPLAY_BACKING,
        layout::REPLAY_VALUE,
        layout::READ_ONLY_BACKING,
        layout::READ_ONLY_VALUE
    ));
}

/// Everything between VM_CREATE and VM_DESTROY; the vCPU id if one was made.
fn with_vm<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    facts: &Facts,
    vm: u64,
    block: PhysRange,
    p: &Placement,
) -> Option<u64> {
    let hyp = facts.stile_hyp.map_or(PhysRange::new(0, 0), |n| n.range);
    let run_page = m.run_page_pa();
    let vcpu = match calls::vcpu_create(m, vm, p.entry, run_page, BOOT_X0) {
        Ok(id) => {
            report.note(format_args!(
                "vmm: VCPU_CREATE(vm {vm}, entry {}, run page {run_page}, x0 {BOOT_X0:#x}) \
                 -> vcpu {id}",
                p.entry
            ));
            report.check("guest-vcpu-create", Ok(()));
            id
        }
        Err(refusal) => {
            report.check(
                "guest-vcpu-create",
                Err(Fail::Refused {
                    call: "VCPU_CREATE",
                    refusal,
                }),
            );
            return None;
        }
    };
    // After VCPU_CREATE: the run page is in use, so a VCPU_CREATE that Stile wrongly lets
    // through one rule still meets another (BUSY) instead of taking the page.
    garbage::run(
        m,
        report,
        &garbage::with_vm(vm, block, hyp, run_page.0, p.entry),
    );
    let g = Guest {
        vm,
        vcpu,
        donated: block.base,
        entry: p.entry,
        fwb: facts.fwb,
    };
    let mut slots_ok = Ok(());
    for s in slots::initial(block.base) {
        let r = calls::memslot_set(m, vm, &s.req);
        let perms = slots::perms(s.req.word);
        report.note(format_args!(
            "vmm: MEMSLOT_SET slot {} ({}) {} IPA [{:#x}..{:#x}) -> {}",
            s.req.slot,
            s.name,
            core::str::from_utf8(&perms).unwrap_or("???"),
            s.req.ipa.0,
            s.req.ipa.0 + s.req.size,
            match r {
                Ok(()) => "SUCCESS",
                Err(_) => "refused",
            }
        ));
        if let Err(refusal) = r {
            slots_ok = slots_ok.and(Err(Fail::Refused {
                call: "MEMSLOT_SET",
                refusal,
            }));
        }
    }
    let ok = slots_ok.is_ok();
    report.check("guest-memslots", slots_ok);
    if !ok {
        return Some(vcpu);
    }
    let windows = windows::slot_checks(m, report, vm, facts);
    garbage::run(
        m,
        report,
        &garbage::with_slots(vm, block, run_page.0, p.entry, facts.image.base.0),
    );
    let secret_pa = m.plant_secret(SECRET);
    let mut steps = plan::plan(windows.cacheable, windows.nc);
    let probes = match probes(facts, secret_pa) {
        Ok(p) => p,
        Err(why) => {
            report.check("guest-probe-host-and-hyp-memory", Err(why));
            steps.retain(|s| *s != Step::Probe);
            [0; 3]
        }
    };
    report.note(format_args!(
        "vmm: secret {SECRET:#x} planted at host PA {secret_pa}; the guest will probe {:#x}, \
         {:#x}, {:#x}",
        probes[0], probes[1], probes[2]
    ));
    let cx = judge::Context {
        probes,
        secret: SECRET,
    };
    report.note(format_args!(
        "vmm: VCPU_RUN(vm {vm}, vcpu {vcpu}): {} scenarios to hand out",
        steps.len()
    ));
    let outcome = runner::run(m, report, &g, cx, &steps);
    checks::system_off(m, report, &g, outcome.end);
    checks::exit_accounting(m, report, &g, &outcome);
    revoke::check(m, report, vm, windows.nc);
    Some(vcpu)
}

/// The guest probes the host's secret and Stile's memory: the first and last 8 bytes of the
/// stile-hyp node. All must be holes in the guest's IPA map.
fn probes(facts: &Facts, secret: PhysAddr) -> Result<[u64; 3], Fail> {
    let hyp = facts.stile_hyp.ok_or(Fail::Missing(
        "no /reserved-memory/stile-hyp node in the DTB",
    ))?;
    if hyp.range.size < 16 {
        return Err(Fail::Missing("the stile-hyp node is too small"));
    }
    let p = [secret.0, hyp.range.base.0, hyp.range.end() - 8];
    let slots = [
        layout::DEVICE,
        layout::RAM,
        layout::REPLAY,
        layout::READ_ONLY,
        layout::CACHEABLE_WINDOW,
        layout::NC_WINDOW,
    ];
    if p.iter().any(|&a| slots.iter().any(|s| s.contains(Ipa(a)))) {
        return Err(Fail::Setup(
            "a host address to probe is inside one of the guest's slots",
        ));
    }
    Ok(p)
}
