//! What every UART shares when sending: `\n` -> `\r\n`, and a wait that always ends.

use super::ConsoleError;
use core::hint;

/// Polls of the "can take a byte" flag before a byte is given up. Far longer than a byte
/// takes at any real baud rate (about 1 ms at 9600), short enough that a dead UART
/// cannot hang EL2.
pub const TX_POLL_LIMIT: u32 = 1_000_000;

/// Polls `ready` until it says yes (true) or [`TX_POLL_LIMIT`] polls have said no (false).
pub(super) fn wait_until(mut ready: impl FnMut() -> bool) -> bool {
    for _ in 0..TX_POLL_LIMIT {
        if ready() {
            return true;
        }
        hint::spin_loop();
    }
    false
}

/// Feeds `bytes` to `put` with each `\n` preceded by `\r`; stops at the first byte `put`
/// gives up on.
pub(super) fn write_crlf(
    bytes: &[u8],
    mut put: impl FnMut(u8) -> Result<(), ConsoleError>,
) -> Result<(), ConsoleError> {
    for &byte in bytes {
        if byte == b'\n' {
            put(b'\r')?;
        }
        put(byte)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let result = write_crlf(bytes, |b| {
            out.push(b);
            Ok(())
        });
        assert_eq!(result, Ok(()));
        out
    }

    #[test]
    fn newline_is_sent_as_cr_lf() {
        assert_eq!(sent(b"a\nb\n"), b"a\r\nb\r\n");
    }

    #[test]
    fn lone_cr_and_other_bytes_pass_unchanged() {
        assert_eq!(sent(b"x\ry\0"), b"x\ry\0");
    }

    #[test]
    fn a_refused_byte_drops_the_rest() {
        let mut out = Vec::new();
        let result = write_crlf(b"ab\ncd", |b| {
            if b == b'\r' {
                return Err(ConsoleError::TxStuck);
            }
            out.push(b);
            Ok(())
        });
        assert_eq!(result, Err(ConsoleError::TxStuck));
        assert_eq!(out, b"ab");
    }

    #[test]
    fn wait_gives_up_after_the_poll_limit() {
        let mut polls = 0u32;
        assert!(!wait_until(|| {
            polls += 1;
            false
        }));
        assert_eq!(polls, TX_POLL_LIMIT);
    }

    #[test]
    fn wait_stops_at_the_first_yes() {
        let mut polls = 0u32;
        assert!(wait_until(|| {
            polls += 1;
            polls == 3
        }));
        assert_eq!(polls, 3);
    }
}
