//! Atomics used by the concurrent core, switched to `loom`'s under `cfg(palisade_loom)`
//! so the model checker sees every access (the same trick as `tokio/src/loom`).

#[cfg(palisade_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(palisade_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// Back off inside a retry loop; under loom, lets the model run another thread.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(palisade_loom)]
    loom::thread::yield_now();
    #[cfg(not(palisade_loom))]
    std::hint::spin_loop();
}

/// The breaker's transition lock: `parking_lot` normally, loom's under the
/// model checker (a `parking_lot` lock held across modelled atomics would
/// deadlock loom's scheduler).
#[cfg(not(palisade_loom))]
pub(crate) use parking_lot::Mutex;

/// See the non-loom definition.
#[cfg(palisade_loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(palisade_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
        self.0.try_lock().ok()
    }
}
