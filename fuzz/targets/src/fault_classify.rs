//! The ESR decoder and the stage-2 fault classifier: slots registered through MEMSLOT_SET's
//! own `validate` (so they are ones a VM can really have), then aborts with fuzzed
//! syndromes and addresses. Each outcome is checked against what the ABI promises; above
//! all, a `Map` never reaches past its slot or outside the VM's donated RAM and the
//! assignable regions. The lazy-map entry's narrower classify maps nothing the full one
//! does not map the same way.

use crate::bytes::Bytes;
use stile_abi::run_page::{ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE};
use stile_abi::slot::{self, SlotKind};
use stile_abi::Reason;
use stile_hyp::addr::PhysRange;
use stile_hyp::esr::{ec, Esr};
use stile_hyp::mm::kind::MemoryKind;
use stile_hyp::vm::dispatch::entry_classify;
use stile_hyp::vm::fault::{classify, Abort, Outcome};
use stile_hyp::vm::memslot::{
    check_backing, validate, Assignable, Slot, SlotRequest, SlotWorld, Slots, MAX_SLOTS,
};
use stile_hyp::vm::mmio::MmioAccess;

const PAGE: u64 = 4096;
const BLOCK_2M: u64 = 2 << 20;

/// QEMU virt's assignable regions (platform/qemu-virt/regions.toml).
pub const ASSIGNABLE: [Assignable; 2] = [
    Assignable {
        range: PhysRange::new(0x7b00_0000, 0x100_0000),
        kind: MemoryKind::DeviceNc,
    },
    Assignable {
        range: PhysRange::new(0x7c00_0000, 0x400_0000),
        kind: MemoryKind::CacheableDevice,
    },
];
const DONATED: [PhysRange; 3] = [
    PhysRange::new(0x5000_0000, 0x40_0000),
    PhysRange::new(0x5010_0000, 0x3f_f000),
    PhysRange::new(0x4000_0000, 0x4000_0000),
];
/// IPAs and PAs slots start near.
const IPAS: [u64; 5] = [0x4000_0000, 0x0900_0000, 0x1_0000_0000, 0, 0xff_ffe0_0000];
const PAS: [u64; 4] = [0x5000_0000, 0x7b00_0000, 0x7c00_0000, 0x4020_0000];
const KINDS: [SlotKind; 5] = [
    SlotKind::Ram,
    SlotKind::Mmio,
    SlotKind::Device,
    SlotKind::DeviceNc,
    SlotKind::CacheableDevice,
];

pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let world = SlotWorld {
        donated: b.pick(&DONATED),
        assignable: &ASSIGNABLE,
        fwb: b.bool(),
        ipa_limit: 1 << b.pick(&[40u32, 36, 44]),
    };
    let mut slots = Slots::new();
    for _ in 0..b.u8() % 6 {
        let (perms, flags) = (perms(&mut b), flags(&mut b));
        let req = SlotRequest {
            index: u64::from(b.u8()) % (MAX_SLOTS as u64 + 1),
            ipa: b.addr(&IPAS),
            pa: b.addr(&PAS),
            size: b.size(),
            word: slot::word(b.pick(&KINDS), perms, flags),
        };
        let index = req.index as usize;
        let others: Vec<Slot> = slots
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .filter_map(|(_, s)| *s)
            .collect();
        if let Ok(s) = validate(&req, &others, &world) {
            slots[index] = Some(s);
        }
    }
    // Some slots' regions revoked since they were registered (REGION_REVOKE's mark; two
    // bytes, one bit a slot).
    let revoked = b.u16();
    for i in (0..MAX_SLOTS).filter(|i| revoked >> i & 1 != 0) {
        slots.mark_changed(i);
    }
    let registered: Vec<Slot> = slots.iter().flatten().copied().collect();
    while !b.is_empty() {
        let esr = syndrome(&mut b);
        let ipa = fault_ipa(&mut b, &registered);
        let abort = Abort {
            esr,
            far: ipa ^ u64::from(b.u16()),
            ipa,
        };
        let _ = esr.to_string();
        // The lazy-map entry's narrower classify, on the slot the last fault left found:
        // what it maps, the full classify maps the same way.
        let entry = entry_classify(&abort, &slots);
        let full = classify(&abort, &slots, &world);
        if matches!(entry, Outcome::Map { .. }) {
            assert_eq!(entry, full, "{esr} at {ipa:#x}");
        }
        check(&abort, &slots, &world, full);
        if let Some(a) = MmioAccess::from_esr(esr) {
            check_mmio_value(&a, b.u64());
        }
    }
}

/// A slot's permission bits (`slot::PERM_*`), any of the eight sets.
pub fn perms(b: &mut Bytes) -> u64 {
    u64::from(b.u8() & 7) << slot::PERM_READ.trailing_zeros()
}

/// A slot's flags: none, opted in to cacheable device memory, eager, or both.
pub fn flags(b: &mut Bytes) -> u64 {
    let opt_in = slot::FLAG_CACHEABLE_OPT_IN;
    b.pick(&[0, 0, opt_in, slot::FLAG_EAGER, opt_in | slot::FLAG_EAGER])
}

/// Where a fault lands: in a page of a slot, in its last pages (where a 2 MiB block may
/// stick out), just outside it, or near the usual IPAs.
pub fn fault_ipa(b: &mut Bytes, slots: &[Slot]) -> u64 {
    let sel = b.u8();
    let Some(s) = slots.get(usize::from(sel >> 2) % slots.len().max(1)) else {
        return b.addr(&IPAS);
    };
    let pages = s.size / PAGE;
    let offset = u64::from(b.u16() & 0xfff);
    match sel & 3 {
        0 => s.ipa + u64::from(b.u16()) % pages * PAGE + offset,
        1 => s.ipa + s.size - (u64::from(b.u8()) % pages + 1) * PAGE + offset,
        2 => b.pick(&[s.ipa.wrapping_sub(PAGE), s.ipa + s.size]) + offset,
        _ => b.addr(&IPAS),
    }
}

/// An abort syndrome: mostly a lower-EL data or instruction abort with fields chosen one
/// by one, sometimes any 64-bit value.
pub fn syndrome(b: &mut Bytes) -> Esr {
    if b.u8() & 15 == 0 {
        return Esr(b.u64());
    }
    let class = b.pick(&[ec::DATA_ABORT_LOWER, ec::INST_ABORT_LOWER, 0x25, 0x21]);
    let fsc = b.pick(&[
        0x04u64, 0x05, 0x06, 0x07, 0x09, 0x0b, 0x0d, 0x0f, 0x10, 0x21, 0x00,
    ]);
    let fields = u64::from(b.u32()) & 0x01ff_ffc0; // ISV, SAS, SSE, SRT, SF, ..., WnR
    Esr(u64::from(class) << 26 | 1 << 25 | fields | fsc)
}

fn check(abort: &Abort, slots: &Slots, world: &SlotWorld, outcome: Outcome) {
    let fsc = abort.esr.fsc();
    let found = slots
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.filter(|s| s.contains(abort.ipa)).map(|s| (i, s)));
    let ctx = || format!("{} at IPA {:#x}: {outcome:?}", abort.esr, abort.ipa);
    if !(0x04..=0x0f).contains(&fsc) {
        assert_eq!(outcome, Outcome::Unknown, "{}", ctx());
        return;
    }
    let Some((index, slot)) = found else {
        assert_eq!(outcome, Outcome::Fault(Reason::NoSlot), "{}", ctx());
        return;
    };
    let access = if abort.is_fetch() {
        ACCESS_EXEC
    } else if abort.esr.wnr() {
        ACCESS_WRITE
    } else {
        ACCESS_READ
    };
    match outcome {
        Outcome::Map {
            slot: i,
            ipa,
            size,
            pa,
            kind,
            perm_bits,
        } => {
            assert_eq!(i, index, "{}", ctx());
            // What the map is told is the slot's: its backing at that offset, kind, perms.
            assert_eq!(pa.0, slot.pa + (ipa - slot.ipa), "{}", ctx());
            assert_eq!(Some(kind), slot.memory_kind(), "{}", ctx());
            assert_eq!(perm_bits, slot.perm_bits(), "{}", ctx());
            assert!(size == PAGE || size == BLOCK_2M, "{}", ctx());
            assert!(
                ipa % size == 0 && ipa <= abort.ipa && abort.ipa - ipa < size,
                "{}",
                ctx()
            );
            assert!(
                slot.contains(ipa) && slot.contains(ipa + size - 1),
                "{}",
                ctx()
            );
            assert!(
                slot.kind != SlotKind::Mmio && slot.allows(access),
                "{}",
                ctx()
            );
            assert!(fsc < 0x0c, "a permission fault mapped: {}", ctx());
            let pa = slot.pa_of(ipa).0;
            assert!(pa % size == 0, "PA {pa:#x} not aligned: {}", ctx());
            let backing = PhysRange::new(pa, size);
            let inside = |r: &PhysRange| backing.base.0 >= r.base.0 && backing.end() <= r.end();
            assert!(
                inside(&world.donated) || world.assignable.iter().any(|a| inside(&a.range)),
                "maps {backing:?} outside the VM's memory: {}",
                ctx()
            );
            assert_eq!(check_backing(&slot, world), Ok(()), "{}", ctx());
            assert!(
                slot.kind == SlotKind::Ram || !slots.changed(index),
                "a revoked region mapped: {}",
                ctx()
            );
        }
        Outcome::Mmio(a) => {
            assert!(
                slot.kind == SlotKind::Mmio && !abort.is_fetch(),
                "{}",
                ctx()
            );
            assert!(
                abort.esr.isv() && matches!(a.size, 1 | 2 | 4 | 8),
                "{}",
                ctx()
            );
            assert!(a.srt <= 31 && a.write == abort.esr.wnr(), "{}", ctx());
        }
        Outcome::Nisv => {
            assert!(slot.kind == SlotKind::Mmio && !abort.esr.isv(), "{}", ctx());
            assert!(!abort.is_fetch(), "{}", ctx());
        }
        Outcome::InjectAndFault(r) => {
            assert_eq!(r, Reason::ExecNotAllowed, "{}", ctx());
            let execs = slot.memory_kind().is_some_and(MemoryKind::may_execute);
            assert!(abort.is_fetch() && !execs, "{}", ctx());
        }
        Outcome::Fault(Reason::Permission) => {
            assert!(!slot.allows(access) || fsc >= 0x0c, "{}", ctx());
        }
        Outcome::Fault(Reason::SlotChanged) => {
            let region = !matches!(slot.kind, SlotKind::Ram | SlotKind::Mmio);
            assert!(region && slots.changed(index), "{}", ctx());
        }
        Outcome::Fault(r) => {
            assert!(slot.kind != SlotKind::Mmio, "{}", ctx());
            assert_eq!(check_backing(&slot, world), Err(r), "{}", ctx());
        }
        Outcome::Unknown => panic!("a translation/permission fault left unknown: {}", ctx()),
    }
}

/// A completed MMIO load lands in the register as the Arm ARM says: the low `size` bytes,
/// sign-extended if SSE, then cut to 32 bits for a W register.
fn check_mmio_value(a: &MmioAccess, data: u64) {
    let bytes = usize::from(a.size);
    let mut le = data.to_le_bytes();
    let negative = a.sign_extend && le[bytes - 1] & 0x80 != 0;
    for byte in le.iter_mut().skip(bytes) {
        *byte = if negative { 0xff } else { 0 };
    }
    let mut want = u64::from_le_bytes(le);
    if !a.reg64 {
        want &= 0xffff_ffff;
    }
    assert_eq!(a.load_value(data), want, "{a:?} load of {data:#x}");
    let stored = if a.srt == 31 { 0 } else { data };
    let mask = if bytes == 8 {
        u64::MAX
    } else {
        (1 << (8 * bytes)) - 1
    };
    assert_eq!(
        a.write_data(data),
        stored & mask,
        "{a:?} store of {data:#x}"
    );
}
