//! Leases: how tower response futures hold the breaker without all of them
//! counting references on one cache line.
//!
//! A response future must own a reference to the breaker (it outlives the
//! `call` that made it, and maybe the service). Cloning the breaker's own
//! `Arc` per call puts every call on every thread on one reference count:
//! two contended atomic operations per call. Instead each service holds a
//! lease, one of a few `Arc`s that each own a reference to the breaker and
//! sit on cache lines of their own; service clones take the leases in turn,
//! so clones used on different threads count on different lines. No
//! allocation per call or per clone: the leases are made once, with the
//! layer (or a service built without one).

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::state::Inner;

/// Leases per layer: enough for the threads of a typical server to each
/// find their own, few enough to cost little memory (each is a cache line
/// pair).
const LEASES: usize = 8;

/// A reference to the breaker held by one response future.
#[derive(Clone)]
pub(crate) struct Lease(Arc<CachePadded<Arc<Inner>>>);

impl Deref for Lease {
    type Target = Inner;

    #[inline]
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The leases of one layer, handed out to its services in turn.
pub(crate) struct Leases {
    leases: Box<[Lease]>,
    next: AtomicUsize,
}

impl Leases {
    pub(crate) fn new(inner: &Arc<Inner>) -> Self {
        Self {
            leases: (0..LEASES)
                .map(|_| Lease(Arc::new(CachePadded::new(Arc::clone(inner)))))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The lease for a new service.
    pub(crate) fn take(&self) -> Lease {
        // Relaxed: only spreads services over leases.
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.leases.len();
        self.leases[i].clone()
    }
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("leases", &self.leases.len())
            .finish_non_exhaustive()
    }
}
