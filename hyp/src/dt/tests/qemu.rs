//! QEMU `virt` dumps (scripts/dump-dtbs.sh); expected values read off `dtc -I dtb -O dts`.

use super::{parse_ok, QEMU_V2_SMP1_512M, QEMU_V3_SMP2_4G, QEMU_V3_SMP4_1G};
use crate::addr::PhysRange;
use crate::dt::{Conduit, Cpu, EnableMethod, Gic, Psci, Timer, UartInfo, UartKind};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// QEMU's timer node: <1 13 ..>, <1 14 ..>, <1 11 ..>, <1 10 ..> are PPIs, INTID = n + 16.
const QEMU_TIMER: Timer = Timer {
    secure_phys: 29,
    nonsecure_phys: 30,
    virt: 27,
    hyp_phys: 26,
};

fn psci_cpus(n: u64) -> Vec<Cpu> {
    (0..n)
        .map(|mpidr| Cpu {
            mpidr,
            enable_method: EnableMethod::Psci,
        })
        .collect()
}

fn qemu_gicv3() -> Gic {
    Gic::V3 {
        gicd: PhysRange::new(0x0800_0000, 0x1_0000),
        gicr: heapless::Vec::from_slice(&[PhysRange::new(0x080a_0000, 0xf6_0000)]).unwrap(),
    }
}

#[test]
fn gicv3_smp4_dump_reports_one_gib_at_0x4000_0000() {
    let p = parse_ok(QEMU_V3_SMP4_1G);
    assert_eq!(p.ram.as_slice(), &[PhysRange::new(0x4000_0000, GIB)]);
    assert_eq!(p.ram_bytes(), GIB);
    assert!(
        p.reserved.is_empty(),
        "QEMU dumps carry no /memreserve/ or /reserved-memory"
    );
}

#[test]
fn gicv3_smp4_dump_reports_four_psci_cpus() {
    let p = parse_ok(QEMU_V3_SMP4_1G);
    assert_eq!(p.cpus.as_slice(), psci_cpus(4).as_slice());
}

#[test]
fn gicv3_dump_reports_gicd_and_one_redistributor_range() {
    assert_eq!(parse_ok(QEMU_V3_SMP4_1G).gic, Some(qemu_gicv3()));
    assert_eq!(parse_ok(QEMU_V3_SMP2_4G).gic, Some(qemu_gicv3()));
}

#[test]
fn qemu_console_is_the_pl011_at_0x0900_0000_without_baud() {
    let expected = UartInfo {
        kind: UartKind::Pl011,
        regs: PhysRange::new(0x0900_0000, 0x1000),
        reg_shift: 0,
        reg_io_width: 1,
        // The node has no clock-frequency; its first `clocks` entry is the 24 MHz apb-pclk.
        clock_frequency: Some(24_000_000),
        baud: None,
    };
    for dtb in [QEMU_V3_SMP4_1G, QEMU_V2_SMP1_512M, QEMU_V3_SMP2_4G] {
        assert_eq!(parse_ok(dtb).console, Some(expected));
    }
}

#[test]
fn qemu_psci_uses_smc_and_timer_ppis_are_26_to_30() {
    for dtb in [QEMU_V3_SMP4_1G, QEMU_V2_SMP1_512M, QEMU_V3_SMP2_4G] {
        let p = parse_ok(dtb);
        assert_eq!(
            p.psci,
            Some(Psci {
                conduit: Conduit::Smc
            })
        );
        assert_eq!(p.timer, Some(QEMU_TIMER));
    }
}

#[test]
fn dtb_size_is_the_header_totalsize() {
    // QEMU pads its dumps to 1 MiB and says so in the header.
    assert_eq!(parse_ok(QEMU_V3_SMP4_1G).dtb_size, 0x10_0000);
}

#[test]
fn gicv2_dump_reports_gicc_and_gich() {
    let p = parse_ok(QEMU_V2_SMP1_512M);
    let expected = Gic::V2 {
        gicd: PhysRange::new(0x0800_0000, 0x1_0000),
        gicc: PhysRange::new(0x0801_0000, 0x1_0000),
        gich: Some(PhysRange::new(0x0803_0000, 0x1_0000)),
        gicv: Some(PhysRange::new(0x0804_0000, 0x1_0000)),
    };
    assert_eq!(p.gic, Some(expected));
}

#[test]
fn gicv2_smp1_dump_has_512_mib_and_one_cpu_without_enable_method() {
    let p = parse_ok(QEMU_V2_SMP1_512M);
    assert_eq!(p.ram.as_slice(), &[PhysRange::new(0x4000_0000, 512 * MIB)]);
    // QEMU leaves out enable-method when there is only one CPU.
    let cpu = Cpu {
        mpidr: 0,
        enable_method: EnableMethod::None,
    };
    assert_eq!(p.cpus.as_slice(), &[cpu]);
}

#[test]
fn gicv3_smp2_dump_reports_four_gib_and_two_cpus() {
    let p = parse_ok(QEMU_V3_SMP2_4G);
    assert_eq!(p.ram.as_slice(), &[PhysRange::new(0x4000_0000, 4 * GIB)]);
    assert_eq!(p.ram_bytes(), 4 * GIB);
    assert_eq!(p.cpus.as_slice(), psci_cpus(2).as_slice());
}
