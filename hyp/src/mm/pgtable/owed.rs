//! The invalidation an unmap owes. An unmap writes nothing back where it breaks entries, so
//! break-before-make asks only that the invalidation completes before the edit returns (the
//! caller may then reuse what the entries mapped) and before a table page it detached goes
//! back to the allocator (a walker may still hold the link to it). So an unmap writes its
//! invalid entries and pays for all of them with one `publish` + `invalidate_all` at the
//! end (or by address when it broke just one entry); detached table pages wait in a short
//! list and are freed right after a flush, which also comes early when the list is full.
//! Splits and Protect, which write a new entry where they broke one, still invalidate each
//! entry before that write.

use super::{MapStats, TableAlloc, TlbSync};
use crate::addr::PhysAddr;
use core::mem::MaybeUninit;

/// Detached table pages held for the next flush; a full list flushes. 1 GiB of 4 KiB pages
/// unmapped (513 table pages) costs 17 whole-VMID invalidations with 32.
pub(super) const HELD_TABLES: usize = 32;

/// The per-call context of an edit walk, with what it still owes the TLB.
pub(super) struct Editor<'a, A: TableAlloc, S: TlbSync> {
    pub(super) alloc: &'a mut A,
    pub(super) sync: &'a mut S,
    pub(super) stats: &'a mut MapStats,
    /// Entries made invalid and not yet invalidated.
    broken: u32,
    /// The first of them (input address, level): a single one is invalidated by address.
    first: (u64, u8),
    /// Detached table pages, freed after the next flush: the first `n_held` are written
    /// (left uninitialised otherwise: zeroing 256 bytes cost every unmap ~20% of a
    /// one-page MEMSLOT_CLEAR).
    held: [MaybeUninit<PhysAddr>; HELD_TABLES],
    n_held: usize,
}

impl<'a, A: TableAlloc, S: TlbSync> Editor<'a, A, S> {
    pub(super) fn new(alloc: &'a mut A, sync: &'a mut S, stats: &'a mut MapStats) -> Self {
        Editor {
            alloc,
            sync,
            stats,
            broken: 0,
            first: (0, 0),
            held: [const { MaybeUninit::uninit() }; HELD_TABLES],
            n_held: 0,
        }
    }

    /// The valid entry for `va` at `level` has just been written invalid; nothing will be
    /// written there before [`Editor::flush`].
    pub(super) fn owe(&mut self, va: u64, level: u8) {
        if self.broken == 0 {
            self.first = (va, level);
        }
        self.broken += 1;
    }

    /// `table`'s link has just been written invalid (and owed): it goes back to the
    /// allocator after the flush that covers that break.
    pub(super) fn hold(&mut self, table: PhysAddr) {
        self.held[self.n_held].write(table);
        self.n_held += 1;
        if self.n_held == HELD_TABLES {
            self.flush();
        }
    }

    /// Pay what is owed: publish the invalid entries, invalidate them (by address if there
    /// is one, else the whole table), then free the held pages. Returns whether it
    /// published.
    #[inline(always)]
    pub(super) fn flush(&mut self) -> bool {
        let published = self.broken > 0;
        match self.broken {
            0 => {}
            1 => {
                self.sync.publish();
                self.sync.invalidate(self.first.0, self.first.1);
            }
            _ => {
                self.sync.publish();
                self.sync.invalidate_all();
            }
        }
        self.broken = 0;
        for held in &self.held[..self.n_held] {
            // SAFETY: `hold` wrote every entry below `n_held`.
            self.alloc.free_table(unsafe { held.assume_init() });
        }
        self.n_held = 0;
        published
    }
}
