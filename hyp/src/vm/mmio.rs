//! An MMIO access as the syndrome describes it, and how a completed read lands in the
//! register: zero- or sign-extended from the access size, to 32 or 64 bits.

use crate::esr::Esr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioAccess {
    pub write: bool,
    /// 1, 2, 4 or 8.
    pub size: u8,
    /// Register number; 31 is xzr/wzr.
    pub srt: u8,
    pub sign_extend: bool,
    /// The register is 64-bit (Xn).
    pub reg64: bool,
}

impl MmioAccess {
    /// The access from a data abort's syndrome, if it has one (ISV=1). A few bit fields:
    /// always inlined, so a caller that only asks "MMIO or not" pays nothing for it.
    #[inline(always)]
    pub fn from_esr(esr: Esr) -> Option<MmioAccess> {
        if !esr.isv() {
            return None;
        }
        Some(MmioAccess {
            write: esr.wnr(),
            size: esr.sas_bytes(),
            srt: esr.srt(),
            sign_extend: esr.sse(),
            reg64: esr.sf(),
        })
    }

    fn size_mask(&self) -> u64 {
        match self.size {
            8 => u64::MAX,
            n => (1u64 << (8 * n as u32)) - 1,
        }
    }

    /// What a store writes: the low `size` bytes of the register (xzr reads as 0).
    #[inline]
    pub fn write_data(&self, reg: u64) -> u64 {
        if self.srt == 31 {
            0
        } else {
            reg & self.size_mask()
        }
    }

    /// The register value after a load of `data` (only the low `size` bytes count).
    #[inline]
    pub fn load_value(&self, data: u64) -> u64 {
        let bits = 8 * self.size as u32;
        let mut v = data & self.size_mask();
        if self.sign_extend && bits < 64 {
            v = (((v << (64 - bits)) as i64) >> (64 - bits)) as u64;
        }
        if !self.reg64 {
            v &= 0xffff_ffff;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(size: u8, sign_extend: bool, reg64: bool) -> MmioAccess {
        MmioAccess {
            write: false,
            size,
            srt: 3,
            sign_extend,
            reg64,
        }
    }

    #[test]
    fn loads_are_zero_extended_by_default() {
        assert_eq!(access(1, false, false).load_value(0x1234_5681), 0x81);
        assert_eq!(access(2, false, false).load_value(0x1234_8001), 0x8001);
        assert_eq!(
            access(4, false, true).load_value(0xffff_ffff_8000_0001),
            0x8000_0001
        );
        assert_eq!(
            access(8, false, true).load_value(0x8877_6655_4433_2211),
            0x8877_6655_4433_2211
        );
    }

    #[test]
    fn ldrsb_ldrsh_ldrsw_sign_extend_to_the_register_width() {
        assert_eq!(
            access(1, true, true).load_value(0x81),
            0xffff_ffff_ffff_ff81
        );
        assert_eq!(
            access(1, true, false).load_value(0x81),
            0xffff_ff81,
            "LDRSB Wt"
        );
        assert_eq!(
            access(2, true, true).load_value(0x8001),
            0xffff_ffff_ffff_8001
        );
        assert_eq!(
            access(2, true, false).load_value(0x7001),
            0x7001,
            "positive stays"
        );
        assert_eq!(
            access(4, true, true).load_value(0x8000_0000),
            0xffff_ffff_8000_0000
        );
    }

    #[test]
    fn stores_take_the_low_bytes_and_xzr_is_zero() {
        let mut a = access(2, false, false);
        a.write = true;
        assert_eq!(a.write_data(0xaaaa_bbbb_cccc_dddd), 0xdddd);
        a.srt = 31;
        assert_eq!(a.write_data(0xffff), 0);
    }

    #[test]
    fn syndrome_without_isv_has_no_access() {
        assert_eq!(MmioAccess::from_esr(Esr(0x24 << 26 | 0x07)), None);
        let esr = Esr(0x24 << 26 | 1 << 24 | 2 << 22 | 1 << 21 | 7 << 16 | 1 << 15 | 1 << 6 | 0x07);
        let a = MmioAccess::from_esr(esr).unwrap();
        assert_eq!(
            a,
            MmioAccess {
                write: true,
                size: 4,
                srt: 7,
                sign_extend: true,
                reg64: true
            }
        );
    }
}
