//! Leases: how tower response futures hold a guard's shared state (a
//! breaker, a bulkhead) without all of them counting references on one
//! cache line.
//!
//! A response future must own a reference to the guard (it outlives the
//! `call` that made it, and maybe the service). Cloning the guard's own
//! `Arc` per call puts every call on every thread on one reference count:
//! two contended atomic operations per call. Instead each service holds a
//! lease, one of a few `Arc`s that each own a reference to the guard and
//! sit on cache lines of their own; service clones take the leases in turn,
//! so clones used on different threads count on different lines. No
//! allocation per call or per clone: the leases are made once, with the
//! layer (or a service built without one).

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

/// Leases per layer: enough for the threads of a typical server to each
/// find their own, few enough to cost little memory (each is a cache line
/// pair).
const LEASES: usize = 8;

/// A reference to the guard's state `T`, held by one response future: one
/// of a layer's leases, or (for a response a pipeline hands its guards to,
/// see `Lease::own`) a reference of its own.
pub(crate) enum Lease<T> {
    Shared(Arc<CachePadded<Arc<T>>>),
    Own(Arc<T>),
}

impl<T> Lease<T> {
    /// A reference of its own to `inner`: a count on the guard's own `Arc`,
    /// for a composer with no layer to lease from (a pipeline handing an
    /// attempt's guards to its response body).
    #[cfg(feature = "http")]
    pub(crate) fn own(inner: &Arc<T>) -> Self {
        Self::Own(Arc::clone(inner))
    }
}

impl<T> Clone for Lease<T> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            Self::Shared(lease) => Self::Shared(Arc::clone(lease)),
            Self::Own(inner) => Self::Own(Arc::clone(inner)),
        }
    }
}

impl<T> Deref for Lease<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Self::Shared(lease) => lease,
            Self::Own(inner) => inner,
        }
    }
}

/// The leases of one layer, handed out to its services in turn.
pub(crate) struct Leases<T> {
    leases: Box<[Lease<T>]>,
    next: AtomicUsize,
}

impl<T> Leases<T> {
    pub(crate) fn new(inner: &Arc<T>) -> Self {
        Self {
            leases: (0..LEASES)
                .map(|_| Lease::Shared(Arc::new(CachePadded::new(Arc::clone(inner)))))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The lease for a new service.
    pub(crate) fn take(&self) -> Lease<T> {
        // Relaxed: only spreads services over leases.
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.leases.len();
        self.leases[i].clone()
    }
}

impl<T> std::fmt::Debug for Leases<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("leases", &self.leases.len())
            .finish_non_exhaustive()
    }
}
