//! Choosing the next call: mostly calls that make progress towards deep states (a guest
//! with slots and vCPUs that runs), mixed with calls whose arguments are wrong in every way
//! the ABI names, and function IDs that mean nothing.

use super::{HostileMachine, Model, Targets, MAX_VMS, POOL_BLOCKS, RUN_PAGES};
use stile_abi::slot::{self, SlotKind};
use stile_abi::Function;
use stile_hyp::addr::PhysRange;

/// xorshift64*: small, seedable, good enough to pick calls.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub const fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn word(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.word() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Where each guest's RAM slot starts in its IPA space, and its MMIO slot (the menu's
/// snippets aim at these, and at a hole in between).
pub const GUEST_RAM_IPA: u64 = 0x4000_0000;
pub const GUEST_MMIO_IPA: u64 = 0x0900_0000;

/// One planned call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// VM_CREATE of `ram` (the start of pool block `block`), with fresh guest code in it.
    Create { block: usize, ram: PhysRange },
    /// VCPU_RUN of a live VM's vCPU.
    Run { vm: u64, vcpu: u64 },
    /// Anything else, already in registers.
    Other([u64; 7]),
}

impl Call {
    /// The registers of the call (x0..x6).
    pub fn regs(&self) -> [u64; 7] {
        match *self {
            Call::Create { ram, .. } => {
                [Function::VmCreate as u64, ram.base.0, ram.size, 0, 0, 0, 0]
            }
            Call::Run { vm, vcpu } => [Function::VcpuRun as u64, vm, vcpu, 0, 0, 0, 0],
            Call::Other(x) => x,
        }
    }
}

const PAGE: u64 = 4096;

/// A VM id: mostly a live one, sometimes one that cannot exist.
fn vm_id(rng: &mut Rng, model: &Model) -> u64 {
    let live: heapless::Vec<u64, MAX_VMS> = model.live().map(|v| v.id).collect();
    if !live.is_empty() && rng.below(8) != 0 {
        return rng.pick(&live);
    }
    let any = 1 + rng.below(8);
    rng.pick(&[0, 9, 77, u64::MAX, any])
}

/// An address that is nobody's to give: Stile's, a device, a hole, a wrap, a misaligned
/// pool address.
fn bad_pa(rng: &mut Rng, t: &Targets) -> u64 {
    let pool = t.pool[rng.below(POOL_BLOCKS as u64) as usize].base.0;
    rng.pick(&[
        t.hyp.base.0,
        t.hyp.base.0 + PAGE,
        0,
        0x0900_0000,
        0x8_0000_0000_0000,
        !(PAGE - 1),
        pool + 8,
        pool + 0x123,
    ])
}

fn size(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.pick(&[0, 1, PAGE - 1, u64::MAX, 1 << 40]),
        _ => PAGE * (1 + rng.below(64)),
    }
}

/// A slot descriptor word: mostly valid, sometimes with bits that mean nothing.
fn slot_word(rng: &mut Rng) -> u64 {
    let kind = rng.pick(&[
        SlotKind::Ram,
        SlotKind::Ram,
        SlotKind::Mmio,
        SlotKind::Device,
        SlotKind::DeviceNc,
        SlotKind::CacheableDevice,
    ]);
    let perms = rng.below(8) << 8;
    let flags = rng.pick(&[0, slot::FLAG_CACHEABLE_OPT_IN, slot::FLAG_EAGER]);
    match rng.below(10) {
        0 => rng.word(),
        _ => slot::word(kind, perms, flags),
    }
}

/// The next call.
pub(super) fn pick_call(rng: &mut Rng, t: &Targets, model: &Model) -> Call {
    let f = |f: Function| f as u64;
    match rng.below(100) {
        // VM_CREATE over a free pool block (the only RAM the campaign donates).
        0..=9 => {
            let free: heapless::Vec<usize, POOL_BLOCKS> = (0..POOL_BLOCKS)
                .filter(|&b| !model.block_in_use[b])
                .collect();
            if free.is_empty() || rng.below(5) == 0 {
                // Refused for sure: bad flags over a pool block, or memory nobody may give.
                let pool = t.pool[rng.below(POOL_BLOCKS as u64) as usize];
                return Call::Other(match rng.below(2) {
                    0 => [
                        f(Function::VmCreate),
                        pool.base.0,
                        PAGE,
                        1 + rng.below(7),
                        0,
                        0,
                        0,
                    ],
                    _ => [f(Function::VmCreate), bad_pa(rng, t), size(rng), 0, 0, 0, 0],
                });
            }
            let block = rng.pick(&free);
            let pages = 4 + rng.below(508);
            Call::Create {
                block,
                ram: PhysRange::new(t.pool[block].base.0, pages * PAGE),
            }
        }
        10..=14 => Call::Other([f(Function::VmDestroy), vm_id(rng, model), 0, 0, 0, 0, 0]),
        15..=24 => {
            let page = match rng.below(6) {
                0 => bad_pa(rng, t),
                _ => 0, // filled below from the run pages
            };
            let entry = match rng.below(8) {
                0 => rng.word(),
                _ => GUEST_RAM_IPA,
            };
            Call::Other([
                f(Function::VcpuCreate),
                vm_id(rng, model),
                entry,
                page,
                rng.word(),
                0,
                0,
            ])
        }
        25..=59 => {
            let vm = vm_id(rng, model);
            let vcpus = model
                .vms
                .iter()
                .flatten()
                .find(|v| v.id == vm)
                .map_or(1, |v| v.vcpus.max(1));
            let vcpu = match rng.below(10) {
                0 => rng.pick(&[4, 99, u64::MAX]),
                _ => rng.below(u64::from(vcpus)),
            };
            Call::Run { vm, vcpu }
        }
        60..=74 => {
            let vm = vm_id(rng, model);
            let live = model.vms.iter().flatten().find(|v| v.id == vm).copied();
            let (ipa, pa, sz, word) = match (rng.below(4), live) {
                // The guest's RAM, mapped where its code runs.
                (0 | 1, Some(v)) => (
                    GUEST_RAM_IPA,
                    v.ram.base.0,
                    v.ram.size,
                    slot::word(
                        SlotKind::Ram,
                        slot::PERM_READ | slot::PERM_WRITE | slot::PERM_EXEC,
                        0,
                    ),
                ),
                (2, _) => (
                    GUEST_MMIO_IPA,
                    0,
                    PAGE,
                    slot::word(SlotKind::Mmio, slot::PERM_READ | slot::PERM_WRITE, 0),
                ),
                _ => {
                    let pa = match rng.below(3) {
                        0 => t.assignable[rng.below(2) as usize].base.0,
                        1 => live.map_or(0, |v| v.ram.base.0 + PAGE * rng.below(4)),
                        _ => bad_pa(rng, t),
                    };
                    // Never at IPA 0..1 GiB: the guest's exception vectors (VBAR 0) must
                    // stay unmapped so a guest exception always exits.
                    (
                        (1 << 30) + rng.below(1 << 27) * PAGE,
                        pa,
                        size(rng),
                        slot_word(rng),
                    )
                }
            };
            let slot_index = match rng.below(10) {
                0 => rng.pick(&[16, 99, u64::MAX]),
                _ => rng.below(4),
            };
            Call::Other([f(Function::MemslotSet), vm, slot_index, ipa, pa, sz, word])
        }
        75..=79 => Call::Other([
            f(Function::MemslotClear),
            vm_id(rng, model),
            rng.below(20),
            0,
            0,
            0,
            0,
        ]),
        80..=87 => {
            let addr = match rng.below(4) {
                0 => rng.word(),
                1 => t.hyp.base.0,
                _ => GUEST_RAM_IPA + PAGE * rng.below(64),
            };
            Call::Other([f(Function::Translate), vm_id(rng, model), addr, 0, 0, 0, 0])
        }
        88..=91 => Call::Other([f(Function::Stats), vm_id(rng, model), 0, 0, 0, 0, 0]),
        92 => Call::Other([f(Function::GetCaps), 0, 0, 0, 0, 0, 0]),
        // The vGIC's calls on (mostly) live VMs: a GICv2 machine maps its GICV into the VM
        // at the second IPA, which may be anywhere, or over a slot.
        93..=95 => {
            let vm = vm_id(rng, model);
            let anywhere = rng.word() & 0xff_ffff_0000;
            let cpu = rng.pick(&[0x0801_0000, 0x080a_0000, GUEST_RAM_IPA, anywhere]);
            let (intid, level) = (rng.below(128), rng.below(3));
            Call::Other(match rng.below(3) {
                0 => [f(Function::VgicConfig), vm, 0x0800_0000, cpu, 0, 0, 0],
                1 => [f(Function::IrqLine), vm, intid, level, 0, 0, 0],
                _ => [f(Function::VcpuPending), vm, rng.below(5), 0, 0, 0, 0],
            })
        }
        // Function IDs Stile does not have, in its range and out of it.
        _ => {
            let fid = match rng.below(3) {
                0 => 0xC600_0000 | rng.below(0x100),
                1 => 0xC600_0000 | rng.below(0x1_0000),
                _ => rng.word() & 0xffff_ffff & !(0xff << 24) | 0xC600_0000,
            };
            Call::Other([
                fid,
                rng.word(),
                rng.word(),
                rng.word(),
                rng.word(),
                rng.word(),
                rng.word(),
            ])
        }
    }
}

/// Fill in a VCPU_CREATE's run page (x3 = 0 means "one of ours").
pub(super) fn with_run_page(x: &mut [u64; 7], rng: &mut Rng, m: &impl HostileMachine) {
    if x[0] == Function::VcpuCreate as u64 && x[3] == 0 {
        x[3] = m.run_page(rng.below(RUN_PAGES as u64) as usize);
    }
}

/// Snippets in a guest program; then a branch back to its start.
pub const PROGRAM_SNIPPETS: usize = 12;

/// A guest: random snippets from `menu`, then `b` back to the first.
pub fn guest_program(
    rng: &mut Rng,
    menu: &[[u32; 2]],
) -> heapless::Vec<u32, { 2 * PROGRAM_SNIPPETS + 3 }> {
    let mut words = heapless::Vec::new();
    if menu.is_empty() {
        let _ = words.push(branch_back(0));
        return words;
    }
    for _ in 0..PROGRAM_SNIPPETS {
        let s = menu[rng.below(menu.len() as u64) as usize];
        let _ = words.push(s[0]);
        let _ = words.push(s[1]);
    }
    // The last snippet of the menu is an HVC with x0 = 0: every pass exits at least once
    // (a guest that never exits would hold the CPU: guest WFI and timers are not trapped
    // to the host yet).
    let exit = menu[menu.len() - 1];
    let _ = words.push(exit[0]);
    let _ = words.push(exit[1]);
    let back = words.len() as u32;
    let _ = words.push(branch_back(back));
    words
}

/// `b` to `words` instructions before this one.
pub fn branch_back(words: u32) -> u32 {
    0x1400_0000 | (words.wrapping_neg() & 0x03ff_ffff)
}
