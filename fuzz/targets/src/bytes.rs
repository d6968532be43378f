//! The fuzzer's bytes read as a stream of small decisions. Past the end every read is zero,
//! so any input, however short, is a complete (if dull) program.

pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// One of `choices` (the first when the input has run out).
    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.u8() as usize % choices.len()]
    }

    /// `n` bytes (fewer if the input runs out).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }

    /// An address near the interesting ones in `bases`: the base itself (three times in
    /// eight), a number of pages or 2 MiB blocks either side of it, or (one time in eight)
    /// any 64-bit value.
    pub fn addr(&mut self, bases: &[u64]) -> u64 {
        let sel = self.u8();
        if sel & 7 == 7 {
            return self.u64();
        }
        let base = bases[(sel >> 3) as usize % bases.len()];
        if sel & 7 < 3 {
            return base;
        }
        let step = if sel & 1 == 0 { 0x1000 } else { 0x20_0000 };
        let delta = i64::from(self.u8() as i8) * step;
        base.wrapping_add_signed(delta)
    }

    /// A size: zero, any 64-bit value, or a number of 2 MiB blocks and/or 4 KiB pages
    /// (sometimes half a page off).
    pub fn size(&mut self) -> u64 {
        let blocks = |b: &mut Self| u64::from(b.u8()) * 0x20_0000;
        let pages = |b: &mut Self| u64::from(b.u8()) * 0x1000;
        match self.u8() & 7 {
            0 => 0,
            1 => self.u64(),
            2 | 3 => blocks(self),
            4 => pages(self) + u64::from(self.u8() & 1) * 0x800,
            5 => blocks(self) + pages(self),
            _ => pages(self),
        }
    }
}
