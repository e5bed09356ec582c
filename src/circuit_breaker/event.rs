//! Events a breaker emits to its listeners.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::State;
use crate::window::Outcome;
use std::sync::atomic::{AtomicBool, Ordering};

/// Something that happened in a circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The breaker's name.
    pub name: &'a str,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The breaker moved from one state to another.
    StateTransition {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
    },
    /// A call was rejected without running.
    Rejected {
        /// The state that rejected it.
        state: State,
        /// Time until the next trial, when known.
        retry_after: Option<Duration>,
    },
    /// A call's outcome was recorded.
    Recorded(Outcome),
    /// A call finished but was not recorded: classified as ignored,
    /// cancelled, or admitted in an earlier state (stale).
    NotRecorded,
}

type Listener = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Where a breaker's events go: registered listeners and, with the
/// `metrics` feature, `metrics`-crate counters and gauges whose handles are
/// created once, when the breaker is built.
///
/// With no listener registered (and no `metrics` feature), emitting costs
/// one relaxed load; listeners are called with no lock held.
pub(crate) struct Events {
    /// True when at least one listener is registered.
    active: AtomicBool,
    list: Mutex<Arc<[Listener]>>,
    #[cfg(feature = "metrics")]
    metrics: super::metrics::BreakerMetrics,
}

impl Events {
    pub(crate) fn new(_name: &str) -> Self {
        Self {
            active: AtomicBool::new(false),
            list: Mutex::new(Arc::from(Vec::new())),
            #[cfg(feature = "metrics")]
            metrics: super::metrics::BreakerMetrics::new(_name),
        }
    }

    pub(crate) fn add(&self, listener: Listener) {
        let mut list = self.list.lock();
        let mut next: Vec<Listener> = list.iter().cloned().collect();
        next.push(listener);
        *list = next.into();
        // Relaxed: a listener registered concurrently with a call may or may
        // not see that call's event; nothing else depends on this flag.
        self.active.store(true, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn emit(&self, name: &str, kind: EventKind) {
        #[cfg(feature = "metrics")]
        self.metrics.observe(kind);
        // Relaxed: see `add`.
        if self.active.load(Ordering::Relaxed) {
            self.emit_slow(name, kind);
        }
    }

    #[cold]
    fn emit_slow(&self, name: &str, kind: EventKind) {
        let list = Arc::clone(&self.list.lock());
        let event = Event { name, kind };
        for listener in list.iter() {
            listener(&event);
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("listeners", &self.list.lock().len())
            .finish_non_exhaustive()
    }
}
