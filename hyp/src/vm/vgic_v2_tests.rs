//! VGIC_CONFIG on a GICv2 machine, end to end on the build machine: the hardware's GICV
//! mapped at the guest's GICC IPA, the frames' refusals, and memslots kept off them.

use super::tests_fixture::{fixture, Fixture};
use crate::mm::kind::MemoryKind;
use crate::mm::s2_attrs::{memattr, memattr_for, XN};
use crate::mm::stage2::Ipa;
use crate::vgic::Version;
use crate::vm::hvc::HvcBackend;
use crate::vm::memslot::SlotRequest;
use stile_abi::slot::{self, SlotKind};
use stile_abi::Reason;

const GICD: u64 = 0x0800_0000;
const GICC: u64 = 0x0801_0000;
/// QEMU virt's GICV, as `vgic::gicv_pages` gives it.
const GICV: [u64; 2] = [0x0804_0000, 0x0804_1000];

fn v2() -> Fixture {
    let mut f = fixture(true);
    f.hyp.gicv = Some(GICV);
    f
}

#[test]
fn gicv_is_mapped_device_never_executable_at_the_gicc_ipa() {
    let mut f = v2();
    let vm = f.guest();
    assert_eq!(f.calls().vgic_config(vm, GICD, GICC), Ok(()));
    let v = f.hyp.vm_mut(vm).unwrap();
    assert_eq!(v.vgic.as_ref().map(|g| g.version), Some(Version::V2));
    let device = memattr_for(MemoryKind::Device, true).unwrap();
    for (n, pa) in GICV.into_iter().enumerate() {
        let leaf = v
            .stage2
            .lookup(Ipa(GICC + 0x1000 * n as u64))
            .expect("mapped");
        assert_eq!(leaf.pa.0, pa);
        assert_eq!(memattr(leaf.attrs), device);
        assert_ne!(leaf.attrs & XN, 0);
    }
    // Past the 8 KiB of registers, and the distributor: not mapped (emulated).
    assert!(v.stage2.lookup(Ipa(GICC + 0x2000)).is_none());
    assert!(v.stage2.lookup(Ipa(GICD)).is_none());
}

#[test]
fn gicv2_frames_are_refused_like_gicv3s() {
    let mut f = v2();
    let vm = f.guest();
    let mut c = f.calls();
    assert_eq!(
        c.vgic_config(vm, GICD, GICC + 0x1000),
        Err(Reason::Misaligned)
    );
    assert_eq!(c.vgic_config(vm, GICD, 1 << 40), Err(Reason::OutOfRange));
    assert_eq!(c.vgic_config(vm, GICD, GICD), Err(Reason::Overlap));
    // The guest's RAM slot is at 0x4000_0000.
    assert_eq!(c.vgic_config(vm, GICD, 0x4000_0000), Err(Reason::Overlap));
    assert_eq!(c.vgic_config(vm, GICD, GICC), Ok(()));
    assert_eq!(c.vgic_config(vm, GICD, GICC), Err(Reason::Busy));
}

#[test]
fn no_memslot_over_the_gicc_window() {
    let mut f = v2();
    let vm = f.guest();
    f.calls().vgic_config(vm, GICD, GICC).unwrap();
    let over = SlotRequest {
        index: 5,
        ipa: GICC + 0xf000,
        pa: 0,
        size: 0x1000,
        word: slot::word(SlotKind::Mmio, slot::PERM_READ | slot::PERM_WRITE, 0),
    };
    assert_eq!(f.calls().memslot_set(vm, &over), Err(Reason::Overlap));
}

#[test]
fn without_gicv_a_gicv2_machine_has_no_vgic() {
    let mut f = fixture(true);
    f.hyp.gic_lrs = 0;
    let vm = f.guest();
    assert_eq!(f.calls().vgic_config(vm, GICD, GICC), Err(Reason::NoVgic));
    let (bits, reasons) = f.hyp.caps();
    assert_eq!(bits & stile_abi::caps::VGIC, 0);
    assert_eq!(
        stile_abi::caps::reason_of(reasons, stile_abi::caps::VGIC),
        Reason::NoVgic as u8
    );
}
