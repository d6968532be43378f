//! A fake Stile for the VMM's tests, written from docs/ABI.md (not from hyp's code), that
//! runs the real guest logic (`stile_guest::run::main`) on a thread: each guest access or
//! HVC is a message the fake either answers itself (RAM slots: mapped on first touch) or
//! turns into an exit, answered by the VMM's reply at the next VCPU_RUN. Bugs can be
//! switched on to prove each check notices its own.

use crate::machine::{Access, Fault, Machine};
use crate::memattr::combine;
use crate::vmm::machine::{HostFields, VmmMachine};
use crate::vmm::memtype::{guest_fwb, guest_s2_memattr, MMU_OFF};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use stile_abi::run_page::{
    HostAction, ACCESS_READ, ACCESS_WRITE, MMIO_REG64, MMIO_SIGN_EXTEND, MMIO_WRITE,
    RUN_PAGE_VERSION,
};
use stile_abi::slot::{
    SlotKind, FLAG_CACHEABLE_OPT_IN, KNOWN_BITS, PERM_EXEC, PERM_READ, PERM_WRITE,
};
use stile_abi::{caps, ExitReason, Function, Reason, RunPage, Status};
use stile_guest::access::{Load, Store, LOAD_PRESET};
use stile_guest::cpu::{Abort, Cpu, Loaded, LoadedPair};
use stile_guest::ipa::Ipa;
use stile_guest::protocol::{FpRegs, PSCI_SYSTEM_OFF};
use stile_hyp::addr::{PhysAddr, PhysRange};
use stile_hyp::mm::kind::MemoryKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// Sign-extending loads come back zero-extended.
    NoSignExtend,
    /// A store's data carries the whole register, not its low `size` bytes.
    WriteDataUnmasked,
    /// MMIO exits report the wrong register.
    WrongSrt,
    /// First touches of RAM exit to the host instead of being mapped in EL2.
    LazyFaultsExit,
    /// The host can still read what it donated.
    DonatedStillReadable,
    /// VM_DESTROY does not zero the memory.
    NoScrub,
    /// cacheable-device accepted without the opt-in flag.
    CacheableWithoutOptIn,
    /// A guest access outside every slot reads host memory at that address.
    GuestSeesHostRam,
    /// exit_count counts one exit twice.
    ExitCountSkips,
    /// VCPU_RUN takes a bad host_action (as COMPLETE).
    AcceptBadHostAction,
    /// HVC exits carry x0..x3 only.
    HvcArgsTruncated,
    /// Guests run with FWB off even where the CPU has it.
    NoFwbForGuests,
    /// REGION_REVOKE leaves the region's slots mapped.
    RevokeKeepsMapping,
}

/// What the guest thread asks.
#[derive(Debug, Clone, Copy)]
enum Op {
    Hvc([u64; 8]),
    Load(Load, Ipa),
    Store(Store, Ipa, u64),
    Pair(Ipa),
}

#[derive(Debug, Clone, Copy)]
enum Resume {
    Hvc([u64; 4]),
    Loaded(Loaded),
    Stored(Option<Abort>),
    Pair(LoadedPair),
}

/// The guest's CPU: every operation is a round trip to the fake.
struct ChannelCpu {
    ops: Sender<Op>,
    resumes: Receiver<Resume>,
}

impl ChannelCpu {
    fn ask(&mut self, op: Op) -> Option<Resume> {
        self.ops.send(op).ok()?;
        self.resumes.recv().ok()
    }
}

impl Cpu for ChannelCpu {
    fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
        match self.ask(Op::Hvc(x)) {
            Some(Resume::Hvc(r)) => r,
            _ => [0; 4],
        }
    }

    fn load(&mut self, load: Load, addr: Ipa) -> Loaded {
        match self.ask(Op::Load(load, addr)) {
            Some(Resume::Loaded(l)) => l,
            _ => Loaded {
                value: LOAD_PRESET,
                abort: None,
            },
        }
    }

    fn store(&mut self, store: Store, addr: Ipa, value: u64) -> Option<Abort> {
        match self.ask(Op::Store(store, addr, value)) {
            Some(Resume::Stored(a)) => a,
            _ => None,
        }
    }

    fn load_pair(&mut self, addr: Ipa) -> LoadedPair {
        match self.ask(Op::Pair(addr)) {
            Some(Resume::Pair(p)) => p,
            _ => LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: None,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    ipa: u64,
    pa: u64,
    size: u64,
    kind: SlotKind,
    word: u64,
}

/// An op the fake turned into an exit, waiting for the host's reply.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Mmio(Op),
    Replay(Op),
    Hvc([u64; 8]),
}

const PAGE: u64 = 4096;
const HOST_RAM: PhysRange = PhysRange::new(0x4000_0000, 0x3b00_0000);
const APERTURE: PhysRange = PhysRange::new(0x7c00_0000, 0x400_0000);
const FB_NC: PhysRange = PhysRange::new(0x7b00_0000, 0x100_0000);
pub const RUN_PAGE_PA: u64 = 0x4002_1000;
pub const SECRET_PA: u64 = 0x4002_0000;
const IPA_LIMIT: u64 = 1 << 44;
const DABT_LOWER: u64 = 0x24 << 26 | 1 << 25;

pub struct FakeStile {
    pub fwb: bool,
    pub hyp: PhysRange,
    pub bug: Option<Bug>,
    /// GET_CAPS (and every guest call) answers NOT_SUPPORTED: a Stile without guests.
    pub no_guests: bool,
    mem: HashMap<u64, Box<[u8; PAGE as usize]>>,
    page: RunPage,
    vm: Option<(u64, PhysRange)>,
    vcpu: Option<(u64, u64, bool)>, // entry, x0, runnable
    slots: BTreeMap<u64, Slot>,
    mapped: BTreeSet<u64>,
    /// Base PAs of the revoked regions.
    revoked: BTreeSet<u64>,
    stats: [u64; 3],
    pending: Option<Pending>,
    guest: Option<(Sender<Resume>, Receiver<Op>, JoinHandle<()>)>,
    /// The host's d0 and v31: Stile keeps them across guest runs (and the guest's CPU keeps
    /// its own, `Cpu::fp_round_trip`'s default), so FP state is modelled as preserved.
    host_fp: FpRegs,
}

impl FakeStile {
    pub fn new(fwb: bool) -> FakeStile {
        FakeStile {
            fwb,
            hyp: PhysRange::new(0x4020_0000, 0x120_0000),
            bug: None,
            no_guests: false,
            mem: HashMap::new(),
            page: RunPage::default(),
            vm: None,
            vcpu: None,
            slots: BTreeMap::new(),
            mapped: BTreeSet::new(),
            revoked: BTreeSet::new(),
            stats: [0; 3],
            pending: None,
            guest: None,
            host_fp: FpRegs { d0: 0, v31: [0; 2] },
        }
    }

    pub fn with_bug(mut self, bug: Bug) -> FakeStile {
        self.bug = Some(bug);
        self
    }

    fn has(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    fn read_mem(&self, pa: u64, len: u64) -> u64 {
        let mut v = 0u64;
        let mut page = None;
        for i in (0..len).rev() {
            let a = pa + i;
            let p = match page {
                Some((n, p)) if n == a / PAGE => p,
                _ => {
                    let p = self.mem.get(&(a / PAGE));
                    page = Some((a / PAGE, p));
                    p
                }
            };
            let b = p.map_or(0, |p| p[(a % PAGE) as usize]);
            v = v << 8 | u64::from(b);
        }
        v
    }

    fn write_mem(&mut self, pa: u64, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let a = pa + i as u64;
            let p = self
                .mem
                .entry(a / PAGE)
                .or_insert_with(|| Box::new([0; PAGE as usize]));
            p[(a % PAGE) as usize] = *b;
        }
    }

    fn donated(&self) -> Option<PhysRange> {
        self.vm.map(|v| v.1)
    }

    fn refuse(reason: Reason) -> [u64; 4] {
        let status = match reason {
            Reason::NoSuchVm
            | Reason::NoSuchVcpu
            | Reason::BadArgument
            | Reason::Misaligned
            | Reason::OutOfRange => Status::InvalidParameters,
            _ => Status::Denied,
        };
        [status.as_u64(), reason as u64, 0, 0]
    }

    fn host_owns(&self, base: u64, size: u64) -> bool {
        let Some(end) = base.checked_add(size) else {
            return false;
        };
        let r = PhysRange::new(base, size);
        base >= HOST_RAM.base.0 && end <= HOST_RAM.end() && !r.overlaps(&self.hyp)
    }

    fn vm_ok(&self, vm: u64) -> Result<PhysRange, Reason> {
        match self.vm {
            Some((id, r)) if id == vm && vm != 0 => Ok(r),
            _ => Err(Reason::NoSuchVm),
        }
    }

    fn vm_create(&mut self, pa: u64, size: u64, flags: u64) -> [u64; 4] {
        if flags != 0 {
            return Self::refuse(Reason::BadArgument);
        }
        if size == 0 || !(pa | size).is_multiple_of(PAGE) {
            return Self::refuse(Reason::Misaligned);
        }
        if pa.checked_add(size).is_none() {
            return Self::refuse(Reason::OutOfRange);
        }
        if !self.host_owns(pa, size) {
            return Self::refuse(Reason::NotOwned);
        }
        if self
            .donated()
            .is_some_and(|d| d.overlaps(&PhysRange::new(pa, size)))
        {
            return Self::refuse(Reason::Busy);
        }
        if self.vm.is_some() {
            return Self::refuse(Reason::Limit);
        }
        self.vm = Some((1, PhysRange::new(pa, size)));
        [0, 1, 0, 0]
    }

    fn vm_destroy(&mut self, vm: u64) -> [u64; 4] {
        let block = match self.vm_ok(vm) {
            Ok(b) => b,
            Err(r) => return Self::refuse(r),
        };
        if !self.has(Bug::NoScrub) {
            for p in block.base.0 / PAGE..block.end() / PAGE {
                self.mem.remove(&p);
            }
        }
        self.vm = None;
        self.vcpu = None;
        self.slots.clear();
        self.mapped.clear();
        self.pending = None;
        // Dropping the channels ends the guest thread.
        if let Some((tx, rx, h)) = self.guest.take() {
            drop(tx);
            drop(rx);
            let _ = h.join();
        }
        [0; 4]
    }

    fn vcpu_create(&mut self, vm: u64, entry: u64, run_page: u64, x0: u64) -> [u64; 4] {
        if !run_page.is_multiple_of(PAGE) || !entry.is_multiple_of(4) {
            return Self::refuse(Reason::Misaligned);
        }
        let block = match self.vm_ok(vm) {
            Ok(b) => b,
            Err(r) => return Self::refuse(r),
        };
        if !self.host_owns(run_page, PAGE) {
            return Self::refuse(Reason::NotOwned);
        }
        if block.contains(PhysAddr(run_page)) || self.vcpu.is_some() {
            return Self::refuse(Reason::Busy);
        }
        self.vcpu = Some((entry, x0, true));
        self.page = RunPage {
            version: RUN_PAGE_VERSION,
            ..RunPage::default()
        };
        [0, 0, 0, 0]
    }

    fn memslot_set(&mut self, a: [u64; 6]) -> [u64; 4] {
        let [vm, index, ipa, pa, size, word] = a;
        let block = match self.vm_ok(vm) {
            Ok(b) => b,
            Err(r) => return Self::refuse(r),
        };
        if index >= 16 {
            return Self::refuse(Reason::Limit);
        }
        let Some(kind) = SlotKind::from_u8(word as u8).filter(|_| word & !KNOWN_BITS == 0) else {
            return Self::refuse(Reason::BadArgument);
        };
        let pa = if kind == SlotKind::Mmio { 0 } else { pa };
        if size == 0 || (ipa | pa | size) % PAGE != 0 {
            return Self::refuse(Reason::Misaligned);
        }
        if ipa.checked_add(size).is_none_or(|e| e > IPA_LIMIT) {
            return Self::refuse(Reason::OutOfRange);
        }
        let new = PhysRange::new(ipa, size);
        if self
            .slots
            .iter()
            .any(|(&i, s)| i != index && PhysRange::new(s.ipa, s.size).overlaps(&new))
        {
            return Self::refuse(Reason::Overlap);
        }
        if kind != SlotKind::Mmio {
            let inside = |r: PhysRange| pa >= r.base.0 && pa + size <= r.end();
            let region = [
                (APERTURE, SlotKind::CacheableDevice),
                (FB_NC, SlotKind::DeviceNc),
            ]
            .into_iter()
            .find(|(r, _)| inside(*r));
            let owned = match (kind, inside(block), region) {
                (SlotKind::Ram, true, _) => Ok(()),
                (_, true, _) | (SlotKind::Ram, false, Some(_)) => Err(Reason::BadKind),
                (_, false, None) => Err(Reason::NotOwned),
                (k, false, Some((_, rk))) if k != rk => Err(Reason::BadKind),
                (SlotKind::CacheableDevice, false, Some(_)) if !self.fwb => Err(Reason::NeedsFwb),
                (SlotKind::CacheableDevice, false, Some(_))
                    if word & FLAG_CACHEABLE_OPT_IN == 0
                        && !self.has(Bug::CacheableWithoutOptIn) =>
                {
                    Err(Reason::NotOptedIn)
                }
                _ => Ok(()),
            };
            if let Err(r) = owned {
                return Self::refuse(r);
            }
            if region.is_some_and(|(r, _)| self.revoked.contains(&r.base.0)) {
                return Self::refuse(Reason::Revoked);
            }
        }
        // Replacing a slot drops what the old one mapped (docs/ABI.md, MEMSLOT_SET).
        self.unmap_slot(index);
        self.slots.insert(
            index,
            Slot {
                ipa,
                pa,
                size,
                kind,
                word,
            },
        );
        [0; 4]
    }

    fn memslot_clear(&mut self, vm: u64, index: u64) -> [u64; 4] {
        if let Err(r) = self.vm_ok(vm) {
            return Self::refuse(r);
        }
        self.unmap_slot(index);
        self.slots.remove(&index);
        [0; 4]
    }

    fn unmap_slot(&mut self, index: u64) {
        if let Some(old) = self.slots.get(&index) {
            let pages = old.ipa / PAGE..(old.ipa + old.size) / PAGE;
            self.mapped.retain(|p| !pages.contains(p));
        }
    }

    /// REGION_REVOKE (docs/ABI.md) of the fake's one VM: unmapped, not yet marked changed
    /// (the payload's check does not run the guest again).
    fn region_revoke(&mut self, base: u64) -> [u64; 4] {
        let Some(region) = [APERTURE, FB_NC].into_iter().find(|r| r.base.0 == base) else {
            return Self::refuse(Reason::NotOwned);
        };
        if !self.revoked.insert(base) {
            return Self::refuse(Reason::Revoked);
        }
        let over: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| s.kind != SlotKind::Mmio && region.contains(PhysAddr(s.pa)))
            .map(|(&i, _)| i)
            .collect();
        if !self.has(Bug::RevokeKeepsMapping) {
            for &i in &over {
                self.unmap_slot(i);
            }
        }
        let n = over.len() as u64;
        [0, n, u64::from(n > 0), 0]
    }

    fn region_restore(&mut self, base: u64) -> [u64; 4] {
        if ![APERTURE, FB_NC].iter().any(|r| r.base.0 == base) {
            return Self::refuse(Reason::NotOwned);
        }
        self.revoked.remove(&base);
        [0; 4]
    }

    fn kind_of(kind: SlotKind) -> Option<MemoryKind> {
        match kind {
            SlotKind::Ram => Some(MemoryKind::Ram),
            SlotKind::Device => Some(MemoryKind::Device),
            SlotKind::DeviceNc => Some(MemoryKind::DeviceNc),
            SlotKind::CacheableDevice => Some(MemoryKind::CacheableDevice),
            SlotKind::Mmio => None,
        }
    }

    fn translate(&self, vm: u64, ipa: u64) -> [u64; 4] {
        if self.vm_ok(vm).is_err() {
            return Self::refuse(Reason::NoSuchVm);
        }
        let Some(s) = self.slot_at(ipa) else {
            return Self::refuse(Reason::NoSlot);
        };
        let Some(kind) = Self::kind_of(s.kind) else {
            return Self::refuse(Reason::NoMapping);
        };
        if !self.mapped.contains(&(ipa / PAGE)) {
            return Self::refuse(Reason::NoMapping);
        }
        let fwb = guest_fwb(self.fwb && !self.has(Bug::NoFwbForGuests));
        let Some(memattr) = guest_s2_memattr(kind, fwb) else {
            return Self::refuse(Reason::NeedsFwb);
        };
        let exec = s.word & PERM_EXEC != 0
            && matches!(kind, MemoryKind::Ram | MemoryKind::CacheableDevice);
        let bits = u64::from(memattr) << 2
            | u64::from(s.word & PERM_READ != 0) << 6
            | u64::from(s.word & PERM_WRITE != 0) << 7
            | 3 << 8
            | 1 << 10
            | u64::from(!exec) << 54;
        [
            0,
            s.pa + (ipa - s.ipa),
            combine(fwb, MMU_OFF, memattr).into(),
            bits,
        ]
    }

    fn slot_at(&self, ipa: u64) -> Option<Slot> {
        self.slots
            .values()
            .find(|s| ipa >= s.ipa && ipa - s.ipa < s.size)
            .copied()
    }

    fn caps(&self) -> [u64; 4] {
        let on = [
            (caps::CACHEABLE_DEVICE, self.fwb, Reason::NeedsFwb),
            (
                caps::CACHEABLE_DEVICE_EXEC,
                false,
                if self.fwb {
                    Reason::NoDic
                } else {
                    Reason::NeedsFwb
                },
            ),
            (caps::DEVICE_NC, true, Reason::None),
            (caps::MMIO_EXITS, true, Reason::None),
            (caps::NISV_EXITS, true, Reason::None),
            (caps::LAZY_MAPPING, true, Reason::None),
            (caps::FWB_GUESTS, self.fwb, Reason::NeedsFwb),
        ];
        let (mut bits, mut reasons) = (0, 0);
        for (bit, is_on, why) in on {
            if is_on {
                bits |= bit;
            } else {
                reasons |= (why as u64) << (8 * bit.trailing_zeros());
            }
        }
        [0, bits, reasons, 0]
    }

    fn vcpu_run(&mut self, vm: u64, vcpu: u64) -> [u64; 4] {
        if let Err(r) = self.vm_ok(vm) {
            return Self::refuse(r);
        }
        let Some((entry, x0, runnable)) = self.vcpu.filter(|_| vcpu == 0) else {
            return Self::refuse(Reason::NoSuchVcpu);
        };
        if !runnable {
            return Self::refuse(Reason::NoSuchVcpu);
        }
        let action = match self.page.host_action {
            0 => HostAction::Complete,
            1 => HostAction::Skip,
            2 => HostAction::InjectAbort,
            _ if self.has(Bug::AcceptBadHostAction) => HostAction::Complete,
            _ => return Self::refuse(Reason::BadArgument),
        };
        if action == HostAction::InjectAbort
            && matches!(self.pending, Some(Pending::Hvc(_)))
            && !self.has(Bug::AcceptBadHostAction)
        {
            return Self::refuse(Reason::BadArgument);
        }
        self.page.host_action = 0;
        if self.guest.is_none() {
            // The real guest's first instruction fetch maps its entry page.
            if self.slot_at(entry).is_some() && self.mapped.insert(entry / PAGE) {
                self.stats[0] += 1;
            }
            let (op_tx, op_rx) = channel();
            let (res_tx, res_rx) = channel();
            let handle = std::thread::spawn(move || {
                let mut cpu = ChannelCpu {
                    ops: op_tx,
                    resumes: res_rx,
                };
                stile_guest::run::main(&mut cpu, x0, Ipa(entry));
            });
            self.guest = Some((res_tx, op_rx, handle));
        }
        let mut next = self.pending.take().and_then(|p| self.resolve(p, action));
        loop {
            let op = match next.take() {
                Some(op) => op,
                None => match self.guest.as_ref().map(|g| g.1.recv()) {
                    Some(Ok(op)) => op,
                    _ => return Self::refuse(Reason::NoSuchVcpu),
                },
            };
            if let Some(reason) = self.step(op) {
                self.page.exit_count +=
                    if self.has(Bug::ExitCountSkips) && self.page.exit_count == 40 {
                        2
                    } else {
                        1
                    };
                self.page.exit_reason = reason as u32;
                self.stats[1] += 1;
                return [0, reason as u64, 0, 0];
            }
        }
    }

    fn answer(&mut self, r: Resume) {
        if let Some(g) = &self.guest {
            let _ = g.0.send(r);
        }
    }

    /// The host's reply to the pending exit: answers the guest, or gives the op back to
    /// re-execute.
    fn resolve(&mut self, p: Pending, action: HostAction) -> Option<Op> {
        let abort = |far: u64| Abort {
            esr: 0x25 << 26 | 1 << 25 | 0x10,
            far,
        };
        let skipped = |op: Op| match op {
            Op::Load(..) => Resume::Loaded(Loaded {
                value: LOAD_PRESET,
                abort: None,
            }),
            Op::Store(..) => Resume::Stored(None),
            Op::Pair(_) => Resume::Pair(LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: None,
            }),
            Op::Hvc(x) => Resume::Hvc([x[0], x[1], x[2], x[3]]),
        };
        let aborted = |op: Op| {
            let far = match op {
                Op::Load(_, a) | Op::Store(_, a, _) | Op::Pair(a) => a.0,
                Op::Hvc(_) => 0,
            };
            match op {
                Op::Load(..) => Resume::Loaded(Loaded {
                    value: LOAD_PRESET,
                    abort: Some(abort(far)),
                }),
                Op::Store(..) => Resume::Stored(Some(abort(far))),
                Op::Pair(_) => Resume::Pair(LoadedPair {
                    first: LOAD_PRESET,
                    second: LOAD_PRESET,
                    abort: Some(abort(far)),
                }),
                Op::Hvc(x) => Resume::Hvc([x[0], x[1], x[2], x[3]]),
            }
        };
        let (op, resume) = match (p, action) {
            (Pending::Hvc(_), HostAction::Complete) => {
                let r = self.page.hvc;
                (None, Some(Resume::Hvc([r[0], r[1], r[2], r[3]])))
            }
            (Pending::Hvc(x), _) => (None, Some(skipped(Op::Hvc(x)))),
            (Pending::Mmio(Op::Load(l, _)), HostAction::Complete) => {
                let data = self.page.data & stile_guest::device::mask(l.size());
                let value = if self.has(Bug::NoSignExtend) && l.sign_extend() {
                    data
                } else {
                    l.result(data)
                };
                (None, Some(Resume::Loaded(Loaded { value, abort: None })))
            }
            (Pending::Mmio(op), HostAction::InjectAbort)
            | (Pending::Replay(op), HostAction::InjectAbort) => {
                self.stats[2] += 1;
                (None, Some(aborted(op)))
            }
            (Pending::Mmio(op), _) => (None, Some(skipped(op))),
            (Pending::Replay(op), HostAction::Complete) => (Some(op), None),
            (Pending::Replay(op), HostAction::Skip) => (None, Some(skipped(op))),
        };
        if let Some(r) = resume {
            self.answer(r);
        }
        op
    }

    /// One guest op: `None` if handled inside (the guest is answered), else the exit.
    fn step(&mut self, op: Op) -> Option<ExitReason> {
        let clean = RunPage {
            version: self.page.version,
            exit_count: self.page.exit_count,
            host_action: self.page.host_action,
            ..RunPage::default()
        };
        self.page = clean;
        let (addr, write, size) = match op {
            Op::Hvc(x) if x[0] == PSCI_SYSTEM_OFF => {
                self.vcpu = self.vcpu.map(|(e, x0, _)| (e, x0, false));
                self.page.system_event = x[0];
                return Some(ExitReason::SystemEvent);
            }
            Op::Hvc(mut x) => {
                if self.has(Bug::HvcArgsTruncated) {
                    x[4..].fill(0);
                }
                self.page.hvc = x;
                self.pending = Some(Pending::Hvc(x));
                return Some(ExitReason::Hvc);
            }
            Op::Load(l, a) => (a.0, false, l.size()),
            Op::Store(s, a, _) => (a.0, true, s.size()),
            Op::Pair(a) => (a.0, false, 16),
        };
        self.page.ipa = addr;
        self.page.far = addr;
        self.page.access = if write { ACCESS_WRITE } else { ACCESS_READ };
        let Some(slot) = self.slot_at(addr) else {
            if self.has(Bug::GuestSeesHostRam) && !write {
                let value = self.read_mem(addr, 8);
                self.answer(Resume::Loaded(Loaded { value, abort: None }));
                return None;
            }
            self.page.fault_reason = Reason::NoSlot as u64;
            self.page.esr = DABT_LOWER | 0x04;
            self.pending = Some(Pending::Replay(op));
            return Some(ExitReason::MemoryFault);
        };
        if slot.kind == SlotKind::Mmio {
            let (srt, flags, data) = match op {
                Op::Load(l, _) => (
                    l.srt(),
                    (u8::from(l.sign_extend()) * MMIO_SIGN_EXTEND)
                        | (u8::from(l.reg64()) * MMIO_REG64),
                    0,
                ),
                Op::Store(s, _, v) => {
                    let data = if self.has(Bug::WriteDataUnmasked) {
                        v
                    } else {
                        v & stile_guest::device::mask(s.size())
                    };
                    (
                        s.srt(),
                        MMIO_WRITE | (u8::from(s.reg64()) * MMIO_REG64),
                        data,
                    )
                }
                _ => {
                    self.page.esr = DABT_LOWER | 0x06;
                    self.pending = Some(Pending::Replay(op));
                    return Some(ExitReason::Nisv);
                }
            };
            self.page.size = size;
            self.page.srt = if self.has(Bug::WrongSrt) {
                srt + 1
            } else {
                srt
            };
            self.page.flags = flags;
            self.page.data = data;
            self.page.esr = DABT_LOWER | 1 << 24 | 0x06;
            self.pending = Some(Pending::Mmio(op));
            return Some(ExitReason::Mmio);
        }
        let allowed = if write {
            slot.word & PERM_WRITE != 0
        } else {
            slot.word & PERM_READ != 0
        };
        if !allowed {
            self.page.fault_reason = Reason::Permission as u64;
            self.page.size = size;
            self.pending = Some(Pending::Replay(op));
            return Some(ExitReason::MemoryFault);
        }
        if self.mapped.insert(addr / PAGE) {
            if self.has(Bug::LazyFaultsExit) {
                self.mapped.remove(&(addr / PAGE));
                self.page.fault_reason = Reason::NoSlot as u64;
                self.pending = Some(Pending::Replay(op));
                return Some(ExitReason::MemoryFault);
            }
            self.stats[0] += 1;
        }
        let pa = slot.pa + (addr - slot.ipa);
        let resume = match op {
            Op::Load(l, _) => Resume::Loaded(Loaded {
                value: l.result(self.read_mem(pa, l.size().into())),
                abort: None,
            }),
            Op::Store(s, _, v) => {
                let n = usize::from(s.size());
                self.write_mem(pa, &v.to_le_bytes()[..n]);
                Resume::Stored(None)
            }
            Op::Pair(_) => Resume::Pair(LoadedPair {
                first: self.read_mem(pa, 8),
                second: self.read_mem(pa + 8, 8),
                abort: None,
            }),
            Op::Hvc(_) => return None,
        };
        self.answer(resume);
        None
    }
}

impl Drop for FakeStile {
    fn drop(&mut self) {
        if let Some((tx, rx, h)) = self.guest.take() {
            drop(tx);
            drop(rx);
            let _ = h.join();
        }
    }
}

impl Machine for FakeStile {
    fn hvc(&mut self, r: [u64; 4]) -> [u64; 4] {
        self.call([r[0], r[1], r[2], r[3], 0, 0, 0])
    }

    fn smc(&mut self, _r: [u64; 4]) -> [u64; 4] {
        [Status::NotSupported.as_u64(), 0, 0, 0]
    }

    unsafe fn read32(&mut self, addr: u64) -> Access {
        let blocked = self.hyp.contains(PhysAddr(addr))
            || (self.donated().is_some_and(|d| d.contains(PhysAddr(addr)))
                && !self.has(Bug::DonatedStillReadable));
        if blocked {
            return Access::Aborted(Fault {
                esr: 0x25 << 26 | 1 << 25 | 0x10,
                far: addr,
            });
        }
        Access::Done(self.read_mem(addr, 4) as u32)
    }

    unsafe fn write32(&mut self, addr: u64, value: u32) -> Access {
        self.write_mem(addr, &value.to_le_bytes());
        Access::Done(0)
    }
}

impl VmmMachine for FakeStile {
    fn call(&mut self, x: [u64; 7]) -> [u64; 4] {
        let Some(f) = Function::from_id(x[0] as u32) else {
            return [Status::NotSupported.as_u64(), 0, 0, 0];
        };
        if self.no_guests && f != Function::Translate {
            return [Status::NotSupported.as_u64(), 0, 0, 0];
        }
        let a = [x[1], x[2], x[3], x[4], x[5], x[6]];
        match f {
            Function::Translate => self.translate(a[0], a[1]),
            Function::GetCaps => self.caps(),
            Function::Stats => match self.vm_ok(a[0]) {
                Ok(_) => [0, self.stats[0], self.stats[1], self.stats[2]],
                Err(r) => Self::refuse(r),
            },
            Function::VmCreate => self.vm_create(a[0], a[1], a[2]),
            Function::VmDestroy => self.vm_destroy(a[0]),
            Function::VcpuCreate => self.vcpu_create(a[0], a[1], a[2], a[3]),
            Function::VcpuRun => self.vcpu_run(a[0], a[1]),
            Function::MemslotSet => self.memslot_set(a),
            Function::MemslotClear => self.memslot_clear(a[0], a[1]),
            Function::RegionRevoke => self.region_revoke(a[0]),
            Function::RegionRestore => self.region_restore(a[0]),
            // The fake has no vGIC (the VMM's plan never asks for one).
            Function::VgicConfig | Function::IrqLine | Function::VcpuPending => {
                match self.vm_ok(a[0]) {
                    Ok(_) => Self::refuse(stile_abi::Reason::NoVgic),
                    Err(r) => Self::refuse(r),
                }
            }
        }
    }

    fn run_page_pa(&self) -> PhysAddr {
        PhysAddr(RUN_PAGE_PA)
    }

    fn read_run_page(&mut self) -> RunPage {
        self.page
    }

    fn write_host_fields(&mut self, f: &HostFields) {
        self.page.host_action = f.host_action;
        self.page.data = f.data;
        self.page.hvc[..4].copy_from_slice(&f.hvc);
    }

    fn plant_secret(&mut self, value: u64) -> PhysAddr {
        self.write_mem(SECRET_PA, &value.to_le_bytes());
        PhysAddr(SECRET_PA)
    }

    unsafe fn write_ram(&mut self, pa: PhysAddr, bytes: &[u8]) {
        self.write_mem(pa.0, bytes);
    }

    fn set_fp(&mut self, fp: FpRegs) {
        self.host_fp = fp;
    }

    fn get_fp(&mut self) -> FpRegs {
        self.host_fp
    }
}
