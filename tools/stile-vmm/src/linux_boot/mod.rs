//! Booting a Linux kernel as the guest (`stile-vmm run --linux`): the device tree that
//! describes the VM to it, and where the kernel, initramfs and DTB go in guest RAM so that
//! Linux's arm64 boot protocol holds (x0 = the DTB's IPA, the DTB 8-byte aligned in one
//! 2 MiB block, the initramfs in RAM outside the kernel's `image_size`).

use crate::image::Placement;
use vm_fdt::FdtWriter;

/// arm64 Linux reads at most this much of `bootargs` (COMMAND_LINE_SIZE, with its NUL).
pub const CMDLINE_MAX: usize = 2047;
/// A DTB must lie within one 2 MiB block; ours are a few KiB.
const DTB_MAX: u64 = 2 << 20;
const PAGE: u64 = 4096;

/// QEMU virt's GIC frames (so the same guest kernel line works in both places): GICv3's
/// distributor and redistributors, or GICv2's distributor and CPU interface.
pub const GICD_IPA: u64 = 0x0800_0000;
pub const GICR_IPA: u64 = 0x080a_0000;
pub const GICC_IPA: u64 = 0x0801_0000;
/// One redistributor (RD + SGI frame) per vCPU.
pub const GICR_STRIDE: u64 = 0x2_0000;

/// The GIC a `compatible` value (NUL-separated strings) names: 3, 2, or None.
pub fn gic_version(compatible: &[u8]) -> Option<u8> {
    const V2: [&[u8]; 4] = [
        b"arm,cortex-a15-gic",
        b"arm,gic-400",
        b"arm,cortex-a9-gic",
        b"arm,cortex-a7-gic",
    ];
    let mut names = compatible.split(|&b| b == 0);
    names.find_map(|n| match n {
        b"arm,gic-v3" => Some(3),
        n if V2.contains(&n) => Some(2),
        _ => None,
    })
}

/// The host's GIC version, from its device tree as Linux exposes it (`root`:
/// /proc/device-tree): the first node, at most two levels down, whose `compatible` names a
/// GIC. A guest gets a vGIC of the same version (VGIC_CONFIG gives the machine's).
pub fn host_gic_version(root: &std::path::Path) -> Option<u8> {
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).ok()?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            if path.is_dir() {
                if depth < 2 {
                    dirs.push((path, depth + 1));
                }
            } else if e.file_name() == "compatible" {
                if let Some(v) = std::fs::read(&path).ok().as_deref().and_then(gic_version) {
                    return Some(v);
                }
            }
        }
    }
    None
}

/// The machine a Linux guest is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub ram_ipa: u64,
    pub ram_size: u64,
    pub cpus: u32,
    /// The PL011 the VMM emulates (its console), if any.
    pub uart: Option<u64>,
    pub cmdline: String,
    /// The initramfs' IPA range, once placed.
    pub initrd: Option<(u64, u64)>,
    /// A GICv2 (distributor and CPU interface) instead of a GICv3.
    pub gic_v2: bool,
}

/// Offsets into guest RAM of what goes there besides the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub dtb: u64,
    pub initrd: Option<u64>,
}

/// The DTB at the start of RAM's last 2 MiB block, the initramfs page-aligned below it; both
/// must clear the kernel's footprint.
pub fn layout(ram_size: u64, kernel: Placement, initrd_len: Option<u64>) -> Result<Layout, String> {
    let kernel_end = kernel.offset.saturating_add(kernel.footprint);
    if ram_size < DTB_MAX || !ram_size.is_multiple_of(DTB_MAX) {
        return Err(format!(
            "guest RAM of {ram_size:#x} bytes: a Linux guest needs whole 2 MiB blocks"
        ));
    }
    let dtb = ram_size - DTB_MAX;
    let initrd = match initrd_len {
        None => None,
        Some(len) => {
            let start = dtb.checked_sub(len).map(|s| s & !(PAGE - 1));
            match start {
                Some(s) if s >= kernel_end => Some(s),
                _ => {
                    return Err(format!(
                        "the initramfs ({len} bytes) does not fit between the kernel's end \
                         ({kernel_end:#x}) and the DTB ({dtb:#x}): give the guest more --mem"
                    ))
                }
            }
        }
    };
    if dtb < kernel_end {
        return Err(format!(
            "the kernel needs {kernel_end:#x} bytes of RAM and the DTB goes at {dtb:#x}: \
             give the guest more --mem"
        ));
    }
    Ok(Layout { dtb, initrd })
}

fn fdt_err(e: vm_fdt::Error) -> String {
    format!("building the guest's device tree: {e}")
}

/// The flattened device tree for `m`: memory, CPUs started with PSCI over HVC (EL2 answers
/// PSCI), the architected timer, a GICv3 (or GICv2) at QEMU virt's addresses, the PL011 and
/// `chosen`.
pub fn device_tree(m: &Machine) -> Result<Vec<u8>, String> {
    if m.cmdline.len() > CMDLINE_MAX {
        return Err(format!(
            "the guest's command line is {} bytes; Linux reads at most {CMDLINE_MAX}",
            m.cmdline.len()
        ));
    }
    const GIC: u32 = 1;
    const CLOCK: u32 = 2;
    let mut f = FdtWriter::new().map_err(fdt_err)?;
    let root = f.begin_node("").map_err(fdt_err)?;
    f.property_string("compatible", "linux,dummy-virt")
        .map_err(fdt_err)?;
    f.property_u32("#address-cells", 2).map_err(fdt_err)?;
    f.property_u32("#size-cells", 2).map_err(fdt_err)?;
    f.property_u32("interrupt-parent", GIC).map_err(fdt_err)?;

    let chosen = f.begin_node("chosen").map_err(fdt_err)?;
    f.property_string("bootargs", &m.cmdline).map_err(fdt_err)?;
    if let Some(u) = m.uart {
        f.property_string("stdout-path", &format!("/pl011@{u:x}"))
            .map_err(fdt_err)?;
    }
    if let Some((start, end)) = m.initrd {
        f.property_u64("linux,initrd-start", start)
            .map_err(fdt_err)?;
        f.property_u64("linux,initrd-end", end).map_err(fdt_err)?;
    }
    f.end_node(chosen).map_err(fdt_err)?;

    let mem = f
        .begin_node(&format!("memory@{:x}", m.ram_ipa))
        .map_err(fdt_err)?;
    f.property_string("device_type", "memory")
        .map_err(fdt_err)?;
    f.property_array_u64("reg", &[m.ram_ipa, m.ram_size])
        .map_err(fdt_err)?;
    f.end_node(mem).map_err(fdt_err)?;

    let cpus = f.begin_node("cpus").map_err(fdt_err)?;
    f.property_u32("#address-cells", 1).map_err(fdt_err)?;
    f.property_u32("#size-cells", 0).map_err(fdt_err)?;
    for n in 0..m.cpus {
        let cpu = f.begin_node(&format!("cpu@{n:x}")).map_err(fdt_err)?;
        f.property_string("device_type", "cpu").map_err(fdt_err)?;
        f.property_string("compatible", "arm,armv8")
            .map_err(fdt_err)?;
        f.property_u32("reg", n).map_err(fdt_err)?;
        f.property_string("enable-method", "psci")
            .map_err(fdt_err)?;
        f.end_node(cpu).map_err(fdt_err)?;
    }
    f.end_node(cpus).map_err(fdt_err)?;

    let psci = f.begin_node("psci").map_err(fdt_err)?;
    f.property_string_list(
        "compatible",
        vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
    )
    .map_err(fdt_err)?;
    f.property_string("method", "hvc").map_err(fdt_err)?;
    f.end_node(psci).map_err(fdt_err)?;

    // PPIs 13, 14, 11, 10 (secure and non-secure physical, virtual, hypervisor), level-high,
    // routed to every CPU: the binding's cells are <type number flags>.
    let cpu_mask = ((1u32 << m.cpus.min(8)) - 1) << 8;
    let timer = f.begin_node("timer").map_err(fdt_err)?;
    f.property_string("compatible", "arm,armv8-timer")
        .map_err(fdt_err)?;
    let mut cells = Vec::new();
    for ppi in [13, 14, 11, 10] {
        cells.extend_from_slice(&[1, ppi, cpu_mask | 4]);
    }
    f.property_array_u32("interrupts", &cells)
        .map_err(fdt_err)?;
    f.property_null("always-on").map_err(fdt_err)?;
    f.end_node(timer).map_err(fdt_err)?;

    let gic = f
        .begin_node(&format!("intc@{GICD_IPA:x}"))
        .map_err(fdt_err)?;
    let (compatible, reg) = match m.gic_v2 {
        // GICD's 4 KiB and GICC's 8 KiB (the hardware's GICV, mapped by Stile).
        true => ("arm,cortex-a15-gic", [GICD_IPA, 0x1000, GICC_IPA, 0x2000]),
        false => (
            "arm,gic-v3",
            [
                GICD_IPA,
                0x1_0000,
                GICR_IPA,
                GICR_STRIDE * u64::from(m.cpus),
            ],
        ),
    };
    f.property_string("compatible", compatible)
        .map_err(fdt_err)?;
    f.property_u32("#interrupt-cells", 3).map_err(fdt_err)?;
    f.property_null("interrupt-controller").map_err(fdt_err)?;
    f.property_array_u64("reg", &reg).map_err(fdt_err)?;
    f.property_phandle(GIC).map_err(fdt_err)?;
    f.end_node(gic).map_err(fdt_err)?;

    if let Some(u) = m.uart {
        let clk = f.begin_node("apb-pclk").map_err(fdt_err)?;
        f.property_string("compatible", "fixed-clock")
            .map_err(fdt_err)?;
        f.property_u32("#clock-cells", 0).map_err(fdt_err)?;
        f.property_u32("clock-frequency", 24_000_000)
            .map_err(fdt_err)?;
        f.property_phandle(CLOCK).map_err(fdt_err)?;
        f.end_node(clk).map_err(fdt_err)?;

        let uart = f.begin_node(&format!("pl011@{u:x}")).map_err(fdt_err)?;
        f.property_string_list(
            "compatible",
            vec!["arm,pl011".into(), "arm,primecell".into()],
        )
        .map_err(fdt_err)?;
        f.property_array_u64("reg", &[u, 0x1000]).map_err(fdt_err)?;
        // SPI 1, level-high.
        f.property_array_u32("interrupts", &[0, 1, 4])
            .map_err(fdt_err)?;
        f.property_array_u32("clocks", &[CLOCK, CLOCK])
            .map_err(fdt_err)?;
        f.property_string_list("clock-names", vec!["uartclk".into(), "apb_pclk".into()])
            .map_err(fdt_err)?;
        f.end_node(uart).map_err(fdt_err)?;
    }
    f.end_node(root).map_err(fdt_err)?;
    let blob = f.finish().map_err(fdt_err)?;
    if blob.len() as u64 > DTB_MAX {
        return Err(format!(
            "the guest's DTB is {} bytes (at most 2 MiB)",
            blob.len()
        ));
    }
    Ok(blob)
}

#[cfg(test)]
mod tests;
