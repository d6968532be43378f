//! Seeded mutations of the fixtures: whatever the bytes, the host DTB builder returns,
//! and a tree Stile accepts gives a host tree Stile accepts, with the same RAM and CPUs.

use super::{build_ok, with_chosen_initrd, QEMU_CARVE_OUTS};
use crate::dt::tests::{BOARD_16550, QEMU_V3_SMP4_1G};
use crate::dt::{build_host_dtb, HostDtbEdits, Platform};

/// Knuth's MMIX LCG, seeded: a failure names a reproducible case.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_originals_never_panic_and_accepted_ones_stay_accepted() {
    let edits = HostDtbEdits {
        carve_outs: &QEMU_CARVE_OUTS,
        remove_initrd: true,
        bootargs: Some("console=ttyAMA0"),
        extra_chosen: &[("stile,hyp-base", 0x7e00_0000)],
        spin_table_to_psci: false,
        add_psci_hvc: false,
        trim_reg: None,
    };
    let qemu = build_ok(QEMU_V3_SMP4_1G, &HostDtbEdits::default());
    let initrd = with_chosen_initrd();
    let mut rng = Lcg(0x5717e);
    let mut out = vec![0; 64 * 1024];
    let mut compared = 0;
    for (name, fixture) in [
        ("qemu", &qemu[..]),
        ("board", BOARD_16550),
        ("initrd", &initrd),
    ] {
        for case in 0..1500 {
            let mut dtb = fixture.to_vec();
            for _ in 0..1 + rng.below(3) {
                if dtb.is_empty() {
                    break;
                }
                let at = rng.below(dtb.len());
                match rng.below(8) {
                    0..=3 => dtb[at] ^= 1 << rng.below(8),
                    4..=6 => dtb[at] = rng.next() as u8,
                    _ => dtb.truncate(at),
                }
            }
            let Ok(len) = build_host_dtb(&dtb, &edits, &mut out) else {
                continue;
            };
            let (Ok(firmware), host) = (Platform::from_dtb(&dtb), Platform::from_dtb(&out[..len]))
            else {
                continue;
            };
            let host = host.unwrap_or_else(|e| panic!("{name} case {case}: host DTB {e:?}"));
            assert_eq!(host.ram, firmware.ram, "{name} case {case}");
            assert_eq!(host.cpus, firmware.cpus, "{name} case {case}");
            compared += 1;
        }
    }
    // Most single-byte changes land in values and names: plenty stay parseable.
    println!("{compared} mutated DTBs accepted by both and compared");
    assert!(compared > 500, "only {compared} mutants compared");
}
