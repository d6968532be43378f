//! A global for a one-CPU program.

use core::cell::UnsafeCell;

pub struct SingleCpu<T>(UnsafeCell<T>);

// SAFETY: the payload runs on one CPU (it never starts another), so the only concurrency is
// an exception interrupting the main flow on that CPU; `get`'s callers promise about that.
unsafe impl<T> Sync for SingleCpu<T> {}

impl<T> SingleCpu<T> {
    pub const fn new(value: T) -> Self {
        SingleCpu(UnsafeCell::new(value))
    }

    /// # Safety
    /// No other reference from `get` may be in use, except one the caller interrupted and
    /// that is never used again (a fatal exception path that does not return).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self) -> &mut T {
        // SAFETY: exclusivity is the caller's promise.
        unsafe { &mut *self.0.get() }
    }
}
