//! /dev/stile through its ioctls (linux/driver/stile_uapi.h). Thin: every decision is in
//! the rest of the library.

use crate::uapi;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use stile_abi::run_page::HostAction;
use stile_abi::{Reason, RunPage};

/// A refused ioctl: the errno, and Stile's reason code when Stile refused it (0 when the
/// driver did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevError {
    pub what: &'static str,
    pub errno: i32,
    pub reason: u64,
}

impl std::fmt::Display for DevError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let err = std::io::Error::from_raw_os_error(self.errno);
        write!(f, "{} refused: {err}", self.what)?;
        match Reason::from_u64(self.reason) {
            _ if self.reason == 0 => Ok(()),
            Some(r) => write!(f, " ({})", r.name()),
            None => write!(f, " (reason {})", self.reason),
        }
    }
}

pub struct Device {
    file: File,
}

/// What `reason` says of a struct whose last field is it (every uapi struct).
trait HasReason {
    fn reason(&self) -> u64;
}
macro_rules! has_reason {
    ($($t:ty),*) => { $(impl HasReason for $t { fn reason(&self) -> u64 { self.reason } })* };
}
has_reason!(
    uapi::Caps,
    uapi::CreateVm,
    uapi::WriteMem,
    uapi::Donate,
    uapi::Memslot,
    uapi::CreateVcpu,
    uapi::Run,
    uapi::Translate,
    uapi::Stats,
    uapi::Region,
    uapi::VgicConfig,
    uapi::IrqLine,
    uapi::VcpuPending
);

impl Device {
    pub fn open() -> std::io::Result<Device> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/stile")?;
        Ok(Device { file })
    }

    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    fn ioctl<T: HasReason>(
        &self,
        what: &'static str,
        nr: u64,
        arg: &mut T,
    ) -> Result<(), DevError> {
        // SAFETY: `nr` is one of the driver's ioctls whose size is that of T (uapi.rs,
        // checked against the C header), and `arg` is a valid, exclusive T for the call.
        let r = unsafe { libc::ioctl(self.raw_fd(), nr as _, arg as *mut T) };
        if r < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(DevError {
                what,
                errno,
                reason: arg.reason(),
            });
        }
        Ok(())
    }

    pub fn caps(&self) -> Result<uapi::Caps, DevError> {
        let mut a = uapi::Caps::default();
        self.ioctl("GET_CAPS", uapi::GET_CAPS, &mut a).map(|_| a)
    }

    pub fn create_vm(&self, mem_size: u64) -> Result<(), DevError> {
        let mut a = uapi::CreateVm {
            mem_size,
            ..Default::default()
        };
        self.ioctl("CREATE_VM", uapi::CREATE_VM, &mut a)
    }

    pub fn write_mem(&self, offset: u64, bytes: &[u8]) -> Result<(), DevError> {
        let mut a = uapi::WriteMem {
            offset,
            len: bytes.len() as u64,
            uaddr: bytes.as_ptr() as u64,
            reason: 0,
        };
        self.ioctl("WRITE_MEM", uapi::WRITE_MEM, &mut a)
    }

    pub fn donate(&self) -> Result<u64, DevError> {
        let mut a = uapi::Donate::default();
        self.ioctl("DONATE (VM_CREATE)", uapi::DONATE, &mut a)
            .map(|_| a.vm_id)
    }

    pub fn set_memslot(
        &self,
        slot: u32,
        ipa: u64,
        backing: u64,
        size: u64,
        word: u64,
    ) -> Result<(), DevError> {
        let mut a = uapi::Memslot {
            slot,
            pad: 0,
            ipa,
            backing,
            size,
            word,
            reason: 0,
        };
        self.ioctl("SET_MEMSLOT (MEMSLOT_SET)", uapi::SET_MEMSLOT, &mut a)
    }

    pub fn clear_memslot(&self, slot: u32) -> Result<(), DevError> {
        let mut a = uapi::Memslot {
            slot,
            ..Default::default()
        };
        self.ioctl("CLEAR_MEMSLOT (MEMSLOT_CLEAR)", uapi::CLEAR_MEMSLOT, &mut a)
    }

    /// A vCPU entered at `entry` with `x0`, or powered off until the guest's CPU_ON
    /// (`start_off`).
    pub fn create_vcpu(&self, entry: u64, x0: u64, start_off: bool) -> Result<u32, DevError> {
        let mut a = uapi::CreateVcpu {
            entry,
            x0,
            flags: if start_off {
                stile_abi::vcpu::START_OFF as u32
            } else {
                0
            },
            ..Default::default()
        };
        self.ioctl("CREATE_VCPU (VCPU_CREATE)", uapi::CREATE_VCPU, &mut a)
            .map(|_| a.vcpu)
    }

    pub fn run(&self, vcpu: u32) -> Result<u32, DevError> {
        let mut a = uapi::Run {
            vcpu,
            ..Default::default()
        };
        self.ioctl("RUN (VCPU_RUN)", uapi::RUN, &mut a)
            .map(|_| a.exit_reason)
    }

    pub fn translate(&self, ipa: u64) -> Result<uapi::Translate, DevError> {
        let mut a = uapi::Translate {
            ipa,
            ..Default::default()
        };
        self.ioctl("TRANSLATE", uapi::TRANSLATE, &mut a).map(|_| a)
    }

    pub fn stats(&self) -> Result<uapi::Stats, DevError> {
        let mut a = uapi::Stats::default();
        self.ioctl("STATS", uapi::STATS, &mut a).map(|_| a)
    }

    /// REGION_REVOKE (`restore` false) or REGION_RESTORE of the board region at `base`:
    /// (slots unmapped, VMs they belong to) for a revoke.
    pub fn region(&self, base: u64, restore: bool) -> Result<(u64, u64), DevError> {
        let mut a = uapi::Region {
            base,
            ..Default::default()
        };
        let (what, nr) = match restore {
            false => ("REGION_REVOKE", uapi::REGION_REVOKE),
            true => ("REGION_RESTORE", uapi::REGION_RESTORE),
        };
        self.ioctl(what, nr, &mut a).map(|_| (a.slots, a.vms))
    }

    /// VGIC_CONFIG: a virtual GICv3 for this VM, its frames at these IPAs.
    pub fn vgic_config(&self, gicd: u64, gicr: u64) -> Result<(), DevError> {
        let mut a = uapi::VgicConfig {
            gicd,
            gicr,
            ..Default::default()
        };
        self.ioctl("VGIC_CONFIG", uapi::VGIC_CONFIG, &mut a)
    }

    /// IRQ_LINE: drive SPI `intid`'s line of this VM.
    pub fn irq_line(&self, intid: u32, level: bool) -> Result<(), DevError> {
        let mut a = uapi::IrqLine {
            intid,
            level: level as u32,
            ..Default::default()
        };
        self.ioctl("IRQ_LINE", uapi::IRQ_LINE, &mut a)
    }

    /// Maps vCPU `vcpu`'s run page.
    pub fn map_run_page(&self, vcpu: u32) -> std::io::Result<RunPageMap> {
        let page = 4096usize;
        // SAFETY: a fresh shared mapping of one page of our own fd; the kernel checks the
        // offset names a vCPU. Nothing else aliases the returned address in this process.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.raw_fd(),
                (vcpu as usize * page) as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RunPageMap { ptr: p.cast() })
    }
}

/// A vCPU's run page, mapped shared with Stile (which writes it at every exit).
pub struct RunPageMap {
    ptr: *mut RunPage,
}

// SAFETY: the page is only touched by the one thread that runs its vCPU (moved there once).
unsafe impl Send for RunPageMap {}

impl RunPageMap {
    pub fn read(&self) -> RunPage {
        // SAFETY: ptr is a live 4 KiB mapping (until drop) holding a RunPage at its start;
        // volatile because Stile writes it behind the compiler's back.
        unsafe { self.ptr.read_volatile() }
    }

    pub fn answer(&mut self, action: HostAction, data: u64, hvc: [u64; 4]) {
        // SAFETY: as in read(); only the host-written fields are written.
        unsafe {
            core::ptr::addr_of_mut!((*self.ptr).host_action).write_volatile(action as u32);
            core::ptr::addr_of_mut!((*self.ptr).data).write_volatile(data);
            for (i, v) in hvc.into_iter().enumerate() {
                core::ptr::addr_of_mut!((*self.ptr).hvc[i]).write_volatile(v);
            }
        }
    }
}

impl Drop for RunPageMap {
    fn drop(&mut self) {
        // SAFETY: unmapping the page this struct mapped; no reference to it outlives self.
        unsafe { libc::munmap(self.ptr.cast(), 4096) };
    }
}
