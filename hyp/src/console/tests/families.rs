//! The FIFO-style, GENI and UART DM drivers against fake register blocks: bytes land in
//! the data register only when the status says there is room, nothing else is written, and
//! a UART that never has room costs a bounded wait.

use super::super::{Console, ConsoleError};
use super::FakeRegs;
use crate::addr::PhysRange;
use crate::dt::{UartInfo, UartKind};

/// Fill word for registers the driver must leave alone: no "full" bit a test relies on is
/// clear in it by accident (each test sets the status register itself).
const UNTOUCHED: u32 = 0x5a5a_5a5a;

/// (kind, data register, status register, status value with room, status value full).
const FIFO_FAMILIES: &[(UartKind, usize, usize, u32, u32)] = &[
    (UartKind::SbsaUart, 0x00, 0x18, 0, 1 << 5),
    (UartKind::Meson, 0x00, 0x0c, 0, 1 << 21),
    (UartKind::Imx, 0x40, 0xb4, 0, 1 << 4),
    (UartKind::Cadence, 0x30, 0x2c, 0, 1 << 4),
    (UartKind::Armada3700, 0x04, 0x0c, 0, 1 << 11),
    (UartKind::Lpuart32, 0x1c, 0x14, 1 << 23, 0),
];

fn filled_words() -> FakeRegs {
    let regs = FakeRegs::filled(0x5a);
    assert_eq!(regs.word(0), UNTOUCHED);
    regs
}

#[test]
fn fifo_uarts_write_the_byte_to_their_data_register_only() {
    for &(kind, data, status, room, _) in FIFO_FAMILIES {
        let regs = filled_words();
        regs.set_word(status, room);
        let mut console = regs.console(kind, 0, 1);
        // (After `new`: Cadence may have enabled its transmitter, tested below.)
        let before = regs.snapshot();
        assert_eq!(console.name(), kind.name());
        assert_eq!(console.write_bytes(b"A"), Ok(()), "{kind:?}");
        assert_eq!(regs.word(data), u32::from(b'A'), "{kind:?}");
        let after = regs.snapshot();
        let changed: Vec<usize> = (0..4096).filter(|&i| before[i] != after[i]).collect();
        assert!(
            changed.iter().all(|&i| (data..data + 4).contains(&i)),
            "{kind:?} wrote outside its data register at {changed:x?}"
        );
    }
}

#[test]
fn fifo_uarts_give_up_while_the_fifo_stays_full() {
    for &(kind, data, status, _, full) in FIFO_FAMILIES {
        let regs = filled_words();
        // The status word as it reads with the FIFO full: the "room" bits all say no.
        regs.set_word(status, full);
        let mut console = regs.console(kind, 0, 1);
        assert_eq!(
            console.write_bytes(b"A"),
            Err(ConsoleError::TxStuck),
            "{kind:?}"
        );
        assert_eq!(
            regs.word(data),
            if data == status { full } else { UNTOUCHED }
        );
    }
}

#[test]
fn fifo_uarts_ignore_the_dt_stride_and_width() {
    for &(kind, data, status, room, _) in FIFO_FAMILIES {
        let regs = filled_words();
        regs.set_word(status, room);
        let mut console = regs.console(kind, 2, 4);
        assert_eq!(console.write_bytes(b"z"), Ok(()), "{kind:?}");
        assert_eq!(regs.word(data), u32::from(b'z'), "{kind:?}");
    }
}

#[test]
fn fifo_uarts_new_writes_no_register() {
    for &(kind, ..) in FIFO_FAMILIES.iter().filter(|f| f.0 != UartKind::Cadence) {
        let regs = filled_words();
        let before = regs.snapshot();
        let _console = regs.console(kind, 0, 1);
        assert!(regs.snapshot() == before, "{kind:?}");
    }
}

// ---- Cadence transmitter enable ----

const CDNS_CR: usize = 0x00;
const CDNS_TX_EN: u32 = 1 << 4;
const CDNS_TX_DIS: u32 = 1 << 5;

#[test]
fn cadence_new_enables_a_disabled_transmitter_keeping_other_bits() {
    let regs = filled_words();
    regs.set_word(0x2c, 0);
    // The reset value: STOPBRK | TX_DIS | RX_DIS.
    regs.set_word(CDNS_CR, 0x128);
    let mut console = regs.console(UartKind::Cadence, 0, 1);
    assert_eq!(regs.word(CDNS_CR), 0x108 | CDNS_TX_EN);
    assert_eq!(console.write_bytes(b"c"), Ok(()));
    assert_eq!(regs.word(0x30), u32::from(b'c'));
}

#[test]
fn cadence_new_leaves_an_enabled_transmitter_alone() {
    let regs = filled_words();
    regs.set_word(CDNS_CR, 0x114); // STOPBRK | TX_EN | RX_EN
    let before = regs.snapshot();
    let _console = regs.console(UartKind::Cadence, 0, 1);
    assert!(regs.snapshot() == before);
    assert_eq!(regs.word(CDNS_CR) & (CDNS_TX_EN | CDNS_TX_DIS), CDNS_TX_EN);
}

// ---- Qualcomm GENI ----

const GENI_STATUS: usize = 0x40;
const GENI_TX_TRANS_LEN: usize = 0x270;
const GENI_M_CMD0: usize = 0x600;
const GENI_TX_FIFO: usize = 0x700;

#[test]
fn geni_sends_each_byte_as_a_one_byte_start_tx() {
    let regs = filled_words();
    regs.set_word(GENI_STATUS, 0);
    let mut console = regs.console(UartKind::QcomGeni, 0, 1);
    assert_eq!(console.write_bytes(b"Q"), Ok(()));
    assert_eq!(regs.word(GENI_TX_TRANS_LEN), 1);
    assert_eq!(regs.word(GENI_M_CMD0), 1 << 27, "UART_START_TX opcode");
    assert_eq!(regs.word(GENI_TX_FIFO), u32::from(b'Q'));
}

#[test]
fn geni_waits_for_the_running_command_and_gives_up() {
    let regs = filled_words();
    regs.set_word(GENI_STATUS, 1); // M_GENI_CMD_ACTIVE
    let mut console = regs.console(UartKind::QcomGeni, 0, 1);
    assert_eq!(console.write_bytes(b"Q"), Err(ConsoleError::TxStuck));
    assert_eq!(regs.word(GENI_M_CMD0), UNTOUCHED, "no command started");
    assert_eq!(regs.word(GENI_TX_FIFO), UNTOUCHED);
}

// ---- Qualcomm UART DM 1.4 ----

const DM_NCF_TX: usize = 0x40;
const DM_SR: usize = 0xa4;
const DM_CR: usize = 0xa8;
const DM_TF: usize = 0x100;
const DM_TX_READY: u32 = 1 << 2;
const DM_TX_EMPTY: u32 = 1 << 3;

#[test]
fn uartdm_announces_one_character_then_writes_it() {
    let regs = filled_words();
    regs.set_word(DM_SR, DM_TX_EMPTY | DM_TX_READY);
    let mut console = regs.console(UartKind::QcomUartDm, 0, 1);
    assert_eq!(console.write_bytes(b"d"), Ok(()));
    assert_eq!(regs.word(DM_CR), 3 << 8, "RESET_TX_READY");
    assert_eq!(regs.word(DM_NCF_TX), 1);
    assert_eq!(regs.word(DM_TF), u32::from(b'd'));
}

#[test]
fn uartdm_gives_up_while_the_transmitter_stays_busy() {
    for status in [0, DM_TX_READY] {
        let regs = filled_words();
        regs.set_word(DM_SR, status);
        let mut console = regs.console(UartKind::QcomUartDm, 0, 1);
        assert_eq!(console.write_bytes(b"d"), Err(ConsoleError::TxStuck));
        assert_eq!(regs.word(DM_TF), UNTOUCHED, "status {status:#x}");
    }
}

#[test]
fn uartdm_without_room_writes_no_character() {
    let regs = filled_words();
    regs.set_word(DM_SR, DM_TX_EMPTY);
    let mut console = regs.console(UartKind::QcomUartDm, 0, 1);
    assert_eq!(console.write_bytes(b"d"), Err(ConsoleError::TxStuck));
    assert_eq!(regs.word(DM_TF), UNTOUCHED);
}

// ---- Renesas SCIF ----

const SCFTDR: usize = 0x0c;
const SCFSR: usize = 0x10;

fn scif_status(regs: &FakeRegs) -> u16 {
    u16::from_le_bytes([regs.byte(SCFSR), regs.byte(SCFSR + 1)])
}

fn set_scif_status(regs: &FakeRegs, value: u16) {
    let [lo, hi] = value.to_le_bytes();
    regs.set_byte(SCFSR, lo);
    regs.set_byte(SCFSR + 1, hi);
}

#[test]
fn scif_writes_the_byte_then_clears_only_tdfe_and_tend() {
    let regs = FakeRegs::filled(0x5a);
    // TEND | TDFE, and an error flag (ER, bit 7) that must be written back as 1 (kept).
    set_scif_status(&regs, 0x00e0);
    let mut console = regs.console(UartKind::RenesasScif, 0, 1);
    assert_eq!(console.write_bytes(b"s"), Ok(()));
    assert_eq!(regs.byte(SCFTDR), b's');
    // The neighbours of the 8-bit SCFTDR are untouched.
    assert_eq!([regs.byte(SCFTDR - 1), regs.byte(SCFTDR + 1)], [0x5a, 0x5a]);
    assert_eq!(scif_status(&regs), 0x0080);
}

#[test]
fn scif_gives_up_while_tdfe_stays_clear() {
    let regs = FakeRegs::filled(0x5a);
    set_scif_status(&regs, 0x0040); // TEND alone: no room reported
    let mut console = regs.console(UartKind::RenesasScif, 0, 1);
    assert_eq!(console.write_bytes(b"s"), Err(ConsoleError::TxStuck));
    assert_eq!(regs.byte(SCFTDR), 0x5a);
}

// ---- Sizes ----

#[test]
fn reg_ranges_must_cover_each_familys_registers() {
    // The smallest `reg` each family needs: the end of the last register it touches.
    for (kind, needed) in [
        (UartKind::SbsaUart, 0x1c),
        (UartKind::Meson, 0x10),
        (UartKind::Imx, 0xb8),
        (UartKind::Cadence, 0x34),
        (UartKind::Armada3700, 0x10),
        (UartKind::Lpuart32, 0x20),
        (UartKind::QcomGeni, 0x704),
        (UartKind::QcomUartDm, 0x104),
        (UartKind::RenesasScif, 0x12),
    ] {
        let info = |size| UartInfo {
            kind,
            regs: PhysRange::new(0x1000_0000, size),
            reg_shift: 0,
            reg_io_width: 1,
            clock_frequency: None,
            baud: None,
        };
        assert_eq!(Console::check(&info(needed)), Ok(()), "{kind:?}");
        assert_eq!(
            Console::check(&info(needed - 4)),
            Err(ConsoleError::RegsTooSmall),
            "{kind:?}"
        );
    }
}

#[test]
fn thirty_two_bit_families_refuse_a_misaligned_base() {
    for kind in [
        UartKind::Meson,
        UartKind::QcomGeni,
        UartKind::QcomUartDm,
        UartKind::Imx,
    ] {
        let info = UartInfo {
            kind,
            regs: PhysRange::new(0x1000_0002, 0x1000),
            reg_shift: 0,
            reg_io_width: 1,
            clock_frequency: None,
            baud: None,
        };
        assert_eq!(
            Console::check(&info),
            Err(ConsoleError::Misaligned),
            "{kind:?}"
        );
    }
}
