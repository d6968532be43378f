//! The host DTB rewriter: a header of edit choices, then the firmware's DTB. Whatever the
//! bytes: no panic; a refusal is a value; and a firmware tree Stile accepts gives a host
//! tree Stile accepts, with the same RAM and CPUs, every carve-out reserved `no-map`, the
//! initrd gone when asked, and the new bootargs.

use crate::bytes::Bytes;
use stile_hyp::addr::PhysRange;
use stile_hyp::dt::{
    build_host_dtb, dtb_total_size, Conduit, DtError, EnableMethod, HostDtbEdits, Platform,
    MAX_RESERVED,
};

/// Names the edits choose from: plain DT names, and ones the builder must refuse.
const NODE_NAMES: [&str; 6] = [
    "stile-hyp",
    "stile-aperture",
    "memory",
    "",
    "9starts-with-a-digit",
    "a-node-name-longer-than-31-chars",
];
const PROPERTY_NAMES: [&str; 5] = [
    "stile,hyp-base",
    "stile,other",
    "bootargs",
    "#size-cells",
    "bad name",
];
const BOOTARGS: [Option<&str>; 4] = [None, Some("console=ttyAMA0"), Some(""), Some("a\0b")];
/// Addresses carve-outs start near: QEMU's RAM, its top, 4 GiB, the top of 64 bits.
const BASES: [u64; 5] = [0x4000_0000, 0x7e00_0000, 0x1_0000_0000, 0, !0xfff];

pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut carve_outs = [("", PhysRange::default()); 3];
    let count = (b.u8() % 4) as usize;
    for c in carve_outs.iter_mut().take(count) {
        *c = (
            b.pick(&NODE_NAMES),
            PhysRange::new(b.addr(&BASES), b.size()),
        );
    }
    let mut extra = [("", 0u64); 2];
    let extras = (b.u8() % 3) as usize;
    for e in extra.iter_mut().take(extras) {
        *e = (b.pick(&PROPERTY_NAMES), b.u64());
    }
    let edits = HostDtbEdits {
        carve_outs: &carve_outs[..count],
        remove_initrd: b.bool(),
        bootargs: b.pick(&BOOTARGS),
        extra_chosen: &extra[..extras],
        spin_table_to_psci: b.bool(),
        add_psci_hvc: b.bool(),
        trim_reg: None,
    };
    let original = b.rest();
    // The GIC edit boot makes, where the tree parses (no new input bytes: seeds keep
    // their meaning).
    let trim = stile_hyp::dt::Platform::from_dtb(original).ok();
    let edits = HostDtbEdits {
        trim_reg: trim.and_then(|p| p.gic_reg_trim()),
        ..edits
    };
    let mut out = vec![0u8; original.len() * 2 + 8192];
    let Ok(len) = build_host_dtb(original, &edits, &mut out) else {
        return;
    };
    let host = &out[..len];
    assert!(len % 8 == 0, "host DTB length {len} not 8-aligned");
    let head: &[u8; 8] = host.first_chunk().expect("a header");
    assert_eq!(dtb_total_size(head), Ok(len), "header totalsize");
    let Ok(firmware) = Platform::from_dtb(original) else {
        return;
    };
    let host = match Platform::from_dtb(host) {
        Ok(h) => h,
        // The carve-outs may push a full /reserved-memory past what Stile reads.
        Err(DtError::TooMany) if firmware.reserved.len() + count > MAX_RESERVED => return,
        Err(e) => panic!("firmware DTB accepted, host DTB refused: {e:?}"),
    };
    assert_eq!(host.ram, firmware.ram, "RAM changed");
    if edits.spin_table_to_psci {
        let mpidrs = |p: &Platform| p.cpus.iter().map(|c| c.mpidr).collect::<Vec<_>>();
        assert_eq!(mpidrs(&host), mpidrs(&firmware), "CPUs changed");
        let spin = host
            .cpus
            .iter()
            .any(|c| matches!(c.enable_method, EnableMethod::SpinTable { .. }));
        assert!(!spin, "a spin-table CPU left for the host");
    } else {
        assert_eq!(host.cpus, firmware.cpus, "CPUs changed");
    }
    if edits.add_psci_hvc && firmware.psci.is_none() {
        assert_eq!(host.psci.map(|p| p.conduit), Some(Conduit::Hvc), "no /psci");
    } else if !edits.add_psci_hvc {
        assert_eq!(host.psci, firmware.psci, "PSCI changed");
    }
    for (name, range) in edits.carve_outs {
        let reserved = host.reserved.iter().any(|r| r.range == *range && r.no_map);
        assert!(reserved, "carve-out {name} {range:?} not reserved no-map");
    }
    if edits.remove_initrd {
        assert_eq!(host.initrd, None, "initrd kept");
    } else {
        assert_eq!(host.initrd, firmware.initrd, "initrd changed");
    }
    if let Some(args) = edits.bootargs {
        assert_eq!(host.bootargs.as_str(), args, "bootargs");
    } else if edits.extra_chosen.iter().all(|(n, _)| *n != "bootargs") {
        assert_eq!(host.bootargs, firmware.bootargs, "bootargs changed");
    }
}
