//! Atomics used by the concurrent core, switched to `loom`'s under `cfg(parapet_loom)`
//! so the model checker sees every access (the same trick as `tokio/src/loom`).

#[cfg(parapet_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicU8, Ordering};

#[cfg(not(parapet_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Back off inside a retry loop; under loom, lets the model run another thread.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(parapet_loom)]
    loom::thread::yield_now();
    #[cfg(not(parapet_loom))]
    std::hint::spin_loop();
}
