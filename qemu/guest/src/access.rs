//! The guest's data accesses, one fixed instruction each (arch/access.S), so the VMM knows
//! the syndrome every one must produce: size, register (SRT), sign extension, register width.

/// The destination register holds this before a load: a load that was skipped (the VMM
/// answered Skip, or an abort was injected) leaves it there.
pub const LOAD_PRESET: u64 = 0x5555_5555_5555_5555;

/// MMIO exit `flags` bits, as the ABI's run page defines them (kept here so the guest
/// crate has no dependencies; the host's tests compare them with `stile_abi`).
pub const FLAG_WRITE: u8 = 1 << 0;
pub const FLAG_SIGN_EXTEND: u8 = 1 << 1;
pub const FLAG_REG64: u8 = 1 << 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// `ldrb w1`
    B,
    /// `ldrh w2`
    H,
    /// `ldr w4`
    W,
    /// `ldr x8`
    X,
    /// `ldrsb w5`
    SbW,
    /// `ldrsb x6`
    SbX,
    /// `ldrsh w7`
    ShW,
    /// `ldrsh x10`
    ShX,
    /// `ldrsw x11`
    SwX,
}

impl Load {
    pub const ALL: [Load; 9] = [
        Load::B,
        Load::H,
        Load::W,
        Load::X,
        Load::SbW,
        Load::SbX,
        Load::ShW,
        Load::ShX,
        Load::SwX,
    ];
    /// The sign-extending loads, in the order the sign-extension scenario runs them.
    pub const SIGNED: [Load; 5] = [Load::SbW, Load::SbX, Load::ShW, Load::ShX, Load::SwX];

    /// The plain (zero-extending) load of `size` bytes.
    pub const fn of_size(size: u8) -> Option<Load> {
        match size {
            1 => Some(Load::B),
            2 => Some(Load::H),
            4 => Some(Load::W),
            8 => Some(Load::X),
            _ => None,
        }
    }

    pub const fn size(self) -> u8 {
        match self {
            Load::B | Load::SbW | Load::SbX => 1,
            Load::H | Load::ShW | Load::ShX => 2,
            Load::W | Load::SwX => 4,
            Load::X => 8,
        }
    }

    /// The destination register number (the syndrome's SRT).
    pub const fn srt(self) -> u8 {
        match self {
            Load::B => 1,
            Load::H => 2,
            Load::W => 4,
            Load::X => 8,
            Load::SbW => 5,
            Load::SbX => 6,
            Load::ShW => 7,
            Load::ShX => 10,
            Load::SwX => 11,
        }
    }

    pub const fn sign_extend(self) -> bool {
        matches!(
            self,
            Load::SbW | Load::SbX | Load::ShW | Load::ShX | Load::SwX
        )
    }

    /// An X destination (the syndrome's SF); else W, whose upper half becomes 0.
    pub const fn reg64(self) -> bool {
        matches!(self, Load::X | Load::SbX | Load::ShX | Load::SwX)
    }

    /// The run page's MMIO `flags` this load must exit with.
    pub const fn flags(self) -> u8 {
        let mut f = 0;
        if self.sign_extend() {
            f |= FLAG_SIGN_EXTEND;
        }
        if self.reg64() {
            f |= FLAG_REG64;
        }
        f
    }

    pub const fn mnemonic(self) -> &'static str {
        match self {
            Load::B => "ldrb w1",
            Load::H => "ldrh w2",
            Load::W => "ldr w4",
            Load::X => "ldr x8",
            Load::SbW => "ldrsb w5",
            Load::SbX => "ldrsb x6",
            Load::ShW => "ldrsh w7",
            Load::ShX => "ldrsh x10",
            Load::SwX => "ldrsw x11",
        }
    }

    /// The destination register after loading `raw` (the low `size` bytes count): sign- or
    /// zero-extended to the register's width, and a W register's upper half cleared.
    pub const fn result(self, raw: u64) -> u64 {
        let bits = self.size() as u32 * 8;
        let low = raw & crate::device::mask(self.size());
        let extended = if self.sign_extend() && (low >> (bits - 1)) & 1 == 1 {
            low | !crate::device::mask(self.size())
        } else {
            low
        };
        if self.reg64() {
            extended
        } else {
            extended & 0xffff_ffff
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `strb w12`
    B,
    /// `strh w13`
    H,
    /// `str w14`
    W,
    /// `str x15`
    X,
}

impl Store {
    pub const ALL: [Store; 4] = [Store::B, Store::H, Store::W, Store::X];

    pub const fn of_size(size: u8) -> Option<Store> {
        match size {
            1 => Some(Store::B),
            2 => Some(Store::H),
            4 => Some(Store::W),
            8 => Some(Store::X),
            _ => None,
        }
    }

    pub const fn size(self) -> u8 {
        match self {
            Store::B => 1,
            Store::H => 2,
            Store::W => 4,
            Store::X => 8,
        }
    }

    pub const fn srt(self) -> u8 {
        match self {
            Store::B => 12,
            Store::H => 13,
            Store::W => 14,
            Store::X => 15,
        }
    }

    pub const fn reg64(self) -> bool {
        matches!(self, Store::X)
    }

    pub const fn flags(self) -> u8 {
        if self.reg64() {
            FLAG_WRITE | FLAG_REG64
        } else {
            FLAG_WRITE
        }
    }

    pub const fn mnemonic(self) -> &'static str {
        match self {
            Store::B => "strb w12",
            Store::H => "strh w13",
            Store::W => "str w14",
            Store::X => "str x15",
        }
    }
}

/// `ldp x2, x3`: a load pair has no valid syndrome (ISV = 0) on an MMIO slot.
pub const PAIR_MNEMONIC: &str = "ldp x2, x3";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_loads_zero_extend() {
        assert_eq!(Load::B.result(0xa5), 0xa5);
        assert_eq!(Load::H.result(0xb00c), 0xb00c);
        assert_eq!(Load::W.result(0xdead_beef), 0xdead_beef);
        assert_eq!(Load::X.result(u64::MAX), u64::MAX);
        // Only the accessed bytes count.
        assert_eq!(Load::B.result(0x1234_56a5), 0xa5);
    }

    #[test]
    fn sign_extending_loads_fill_w_registers_to_32_bits_and_x_registers_to_64() {
        assert_eq!(Load::SbW.result(0xa5), 0xffff_ffa5);
        assert_eq!(Load::SbX.result(0xa5), 0xffff_ffff_ffff_ffa5);
        assert_eq!(Load::ShW.result(0xb00c), 0xffff_b00c);
        assert_eq!(Load::ShX.result(0xb00c), 0xffff_ffff_ffff_b00c);
        assert_eq!(Load::SwX.result(0xdead_beef), 0xffff_ffff_dead_beef);
        assert_eq!(Load::SbX.result(0x25), 0x25, "positive values stay");
    }

    #[test]
    fn flags_follow_the_syndrome_rules() {
        assert_eq!(Load::B.flags(), 0);
        assert_eq!(Load::X.flags(), FLAG_REG64);
        assert_eq!(Load::SbW.flags(), FLAG_SIGN_EXTEND);
        assert_eq!(Load::SwX.flags(), FLAG_SIGN_EXTEND | FLAG_REG64);
        assert_eq!(Store::W.flags(), FLAG_WRITE);
        assert_eq!(Store::X.flags(), FLAG_WRITE | FLAG_REG64);
    }

    #[test]
    fn every_access_uses_its_own_caller_saved_register() {
        let mut regs: std::vec::Vec<u8> = Load::ALL.iter().map(|l| l.srt()).collect();
        regs.extend(Store::ALL.iter().map(|s| s.srt()));
        for r in &regs {
            // x0 carries the address; x16..x18 are IP0/IP1/platform; 19+ are callee-saved.
            assert!((1..16).contains(r), "x{r}");
        }
        let n = regs.len();
        regs.sort();
        regs.dedup();
        assert_eq!(regs.len(), n);
    }

    #[test]
    fn sizes_map_to_the_plain_accesses() {
        for size in [1u8, 2, 4, 8] {
            assert_eq!(Load::of_size(size).map(Load::size), Some(size));
            assert_eq!(Store::of_size(size).map(Store::size), Some(size));
        }
        assert_eq!(Load::of_size(3), None);
    }
}
