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

mod run;
use run::{Op, Pending, Resume};

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
    /// VCPU_RUN returns with the guest's x19 in the host's.
    HostX19FromGuest,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    ipa: u64,
    pa: u64,
    size: u64,
    kind: SlotKind,
    word: u64,
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
            // The fake has no vGIC.
            (caps::VGIC, false, Reason::NoVgic),
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
    fn call_marked(&mut self, x: [u64; 31]) -> [u64; 31] {
        let mut args = [0; 7];
        args.copy_from_slice(&x[..7]);
        let mut out = x;
        out[..4].copy_from_slice(&self.call(args));
        if self.has(Bug::HostX19FromGuest) && x[0] == Function::VcpuRun as u64 {
            out[19] = 0x4b45_5054_0000_0013;
        }
        out
    }

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
