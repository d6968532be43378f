//! Memslots as the user configures them (`--slot` or one per line of `--config`):
//!
//! `ipa=0x90000000,size=4K,kind=ram,backing=0x300000,perms=rw[,slot=N][,opt-in][,eager][,on-fault]`
//!
//! `backing` is an offset into the VM's memory for `ram`, the board region's physical
//! address for `device`, `device-nc` and `cacheable-device`, and absent for `mmio`.
//! `on-fault` slots are not registered at start: the first guest access that exits with
//! NO_SLOT inside one registers it and replays the access.

use crate::numbers;
use stile_abi::slot::{self, SlotKind};

/// Slot indexes the ABI has (docs/ABI.md: 16 memslots per guest).
pub const SLOTS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSpec {
    /// The ABI slot index; `None` = the lowest free one.
    pub index: Option<u32>,
    pub ipa: u64,
    pub size: u64,
    pub kind: SlotKind,
    pub backing: u64,
    /// `slot::PERM_*` bits.
    pub perms: u64,
    pub opt_in: bool,
    pub eager: bool,
    pub on_fault: bool,
}

impl SlotSpec {
    /// MEMSLOT_SET's descriptor word.
    pub fn word(&self) -> u64 {
        let mut flags = 0;
        if self.opt_in {
            flags |= slot::FLAG_CACHEABLE_OPT_IN;
        }
        if self.eager {
            flags |= slot::FLAG_EAGER;
        }
        slot::word(self.kind, self.perms, flags)
    }

    pub fn contains(&self, ipa: u64) -> bool {
        ipa >= self.ipa && ipa - self.ipa < self.size
    }

    pub fn parse(spec: &str) -> Result<SlotSpec, String> {
        let mut s = SlotSpec {
            index: None,
            ipa: u64::MAX,
            size: 0,
            kind: SlotKind::Ram,
            backing: 0,
            perms: slot::PERM_READ | slot::PERM_WRITE,
            opt_in: false,
            eager: false,
            on_fault: false,
        };
        let mut have_kind = false;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (part, None),
            };
            let num = |v: Option<&str>| {
                v.and_then(numbers::parse)
                    .ok_or_else(|| format!("slot '{spec}': {key} needs a number"))
            };
            match key {
                "slot" => {
                    let n = num(value)?;
                    if n >= u64::from(SLOTS) {
                        return Err(format!("slot '{spec}': index {n} is not below {SLOTS}"));
                    }
                    s.index = Some(n as u32);
                }
                "ipa" => s.ipa = num(value)?,
                "size" => s.size = num(value)?,
                "backing" => s.backing = num(value)?,
                "kind" => {
                    s.kind = kind_by_name(value.unwrap_or(""))
                        .ok_or_else(|| format!("slot '{spec}': unknown kind (ram, device, device-nc, cacheable-device, mmio)"))?;
                    have_kind = true;
                }
                "perms" => s.perms = perms(value.unwrap_or(""), spec)?,
                "opt-in" => s.opt_in = true,
                "eager" => s.eager = true,
                "on-fault" => s.on_fault = true,
                _ => return Err(format!("slot '{spec}': unknown key '{key}'")),
            }
        }
        if !have_kind || s.ipa == u64::MAX || s.size == 0 {
            return Err(format!(
                "slot '{spec}': needs at least ipa=, size= and kind="
            ));
        }
        Ok(s)
    }
}

pub fn kind_by_name(name: &str) -> Option<SlotKind> {
    (0..=4u8)
        .filter_map(SlotKind::from_u8)
        .find(|k| k.name() == name)
}

fn perms(letters: &str, spec: &str) -> Result<u64, String> {
    let mut p = 0;
    for c in letters.chars() {
        p |= match c {
            'r' => slot::PERM_READ,
            'w' => slot::PERM_WRITE,
            'x' => slot::PERM_EXEC,
            '-' => 0,
            _ => return Err(format!("slot '{spec}': perms are letters of 'rwx'")),
        };
    }
    Ok(p)
}

/// The configured slots with the index each one gets.
#[derive(Debug, Clone, Default)]
pub struct SlotTable {
    pub slots: Vec<(u32, SlotSpec)>,
}

impl SlotTable {
    /// Gives every spec an index (its own, or the lowest free one); refuses duplicates.
    pub fn new(specs: &[SlotSpec]) -> Result<SlotTable, String> {
        let mut used = [false; SLOTS as usize];
        for s in specs {
            if let Some(i) = s.index {
                if std::mem::replace(&mut used[i as usize], true) {
                    return Err(format!("slot {i} configured twice"));
                }
            }
        }
        let mut slots = Vec::new();
        for s in specs {
            let i = match s.index {
                Some(i) => i,
                None => {
                    let free = used.iter().position(|u| !u).ok_or("more than 16 slots")?;
                    used[free] = true;
                    free as u32
                }
            };
            slots.push((i, *s));
        }
        Ok(SlotTable { slots })
    }

    /// The configured slot covering `ipa`, if any.
    pub fn covering(&self, ipa: u64) -> Option<(u32, SlotSpec)> {
        self.slots.iter().copied().find(|(_, s)| s.contains(ipa))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_slot_spec_parses_into_the_descriptor_word() {
        let s = SlotSpec::parse("slot=4,ipa=0xA0000000,size=64K,kind=cacheable-device,backing=0x50000000,perms=rwx,opt-in,eager").unwrap();
        assert_eq!(s.index, Some(4));
        assert_eq!(
            (s.ipa, s.size, s.backing),
            (0xA000_0000, 0x1_0000, 0x5000_0000)
        );
        assert_eq!(
            s.word(),
            3 | slot::PERM_READ
                | slot::PERM_WRITE
                | slot::PERM_EXEC
                | slot::FLAG_CACHEABLE_OPT_IN
                | slot::FLAG_EAGER
        );
        assert!(s.word() & !slot::KNOWN_BITS == 0);
    }

    #[test]
    fn defaults_are_read_write_lazy_registered_at_start() {
        let s = SlotSpec::parse("ipa=0x9000_0000,size=4K,kind=ram").unwrap();
        assert_eq!(s.word(), slot::PERM_READ | slot::PERM_WRITE);
        assert!(!s.on_fault && s.index.is_none());
        assert!(
            SlotSpec::parse("ipa=0x9000_0000,size=4K,kind=ram,on-fault")
                .unwrap()
                .on_fault
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, why) in [
            ("ipa=1,size=4K", "needs at least"),
            ("ipa=1,size=4K,kind=flash", "unknown kind"),
            ("ipa=1,size=4K,kind=ram,perms=rwz", "letters"),
            ("ipa=1,size=4K,kind=ram,slot=16", "not below 16"),
            ("ipa=zz,size=4K,kind=ram", "needs a number"),
            ("ipa=1,size=4K,kind=ram,colour=blue", "unknown key"),
        ] {
            let e = SlotSpec::parse(spec).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn slots_get_their_own_index_or_the_lowest_free_one() {
        let a = SlotSpec::parse("slot=0,ipa=0,size=4K,kind=ram").unwrap();
        let b = SlotSpec::parse("ipa=0x1000,size=4K,kind=mmio").unwrap();
        let c = SlotSpec::parse("slot=1,ipa=0x2000,size=4K,kind=ram").unwrap();
        let t = SlotTable::new(&[a, b, c]).unwrap();
        let idx: Vec<u32> = t.slots.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, [0, 2, 1]);
        assert_eq!(t.covering(0x1fff).map(|(i, _)| i), Some(2));
        assert_eq!(t.covering(0x3000), None);
        assert!(SlotTable::new(&[a, a]).unwrap_err().contains("twice"));
    }
}
