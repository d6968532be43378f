//! What a piece of memory is, as config and memslots declare it (docs/CONFIG.md).

/// The memory kinds of docs/ARCHITECTURE.md's table. `mm::s2_attrs` turns a kind into
/// stage-2 descriptor bits; nothing else does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    /// Normal memory, write-back cacheable.
    Ram,
    /// Device-nGnRE, never executable.
    Device,
    /// Device memory that tolerates uncached normal accesses ("any uncached"): Normal-NC,
    /// never executable.
    DeviceNc,
    /// Coherent device memory with no hypervisor VA (Grace-Hopper GPU memory): Normal-WB,
    /// only with FEAT_S2FWB.
    CacheableDevice,
}

impl MemoryKind {
    pub const ALL: [MemoryKind; 4] = [
        MemoryKind::Ram,
        MemoryKind::Device,
        MemoryKind::DeviceNc,
        MemoryKind::CacheableDevice,
    ];

    /// The config-file spelling.
    pub const fn name(self) -> &'static str {
        match self {
            MemoryKind::Ram => "ram",
            MemoryKind::Device => "device",
            MemoryKind::DeviceNc => "device-nc",
            MemoryKind::CacheableDevice => "cacheable-device",
        }
    }

    pub fn from_name(name: &str) -> Option<MemoryKind> {
        MemoryKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Device and Normal-NC mappings are never executable (docs/ARCHITECTURE.md, "Invariants").
    pub const fn may_execute(self) -> bool {
        matches!(self, MemoryKind::Ram | MemoryKind::CacheableDevice)
    }
}

/// Stage-2 permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Perms {
    pub const RWX: Perms = Perms {
        read: true,
        write: true,
        exec: true,
    };
    pub const RW: Perms = Perms {
        read: true,
        write: true,
        exec: false,
    };
    pub const R: Perms = Perms {
        read: true,
        write: false,
        exec: false,
    };
    pub const RX: Perms = Perms {
        read: true,
        write: false,
        exec: true,
    };
    pub const NONE: Perms = Perms {
        read: false,
        write: false,
        exec: false,
    };

    /// As three bits: read 1, write 2, exec 4 (the order of `rwx`, lowest first).
    #[inline]
    pub const fn bits(self) -> u8 {
        self.read as u8 | (self.write as u8) << 1 | (self.exec as u8) << 2
    }

    /// From [`Perms::bits`]; bits above the three are ignored.
    #[inline]
    pub const fn from_bits(bits: u8) -> Perms {
        Perms {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
            exec: bits & 4 != 0,
        }
    }

    /// Parse "rwx"-style text: each of r, w, x at most once, in that order, '-' for absent.
    pub fn from_text(text: &str) -> Option<Perms> {
        let b = text.as_bytes();
        if b.len() != 3 {
            return None;
        }
        let bit = |c: u8, want: u8| match c {
            c if c == want => Some(true),
            b'-' => Some(false),
            _ => None,
        };
        Some(Perms {
            read: bit(b[0], b'r')?,
            write: bit(b[1], b'w')?,
            exec: bit(b[2], b'x')?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in MemoryKind::ALL {
            assert_eq!(MemoryKind::from_name(k.name()), Some(k));
        }
        assert_eq!(MemoryKind::from_name("normal"), None);
    }

    #[test]
    fn only_ram_and_cacheable_device_may_execute() {
        assert!(MemoryKind::Ram.may_execute());
        assert!(MemoryKind::CacheableDevice.may_execute());
        assert!(!MemoryKind::Device.may_execute());
        assert!(!MemoryKind::DeviceNc.may_execute());
    }

    #[test]
    fn perms_bits_round_trip_in_rwx_order() {
        for b in 0..8u8 {
            assert_eq!(Perms::from_bits(b).bits(), b);
        }
        assert_eq!(Perms::R.bits(), 1);
        assert_eq!(Perms::RW.bits(), 3);
        assert_eq!(Perms::RX.bits(), 5);
        assert_eq!(Perms::RWX.bits(), 7);
    }

    #[test]
    fn perms_parse_rwx_text() {
        assert_eq!(Perms::from_text("rwx"), Some(Perms::RWX));
        assert_eq!(Perms::from_text("r--"), Some(Perms::R));
        assert_eq!(Perms::from_text("rw-"), Some(Perms::RW));
        assert_eq!(Perms::from_text("xwr"), None);
        assert_eq!(Perms::from_text("rw"), None);
    }
}
