//! Range helpers of the host-RAM clipping.

use crate::addr::PhysRange;
use crate::config::host_ram::intersect;

#[test]
fn intersect_keeps_the_shared_bytes_only() {
    let a = PhysRange::new(0x1000, 0x3000);
    assert_eq!(
        intersect(a, PhysRange::new(0x2000, 0x8000)),
        Some(PhysRange::new(0x2000, 0x2000))
    );
    assert_eq!(intersect(a, PhysRange::new(0x4000, 0x1000)), None);
    assert_eq!(intersect(a, PhysRange::new(0, u64::MAX)), Some(a));
}
