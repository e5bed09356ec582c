//! Events a breaker emits to its listeners.

use std::collections::VecDeque;
use std::time::Duration;

use crate::listeners::Listeners;
use crate::name::Name;
use crate::sync::Mutex;

use super::State;
use crate::window::Outcome;

/// Something that happened in a circuit breaker.
pub type CircuitBreakerEvent<'a> = crate::event::GuardEvent<'a, CircuitBreakerEventKind>;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitBreakerEventKind {
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

/// A listener of a breaker's events.
pub(crate) type Listener = crate::event::Listener<CircuitBreakerEventKind>;

/// Where a breaker's events go: registered listeners and, with the
/// `metrics` feature, `metrics`-crate instruments whose handles are created
/// once, when the breaker is built.
///
/// With no listener registered (and no `metrics` feature), emitting costs
/// one load. Dispatch to listeners is lock-free: they sit in an
/// append-only list (listeners are added, never removed) that a call walks
/// without a lock or a reference count, so threads emitting at once never
/// wait for each other.
///
/// Transitions are queued under the transition lock and dispatched in that
/// order by one thread at a time, so listeners and the state gauge see them
/// in the order they happened. A listener may itself cause a transition:
/// it is queued and dispatched after the current one.
pub(crate) struct Events {
    listeners: Listeners<Listener>,
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
            listeners: Listeners::new(),
            pending: Mutex::new(VecDeque::new()),
            dispatching: Mutex::new(()),
            #[cfg(feature = "metrics")]
            metrics: super::metrics::BreakerMetrics::new(_name),
        }
    }

    /// Appends a listener. A call racing the registration may or may not
    /// reach it.
    pub(crate) fn add(&self, listener: Box<Listener>) {
        self.listeners.add(listener);
    }

    /// Emits a call-path event (rejection, record) at once. The name is
    /// read only if something listens (it is an enum: a `match` on every
    /// call otherwise).
    #[inline]
    pub(crate) fn emit(&self, name: &Name, kind: CircuitBreakerEventKind) {
        #[cfg(feature = "metrics")]
        self.metrics.observe(kind);
        #[cfg(feature = "tracing")]
        if let CircuitBreakerEventKind::Rejected { state, retry_after } = kind {
            tracing::debug!(target: "palisade", breaker = name.as_str(), ?state, ?retry_after, "circuit breaker rejected a call");
        }
        self.listeners.emit(|listener| {
            listener(&CircuitBreakerEvent {
                name: name.as_str(),
                kind,
            })
        });
    }

    /// Publishes the batched per-call metric counts (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) fn publish_metrics(&self) {
        self.metrics.publish_all();
    }

    /// The duration of a timed, recorded call (feature `metrics`).
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn call_duration(&self, nanos: u64) {
        self.metrics.call_duration(nanos);
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
                let kind = CircuitBreakerEventKind::StateTransition { from, to };
                #[cfg(feature = "metrics")]
                self.metrics.transition(from, to);
                #[cfg(feature = "tracing")]
                tracing::info!(target: "palisade", breaker = name, ?from, ?to, "circuit breaker transition");
                self.listeners
                    .emit(|listener| listener(&CircuitBreakerEvent { name, kind }));
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
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}
