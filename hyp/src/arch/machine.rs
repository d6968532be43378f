//! The real [`Machine`]: TLB maintenance, physical memory through EL2's identity map, and
//! the CPU's own address translation.

use crate::addr::PhysRange;
use crate::arch::at::at_s12e1r;
use crate::arch::cache;
use crate::arch::el1_state::{restore_el1, save_el1};
use crate::arch::el2_world::{guest_hcr, load_world, El2World};
use crate::arch::tlb::ArchTlb;
use crate::mm::stage2::Ipa;
use crate::mm::tlb::S2Maintenance;
use crate::mm::vmid::Vmid;
use crate::vm::machine::{GuestRegime, Machine};
use crate::vm::vcpu::El1Regs;
use core::arch::asm;
use stile_abi::run_page::WORDS;
use stile_abi::RunPage;

pub struct ArchMachine {
    pub dcache_line: usize,
}

impl S2Maintenance for ArchMachine {
    fn dsb_ishst(&mut self) {
        ArchTlb.dsb_ishst()
    }
    fn invalidate_ipa(&mut self, vmid: Vmid, ipa: Ipa, level: u8) {
        ArchTlb.invalidate_ipa(vmid, ipa, level)
    }
    fn invalidate_vmid(&mut self, vmid: Vmid) {
        ArchTlb.invalidate_vmid(vmid)
    }
}

fn read_el2(which: &str) -> u64 {
    let v: u64;
    // SAFETY: reading EL2 configuration registers has no side effects.
    unsafe {
        match which {
            "hcr" => asm!("mrs {}, hcr_el2", out(reg) v, options(nomem, nostack)),
            "vttbr" => asm!("mrs {}, vttbr_el2", out(reg) v, options(nomem, nostack)),
            "vtcr" => asm!("mrs {}, vtcr_el2", out(reg) v, options(nomem, nostack)),
            _ => asm!("mrs {}, vmpidr_el2", out(reg) v, options(nomem, nostack)),
        }
    }
    v
}

impl Machine for ArchMachine {
    fn scrub(&mut self, range: PhysRange) {
        // SAFETY: `range` is RAM EL2 maps read-write (donated guest RAM coming back), and
        // nothing runs in it: its VM is gone.
        unsafe { core::ptr::write_bytes(range.base.0 as usize as *mut u8, 0, range.size as usize) };
        cache::clean_to_poc(range.base.0 as usize, range.size as usize, self.dcache_line);
    }

    fn clean(&mut self, range: PhysRange) {
        cache::clean_to_poc(range.base.0 as usize, range.size as usize, self.dcache_line);
    }

    fn read_run_page(&mut self, pa: u64) -> RunPage {
        // SAFETY: run pages are page-aligned host RAM checked at VCPU_CREATE, mapped
        // read-write at EL2; the host may scribble on it, but any bit pattern is a RunPage.
        unsafe { core::ptr::read_volatile(pa as usize as *const RunPage) }
    }

    fn write_run_page(&mut self, pa: u64, page: &RunPage) {
        // SAFETY: as for `read_run_page`.
        unsafe { core::ptr::write_volatile(pa as usize as *mut RunPage, *page) }
    }

    fn run_page_word(&mut self, pa: u64, index: usize) -> u64 {
        let word = (pa as usize as *const u64).wrapping_add(index % WORDS);
        // SAFETY: as for `read_run_page`; `word` lies inside the record (index < WORDS).
        unsafe { core::ptr::read_volatile(word) }
    }

    fn set_run_page_word(&mut self, pa: u64, index: usize, value: u64) {
        let word = (pa as usize as *mut u64).wrapping_add(index % WORDS);
        // SAFETY: as for `read_run_page`; `word` lies inside the record (index < WORDS).
        unsafe { core::ptr::write_volatile(word, value) }
    }

    fn set_run_page_pair<const INDEX: usize>(&mut self, pa: u64, first: u64, second: u64) {
        const { assert!(INDEX + 1 < WORDS) };
        // SAFETY: as for `read_run_page`; both words lie inside the record (asserted above),
        // 8-byte aligned. The asm is a store the compiler keeps, like a volatile one.
        unsafe {
            core::arch::asm!(
                "stp {first}, {second}, [{page}, #{offset}]",
                page = in(reg) pa as usize,
                first = in(reg) first,
                second = in(reg) second,
                offset = const INDEX * 8,
                options(nostack, preserves_flags),
            );
        }
    }

    fn counter(&mut self) -> u64 {
        crate::arch::gic::counter()
    }

    fn kick(&mut self, sgi1r: u64) {
        crate::arch::kick::send(sgi1r);
    }

    fn at_s12e1r(&mut self, guest: Option<&GuestRegime>, addr: u64) -> u64 {
        let Some(g) = guest else {
            return at_s12e1r(addr);
        };
        // Borrow the guest's regime for one AT, then put the host's back.
        let mut host = El1Regs::default();
        save_el1(&mut host);
        let host_world = El2World {
            hcr: read_el2("hcr"),
            vttbr: read_el2("vttbr"),
            vtcr: read_el2("vtcr"),
            vmpidr: read_el2("vmpidr"),
        };
        restore_el1(g.el1);
        load_world(&El2World {
            hcr: guest_hcr(host_world.hcr, g.fwb),
            vttbr: g.vttbr,
            vtcr: g.vtcr,
            vmpidr: host_world.vmpidr,
        });
        let par = at_s12e1r(addr);
        restore_el1(&host);
        load_world(&host_world);
        par
    }
}
