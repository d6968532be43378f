//! A PL011 UART as far as a guest's console needs: bytes written to UARTDR come out on the
//! VMM's stdout; the flag register always says "transmit FIFO empty, nothing received";
//! the identification registers read as an Arm PL011 (r1p5) so Linux's amba-pl011 driver
//! binds. Register offsets from the PL011 Technical Reference Manual (Arm DDI 0183).

const DR: u64 = 0x000;
const RSR: u64 = 0x004;
const FR: u64 = 0x018;
const IBRD: u64 = 0x024;
const FBRD: u64 = 0x028;
const LCR_H: u64 = 0x02c;
const CR: u64 = 0x030;
const IFLS: u64 = 0x034;
const IMSC: u64 = 0x038;
const RIS: u64 = 0x03c;
const MIS: u64 = 0x040;
const ICR: u64 = 0x044;
const DMACR: u64 = 0x048;
/// UARTPeriphID0..3 then UARTPCellID0..3, one byte each, 4 bytes apart.
const ID_BASE: u64 = 0xfe0;
const ID: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// FR: TXFE (bit 7) | RXFE (bit 4).
const FR_IDLE: u64 = 0x90;
/// RIS: nothing to receive, so only "transmit" may be raised; we never raise anything.
const RIS_NONE: u64 = 0;

#[derive(Debug, Default, Clone)]
pub struct Pl011 {
    ibrd: u64,
    fbrd: u64,
    lcr_h: u64,
    cr: u64,
    ifls: u64,
    imsc: u64,
    dmacr: u64,
}

impl Pl011 {
    pub fn new() -> Pl011 {
        Pl011 {
            cr: 0x300, // TXE | RXE, as after reset
            ifls: 0x12,
            ..Pl011::default()
        }
    }

    /// A guest read at `offset` into the UART's page.
    pub fn read(&self, offset: u64) -> u64 {
        match offset {
            DR | RSR | MIS => 0,
            RIS => RIS_NONE,
            FR => FR_IDLE,
            IBRD => self.ibrd,
            FBRD => self.fbrd,
            LCR_H => self.lcr_h,
            CR => self.cr,
            IFLS => self.ifls,
            IMSC => self.imsc,
            DMACR => self.dmacr,
            o if (ID_BASE..ID_BASE + 32).contains(&o) && o % 4 == 0 => {
                u64::from(ID[((o - ID_BASE) / 4) as usize])
            }
            _ => 0,
        }
    }

    /// A guest write; returns the byte to print for a write to UARTDR.
    pub fn write(&mut self, offset: u64, value: u64) -> Option<u8> {
        let v = value & 0xffff;
        match offset {
            DR => return Some(value as u8),
            IBRD => self.ibrd = v,
            FBRD => self.fbrd = v & 0x3f,
            LCR_H => self.lcr_h = v & 0xff,
            CR => self.cr = v,
            IFLS => self.ifls = v & 0x3f,
            IMSC => self.imsc = v & 0x7ff,
            DMACR => self.dmacr = v & 0x7,
            RSR | ICR => {} // clear errors / interrupts: we raise none
            _ => {}         // read-only and reserved registers
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_register_writes_are_console_bytes() {
        let mut u = Pl011::new();
        assert_eq!(u.write(DR, u64::from(b'h')), Some(b'h'));
        assert_eq!(u.write(DR, 0xbad0_0000_0000_0a0a), Some(b'\n'));
        assert_eq!(u.write(CR, 0x301), None);
    }

    #[test]
    fn the_transmitter_is_always_ready_and_nothing_is_received() {
        let u = Pl011::new();
        assert_eq!(u.read(FR) & 0x20, 0, "TXFF clear");
        assert_ne!(u.read(FR) & 0x80, 0, "TXFE set");
        assert_ne!(u.read(FR) & 0x10, 0, "RXFE set");
        assert_eq!(u.read(DR), 0);
    }

    #[test]
    fn it_identifies_as_a_pl011_primecell() {
        let u = Pl011::new();
        let id: Vec<u64> = (0..8).map(|i| u.read(ID_BASE + 4 * i)).collect();
        assert_eq!(id, [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        assert_eq!(u.read(ID_BASE + 2), 0, "unaligned: not an ID byte");
    }

    #[test]
    fn control_registers_read_back_what_was_written() {
        let mut u = Pl011::new();
        u.write(IBRD, 0x1a);
        u.write(LCR_H, 0x70);
        u.write(IMSC, 0x50);
        assert_eq!(
            (u.read(IBRD), u.read(LCR_H), u.read(IMSC)),
            (0x1a, 0x70, 0x50)
        );
    }
}
