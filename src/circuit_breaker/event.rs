//! Events a breaker emits to its listeners.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::sync::Mutex;

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
/// `metrics` feature, `metrics`-crate instruments whose handles are created
/// once, when the breaker is built.
///
/// With no listener registered (and no `metrics` feature), emitting costs
/// one relaxed load; listeners are called with no lock held.
///
/// Transitions are queued under the transition lock and dispatched in that
/// order by one thread at a time, so listeners and the state gauge see them
/// in the order they happened. A listener may itself cause a transition:
/// it is queued and dispatched after the current one.
pub(crate) struct Events {
    /// True when at least one listener is registered.
    active: AtomicBool,
    list: Mutex<Arc<[Listener]>>,
    /// Transitions not yet dispatched, oldest first.
    pending: Mutex<VecDeque<(State, State)>>,
    /// Held by the thread dispatching transitions.
    dispatching: Mutex<()>,
    #[cfg(feature = "metrics")]
    metrics: super::metrics::BreakerMetrics,
}

impl Events {
    pub(crate) fn new(_name: &str) -> Self {
        Self {
            active: AtomicBool::new(false),
            list: Mutex::new(Arc::from(Vec::new())),
            pending: Mutex::new(VecDeque::new()),
            dispatching: Mutex::new(()),
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

    /// Emits a call-path event (rejection, record) at once.
    #[inline]
    pub(crate) fn emit(&self, name: &str, kind: EventKind) {
        #[cfg(feature = "metrics")]
        self.metrics.observe(kind);
        // Relaxed: see `add`.
        if self.active.load(Ordering::Relaxed) {
            self.to_listeners(name, kind);
        }
    }

    /// The duration of a timed, recorded call (feature `metrics`).
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn call_duration(&self, nanos: u64) {
        self.metrics.call_duration(nanos);
    }

    #[cold]
    fn to_listeners(&self, name: &str, kind: EventKind) {
        let list = Arc::clone(&self.list.lock());
        let event = Event { name, kind };
        for listener in list.iter() {
            listener(&event);
        }
    }

    /// Queues a transition; called under the transition lock, so the queue
    /// holds transitions in the order they happened.
    pub(crate) fn queue_transition(&self, from: State, to: State) {
        self.pending.lock().push_back((from, to));
    }

    /// Dispatches queued transitions in order, unless another thread (or an
    /// outer frame of this one) is dispatching: it will dispatch ours too.
    pub(crate) fn dispatch_transitions(&self, name: &str) {
        loop {
            let Some(serial) = self.dispatching.try_lock() else {
                return;
            };
            loop {
                let next = self.pending.lock().pop_front();
                let Some((from, to)) = next else { break };
                let kind = EventKind::StateTransition { from, to };
                #[cfg(feature = "metrics")]
                self.metrics.transition(from, to);
                // Relaxed: see `add`.
                if self.active.load(Ordering::Relaxed) {
                    self.to_listeners(name, kind);
                }
            }
            drop(serial);
            // A transition queued after our last look and before we let go
            // found the dispatcher busy: look again.
            if self.pending.lock().is_empty() {
                return;
            }
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
