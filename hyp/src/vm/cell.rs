//! Where the trap path finds [`Hyp`]: set once at boot, before any world below EL2 runs, and
//! read on every trap (one load). Everything that changes after boot is behind the locks
//! inside `Hyp`.

use crate::vm::hyp::Hyp;
use alloc::boxed::Box;
use core::marker::PhantomData;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

pub struct HypCell {
    hyp: AtomicPtr<Hyp>,
    /// Shared between CPUs exactly as a `Box<Hyp>` may be.
    _owns: PhantomData<Box<Hyp>>,
}

impl HypCell {
    pub const fn new() -> Self {
        HypCell {
            hyp: AtomicPtr::new(null_mut()),
            _owns: PhantomData,
        }
    }

    /// A cell holding `hyp` already.
    pub fn with(hyp: Box<Hyp>) -> Self {
        HypCell {
            hyp: AtomicPtr::new(Box::into_raw(hyp)),
            _owns: PhantomData,
        }
    }

    /// Set it; a cell set already keeps what it has and gives `hyp` back.
    pub fn set(&self, hyp: Box<Hyp>) -> Result<(), Box<Hyp>> {
        let new = Box::into_raw(hyp);
        let swapped =
            self.hyp
                .compare_exchange(null_mut(), new, Ordering::AcqRel, Ordering::Acquire);
        match swapped {
            Ok(_) => Ok(()),
            // SAFETY: `new` came from `Box::into_raw` above and was not published.
            Err(_) => Err(unsafe { Box::from_raw(new) }),
        }
    }

    #[inline]
    pub fn get(&self) -> Option<&Hyp> {
        let hyp = self.hyp.load(Ordering::Acquire);
        // SAFETY: non-null only once set, to a box this cell owns and frees only when it is
        // dropped (which needs `&mut self`, so no `&Hyp` from `self` outlives it); the
        // Acquire load pairs with the Release of `set`, so the `Hyp` is fully written.
        unsafe { hyp.as_ref() }
    }
}

impl Default for HypCell {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HypCell {
    fn drop(&mut self) {
        let hyp = *self.hyp.get_mut();
        if !hyp.is_null() {
            // SAFETY: set from `Box::into_raw` (`with` or `set`), owned by this cell alone.
            drop(unsafe { Box::from_raw(hyp) });
        }
    }
}
