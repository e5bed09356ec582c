//! Bulkheads: keep one dependency from taking all of a service's capacity.
//!
//! In the failure palisade exists to stop, service A dies because every one
//! of its workers waits on slow service B. A bulkhead bounds how many calls
//! to B run at once, so the rest of A keeps working.
//!
//! [`Bulkhead`] is a semaphore bulkhead: at most `max_concurrent` calls run
//! at once. When it is full it fails fast (the default, as Hystrix), or lets
//! callers wait in FIFO order in a bounded queue (at most `max_waiters`, each
//! for at most `max_wait`; further callers are rejected at once, as Envoy's
//! `max_pending_requests`). The limit can be changed live: shrinking never
//! revokes a running call, it only admits fewer until usage drops.
//!
//! A call holds its place as an RAII permit: it is given back when the call
//! completes, fails, panics, or its future is dropped (a timeout around it,
//! a cancelled request). A caller dropped while queued leaves the queue and
//! never holds a place.
//!
//! Fail-fast needs no runtime at all; the maximum wait goes through the
//! [`Timer`](crate::timer::Timer) trait (tokio's by default, with the
//! `tokio` feature). Admission without waiters takes no lock and allocates
//! nothing; waiting takes a lock.
//!
//! # Examples
//!
//! ```
//! use palisade::bulkhead::Bulkhead;
//!
//! let bulkhead = Bulkhead::builder().name("inventory").max_concurrent(2).build()?;
//! let reply = futures::executor::block_on(
//!     bulkhead.call(|| async { Ok::<_, std::io::Error>("in stock") }),
//! );
//! assert_eq!(reply.unwrap(), "in stock");
//!
//! let first = bulkhead.try_acquire().unwrap();
//! let _second = bulkhead.try_acquire().unwrap();
//! assert!(bulkhead.try_acquire().is_err(), "full: fails fast");
//! drop(first);
//! assert!(bulkhead.try_acquire().is_ok());
//! # Ok::<(), palisade::ConfigError>(())
//! ```
//!
//! Waiting, on tokio (the default timer with the `tokio` feature):
//!
//! ```
//! use palisade::bulkhead::{Bulkhead, Rejection};
//! use std::time::Duration;
//!
//! # #[cfg(feature = "tokio")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), palisade::ConfigError> {
//! let bulkhead = Bulkhead::builder()
//!     .max_concurrent(1)
//!     .queue(10, Duration::from_millis(100))
//!     .build()?;
//! let held = bulkhead.acquire().await.unwrap();
//! let err = bulkhead.acquire().await.unwrap_err(); // waits 100 ms
//! assert_eq!(err.reason(), Rejection::WaitTimedOut);
//! drop(held);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! # Metrics
//!
//! With the `metrics` feature, labelled `bulkhead` = its name:
//!
//! | name | kind | more labels |
//! |---|---|---|
//! | `palisade_bulkhead_admitted_total` | counter | |
//! | `palisade_bulkhead_rejected_total` | counter | `reason` = `full`, `wait_timed_out` |
//! | `palisade_bulkhead_in_flight` | gauge | |
//! | `palisade_bulkhead_waiting` | gauge | |
//! | `palisade_bulkhead_limit` | gauge | |
//! | `palisade_bulkhead_wait_seconds` | histogram | (calls that queued) |
//!
//! A [`ThreadPool`] exports `palisade_thread_pool_completed_total`,
//! `palisade_thread_pool_cancelled_total`,
//! `palisade_thread_pool_rejected_total` (`reason` = `full`, `shut_down`),
//! and the gauges `palisade_thread_pool_queued` and
//! `palisade_thread_pool_active`, labelled `pool`; a job costs a thread
//! hand-off (microseconds), so these are updated as things happen.
//!
//! The semaphore bulkhead's counters are counted per thread and published in
//! batches (every 64 per thread, at each resize and each
//! [`Bulkhead::metrics`] read), and the gauges are set at those moments and
//! whenever a caller queues or leaves the queue: nothing shared is written
//! per call beyond the permit itself.

pub(crate) mod builder;
pub mod error;
pub mod future;
pub(crate) mod guard;
#[cfg(feature = "tower")]
mod layer;
#[cfg(feature = "metrics")]
mod metrics;
mod permit;
mod semaphore;
#[cfg(feature = "tower")]
mod service;
mod thread_pool;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use builder::BulkheadBuilder;
pub use error::{BulkheadFull, Rejection};
pub use future::{Acquire, BulkheadCall};
#[cfg(feature = "tower")]
pub use future::{BulkheadResponse, ThreadPoolResponse};
#[cfg(feature = "tower")]
pub use layer::{BulkheadLayer, ThreadPoolLayer};
pub use permit::BulkheadPermit;
#[cfg(feature = "tower")]
pub use service::{BulkheadService, ThreadPoolService};
pub use thread_pool::{
    JobPanicked, PoolError, PoolJob, Shutdown, ThreadPool, ThreadPoolBuilder, ThreadPoolEvent,
    ThreadPoolEventKind, ThreadPoolMetrics, MAX_THREADS,
};

use crate::clock::Clock;
use crate::config_error::ConfigError;
use crate::listeners::Listeners;
use crate::name::Name;
use crate::striped::Striped;
use crate::timer::DynTimer;
use semaphore::{Entry, Semaphore, Waiter};

/// Something that happened in a bulkhead.
pub type BulkheadEvent<'a> = crate::event::GuardEvent<'a, BulkheadEventKind>;

pub(crate) type BulkheadEventListener = crate::event::Listener<BulkheadEventKind>;

/// What happened in a bulkhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadEventKind {
    /// A call got a place, after waiting this long (zero if it did not
    /// queue).
    Admitted {
        /// Time spent in the queue.
        waited: Duration,
    },
    /// A call was turned away.
    Rejected(Rejection),
}

/// Counts in `Inner::counts`.
const ADMITTED: usize = 0;
const REJECTED_FULL: usize = 1;
const REJECTED_TIMED_OUT: usize = 2;

/// What a bulkhead's clones share.
pub(crate) struct Inner {
    sem: Semaphore,
    max_waiters: u32,
    max_wait: Duration,
    timer: Option<Arc<dyn DynTimer>>,
    clock: Arc<dyn Clock>,
    name: Name,
    counts: Striped<3>,
    listeners: Listeners<BulkheadEventListener>,
    #[cfg(feature = "metrics")]
    metrics: metrics::BulkheadMetrics,
}

/// The first answer to a caller.
pub(crate) enum Admit {
    Admitted,
    Queued(Arc<Waiter>),
    Rejected(BulkheadFull),
}

impl Inner {
    /// A place now, a place in the queue, or a rejection.
    #[inline]
    pub(crate) fn admit(&self) -> Admit {
        if self.sem.try_acquire() {
            self.admitted(Duration::ZERO);
            return Admit::Admitted;
        }
        self.admit_slow()
    }

    #[cold]
    fn admit_slow(&self) -> Admit {
        match self.sem.acquire_or_queue(self.max_waiters) {
            Entry::Admitted => {
                self.admitted(Duration::ZERO);
                Admit::Admitted
            }
            Entry::Queued(waiter) => {
                #[cfg(feature = "metrics")]
                self.metrics.queue(&self.sem);
                Admit::Queued(waiter)
            }
            Entry::Full => Admit::Rejected(self.rejected(Rejection::Full, Duration::ZERO)),
        }
    }

    /// A place now or a rejection, never waiting.
    #[inline]
    pub(crate) fn try_admit(&self) -> Result<(), BulkheadFull> {
        if self.sem.try_acquire() {
            self.admitted(Duration::ZERO);
            Ok(())
        } else {
            Err(self.rejected(Rejection::Full, Duration::ZERO))
        }
    }

    #[inline]
    fn admitted(&self, waited: Duration) {
        #[cfg(feature = "metrics")]
        if self.counts.increment(ADMITTED) % crate::striped::PUBLISH_EVERY == 0 {
            self.publish();
        }
        #[cfg(not(feature = "metrics"))]
        self.counts.increment(ADMITTED);
        self.listeners.emit(|listener| {
            listener(&BulkheadEvent {
                name: self.name.as_str(),
                kind: BulkheadEventKind::Admitted { waited },
            })
        });
    }

    #[cold]
    fn rejected(&self, reason: Rejection, waited: Duration) -> BulkheadFull {
        let k = match reason {
            Rejection::WaitTimedOut => REJECTED_TIMED_OUT,
            // A semaphore bulkhead never shuts down nor adapts.
            Rejection::Full | Rejection::ShutDown | Rejection::AdaptiveLimit => REJECTED_FULL,
        };
        let _count = self.counts.increment(k);
        #[cfg(feature = "metrics")]
        if _count % crate::striped::PUBLISH_EVERY == 0 {
            self.publish();
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "palisade", bulkhead = self.name.as_str(), ?reason, "bulkhead rejected a call");
        self.listeners.emit(|listener| {
            listener(&BulkheadEvent {
                name: self.name.as_str(),
                kind: BulkheadEventKind::Rejected(reason),
            })
        });
        BulkheadFull::new(self.name.clone(), self.sem.limit(), reason, waited)
    }

    /// Gives a place back.
    #[inline]
    pub(crate) fn release(&self) {
        self.sem.release();
    }

    /// The clock now, for timing a wait.
    fn now(&self) -> u64 {
        self.clock.now_nanos()
    }

    fn waited_since(&self, since: u64) -> Duration {
        Duration::from_nanos(self.now().saturating_sub(since))
    }

    /// The sleep that bounds a wait.
    fn sleep(&self) -> Option<crate::timer::BoxSleep> {
        self.timer.as_ref().map(|t| t.sleep_boxed(self.max_wait))
    }

    #[cfg(feature = "metrics")]
    fn publish(&self) {
        self.metrics.publish(&self.counts, &self.sem);
    }

    fn metrics(&self) -> BulkheadMetrics {
        #[cfg(feature = "metrics")]
        self.publish();
        BulkheadMetrics {
            in_flight: self.sem.in_flight(),
            waiting: self.sem.waiting(),
            limit: self.sem.limit(),
            admitted: self.counts.sum(ADMITTED),
            rejected_full: self.counts.sum(REJECTED_FULL),
            rejected_wait_timed_out: self.counts.sum(REJECTED_TIMED_OUT),
        }
    }
}

/// A semaphore bulkhead. Cheap to clone: clones share one bulkhead.
///
/// See the [module docs](self) for the rules and examples.
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.inner.name)
            .field("in_flight", &self.inner.sem.in_flight())
            .field("limit", &self.inner.sem.limit())
            .field("waiting", &self.inner.sem.waiting())
            .finish_non_exhaustive()
    }
}

/// A reading of a bulkhead, from [`Bulkhead::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadMetrics {
    /// Calls holding a place now (may exceed `limit` just after a shrink).
    pub in_flight: u32,
    /// Callers in the queue now.
    pub waiting: u32,
    /// The limit of concurrent calls.
    pub limit: u32,
    /// Calls admitted since the bulkhead was built.
    pub admitted: u64,
    /// Calls rejected because it was full (and its queue too, if any).
    pub rejected_full: u64,
    /// Calls rejected because their wait timed out.
    pub rejected_wait_timed_out: u64,
}

impl Bulkhead {
    /// A builder with the defaults written on each setter.
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder::default()
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// A place now, or [`BulkheadFull`]; never waits, whatever the queue
    /// settings. The place is given back when the permit is dropped.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] with [`Rejection::Full`] when every place is taken
    /// or callers are queued.
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        self.inner.try_admit()?;
        Ok(BulkheadPermit::new(&self.inner))
    }

    /// A place, waiting in the queue if the bulkhead queues; resolves at once
    /// with the rejection if it does not, or if the queue is full.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire::new(&self.inner)
    }

    /// Runs the future `make()` returns once the bulkhead gives it a place,
    /// holding the place until it completes or is dropped. The bulkhead is
    /// asked on the first poll; `make` is not called if the call is
    /// rejected.
    ///
    /// # Errors
    ///
    /// [`Error::BulkheadFull`](crate::Error::BulkheadFull) if rejected,
    /// [`Error::Operation`](crate::Error::Operation) with the operation's own
    /// error if it failed.
    #[inline]
    pub fn call<F, Fut, T, E>(&self, make: F) -> BulkheadCall<'_, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        BulkheadCall::new(&self.inner, make)
    }

    /// Runs `op` now if a place is free (never waits), holding the place
    /// while it runs; a panic in `op` gives the place back as it unwinds.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    #[inline]
    pub fn call_sync<T, E>(&self, op: impl FnOnce() -> Result<T, E>) -> Result<T, crate::Error<E>> {
        let _permit = self.try_acquire()?;
        op().map_err(crate::Error::Operation)
    }

    /// Changes the limit of concurrent calls. Shrinking never revokes a
    /// running call: it admits fewer until usage drops below the new limit.
    /// Growing hands the new places to queued callers at once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `max_concurrent` if `limit` is 0 or above
    /// [`MAX_CONCURRENT`]; nothing changes then.
    pub fn resize(&self, limit: u32) -> Result<(), ConfigError> {
        builder::check_limit(limit)?;
        self.inner.sem.resize(limit);
        #[cfg(feature = "metrics")]
        self.inner.publish();
        Ok(())
    }

    /// Calls in flight, waiters, the limit and the admitted and rejected
    /// counts, read now.
    pub fn metrics(&self) -> BulkheadMetrics {
        self.inner.metrics()
    }

    /// Calls `listener` on every event (admissions, rejections). With no
    /// listener, events cost one load; listeners run on the caller's thread
    /// and are reached without a lock.
    pub fn on_event(&self, listener: impl Fn(&BulkheadEvent<'_>) + Send + Sync + 'static) {
        self.inner.listeners.add(Box::new(listener));
    }

    /// Calls `hook(reason)` on every rejected call (a typed view of
    /// [`on_event`](Self::on_event)).
    pub fn on_rejected(&self, hook: impl Fn(Rejection) + Send + Sync + 'static) {
        self.on_event(move |e| {
            if let BulkheadEventKind::Rejected(reason) = e.kind {
                hook(reason);
            }
        });
    }
}

/// The most concurrent calls a bulkhead may allow.
pub const MAX_CONCURRENT: u32 = 1 << 30;

/// Compile-time proof that bulkheads and their futures are `Send + Sync`.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Bulkhead>();
    check::<BulkheadPermit<'static>>();
    check::<Acquire<'static>>();
}
