//! Board DTBs from Debian's linux-image-6.1.0-57-arm64, unmodified (hyp/testdata/boards/):
//! one per UART family that only the board trees use, read as Linux's bindings say.
//! Expected values were read off the trees with `fdtget` (addresses through each `ranges`).

use crate::addr::PhysRange;
use crate::console::Console;
use crate::dt::parse::discover;
use crate::dt::{Conduit, ConsoleSource, EnableMethod, Platform, UartKind};

const RPI3B: &[u8] = include_bytes!("../../../testdata/boards/bcm2837-rpi-3-b.dtb");
const MESON_A1: &[u8] = include_bytes!("../../../testdata/boards/meson-a1-ad401.dtb");
const AM62A7: &[u8] = include_bytes!("../../../testdata/boards/k3-am62a7-sk.dtb");
const IPQ8074: &[u8] = include_bytes!("../../../testdata/boards/ipq8074-hk10-c1.dtb");
const ARMADA3720: &[u8] = include_bytes!("../../../testdata/boards/armada-3720-eDPU.dtb");
const IMX8ULP: &[u8] = include_bytes!("../../../testdata/boards/imx8ulp-evk.dtb");
const ZC1275: &[u8] = include_bytes!("../../../testdata/boards/zynqmp-zc1275-revA.dtb");

/// As the kernel package ships them (many board trees have no `/memory`; these do).
fn board(dtb: &[u8]) -> Platform {
    match discover(dtb) {
        Ok(p) => p,
        Err(e) => panic!("refused: {}", e.reason()),
    }
}

/// (kind, base, size, reg-shift, reg-io-width) of the console, after checking the driver
/// takes it.
fn console(p: &Platform) -> (UartKind, u64, u64, u8, u8) {
    let c = p.console.expect("a console");
    assert_eq!(p.console_source, ConsoleSource::StdoutPath);
    assert_eq!(Console::check(&c), Ok(()), "{:?}", c.kind);
    (
        c.kind,
        c.regs.base.0,
        c.regs.size,
        c.reg_shift,
        c.reg_io_width,
    )
}

#[test]
fn rpi3b_console_is_the_aux_mini_uart_with_32_bit_registers_4_bytes_apart() {
    // /soc maps bus 0x7e000000 to CPU 0x3f000000.
    let p = board(RPI3B);
    assert_eq!(console(&p), (UartKind::Ns16550, 0x3f21_5040, 0x40, 2, 4));
    assert_eq!(p.console.and_then(|c| c.baud), Some(115_200));
}

#[test]
fn rpi3b_cpus_start_by_spin_table_and_there_is_no_psci() {
    let p = board(RPI3B);
    let released: Vec<_> = p.cpus.iter().map(|c| (c.mpidr, c.enable_method)).collect();
    let spin = |release_addr| EnableMethod::SpinTable { release_addr };
    assert_eq!(
        released,
        [
            (0, spin(0xd8)),
            (1, spin(0xe0)),
            (2, spin(0xe8)),
            (3, spin(0xf0))
        ]
    );
    assert_eq!(p.psci, None);
}

#[test]
fn ti_k3_psci_is_found_under_firmware_and_its_uart_is_a_stride_4_16550() {
    let p = board(AM62A7);
    assert_eq!(p.psci.map(|p| p.conduit), Some(Conduit::Smc));
    assert!(p.cpus.iter().all(|c| c.enable_method == EnableMethod::Psci));
    assert_eq!(console(&p), (UartKind::Ns16550, 0x280_0000, 0x100, 2, 1));
}

#[test]
fn meson_uart_behind_a_bus_ranges() {
    let p = board(MESON_A1);
    assert_eq!(console(&p), (UartKind::Meson, 0xfe00_2000, 0x18, 0, 1));
}

#[test]
fn qualcomm_uart_dm_1_4() {
    let p = board(IPQ8074);
    assert_eq!(console(&p), (UartKind::QcomUartDm, 0x78b_3000, 0x200, 0, 1));
}

#[test]
fn armada_3700_standard_uart() {
    let p = board(ARMADA3720);
    assert_eq!(console(&p), (UartKind::Armada3700, 0xd001_2000, 0x18, 0, 1));
}

#[test]
fn imx8ulp_lpuart32() {
    let p = board(IMX8ULP);
    assert_eq!(console(&p), (UartKind::Lpuart32, 0x293a_0000, 0x1000, 0, 1));
}

#[test]
fn zynqmp_cadence_uart() {
    let p = board(ZC1275);
    assert_eq!(console(&p), (UartKind::Cadence, 0xff00_0000, 0x1000, 0, 1));
}

#[test]
fn rpi3b_boot_parse_reads_the_ram_its_memory_node_states() {
    // The tree's placeholder (firmware rewrites it with the real size).
    let p = Platform::from_dtb(RPI3B).expect("rpi3b accepted");
    assert_eq!(p.ram.as_slice(), &[PhysRange::new(0, 0x4000_0000)]);
}
