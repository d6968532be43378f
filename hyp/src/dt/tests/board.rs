//! hyp/testdata/board-16550.dts and tiny-legacy-16550a.dts: what QEMU never produces.

use super::{parse_ok, patch_struct, BOARD_16550, TINY_LEGACY};
use crate::addr::PhysRange;
use crate::dt::{
    Conduit, Cpu, EnableMethod, Gic, Psci, Reserved, ReservedSource, Timer, UartInfo, UartKind,
};

const MIB: u64 = 1 << 20;

#[test]
fn every_reg_range_of_every_memory_node_is_ram_holes_kept() {
    let p = parse_ok(BOARD_16550);
    let expected = [
        PhysRange::new(0x8000_0000, 512 * MIB),
        PhysRange::new(0xc000_0000, 256 * MIB),
        PhysRange::new(0x8_8000_0000, 1024 * MIB),
    ];
    assert_eq!(p.ram.as_slice(), &expected);
    assert_eq!(p.ram_bytes(), 1792 * MIB);
}

#[test]
fn memreserve_and_reserved_memory_children_with_reg_are_reserved() {
    let p = parse_ok(BOARD_16550);
    let expected = [
        Reserved {
            range: PhysRange::new(0x8000_0000, 0x1_0000),
            source: ReservedSource::MemReserve,
            no_map: false,
        },
        Reserved {
            range: PhysRange::new(0x9f00_0000, MIB),
            source: ReservedSource::ReservedMemoryNode,
            no_map: true,
        },
        Reserved {
            range: PhysRange::new(0xc800_0000, 8 * MIB),
            source: ReservedSource::ReservedMemoryNode,
            no_map: false,
        },
    ];
    // linux,cma has only `size`: the OS places it, nothing is fixed.
    assert_eq!(p.reserved.as_slice(), &expected);
}

#[test]
fn spin_table_cpus_carry_their_release_addresses() {
    let p = parse_ok(BOARD_16550);
    let expected = [
        Cpu {
            mpidr: 0,
            enable_method: EnableMethod::SpinTable {
                release_addr: 0x8000_fff8,
            },
        },
        Cpu {
            mpidr: 0x100,
            enable_method: EnableMethod::SpinTable {
                release_addr: 0x8000_fff0,
            },
        },
    ];
    // l2-cache under /cpus has no device_type "cpu" and is not a CPU.
    assert_eq!(p.cpus.as_slice(), &expected);
}

#[test]
fn stdout_alias_with_options_gives_the_dw_uart_behind_the_soc_ranges() {
    let expected = UartInfo {
        kind: UartKind::Ns16550,
        // Child address 0x200_0000 on a bus mapping 0 -> 0xf000_0000.
        regs: PhysRange::new(0xf200_0000, 0x100),
        reg_shift: 2,
        reg_io_width: 4,
        // The node's own clock-frequency wins over its `clocks` provider (1.8432 MHz).
        clock_frequency: Some(24_000_000),
        baud: Some(115_200),
    };
    assert_eq!(parse_ok(BOARD_16550).console, Some(expected));
}

#[test]
fn gic400_frames_are_translated_through_the_soc_ranges() {
    let expected = Gic::V2 {
        gicd: PhysRange::new(0xf100_1000, 0x1000),
        gicc: PhysRange::new(0xf100_2000, 0x2000),
        gich: Some(PhysRange::new(0xf100_4000, 0x2000)),
        gicv: Some(PhysRange::new(0xf100_6000, 0x2000)),
    };
    assert_eq!(parse_ok(BOARD_16550).gic, Some(expected));
}

#[test]
fn board_without_psci_node_reports_no_psci_but_a_timer() {
    let p = parse_ok(BOARD_16550);
    assert_eq!(p.psci, None);
    let timer = Timer {
        secure_phys: 29,
        nonsecure_phys: 30,
        virt: 27,
        hyp_phys: 26,
    };
    assert_eq!(p.timer, Some(timer));
    assert_eq!(p.dtb_size as usize, BOARD_16550.len());
}

#[test]
fn stdout_alias_that_does_not_exist_leaves_no_console() {
    let dtb = patch_struct(BOARD_16550, b"serial0:115200n8", b"serial9:115200n8");
    let p = parse_ok(&dtb);
    assert_eq!(p.console, None);
    assert_eq!(p.ram.len(), 3, "the rest of the tree is still read");
}

#[test]
fn stdout_naming_a_disabled_uart_leaves_no_console() {
    let dtb = patch_struct(
        BOARD_16550,
        b"/soc@f0000000/serial@2000000",
        b"/soc@f0000000/serial@2001000",
    );
    assert_eq!(parse_ok(&dtb).console, None);
}

#[test]
fn legacy_linux_stdout_path_without_options_is_honoured() {
    let expected = UartInfo {
        kind: UartKind::Ns16550,
        regs: PhysRange::new(0x1000_0000, 0x100),
        reg_shift: 0,
        reg_io_width: 1,
        clock_frequency: None,
        baud: None,
    };
    assert_eq!(parse_ok(TINY_LEGACY).console, Some(expected));
}

#[test]
fn one_cell_tree_reads_ram_cpus_and_hvc_psci() {
    let p = parse_ok(TINY_LEGACY);
    assert_eq!(p.ram.as_slice(), &[PhysRange::new(0x4000_0000, 128 * MIB)]);
    let cpu = Cpu {
        mpidr: 0,
        enable_method: EnableMethod::Psci,
    };
    assert_eq!(p.cpus.as_slice(), &[cpu]);
    assert_eq!(
        p.psci,
        Some(Psci {
            conduit: Conduit::Hvc
        })
    );
}

#[test]
fn no_gic_means_no_timer_intids() {
    let p = parse_ok(TINY_LEGACY);
    assert_eq!(p.gic, None);
    assert_eq!(p.timer, None);
}
