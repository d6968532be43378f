//! A cursor over the caller's output buffer: every write is bounds-checked and a full
//! buffer is `OutOfSpace`, never a panic. Padding is written as zeros, not left as
//! whatever the buffer held.

use super::HostDtbError;

pub(super) const FDT_BEGIN_NODE: u32 = 1;
pub(super) const FDT_END_NODE: u32 = 2;
pub(super) const FDT_PROP: u32 = 3;
pub(super) const FDT_NOP: u32 = 4;
pub(super) const FDT_END: u32 = 9;

pub(super) struct Out<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> Out<'a> {
    pub fn new(buf: &'a mut [u8]) -> Out<'a> {
        Out { buf, at: 0 }
    }

    /// Bytes written so far (the offset of the next write).
    pub fn at(&self) -> usize {
        self.at
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), HostDtbError> {
        let end = self
            .at
            .checked_add(bytes.len())
            .ok_or(HostDtbError::OutOfSpace)?;
        self.buf
            .get_mut(self.at..end)
            .ok_or(HostDtbError::OutOfSpace)?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }

    pub fn zeros(&mut self, n: usize) -> Result<(), HostDtbError> {
        let end = self.at.checked_add(n).ok_or(HostDtbError::OutOfSpace)?;
        self.buf
            .get_mut(self.at..end)
            .ok_or(HostDtbError::OutOfSpace)?
            .fill(0);
        self.at = end;
        Ok(())
    }

    pub fn word(&mut self, w: u32) -> Result<(), HostDtbError> {
        self.bytes(&w.to_be_bytes())
    }

    /// Overwrites the word at `at` (already written): header fields known only at the end.
    pub fn patch_word(&mut self, at: usize, w: u32) -> Result<(), HostDtbError> {
        let end = at.checked_add(4).ok_or(HostDtbError::OutOfSpace)?;
        if end > self.at {
            return Err(HostDtbError::OutOfSpace);
        }
        self.buf
            .get_mut(at..end)
            .ok_or(HostDtbError::OutOfSpace)?
            .copy_from_slice(&w.to_be_bytes());
        Ok(())
    }

    fn pad4(&mut self) -> Result<(), HostDtbError> {
        self.zeros(self.at.next_multiple_of(4) - self.at)
    }

    /// `FDT_BEGIN_NODE` with the name given in parts (`name`, `@`, unit address).
    pub fn begin_node(&mut self, name: &[&[u8]]) -> Result<(), HostDtbError> {
        self.word(FDT_BEGIN_NODE)?;
        for part in name {
            self.bytes(part)?;
        }
        self.bytes(&[0])?;
        self.pad4()
    }

    pub fn end_node(&mut self) -> Result<(), HostDtbError> {
        self.word(FDT_END_NODE)
    }

    /// `FDT_PROP` whose value is the concatenation of `value`'s parts.
    pub fn prop(&mut self, name_off: u32, value: &[&[u8]]) -> Result<(), HostDtbError> {
        let len = value.iter().map(|part| part.len()).sum::<usize>();
        self.word(FDT_PROP)?;
        self.word(u32::try_from(len).map_err(|_| HostDtbError::TooLarge)?)?;
        self.word(name_off)?;
        for part in value {
            self.bytes(part)?;
        }
        self.pad4()
    }
}
