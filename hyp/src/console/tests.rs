//! Console rules, checked against fake register blocks in ordinary memory.

use super::{Console, ConsoleError};
use crate::addr::{PhysAddr, PhysRange};
use crate::board::DefaultConsole;
use crate::dt::{UartInfo, UartKind};
use core::fmt::Write;
use core::ptr;

/// Fill byte for registers a test expects the driver to leave alone. Bit 5 is clear, so a
/// 16550 that reads its LSR from the wrong place sees THRE clear and never sends.
const UNTOUCHED: u8 = 0x5a;
const PL011_DR: usize = 0x00;
const PL011_FR: usize = 0x18;
const PL011_IBRD: usize = 0x24;
const PL011_FBRD: usize = 0x28;
const PL011_LCR_H: usize = 0x2c;
const PL011_CR: usize = 0x30;
const FR_TXFF: u32 = 1 << 5;
const CR_UARTEN_TXE_RXE: u32 = 0x301;
/// 16550 LSR register number and its THRE | TEMT bits.
const LSR: usize = 5;
const LSR_TX_IDLE: u8 = 0x60;

mod families;

#[repr(C, align(4096))]
struct Block([u8; 4096]);

/// A page of memory standing in for a UART frame; the driver gets its address as `base`.
/// Accessed only through a raw pointer, as the driver does, so neither side holds a `&mut`.
pub(super) struct FakeRegs(*mut Block);

impl FakeRegs {
    pub(super) fn filled(fill: u8) -> FakeRegs {
        FakeRegs(Box::into_raw(Box::new(Block([fill; 4096]))))
    }

    pub(super) fn base(&self) -> PhysAddr {
        PhysAddr(self.0.expose_provenance() as u64)
    }

    fn at(&self, offset: usize) -> *mut u8 {
        assert!(offset < 4096);
        self.0.cast::<u8>().wrapping_add(offset)
    }

    pub(super) fn byte(&self, offset: usize) -> u8 {
        // SAFETY: `at` stays inside the live block; nothing else accesses it right now.
        unsafe { ptr::read_volatile(self.at(offset)) }
    }

    pub(super) fn set_byte(&self, offset: usize, value: u8) {
        // SAFETY: as in `byte`.
        unsafe { ptr::write_volatile(self.at(offset), value) }
    }

    pub(super) fn word(&self, offset: usize) -> u32 {
        assert_eq!(offset % 4, 0);
        // SAFETY: as in `byte`; the block is page-aligned, so `offset % 4 == 0` is aligned.
        unsafe { ptr::read_volatile(self.at(offset).cast::<u32>()) }
    }

    pub(super) fn set_word(&self, offset: usize, value: u32) {
        assert_eq!(offset % 4, 0);
        // SAFETY: as in `word`.
        unsafe { ptr::write_volatile(self.at(offset).cast::<u32>(), value) }
    }

    pub(super) fn snapshot(&self) -> Vec<u8> {
        (0..4096).map(|offset| self.byte(offset)).collect()
    }

    pub(super) fn console(&self, kind: UartKind, reg_shift: u8, reg_io_width: u8) -> Console {
        // SAFETY: the block is a live, page-sized, page-aligned frame that only this console
        // touches until the test reads it back (the console is not used after that).
        match unsafe { Console::new(kind, self.base(), reg_shift, reg_io_width) } {
            Ok(console) => console,
            Err(e) => panic!("fake UART refused: {}", e.reason()),
        }
    }
}

impl Drop for FakeRegs {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from `Box::into_raw` and is freed only here.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

fn refusal(kind: UartKind, base: u64, reg_shift: u8, reg_io_width: u8) -> ConsoleError {
    // SAFETY: every call here is refused before any register is touched.
    match unsafe { Console::new(kind, PhysAddr(base), reg_shift, reg_io_width) } {
        Ok(console) => panic!("{} at {base:#x} accepted", console.name()),
        Err(e) => e,
    }
}

fn enabled_pl011() -> FakeRegs {
    let regs = FakeRegs::filled(0);
    regs.set_word(PL011_CR, CR_UARTEN_TXE_RXE);
    regs
}

// ---- PL011 ----

#[test]
fn pl011_bytes_land_in_dr() {
    let regs = enabled_pl011();
    let mut console = regs.console(UartKind::Pl011, 0, 1);
    assert_eq!(console.write_bytes(b"A"), Ok(()));
    assert_eq!(regs.word(PL011_DR), u32::from(b'A'));
    assert_eq!(console.write_bytes(b"hi"), Ok(()));
    assert_eq!(regs.word(PL011_DR), u32::from(b'i'));
}

#[test]
fn pl011_newline_goes_out_as_cr_lf_ending_in_lf() {
    // Memory keeps only DR's last write; tx.rs's tests check the `\r` comes first.
    let regs = enabled_pl011();
    let mut console = regs.console(UartKind::Pl011, 0, 1);
    assert!(writeln!(console, "x={}", 7).is_ok());
    assert_eq!(regs.word(PL011_DR), u32::from(b'\n'));
}

#[test]
fn pl011_gives_up_while_txff_stays_set() {
    let regs = enabled_pl011();
    regs.set_word(PL011_FR, FR_TXFF);
    let mut console = regs.console(UartKind::Pl011, 0, 1);
    assert_eq!(console.write_bytes(b"A\n"), Err(ConsoleError::TxStuck));
    assert_eq!(regs.word(PL011_DR), 0);
    assert!(write!(console, "lost").is_err());
}

#[test]
fn pl011_new_enables_uart_and_tx_when_off() {
    let regs = FakeRegs::filled(0);
    regs.set_word(PL011_CR, 1 << 9); // RXE only: must survive.
    let _console = regs.console(UartKind::Pl011, 0, 1);
    assert_eq!(regs.word(PL011_CR), CR_UARTEN_TXE_RXE);
}

#[test]
fn pl011_new_keeps_baud_and_line_settings() {
    let regs = FakeRegs::filled(0);
    regs.set_word(PL011_IBRD, 0x1a);
    regs.set_word(PL011_FBRD, 0x03);
    regs.set_word(PL011_LCR_H, 0x70);
    let mut console = regs.console(UartKind::Pl011, 0, 1);
    assert_eq!(console.write_bytes(b"A"), Ok(()));
    assert_eq!(regs.word(PL011_IBRD), 0x1a);
    assert_eq!(regs.word(PL011_FBRD), 0x03);
    assert_eq!(regs.word(PL011_LCR_H), 0x70);
}

#[test]
fn pl011_new_leaves_an_enabled_uart_untouched() {
    let regs = enabled_pl011();
    let before = regs.snapshot();
    let _console = regs.console(UartKind::Pl011, 0, 1);
    assert!(regs.snapshot() == before);
}

#[test]
fn pl011_ignores_dt_reg_shift_and_width() {
    let regs = enabled_pl011();
    let mut console = regs.console(UartKind::Pl011, 2, 4);
    assert_eq!(console.write_bytes(b"Z"), Ok(()));
    assert_eq!(regs.word(PL011_DR), u32::from(b'Z'));
}

// ---- 16550 ----

#[test]
fn ns16550_stride1_writes_8bit_registers() {
    let regs = FakeRegs::filled(UNTOUCHED);
    regs.set_byte(LSR, LSR_TX_IDLE);
    let mut console = regs.console(UartKind::Ns16550, 0, 1);
    assert_eq!(console.write_bytes(b"A"), Ok(()));
    assert_eq!(regs.byte(0), b'A');
    for offset in 1..8 {
        if offset != LSR {
            assert_eq!(regs.byte(offset), UNTOUCHED, "register {offset}");
        }
    }
}

#[test]
fn ns16550_stride4_writes_32bit_registers() {
    let regs = FakeRegs::filled(UNTOUCHED);
    // Sentinels above the low byte: the driver must use only LSR's low 8 bits.
    regs.set_word(LSR << 2, 0x5a5a_5a00 | u32::from(LSR_TX_IDLE));
    let mut console = regs.console(UartKind::Ns16550, 2, 4);
    assert_eq!(console.write_bytes(b"A"), Ok(()));
    // One 32-bit store: the byte in the low lane, zeros over the sentinels above it.
    assert_eq!(regs.word(0), u32::from(b'A'));
    for register in 1..=3 {
        assert_eq!(regs.word(register << 2), 0x5a5a_5a5a, "register {register}");
    }
}

#[test]
fn ns16550_stride4_byte_access_touches_only_the_low_byte() {
    let regs = FakeRegs::filled(UNTOUCHED);
    regs.set_byte(LSR << 2, LSR_TX_IDLE);
    let mut console = regs.console(UartKind::Ns16550, 2, 1);
    assert_eq!(console.write_bytes(b"A"), Ok(()));
    assert_eq!(regs.byte(0), b'A');
    assert_eq!([regs.byte(1), regs.byte(2), regs.byte(3)], [UNTOUCHED; 3]);
}

#[test]
fn ns16550_finds_thr_and_lsr_at_every_stride() {
    for (shift, width) in [(0, 1), (1, 1), (2, 1), (3, 1), (2, 4), (3, 4)] {
        let regs = FakeRegs::filled(UNTOUCHED);
        regs.set_byte(LSR << shift, LSR_TX_IDLE);
        let mut console = regs.console(UartKind::Ns16550, shift, width);
        assert_eq!(
            console.write_bytes(b"q"),
            Ok(()),
            "shift {shift} width {width}"
        );
        assert_eq!(regs.byte(0), b'q', "shift {shift} width {width}");
    }
}

#[test]
fn ns16550_gives_up_while_thre_stays_clear() {
    let regs = FakeRegs::filled(UNTOUCHED);
    // THRE where an unshifted LSR would be, but not at 5 << 2 where it really is.
    regs.set_byte(LSR, LSR_TX_IDLE);
    let mut console = regs.console(UartKind::Ns16550, 2, 4);
    assert_eq!(console.write_bytes(b"A"), Err(ConsoleError::TxStuck));
    assert_eq!(regs.byte(0), UNTOUCHED);
}

#[test]
fn ns16550_new_writes_no_register() {
    for (shift, width) in [(0, 1), (2, 4)] {
        let regs = FakeRegs::filled(UNTOUCHED);
        let before = regs.snapshot();
        let _console = regs.console(UartKind::Ns16550, shift, width);
        assert!(regs.snapshot() == before, "shift {shift} width {width}");
    }
}

// ---- Construction from DT and board data ----

#[test]
fn uart_info_and_default_console_pick_the_driver() {
    let regs = enabled_pl011();
    let info = UartInfo {
        kind: UartKind::Pl011,
        regs: PhysRange {
            base: regs.base(),
            size: 0x1000,
        },
        reg_shift: 0,
        reg_io_width: 1,
        clock_frequency: None,
        baud: Some(115_200),
    };
    // SAFETY: the fake block is a live frame only this console touches.
    let console = unsafe { Console::from_uart_info(&info) };
    assert_eq!(console.map(|c| c.name()), Ok("pl011"));

    let regs16550 = FakeRegs::filled(UNTOUCHED);
    let default = DefaultConsole {
        kind: UartKind::Ns16550,
        regs: PhysRange {
            base: regs16550.base(),
            size: 0x100,
        },
        reg_shift: 2,
        reg_io_width: 4,
    };
    // SAFETY: as above.
    let console = unsafe { Console::from_default(&default) };
    assert_eq!(console.map(|c| c.name()), Ok("ns16550"));
}

#[test]
fn pl011_reg_smaller_than_a_page_is_accepted() {
    // bcm2835 describes its PL011 as 0x200 bytes.
    let regs = enabled_pl011();
    let default = DefaultConsole {
        kind: UartKind::Pl011,
        regs: PhysRange {
            base: regs.base(),
            size: 0x200,
        },
        reg_shift: 0,
        reg_io_width: 1,
    };
    // SAFETY: the fake block is a live frame only this console touches.
    assert!(unsafe { Console::from_default(&default) }.is_ok());
}

#[test]
fn reg_range_smaller_than_the_registers_is_refused() {
    for (kind, shift, width, size) in [
        (UartKind::Ns16550, 2, 4, 0x1c),
        (UartKind::Ns16550, 0, 1, 7),
        (UartKind::Pl011, 0, 1, 0x30),
        (UartKind::Pl011, 0, 1, 0),
    ] {
        let default = DefaultConsole {
            kind,
            regs: PhysRange::new(0x0900_0000, size),
            reg_shift: shift,
            reg_io_width: width,
        };
        // SAFETY: refused before any register is touched.
        let refused = unsafe { Console::from_default(&default) }.err();
        assert_eq!(refused, Some(ConsoleError::RegsTooSmall), "size {size:#x}");
    }
}

// ---- Refusals ----

#[test]
fn reg_io_width_other_than_1_or_4_is_refused() {
    for width in [0, 2, 3, 8] {
        let e = refusal(UartKind::Ns16550, 0x1000, 2, width);
        assert_eq!(e, ConsoleError::BadRegIoWidth(width));
        assert_eq!(e.reason(), "UART reg-io-width not 1 or 4");
    }
}

#[test]
fn reg_shift_above_3_is_refused() {
    for shift in [4, 8, 255] {
        let e = refusal(UartKind::Ns16550, 0x1000, shift, 1);
        assert_eq!(e, ConsoleError::BadRegShift(shift));
        assert_eq!(e.reason(), "UART reg-shift above 3");
    }
}

#[test]
fn zero_base_is_refused() {
    for kind in [UartKind::Pl011, UartKind::Ns16550] {
        let e = refusal(kind, 0, 0, 1);
        assert_eq!(e, ConsoleError::ZeroBase);
        assert_eq!(e.reason(), "UART base address is 0");
    }
}

#[test]
fn base_misaligned_for_its_access_width_is_refused() {
    assert_eq!(
        refusal(UartKind::Ns16550, 0x1002, 2, 4),
        ConsoleError::Misaligned
    );
    assert_eq!(
        refusal(UartKind::Pl011, 0x1001, 0, 1),
        ConsoleError::Misaligned
    );
}

#[test]
fn word_registers_closer_than_4_bytes_are_refused() {
    for shift in [0, 1] {
        let e = refusal(UartKind::Ns16550, 0x1000, shift, 4);
        assert_eq!(e, ConsoleError::WidthExceedsStride);
    }
}

#[test]
fn registers_past_the_end_of_the_address_space_are_refused() {
    let pl011_last_page: u64 = !0xfff;
    assert_eq!(
        refusal(UartKind::Pl011, pl011_last_page + 0x800, 0, 1),
        ConsoleError::OutOfRange
    );
    assert_eq!(
        refusal(UartKind::Ns16550, u64::MAX - 6, 0, 1),
        ConsoleError::OutOfRange
    );
    assert_eq!(
        refusal(UartKind::Ns16550, u64::MAX - 27, 2, 4),
        ConsoleError::OutOfRange
    );
}

#[test]
fn every_error_has_its_own_reason() {
    let all = [
        ConsoleError::BadRegIoWidth(2),
        ConsoleError::BadRegShift(4),
        ConsoleError::ZeroBase,
        ConsoleError::Misaligned,
        ConsoleError::WidthExceedsStride,
        ConsoleError::OutOfRange,
        ConsoleError::RegsTooSmall,
        ConsoleError::TxStuck,
    ];
    let reasons: std::collections::BTreeSet<_> = all.iter().map(|e| e.reason()).collect();
    assert_eq!(reasons.len(), all.len());
}

#[test]
fn console_can_move_into_a_callers_lock() {
    fn is_send<T: Send>() {}
    is_send::<Console>();
}
