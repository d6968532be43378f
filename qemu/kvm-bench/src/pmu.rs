//! Instructions retired, split by where they ran, from Linux perf (the PMUv3 that QEMU emulates;
//! it counts instructions only under `-icount`).
//!
//! Four counters in one group on this thread (pid 0, any CPU), read together with one read():
//! the exclude_* bits become PMEVTYPER filters (EL0/EL1 exclude, NSH for EL2), and KVM turns
//! exclude_host / exclude_guest counters off and on around each guest entry.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};

/// Where a counter counts. The names are what the report prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Host EL0: the VMM.
    HostEl0,
    /// The host kernel: EL1 with nVHE, EL2 with VHE (there the kernel is the hypervisor).
    HostKernel,
    /// EL2 on its own: KVM's nVHE hypervisor (world switch). Counts nothing with VHE.
    El2,
    /// The guest, while KVM has it loaded (EL1 and EL0).
    Guest,
}

pub const SPLITS: [Split; 4] = [Split::HostEl0, Split::HostKernel, Split::El2, Split::Guest];

impl Split {
    pub const fn name(self) -> &'static str {
        match self {
            Split::HostEl0 => "host-el0",
            Split::HostKernel => "host-kernel",
            Split::El2 => "el2",
            Split::Guest => "guest",
        }
    }

    /// perf_event_attr flag bits (exclude_*) for this split.
    const fn flags(self) -> u64 {
        match self {
            Split::HostEl0 => EXCLUDE_KERNEL | EXCLUDE_HV | EXCLUDE_GUEST,
            Split::HostKernel => EXCLUDE_USER | EXCLUDE_HV | EXCLUDE_GUEST,
            Split::El2 => EXCLUDE_USER | EXCLUDE_KERNEL,
            Split::Guest => EXCLUDE_HOST | EXCLUDE_HV,
        }
    }
}

// struct perf_event_attr, first version (PERF_ATTR_SIZE_VER0): every field this uses is in it.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}
const _: () = assert!(core::mem::size_of::<PerfEventAttr>() == 64);

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_COUNT_HW_INSTRUCTIONS: u64 = 1; // PMUv3 event 0x08, INST_RETIRED
const PERF_FORMAT_GROUP: u64 = 1 << 3;
const DISABLED: u64 = 1 << 0;
const EXCLUDE_USER: u64 = 1 << 4;
const EXCLUDE_KERNEL: u64 = 1 << 5;
const EXCLUDE_HV: u64 = 1 << 6;
const EXCLUDE_HOST: u64 = 1 << 19;
const EXCLUDE_GUEST: u64 = 1 << 20;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400; // _IO('$', 0)
const PERF_IOC_FLAG_GROUP: libc::c_ulong = 1;

/// The counter group; the leader is `files[0]`.
pub struct Counters {
    files: Vec<File>,
}

/// One reading of every counter, in [`SPLITS`] order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample(pub [u64; 4]);

impl Sample {
    pub fn since(self, earlier: Sample) -> Sample {
        let mut d = [0; 4];
        for (i, v) in d.iter_mut().enumerate() {
            *v = self.0[i].wrapping_sub(earlier.0[i]);
        }
        Sample(d)
    }
}

impl Counters {
    /// Opens and enables the group, or says which counter the kernel refused and why.
    pub fn open() -> Result<Counters, String> {
        let mut files: Vec<File> = Vec::new();
        for split in SPLITS {
            let leader = files.first().map_or(-1, |f| f.as_raw_fd());
            let attr = PerfEventAttr {
                kind: PERF_TYPE_HARDWARE,
                size: core::mem::size_of::<PerfEventAttr>() as u32,
                config: PERF_COUNT_HW_INSTRUCTIONS,
                read_format: PERF_FORMAT_GROUP,
                flags: split.flags() | if leader < 0 { DISABLED } else { 0 },
                ..Default::default()
            };
            // SAFETY: perf_event_open reads `attr` (a valid, fully initialised VER0 struct whose
            // size field says so) and returns a new fd or -1; nothing else is touched.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_perf_event_open,
                    &attr as *const PerfEventAttr,
                    0 as libc::pid_t,
                    -1 as libc::c_int,
                    leader,
                    0 as libc::c_ulong,
                )
            };
            if fd < 0 {
                return Err(format!(
                    "perf_event_open({}) failed: {}",
                    split.name(),
                    std::io::Error::last_os_error()
                ));
            }
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            files.push(unsafe { File::from_raw_fd(fd as i32) });
        }
        // SAFETY: an ioctl on our own perf fd with an integer argument.
        let rc = unsafe {
            libc::ioctl(
                files[0].as_raw_fd(),
                PERF_EVENT_IOC_ENABLE as _,
                PERF_IOC_FLAG_GROUP,
            )
        };
        if rc != 0 {
            return Err(format!(
                "enabling the group failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Counters { files })
    }

    /// All four counters, read at once through the leader.
    pub fn read(&mut self) -> Sample {
        let mut buf = [0u8; 8 * 5];
        let mut sample = Sample::default();
        if self.files[0].read(&mut buf).ok() == Some(buf.len()) {
            for (i, v) in sample.0.iter_mut().enumerate() {
                let at = 8 * (i + 1);
                *v = u64::from_ne_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
            }
        }
        sample
    }
}
