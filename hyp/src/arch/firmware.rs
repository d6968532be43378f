//! Relaying an SMC to the firmware below us, registers as they came.

/// SMC #0 with x0..x3, returning x0..x3 (SMCCC: x4-x17 may be clobbered).
pub fn smc(x: [u64; 4]) -> [u64; 4] {
    let r = smccc::smc64(
        x[0] as u32,
        [x[1], x[2], x[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    [r[0], r[1], r[2], r[3]]
}
