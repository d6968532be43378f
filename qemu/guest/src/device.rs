//! The test device the VMM emulates at [`crate::layout::DEVICE`]: a few registers with
//! fixed behaviour, so both sides know what every access must carry.

/// Register offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// Write 1 byte: a console character (the VMM prints whole lines as `guest: ...`).
    Console,
    /// Read any size: [`read_pattern`] of that size.
    Pattern,
    /// Write any size: the VMM records the value.
    Sink,
    /// Read any size: [`read_pattern`] of that size (the sign-extending loads read here).
    Signed,
    /// 16 bytes a load pair reads: no syndrome (ISV = 0), so a NISV exit.
    Pair,
    /// Read 4 bytes: 0, 1, 2, ... counting the reads of the current scenario.
    Counter,
}

impl Register {
    pub const ALL: [Register; 6] = [
        Register::Console,
        Register::Pattern,
        Register::Sink,
        Register::Signed,
        Register::Pair,
        Register::Counter,
    ];

    pub const fn offset(self) -> u64 {
        match self {
            Register::Console => 0x00,
            Register::Pattern => 0x10,
            Register::Sink => 0x18,
            Register::Signed => 0x20,
            Register::Pair => 0x30,
            Register::Counter => 0x40,
        }
    }

    /// The register at `offset`, exactly (an access elsewhere in the page is stray).
    pub const fn at(offset: u64) -> Option<Register> {
        let mut i = 0;
        while i < Register::ALL.len() {
            if Register::ALL[i].offset() == offset {
                return Some(Register::ALL[i]);
            }
            i += 1;
        }
        None
    }

    pub const fn name(self) -> &'static str {
        match self {
            Register::Console => "CONSOLE",
            Register::Pattern => "PATTERN",
            Register::Sink => "SINK",
            Register::Signed => "SIGNED",
            Register::Pair => "PAIR",
            Register::Counter => "COUNTER",
        }
    }
}

/// All ones in the low `size` bytes (size 1, 2, 4 or 8).
pub const fn mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size as u32 * 8)) - 1
    }
}

/// What PATTERN and SIGNED return for a read of `size` bytes: the top bit of every size is
/// set, so a sign extension where none belongs (or none where one does) shows.
pub const fn read_pattern(size: u8) -> u64 {
    match size {
        1 => 0xa5,
        2 => 0xb00c,
        4 => 0xdead_beef,
        _ => 0xfeed_face_cafe_f00d,
    }
}

/// What the guest stores to SINK with a store of `size` bytes.
pub const fn write_pattern(size: u8) -> u64 {
    match size {
        1 => 0x5a,
        2 => 0x6b7c,
        4 => 0x0123_4567,
        _ => 0x89ab_cdef_0246_8ace,
    }
}

/// Filler the guest leaves above the stored bytes in the source register: a store of
/// `size` bytes must deliver exactly [`write_pattern`], not these.
pub const STORE_JUNK: u64 = 0xbad0_bad0_bad0_bad0;

/// The source register's whole value for the store of `size` bytes.
pub const fn store_register(size: u8) -> u64 {
    write_pattern(size) | (STORE_JUNK & !mask(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_through_their_offsets() {
        for r in Register::ALL {
            assert_eq!(Register::at(r.offset()), Some(r));
            assert_eq!(r.offset() % 8, 0, "{}: naturally aligned", r.name());
        }
        assert_eq!(Register::at(0x08), None);
    }

    #[test]
    fn read_patterns_fit_their_size_and_have_the_top_bit_set() {
        for size in [1u8, 2, 4, 8] {
            let p = read_pattern(size);
            assert_eq!(p & !mask(size), 0, "size {size}");
            assert_ne!(p >> (size as u32 * 8 - 1), 0, "size {size}: top bit");
        }
    }

    #[test]
    fn store_registers_carry_junk_only_above_the_stored_bytes() {
        for size in [1u8, 2, 4, 8] {
            assert_eq!(store_register(size) & mask(size), write_pattern(size));
        }
        assert_eq!(store_register(1), 0xbad0_bad0_bad0_ba5a);
        assert_eq!(store_register(8), write_pattern(8));
    }
}
