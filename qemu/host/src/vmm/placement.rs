//! Where in host RAM the guest's memory comes from: the highest 2 MiB-aligned block of the
//! host's RAM that nothing else uses (not the payload, its DTB, Stile's memory, reserved
//! memory or the board's carve-outs).

use stile_hyp::addr::PhysRange;

/// The highest `size` bytes at an `align`-aligned base inside one of `ram`, below `ceiling`,
/// overlapping nothing in `avoid`.
pub fn pick_block(
    ram: &[PhysRange],
    avoid: &[PhysRange],
    ceiling: u64,
    size: u64,
    align: u64,
) -> Option<PhysRange> {
    let mut best: Option<PhysRange> = None;
    for r in ram {
        let top = r.end().min(ceiling);
        let Some(mut base) = top.checked_sub(size).map(|b| b & !(align - 1)) else {
            continue;
        };
        while base >= r.base.0 {
            let block = PhysRange::new(base, size);
            if !avoid.iter().any(|a| a.overlaps(&block)) {
                if best.is_none_or(|b| b.base.0 < base) {
                    best = Some(block);
                }
                break;
            }
            let Some(lower) = base.checked_sub(align) else {
                break;
            };
            base = lower;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const RAM_1G: PhysRange = PhysRange::new(0x4000_0000, 0x4000_0000);

    #[test]
    fn takes_the_top_of_host_ram_below_the_carve_outs() {
        let got = pick_block(&[RAM_1G], &[], 0x7b00_0000, 4 * MIB, 2 * MIB);
        assert_eq!(got, Some(PhysRange::new(0x7ac0_0000, 4 * MIB)));
    }

    #[test]
    fn steps_down_past_whatever_is_in_use() {
        let avoid = [
            PhysRange::new(0x7ad0_0000, 0x1000),
            PhysRange::new(0x7a00_0000, 0x90_0000),
        ];
        let got = pick_block(&[RAM_1G], &avoid, 0x7b00_0000, 4 * MIB, 2 * MIB);
        assert_eq!(got, Some(PhysRange::new(0x79c0_0000, 4 * MIB)));
    }

    #[test]
    fn with_512m_the_block_comes_from_the_end_of_ram() {
        let ram = [PhysRange::new(0x4000_0000, 0x2000_0000)];
        let got = pick_block(&ram, &[], 0x7b00_0000, 4 * MIB, 2 * MIB);
        assert_eq!(got, Some(PhysRange::new(0x5fc0_0000, 4 * MIB)));
    }

    #[test]
    fn no_room_is_none() {
        let small = [PhysRange::new(0x4000_0000, 3 * MIB)];
        assert_eq!(pick_block(&small, &[], u64::MAX, 4 * MIB, 2 * MIB), None);
        let full = [PhysRange::new(0x4000_0000, 0x4000_0000)];
        assert_eq!(
            pick_block(&[RAM_1G], &full, u64::MAX, 4 * MIB, 2 * MIB),
            None
        );
    }

    #[test]
    fn picks_the_highest_across_ranges() {
        let ram = [
            PhysRange::new(0x8_0000_0000, 0x100_0000),
            PhysRange::new(0x4000_0000, 0x100_0000),
        ];
        let got = pick_block(&ram, &[], u64::MAX, 4 * MIB, 2 * MIB);
        assert_eq!(got, Some(PhysRange::new(0x8_00c0_0000, 4 * MIB)));
    }
}
