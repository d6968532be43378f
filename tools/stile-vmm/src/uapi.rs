//! linux/driver/stile_uapi.h in Rust: the ioctl structs and numbers of /dev/stile. A test
//! compiles the C header with the build machine's C compiler and compares every size and
//! number with these.

use core::mem::size_of;

pub const MAGIC: u64 = 0xB7;
pub const MAX_MEM: u64 = 1 << 30;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Caps {
    pub caps: u64,
    pub reasons: u64,
    pub major: u32,
    pub minor: u32,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct CreateVm {
    pub mem_size: u64,
    pub flags: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteMem {
    pub offset: u64,
    pub len: u64,
    pub uaddr: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Donate {
    pub vm_id: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Memslot {
    pub slot: u32,
    pub pad: u32,
    pub ipa: u64,
    pub backing: u64,
    pub size: u64,
    pub word: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct CreateVcpu {
    pub entry: u64,
    pub x0: u64,
    pub vcpu: u32,
    /// VCPU_CREATE's flags (stile_abi::vcpu).
    pub flags: u32,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Run {
    pub vcpu: u32,
    pub exit_reason: u32,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Translate {
    pub ipa: u64,
    pub pa: u64,
    pub attr: u64,
    pub s2_bits: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub lazy_maps: u64,
    pub exits: u64,
    pub aborts_injected: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Region {
    pub base: u64,
    pub slots: u64,
    pub vms: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct VgicConfig {
    pub gicd: u64,
    pub gicr: u64,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct IrqLine {
    pub intid: u32,
    pub level: u32,
    pub reason: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct VcpuPending {
    pub vcpu: u32,
    pub pending: u32,
    pub intid: u64,
    pub deadline: u64,
    pub reason: u64,
}

const WRITE: u64 = 1;
const READ: u64 = 2;

/// Linux's generic `_IOC(dir, type, nr, size)` (arm64 uses the generic layout).
const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (MAGIC << 8) | nr
}

pub const GET_CAPS: u64 = ioc(READ, 0x00, size_of::<Caps>());
pub const CREATE_VM: u64 = ioc(READ | WRITE, 0x01, size_of::<CreateVm>());
pub const WRITE_MEM: u64 = ioc(READ | WRITE, 0x02, size_of::<WriteMem>());
pub const DONATE: u64 = ioc(READ | WRITE, 0x03, size_of::<Donate>());
pub const SET_MEMSLOT: u64 = ioc(READ | WRITE, 0x04, size_of::<Memslot>());
pub const CLEAR_MEMSLOT: u64 = ioc(READ | WRITE, 0x05, size_of::<Memslot>());
pub const CREATE_VCPU: u64 = ioc(READ | WRITE, 0x06, size_of::<CreateVcpu>());
pub const RUN: u64 = ioc(READ | WRITE, 0x07, size_of::<Run>());
pub const TRANSLATE: u64 = ioc(READ | WRITE, 0x08, size_of::<Translate>());
pub const STATS: u64 = ioc(READ | WRITE, 0x09, size_of::<Stats>());
pub const REGION_REVOKE: u64 = ioc(READ | WRITE, 0x30, size_of::<Region>());
pub const REGION_RESTORE: u64 = ioc(READ | WRITE, 0x31, size_of::<Region>());
pub const VGIC_CONFIG: u64 = ioc(READ | WRITE, 0x40, size_of::<VgicConfig>());
pub const IRQ_LINE: u64 = ioc(READ | WRITE, 0x41, size_of::<IrqLine>());
pub const VCPU_PENDING: u64 = ioc(READ | WRITE, 0x42, size_of::<VcpuPending>());

/// Every ioctl with its C name (for the header test and the random-ioctl loop).
pub const ALL: [(&str, u64); 15] = [
    ("STILE_IOC_GET_CAPS", GET_CAPS),
    ("STILE_IOC_CREATE_VM", CREATE_VM),
    ("STILE_IOC_WRITE_MEM", WRITE_MEM),
    ("STILE_IOC_DONATE", DONATE),
    ("STILE_IOC_SET_MEMSLOT", SET_MEMSLOT),
    ("STILE_IOC_CLEAR_MEMSLOT", CLEAR_MEMSLOT),
    ("STILE_IOC_CREATE_VCPU", CREATE_VCPU),
    ("STILE_IOC_RUN", RUN),
    ("STILE_IOC_TRANSLATE", TRANSLATE),
    ("STILE_IOC_STATS", STATS),
    ("STILE_IOC_REGION_REVOKE", REGION_REVOKE),
    ("STILE_IOC_REGION_RESTORE", REGION_RESTORE),
    ("STILE_IOC_VGIC_CONFIG", VGIC_CONFIG),
    ("STILE_IOC_IRQ_LINE", IRQ_LINE),
    ("STILE_IOC_VCPU_PENDING", VCPU_PENDING),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn header_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../linux/driver")
    }

    #[test]
    fn ioctl_numbers_follow_linux_ioc_layout() {
        // _IOR(0xB7, 0, 32 bytes) by hand: dir 2 << 30 | 32 << 16 | 0xB7 << 8 | 0.
        assert_eq!(GET_CAPS, 0x8020_b700);
        assert_eq!(RUN & 0xff, 7);
    }

    /// The C header and this file agree: sizes, offsets of `reason`, and ioctl numbers.
    #[test]
    fn c_uapi_header_matches() {
        let Some(cc) = ["cc", "gcc", "clang"]
            .into_iter()
            .find(|c| Command::new(c).arg("--version").output().is_ok())
        else {
            eprintln!("no C compiler: skipped");
            return;
        };
        let dir = std::env::temp_dir().join(format!("stile-uapi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut src = String::from("#include <stdio.h>\n#include <stddef.h>\n#include \"stile_uapi.h\"\nint main(void) {\n");
        for (name, _) in ALL {
            src += &format!("printf(\"{name} %lu\\n\", (unsigned long){name});\n");
        }
        for s in [
            "caps",
            "create_vm",
            "write_mem",
            "donate",
            "memslot",
            "create_vcpu",
            "run",
            "translate",
            "stats",
            "region",
            "vgic_config",
            "irq_line",
            "vcpu_pending",
        ] {
            src += &format!(
                "printf(\"{s} %zu %zu\\n\", sizeof(struct stile_{s}), offsetof(struct stile_{s}, reason));\n"
            );
        }
        src +=
            "printf(\"MAX_MEM %llu\\n\", (unsigned long long)STILE_UAPI_MAX_MEM);\nreturn 0;\n}\n";
        std::fs::write(dir.join("probe.c"), src).unwrap();
        let exe = dir.join("probe");
        let out = Command::new(cc)
            .arg("-I")
            .arg(header_dir())
            .arg(dir.join("probe.c"))
            .arg("-o")
            .arg(&exe)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
        let mut want = String::new();
        for (name, v) in ALL {
            want += &format!("{name} {v}\n");
        }
        let reason = |size: usize| size - 8;
        for (s, size) in [
            ("caps", size_of::<Caps>()),
            ("create_vm", size_of::<CreateVm>()),
            ("write_mem", size_of::<WriteMem>()),
            ("donate", size_of::<Donate>()),
            ("memslot", size_of::<Memslot>()),
            ("create_vcpu", size_of::<CreateVcpu>()),
            ("run", size_of::<Run>()),
            ("translate", size_of::<Translate>()),
            ("stats", size_of::<Stats>()),
            ("region", size_of::<Region>()),
            ("vgic_config", size_of::<VgicConfig>()),
            ("irq_line", size_of::<IrqLine>()),
            ("vcpu_pending", size_of::<VcpuPending>()),
        ] {
            want += &format!("{s} {size} {}\n", reason(size));
        }
        want += &format!("MAX_MEM {MAX_MEM}\n");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(got, want);
    }
}
