//! What a board declares: one [`Region`] per `[[region]]` table of its regions.toml.

use crate::addr::PhysRange;
use crate::mm::kind::{MemoryKind, Perms};

/// Most regions one board may declare. Fixed so the boot-time check needs no heap; a larger
/// config fails the build (`ConfigError::TooMany`).
pub const MAX_REGIONS: usize = 16;

/// Who gets a region at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Mapped into the host VM's stage 2 (identity).
    Host,
    /// Kept back from the host: memory set aside for guests.
    GuestPool,
}

impl Owner {
    pub const ALL: [Owner; 2] = [Owner::Host, Owner::GuestPool];

    /// The config-file spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Owner::Host => "host",
            Owner::GuestPool => "guest-pool",
        }
    }

    pub fn from_name(name: &str) -> Option<Owner> {
        Owner::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// One region of a board's physical address map, as declared (not yet held against the DT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Unique within the board; the word logs use (`region 'aperture' refused (...)`).
    pub name: &'static str,
    pub range: PhysRange,
    pub kind: MemoryKind,
    /// The most the owner gets; the boot check may take `exec` away (cacheable-device without
    /// CTR_EL0.DIC).
    pub perms: Perms,
    pub owner: Owner,
    /// The host may later hand (part of) this region to a guest through a memslot.
    pub assignable: bool,
}

impl Region {
    /// A `ram` region owned by the host is the host's RAM: clipped to what the DT says exists
    /// and to what nobody else claims, rather than checked as one block.
    pub const fn is_host_ram(&self) -> bool {
        matches!(self.kind, MemoryKind::Ram) && matches!(self.owner, Owner::Host)
    }
}
