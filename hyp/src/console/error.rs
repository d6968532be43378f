//! Why a console was refused or gave up.

/// A refused UART description, or a UART that stopped taking bytes.
/// `reason()` gives the stable words used in `stile: console:` log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleError {
    /// `reg-io-width` (bytes) other than 1 or 4.
    BadRegIoWidth(u8),
    /// `reg-shift` above 3 (stride above 8 bytes).
    BadRegShift(u8),
    /// Base address 0: nothing described.
    ZeroBase,
    /// Base not aligned to the register access width.
    Misaligned,
    /// 32-bit registers closer together than 4 bytes would overlap.
    WidthExceedsStride,
    /// The register frame runs past the end of the address space.
    OutOfRange,
    /// The described `reg` range is smaller than the registers the driver touches.
    RegsTooSmall,
    /// The UART stayed unable to take a byte for [`super::TX_POLL_LIMIT`] polls.
    TxStuck,
}

impl ConsoleError {
    pub const fn reason(self) -> &'static str {
        match self {
            ConsoleError::BadRegIoWidth(_) => "UART reg-io-width not 1 or 4",
            ConsoleError::BadRegShift(_) => "UART reg-shift above 3",
            ConsoleError::ZeroBase => "UART base address is 0",
            ConsoleError::Misaligned => "UART base not aligned to its register width",
            ConsoleError::WidthExceedsStride => "UART reg-io-width wider than its register stride",
            ConsoleError::OutOfRange => "UART registers run past the end of the address space",
            ConsoleError::RegsTooSmall => "UART reg range smaller than its registers",
            ConsoleError::TxStuck => "UART TX stayed full, output dropped",
        }
    }
}
