//! EL2's spin locks over VM state, each with a rank in the one lock order (docs/ARCHITECTURE.md,
//! "Locks"): a CPU takes a lock only while it holds none of the same or a higher rank.
//!
//! | rank | lock | guards |
//! |---|---|---|
//! | 0 | [`rank::TABLE`] | which VM ids are taken, their donated RAM, VMIDs, run pages |
//! | 1 | [`rank::VM`] | one VM: its stage 2, memslots, vCPUs, vGIC, stats |
//! | 2 | [`rank::HOST`] | the host's stage 2 and its notes |
//! | 3 | [`rank::FRAMES`] | the page-frame pool (taken per table page, never held long) |
//!
//! The logger's and the heap's locks come after all of these: they take no other lock.
//!
//! In unit tests every acquisition is checked against the locks this thread already holds,
//! and one out of order (or a second VM lock, which could deadlock against a CPU locking the
//! two VMs the other way) panics with both ranks. The EL2 build keeps no such record.

use core::ops::{Deref, DerefMut};
use spin::{Mutex, MutexGuard};

/// The ranks, lowest first.
pub mod rank {
    pub const TABLE: u8 = 0;
    pub const VM: u8 = 1;
    pub const HOST: u8 = 2;
    pub const FRAMES: u8 = 3;
}

/// A spin lock of rank `RANK`.
#[derive(Default)]
pub struct Lock<T, const RANK: u8> {
    inner: Mutex<T>,
}

impl<T, const RANK: u8> Lock<T, RANK> {
    pub const fn new(value: T) -> Self {
        Lock {
            inner: Mutex::new(value),
        }
    }

    #[inline]
    pub fn lock(&self) -> Guard<'_, T, RANK> {
        order::acquire(RANK);
        Guard {
            inner: self.inner.lock(),
        }
    }

    /// Exclusive access without locking: the caller owns the lock itself.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

/// A held [`Lock`]; released when dropped.
pub struct Guard<'a, T, const RANK: u8> {
    inner: MutexGuard<'a, T>,
}

impl<T, const RANK: u8> Deref for Guard<'_, T, RANK> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T, const RANK: u8> DerefMut for Guard<'_, T, RANK> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T, const RANK: u8> Drop for Guard<'_, T, RANK> {
    #[inline]
    fn drop(&mut self) {
        order::release(RANK);
    }
}

/// The ranks this thread holds (bit `r` for rank `r`): 0 when it holds no lock. Always 0
/// outside unit tests.
pub fn held() -> u8 {
    order::held()
}

#[cfg(test)]
mod order {
    use std::cell::Cell;

    std::thread_local! {
        static HELD: Cell<u8> = const { Cell::new(0) };
    }

    pub fn acquire(rank: u8) {
        HELD.with(|h| {
            let held = h.get();
            assert!(
                held >> rank == 0,
                "lock order: rank {rank} taken while holding ranks {held:#06b}"
            );
            h.set(held | 1 << rank);
        });
    }

    pub fn release(rank: u8) {
        HELD.with(|h| h.set(h.get() & !(1 << rank)));
    }

    pub fn held() -> u8 {
        HELD.with(Cell::get)
    }
}

#[cfg(not(test))]
mod order {
    #[inline(always)]
    pub fn acquire(_: u8) {}
    #[inline(always)]
    pub fn release(_: u8) {}
    pub fn held() -> u8 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_taken_in_rank_order_are_fine_and_released_in_any_order() {
        let (a, b, c) = (
            Lock::<_, { rank::TABLE }>::new(1),
            Lock::<_, { rank::VM }>::new(2),
            Lock::<_, { rank::FRAMES }>::new(3),
        );
        let ga = a.lock();
        let gb = b.lock();
        drop(ga);
        let gc = c.lock();
        assert_eq!(*gb + *gc, 5);
        assert_eq!(held(), 1 << rank::VM | 1 << rank::FRAMES);
        drop((gb, gc));
        assert_eq!(held(), 0);
    }

    #[test]
    #[should_panic(expected = "lock order: rank 1 taken while holding ranks 0b1000")]
    fn a_vm_lock_under_the_frames_lock_panics() {
        let frames = Lock::<_, { rank::FRAMES }>::new(());
        let vm = Lock::<_, { rank::VM }>::new(());
        let _f = frames.lock();
        let _v = vm.lock();
    }

    #[test]
    #[should_panic(expected = "lock order: rank 1 taken while holding ranks 0b0010")]
    fn two_vm_locks_at_once_panic() {
        let (x, y) = (
            Lock::<_, { rank::VM }>::new(()),
            Lock::<_, { rank::VM }>::new(()),
        );
        let _x = x.lock();
        let _y = y.lock();
    }
}
