//! VMIDs: the tag that keeps one VM's stage-2 TLB entries apart from another's. Every VM
//! needs its own (docs/ARCHITECTURE.md, "Arm facts"); the host VM always has VMID 0, guests get the others.

use crate::mm::tlb::S2Maintenance;

pub use crate::mm::tlb::Vmid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmidError {
    /// Not allocated (never, already freed, the host's, or beyond the width).
    NotAllocated(Vmid),
}

const WORDS: usize = (1 << 16) / 64;

/// Bitmap allocator over all 2^bits VMIDs, VMID 0 held for the host from the start.
/// Allocation is next-fit (it goes round before reusing a freed VMID), so a VMID that was
/// just given back is the last to be handed out again.
pub struct VmidAlloc {
    used: [u64; WORDS],
    bits: u8,
    /// Where the next search starts.
    next: u32,
    in_use: u32,
}

impl VmidAlloc {
    /// An allocator for `vmid_bits` (8 or 16, as `CpuFeatures::vmid_bits` says); `None` for
    /// any other width. `const` so it can live in a `static` (it is 8 KiB).
    pub const fn new(vmid_bits: u8) -> Option<VmidAlloc> {
        if vmid_bits != 8 && vmid_bits != 16 {
            return None;
        }
        let mut used = [0u64; WORDS];
        used[0] = 1; // VMID 0: the host.
        Some(VmidAlloc {
            used,
            bits: vmid_bits,
            next: 1,
            in_use: 1,
        })
    }

    /// How many VMIDs exist at this width (including the host's).
    pub const fn capacity(&self) -> u32 {
        1 << self.bits
    }

    /// VMIDs in use, the host's included.
    pub const fn in_use(&self) -> u32 {
        self.in_use
    }

    fn is_used(&self, v: u32) -> bool {
        self.used[(v / 64) as usize] & 1 << (v % 64) != 0
    }

    /// A fresh guest VMID, or `None` when all are taken.
    pub fn alloc(&mut self) -> Option<Vmid> {
        let cap = self.capacity();
        if self.in_use >= cap {
            return None;
        }
        for i in 0..cap {
            let v = (self.next + i) % cap;
            if !self.is_used(v) {
                self.used[(v / 64) as usize] |= 1 << (v % 64);
                self.in_use += 1;
                self.next = (v + 1) % cap;
                return Some(Vmid(v as u16));
            }
        }
        None
    }

    /// Give a guest VMID back. Its TLB entries are invalidated first (through `tlb`), so
    /// the next VM to get it cannot hit a previous owner's translations.
    pub fn free(&mut self, vmid: Vmid, tlb: &mut impl S2Maintenance) -> Result<(), VmidError> {
        let v = vmid.0 as u32;
        if vmid == Vmid::HOST || v >= self.capacity() || !self.is_used(v) {
            return Err(VmidError::NotAllocated(vmid));
        }
        tlb.invalidate_vmid(vmid);
        self.used[(v / 64) as usize] &= !(1 << (v % 64));
        self.in_use -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::tlb::fake::{Call, RecordingTlb};

    #[test]
    fn only_8_and_16_bit_widths_exist() {
        assert!(VmidAlloc::new(8).is_some());
        assert!(VmidAlloc::new(16).is_some());
        assert!(VmidAlloc::new(12).is_none());
        assert!(VmidAlloc::new(0).is_none());
    }

    #[test]
    fn vmid_0_is_the_hosts_and_never_handed_out() {
        let mut a = VmidAlloc::new(8).unwrap();
        let mut got = std::vec::Vec::new();
        while let Some(v) = a.alloc() {
            assert_ne!(v, Vmid::HOST);
            got.push(v.raw());
        }
        assert_eq!(got, (1..=255).collect::<std::vec::Vec<u16>>());
    }

    #[test]
    fn exhaustion_returns_none_at_8_and_16_bits() {
        for (bits, guests) in [(8u8, 255u32), (16, 65535)] {
            let mut a = VmidAlloc::new(bits).unwrap();
            for _ in 0..guests {
                assert!(a.alloc().is_some());
            }
            assert_eq!(a.alloc(), None, "{bits} bits");
            assert_eq!(a.in_use(), a.capacity());
        }
    }

    #[test]
    fn an_8_bit_vmid_always_fits_8_bits() {
        let mut a = VmidAlloc::new(8).unwrap();
        while let Some(v) = a.alloc() {
            assert!(v.raw() <= 0xff);
        }
    }

    #[test]
    fn freeing_invalidates_the_vmid_before_it_can_be_reused() {
        let mut a = VmidAlloc::new(8).unwrap();
        let mut tlb = RecordingTlb::new();
        let v = a.alloc().unwrap();
        a.free(v, &mut tlb).unwrap();
        assert_eq!(tlb.calls, [Call::InvalidateVmid(v)]);
        assert_eq!(a.in_use(), 1);
    }

    #[test]
    fn a_freed_vmid_is_reused_last() {
        let mut a = VmidAlloc::new(8).unwrap();
        let mut tlb = RecordingTlb::new();
        let first = a.alloc().unwrap();
        let second = a.alloc().unwrap();
        a.free(first, &mut tlb).unwrap();
        assert_ne!(a.alloc(), Some(first));
        // After going round, the freed one comes back.
        let mut last = None;
        while let Some(v) = a.alloc() {
            last = Some(v);
        }
        assert_eq!(last, Some(first));
        assert_ne!(first, second);
    }

    #[test]
    fn freeing_what_is_not_allocated_is_an_error() {
        let mut a = VmidAlloc::new(8).unwrap();
        let mut tlb = RecordingTlb::new();
        assert_eq!(
            a.free(Vmid::HOST, &mut tlb),
            Err(VmidError::NotAllocated(Vmid::HOST))
        );
        let never = Vmid::for_test(7);
        assert_eq!(a.free(never, &mut tlb), Err(VmidError::NotAllocated(never)));
        let wide = Vmid::for_test(300);
        assert_eq!(a.free(wide, &mut tlb), Err(VmidError::NotAllocated(wide)));
        let v = a.alloc().unwrap();
        a.free(v, &mut tlb).unwrap();
        assert_eq!(a.free(v, &mut tlb), Err(VmidError::NotAllocated(v)));
        assert_eq!(tlb.calls.len(), 1, "refused frees invalidate nothing");
    }
}
