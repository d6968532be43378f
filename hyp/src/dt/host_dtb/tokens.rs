//! Reading the original struct block one token at a time. The block has passed
//! `structure::validate`; every read is still bounds-checked, so a blob that slipped
//! past it is `Malformed`, not a panic.

use super::out::{FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_NOP, FDT_PROP};
use super::HostDtbError;
use crate::dt::header::be32;
use crate::dt::DtError;

/// Only reachable on a blob `structure::validate` should have refused.
pub(super) const MALFORMED: HostDtbError = HostDtbError::Original(DtError::Malformed);

pub(super) enum Token<'a> {
    /// `raw` is the whole token: tag, name, NUL and padding.
    Begin {
        name: &'a [u8],
        raw: &'a [u8],
    },
    Prop {
        name: &'a [u8],
        value: &'a [u8],
        raw: &'a [u8],
    },
    EndNode,
    Nop,
    End,
}

/// The bytes of `bytes` before its first NUL.
fn cstr(bytes: Option<&[u8]>) -> Result<&[u8], HostDtbError> {
    let bytes = bytes.ok_or(MALFORMED)?;
    let len = bytes.iter().position(|&b| b == 0).ok_or(MALFORMED)?;
    Ok(&bytes[..len])
}

/// The token at `at` and the offset of the next one.
pub(super) fn read<'a>(
    block: &'a [u8],
    strings: &'a [u8],
    at: usize,
) -> Result<(Token<'a>, usize), HostDtbError> {
    let body = at + 4;
    let (token, next) = match be32(block, at).ok_or(MALFORMED)? {
        FDT_BEGIN_NODE => {
            let name = cstr(block.get(body..))?;
            let next = (body + name.len() + 1).next_multiple_of(4);
            let raw = block.get(at..next).ok_or(MALFORMED)?;
            (Token::Begin { name, raw }, next)
        }
        FDT_PROP => {
            let len = be32(block, body).ok_or(MALFORMED)? as usize;
            let name_off = be32(block, body + 4).ok_or(MALFORMED)? as usize;
            let value_end = (body + 8).checked_add(len).ok_or(MALFORMED)?;
            let value = block.get(body + 8..value_end).ok_or(MALFORMED)?;
            let next = value_end.next_multiple_of(4);
            let raw = block.get(at..next).ok_or(MALFORMED)?;
            let name = cstr(strings.get(name_off..))?;
            (Token::Prop { name, value, raw }, next)
        }
        FDT_END_NODE => (Token::EndNode, body),
        FDT_NOP => (Token::Nop, body),
        FDT_END => (Token::End, body),
        _ => return Err(MALFORMED),
    };
    Ok((token, next))
}
