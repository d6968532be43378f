//! Builds small DTBs in memory, for trees no fixture has (and none should ship).

/// A DTB under construction: tokens are appended in order, `finish` lays out the blob the
/// way dtc does (header, /memreserve/, struct block, strings block).
#[derive(Default)]
pub(crate) struct Dtb {
    structs: Vec<u8>,
    strings: Vec<u8>,
    rsv: Vec<(u64, u64)>,
}

impl Dtb {
    pub fn new() -> Dtb {
        Dtb::default()
    }

    fn word(&mut self, w: u32) {
        self.structs.extend_from_slice(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    pub fn begin(&mut self, name: &str) -> &mut Dtb {
        self.word(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    pub fn end(&mut self) -> &mut Dtb {
        self.word(2);
        self
    }

    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Dtb {
        let name_off = self.string(name);
        self.word(3);
        self.word(value.len() as u32);
        self.word(name_off);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Dtb {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &bytes)
    }

    pub fn str(&mut self, name: &str, value: &str) -> &mut Dtb {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.prop(name, &bytes)
    }

    pub fn memreserve(&mut self, base: u64, size: u64) -> &mut Dtb {
        self.rsv.push((base, size));
        self
    }

    fn string(&mut self, name: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }

    pub fn finish(&self) -> Vec<u8> {
        let mut structs = self.structs.clone();
        structs.extend_from_slice(&9u32.to_be_bytes());
        let off_rsv = 40usize;
        let off_struct = off_rsv + (self.rsv.len() + 1) * 16;
        let off_strings = off_struct + structs.len();
        let total = off_strings + self.strings.len();
        let header = [
            0xd00d_feed,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            structs.len() as u32,
        ];
        let mut out: Vec<u8> = header.iter().flat_map(|w: &u32| w.to_be_bytes()).collect();
        for (base, size) in self.rsv.iter().chain([&(0, 0)]) {
            out.extend_from_slice(&base.to_be_bytes());
            out.extend_from_slice(&size.to_be_bytes());
        }
        out.extend_from_slice(&structs);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// Root with 2-cell addresses and sizes and one 256 MiB /memory node at 0x4000_0000; the
/// caller adds more nodes and then calls `end()` to close the root.
pub(crate) fn with_memory() -> Dtb {
    let mut d = Dtb::new();
    d.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .begin("memory@40000000")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .end();
    d
}
