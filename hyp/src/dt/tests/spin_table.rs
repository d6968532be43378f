//! Spin-table CPUs as Stile takes them over: the Raspberry Pi 3's Debian tree, the
//! hand-written board, and release addresses Stile must not write.

use super::{parse_ok, BOARD_16550};
use crate::addr::PhysRange;
use crate::dt::parse::discover;
use crate::dt::spin_table::{SpinCpu, SpinRefusal, SpinTable};
use crate::dt::{Cpu, EnableMethod, Platform, Reserved, ReservedSource};

const RPI3B: &[u8] = include_bytes!("../../../testdata/boards/bcm2837-rpi-3-b.dtb");

fn spin(mpidr: u64, release_addr: u64) -> Cpu {
    Cpu {
        mpidr,
        enable_method: EnableMethod::SpinTable { release_addr },
    }
}

#[test]
fn rpi3b_secondaries_are_released_through_page_0() {
    let p = discover(RPI3B).unwrap();
    let t = SpinTable::from_platform(&p, 0);
    let want = [(1, 0xe0), (2, 0xe8), (3, 0xf0)].map(|(mpidr, release_addr)| SpinCpu {
        mpidr,
        release_addr,
    });
    assert_eq!(t.cpus.as_slice(), &want);
    assert_eq!(t.pages.as_slice(), &[PhysRange::new(0, 0x1000)]);
    assert!(t.refused.is_empty());
}

#[test]
fn the_boot_cpu_is_never_released_whichever_it_is() {
    let p = discover(RPI3B).unwrap();
    let t = SpinTable::from_platform(&p, 2);
    let mpidrs: Vec<u64> = t.cpus.iter().map(|c| c.mpidr).collect();
    assert_eq!(mpidrs, [0, 1, 3]);
}

#[test]
fn a_board_with_mailboxes_at_the_top_of_a_page() {
    let p = parse_ok(BOARD_16550);
    let t = SpinTable::from_platform(&p, 0);
    assert_eq!(
        t.cpus.as_slice(),
        &[SpinCpu {
            mpidr: 0x100,
            release_addr: 0x8000_fff0
        }]
    );
    assert_eq!(t.pages.as_slice(), &[PhysRange::new(0x8000_f000, 0x1000)]);
}

#[test]
fn misaligned_or_outside_ram_mailboxes_are_refused_and_never_held() {
    let mut p = Platform::default();
    p.ram
        .push(PhysRange::new(0x4000_0000, 0x1000_0000))
        .unwrap();
    for cpu in [
        spin(0, 0x4000_0100),
        spin(1, 0x4000_0104),
        spin(2, 0x3fff_fff8),
        spin(3, 0x4fff_fffc),
        spin(4, u64::MAX - 7),
        spin(5, 0x4000_2000),
        spin(7, 0x4800_0010),
        Cpu {
            mpidr: 6,
            enable_method: EnableMethod::Psci,
        },
    ] {
        p.cpus.push(cpu).unwrap();
    }
    p.reserved
        .push(Reserved {
            range: PhysRange::new(0x4800_0000, 0x1000),
            source: ReservedSource::ReservedMemoryNode,
            no_map: true,
        })
        .unwrap();
    let t = SpinTable::from_platform(&p, 0);
    assert_eq!(
        t.refused.as_slice(),
        &[
            (1, SpinRefusal::Misaligned),
            (2, SpinRefusal::OutsideRam),
            (3, SpinRefusal::Misaligned),
            (4, SpinRefusal::OutsideRam),
            (7, SpinRefusal::NoMap),
        ]
    );
    assert_eq!(
        t.cpus.as_slice(),
        &[SpinCpu {
            mpidr: 5,
            release_addr: 0x4000_2000
        }]
    );
    assert_eq!(
        t.pages.as_slice(),
        &[
            PhysRange::new(0x4000_0000, 0x1000),
            PhysRange::new(0x4000_2000, 0x1000)
        ]
    );
}

#[test]
fn psci_machines_have_no_spin_table() {
    let p = parse_ok(super::QEMU_V3_SMP4_1G);
    assert_eq!(SpinTable::from_platform(&p, 0), SpinTable::default());
}
