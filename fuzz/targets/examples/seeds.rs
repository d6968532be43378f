//! Writes the seed corpora (fuzz/corpus/<target>/seed-*): the DTBs of hyp/testdata (QEMU's
//! dumps without their 1 MiB of padding), and for the programmed targets inputs that
//! spell out a typical session in the byte language each target reads (`Bytes`).
//! `cargo run --example seeds` from fuzz/targets; the output is committed.

use std::path::Path;
use stile_abi::slot::{self, SlotKind};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../hyp/testdata");

fn be32(d: &[u8], field: usize) -> u32 {
    u32::from_be_bytes(d[field * 4..field * 4 + 4].try_into().unwrap())
}

/// A DTB cut to its last block, with `totalsize` saying so.
fn compact(dtb: &[u8]) -> Vec<u8> {
    let end = (be32(dtb, 3) + be32(dtb, 8)) as usize;
    let mut out = dtb[..end.min(dtb.len())].to_vec();
    let len = out.len() as u32;
    out[4..8].copy_from_slice(&len.to_be_bytes());
    out
}

fn dtbs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in [
        "board-16550",
        "tiny-legacy-16550a",
        "qemu-virt-gicv3-smp4-1g",
        "qemu-virt-gicv2-smp1-512m",
        "qemu-virt-gicv3-smp2-4g",
    ] {
        let dtb = std::fs::read(format!("{TESTDATA}/{name}.dtb")).expect("testdata DTB");
        out.push((name.to_string(), compact(&dtb)));
    }
    out
}

/// Builds input bytes in the order `Bytes` reads them.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// An exact value through `Bytes::addr`'s "any 64-bit value" branch.
    fn addr(&mut self, v: u64) -> &mut Self {
        self.u8(7).u64(v)
    }
    /// An exact size through `Bytes::size`'s "any 64-bit value" branch.
    fn size(&mut self, v: u64) -> &mut Self {
        self.u8(1).u64(v)
    }
    /// A hypercall step of the `hypercalls` target: op 0, a FUNCTIONS index, six
    /// arguments each given exactly (selector 7).
    fn hvc(&mut self, function_index: u8, args: [u64; 6]) -> &mut Self {
        self.u8(0).u8(4).u8(function_index);
        for a in args {
            self.u8(7).u64(a);
        }
        self
    }
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
}

fn main() {
    for (name, dtb) in dtbs() {
        write("dt_platform", &name, &dtb);
        // No edits, then the usual ones: the hypervisor carved out, the initrd hidden,
        // new bootargs and one extra /chosen property.
        let mut plain = vec![0, 0, 0, 0];
        plain.extend_from_slice(&dtb);
        write("host_dtb", &format!("{name}-unchanged"), &plain);
        let mut e = Enc::default();
        e.u8(2).u8(0).addr(0x7e00_0000).size(32 << 20);
        e.u8(1).addr(0x7c00_0000).size(16 << 20);
        e.u8(1).u8(0).u64(0x7e00_0000).u8(1).u8(1);
        e.0.extend_from_slice(&dtb);
        write("host_dtb", &format!("{name}-edited"), &e.0);
    }

    // hypercalls: FUNCTIONS = [VmCreate, VmCreate, VcpuCreate, MemslotSet, MemslotSet,
    // MemslotClear, VcpuRun, VmDestroy, Translate, Stats].
    let ram = |kind, perms| slot::word(kind, perms, 0);
    let rwx = slot::PERM_READ | slot::PERM_WRITE | slot::PERM_EXEC;
    let rw = slot::PERM_READ | slot::PERM_WRITE;
    let mut e = Enc::default();
    e.u8(1); // FWB
    e.hvc(0, [0x5000_0000, 0x40_0000, 0, 0, 0, 0]); // VM 1
    e.hvc(2, [1, 0x4000_0000, 0x4f00_0000, 0, 0, 0]); // vCPU 0
    e.hvc(
        3,
        [
            1,
            0,
            0x4000_0000,
            0x5000_0000,
            0x40_0000,
            ram(SlotKind::Ram, rwx),
        ],
    );
    e.hvc(3, [1, 1, 0x0900_0000, 0, 0x1000, ram(SlotKind::Mmio, rw)]);
    e.hvc(
        3,
        [
            1,
            2,
            0x1_0000_0000,
            0x7c00_0000,
            0x20_0000,
            slot::word(SlotKind::CacheableDevice, rw, slot::FLAG_CACHEABLE_OPT_IN),
        ],
    );
    e.hvc(6, [1, 0, 0, 0, 0, 0]); // VCPU_RUN
                                  // Guest traps (op 6): a data abort on RAM (lazy map), then one on the MMIO slot (the
                                  // IPA given exactly: `fault_ipa` selector 3, then `addr`).
    e.u8(6)
        .u8(0)
        .u8(1)
        .u8(1)
        .u8(0)
        .u8(3)
        .u32_fields(0x0100_0000 | 2 << 22 | 3 << 16);
    e.u8(3).addr(0x4000_0000).u8(0).u8(0);
    e.u8(6)
        .u8(0)
        .u8(1)
        .u8(1)
        .u8(0)
        .u8(3)
        .u32_fields(0x0100_0000 | 2 << 22 | 3 << 16);
    e.u8(3).addr(0x0900_0000).u8(0).u8(0);
    // The host completes the MMIO read (host_action 1) and runs the vCPU again.
    e.u8(4).u8(0).u8(0).u8(0).u8(1);
    e.hvc(6, [1, 0, 0, 0, 0, 0]);
    e.hvc(8, [1, 0x4000_0000, 0, 0, 0, 0]); // TRANSLATE
    e.hvc(9, [1, 0, 0, 0, 0, 0]); // STATS
    e.hvc(5, [1, 0, 0, 0, 0, 0]); // MEMSLOT_CLEAR
    e.hvc(7, [1, 0, 0, 0, 0, 0]); // VM_DESTROY
    write("hypercalls", "session", &e.0);
    let mut e = Enc::default();
    e.u8(0); // no FWB
    e.hvc(0, [0x5000_0000, 0x40_0000, 0, 0, 0, 0]);
    e.hvc(0, [0x5100_0000, 0x20_0000, 0, 0, 0, 0]);
    e.hvc(0, [0x5000_0000, 0x1000, 0, 0, 0, 0]); // busy
    e.hvc(2, [2, 0x4000_0000, 0x5000_0000, 0, 0, 0]); // run page in donated RAM
    e.hvc(
        3,
        [
            2,
            0,
            0x4000_0000,
            0x5000_0000,
            0x1000,
            ram(SlotKind::Ram, rwx),
        ],
    ); // not its RAM
    e.hvc(7, [1, 0, 0, 0, 0, 0]);
    write("hypercalls", "two-vms-and-refusals", &e.0);

    // fault_classify: world (donated #0, FWB, 40-bit), two slots, then aborts.
    let mut e = Enc::default();
    e.u8(0).u8(1).u8(0).u8(2);
    e.u8(7)
        .u8(0)
        .u8(0)
        .addr(0x4000_0000)
        .addr(0x5000_0000)
        .size(0x40_0000)
        .u8(0);
    e.u8(6)
        .u8(0)
        .u8(1)
        .addr(0x0900_0000)
        .addr(0)
        .size(0x1000)
        .u8(1);
    for (ipa, fields) in [
        (0x4012_3456u64, 0u32),
        (0x0900_0010, 0x0100_0000 | 2 << 22 | 5 << 16),
        (0x6000_0000, 0x40),
    ] {
        e.u8(1)
            .u8(0)
            .u8(2)
            .u32_fields(fields)
            .u8(3)
            .addr(ipa)
            .u8(0)
            .u8(0);
    }
    write("fault_classify", "ram-and-mmio", &e.0);

    // stage2_ops: geometry 0 (40-bit), no FWB; map 2 MiB, a fault page, protect, unmap.
    let mut e = Enc::default();
    e.u8(0).u8(0);
    e.u8(0)
        .u8(2)
        .addr(0x4000_0000)
        .addr(0x4000_0000)
        .u8(0)
        .u8(7)
        .u8(1);
    e.u8(5)
        .u8(1)
        .addr(0x8000_0000)
        .addr(0x8000_0000)
        .u8(0)
        .u8(3)
        .u8(1);
    e.u8(4)
        .u8(3)
        .size(0x1000)
        .addr(0x4010_0000)
        .addr(0)
        .u8(0)
        .u8(1)
        .u8(1);
    e.u8(3).u8(0).addr(0).addr(0).u8(0).u8(0).u8(1);
    write("stage2_ops", "map-fault-protect-unmap", &e.0);
}

trait Fields {
    fn u32_fields(&mut self, v: u32) -> &mut Self;
}

impl Fields for Enc {
    /// The 32 bits `fault_classify::syndrome` reads for ISS fields.
    fn u32_fields(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}
