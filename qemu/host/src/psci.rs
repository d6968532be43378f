//! PSCI function IDs and return values (PSCI 1.x, Arm DEN 0022).

pub const VERSION: u64 = 0x8400_0000;
pub const CPU_ON: u64 = 0xC400_0003;
pub const SYSTEM_OFF: u64 = 0x8400_0008;
pub const CPU_OFF: u64 = 0x8400_0002;
pub const AFFINITY_INFO: u64 = 0xC400_0004;

pub const INVALID_PARAMETERS: i32 = -2;
/// AFFINITY_INFO's answers for a CPU that is on, and off.
pub const AFFINITY_ON: i32 = 0;
pub const AFFINITY_OFF: i32 = 1;

/// PSCI returns a signed 32-bit value in w0 (the upper half of x0 is not part of it).
pub const fn ret32(x0: u64) -> i32 {
    x0 as u32 as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_are_signed_32_bit() {
        assert_eq!(ret32(u64::MAX - 1), -2);
        assert_eq!(ret32(0xffff_fffe), -2);
        assert_eq!(ret32(0x1_0001), 0x1_0001);
    }
}
