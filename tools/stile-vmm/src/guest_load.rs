//! Loading a guest's memory: the pieces a Linux guest gets besides its kernel (the device
//! tree and initramfs of `run --linux`), and WRITE_MEM in pieces.

use crate::vmm::say;
use stile_vmm::args::RunArgs;
use stile_vmm::dev::Device;
use stile_vmm::{image, linux_boot};

/// What a Linux guest gets besides its kernel: (offset into guest RAM, bytes) to write, and
/// the device tree's IPA for x0.
pub struct LinuxGuest {
    pub blobs: Vec<(u64, Vec<u8>)>,
    pub dtb_ipa: u64,
}

pub fn linux_guest(
    a: &RunArgs,
    ram_ipa: u64,
    ram_size: u64,
    kernel: image::Placement,
    gic_v2: bool,
) -> Result<LinuxGuest, String> {
    let initrd = match &a.initrd {
        Some(path) => Some(std::fs::read(path).map_err(|e| format!("{path}: {e}"))?),
        None => None,
    };
    let l = linux_boot::layout(ram_size, kernel, initrd.as_ref().map(|i| i.len() as u64))?;
    let machine = linux_boot::Machine {
        ram_ipa,
        ram_size,
        cpus: a.cpus,
        uart: a.uart,
        cmdline: a.cmdline.clone(),
        initrd: l
            .initrd
            .zip(initrd.as_ref())
            .map(|(at, i)| (ram_ipa + at, ram_ipa + at + i.len() as u64)),
        gic_v2,
    };
    let dtb = linux_boot::device_tree(&machine)?;
    say(format_args!(
        "Linux guest: device tree ({} bytes) at IPA {:#x}{}",
        dtb.len(),
        ram_ipa + l.dtb,
        machine.initrd.map_or(String::new(), |(s, e)| format!(
            ", initramfs at IPA {s:#x}..{e:#x}"
        ))
    ));
    let mut blobs = vec![(l.dtb, dtb)];
    if let (Some(at), Some(i)) = (l.initrd, initrd) {
        blobs.push((at, i));
    }
    Ok(LinuxGuest {
        blobs,
        dtb_ipa: ram_ipa + l.dtb,
    })
}

/// WRITE_MEM in 1 MiB pieces: a kernel is tens of MiB, and one copy that long would hold
/// the CPU in the driver without a chance to reschedule.
pub fn write_chunked(dev: &Device, offset: u64, bytes: &[u8]) -> Result<(), String> {
    for (i, chunk) in bytes.chunks(1 << 20).enumerate() {
        dev.write_mem(offset + ((i as u64) << 20), chunk)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
