//! `metrics`-crate instruments for a breaker (feature `metrics`); the
//! names, kinds and labels are documented in the module docs of
//! [`circuit_breaker`](super), section "Metrics".
//!
//! Handles are registered once, when the breaker is built; a recorder
//! installed later sees none of them.
//!
//! The per-call counters (outcomes, not recorded, rejected) are counted in
//! [`Striped`] counts, on no shared cache line, and published to the
//! recorder as totals (`Counter::absolute`): by each thread after every
//! [`PUBLISH_EVERY`] of its own counts of one counter, and for every counter
//! at each state transition, at each [`metrics`](super::CircuitBreaker::metrics)
//! read and when the breaker is dropped. A scrape may so trail the calls by
//! fewer than `PUBLISH_EVERY` per thread and counter.

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Unit,
};

use std::sync::OnceLock;

use super::event::CircuitBreakerEventKind;
use super::State;
use crate::striped::Striped;

use crate::striped::PUBLISH_EVERY;

/// Indices of the per-call counters in `BreakerMetrics::counts`: the four
/// outcomes (`Outcome as usize`), then these.
const NOT_RECORDED: usize = 4;
const REJECTED: usize = 5;
const PER_CALL: usize = 6;

const STATES: [&str; 6] = [
    "closed",
    "open",
    "half_open",
    "disabled",
    "forced_open",
    "metrics_only",
];

pub(crate) struct BreakerMetrics {
    /// The breaker's name, the label of series registered on first use.
    breaker: String,
    /// The per-call counts, indexed as `counters`.
    counts: Striped<PER_CALL>,
    /// `Outcome as usize`, then [`NOT_RECORDED`], [`REJECTED`].
    counters: [Counter; PER_CALL],
    /// Registered at the first timed call: a breaker that does not time
    /// calls exports no empty histogram.
    duration: OnceLock<Histogram>,
    /// Indexed by `[from as usize][to as usize]`; each registered when that
    /// transition first happens (36 series from the start, most never
    /// moving, multiplied by every host of a registry, were most of a
    /// breaker's series).
    transitions: [[OnceLock<Counter>; 6]; 6],
    /// Indexed by `State as usize`.
    state: [Gauge; 6],
}

fn describe() {
    describe_counter!(
        "palisade_circuit_breaker_calls_total",
        Unit::Count,
        "Calls recorded by a circuit breaker, by outcome."
    );
    describe_counter!(
        "palisade_circuit_breaker_not_recorded_total",
        Unit::Count,
        "Admitted calls not recorded: ignored, cancelled, or from an earlier state."
    );
    describe_counter!(
        "palisade_circuit_breaker_rejected_total",
        Unit::Count,
        "Calls a circuit breaker rejected without running them."
    );
    describe_counter!(
        "palisade_circuit_breaker_transitions_total",
        Unit::Count,
        "State transitions of a circuit breaker, by state left and entered."
    );
    describe_gauge!(
        "palisade_circuit_breaker_state",
        "1 for a circuit breaker's current state, 0 for the others."
    );
    describe_histogram!(
        "palisade_circuit_breaker_call_duration_seconds",
        Unit::Seconds,
        "Duration of recorded calls (only while slow calls are timed)."
    );
}

impl BreakerMetrics {
    pub(crate) fn new(name: &str) -> Self {
        describe();
        let breaker = name.to_string();
        let [success, failure, slow_success, slow_failure] =
            ["success", "failure", "slow_success", "slow_failure"].map(|outcome| {
                counter!("palisade_circuit_breaker_calls_total", "breaker" => breaker.clone(), "outcome" => outcome)
            });
        let state = STATES.map(|state| {
            gauge!("palisade_circuit_breaker_state", "breaker" => breaker.clone(), "state" => state)
        });
        state[State::Closed as usize].set(1.0);
        Self {
            transitions: Default::default(),
            counts: Striped::new(),
            counters: [
                success,
                failure,
                slow_success,
                slow_failure,
                counter!("palisade_circuit_breaker_not_recorded_total", "breaker" => breaker.clone()),
                counter!("palisade_circuit_breaker_rejected_total", "breaker" => breaker.clone()),
            ],
            duration: OnceLock::new(),
            state,
            breaker,
        }
    }

    #[inline]
    pub(crate) fn observe(&self, kind: CircuitBreakerEventKind) {
        let k = match kind {
            CircuitBreakerEventKind::Recorded(outcome) => outcome as usize,
            CircuitBreakerEventKind::NotRecorded => NOT_RECORDED,
            CircuitBreakerEventKind::Rejected { .. } => REJECTED,
            CircuitBreakerEventKind::StateTransition { .. } => return,
        };
        if self.counts.increment(k) % PUBLISH_EVERY == 0 {
            self.publish(k);
        }
    }

    #[cold]
    fn publish(&self, k: usize) {
        // A total: the recorder keeps the largest it was given, so
        // publishers racing with older totals never move it back.
        self.counters[k].absolute(self.counts.sum(k));
    }

    /// Publishes every per-call counter's total now.
    pub(crate) fn publish_all(&self) {
        for k in 0..PER_CALL {
            self.publish(k);
        }
    }

    #[inline]
    pub(crate) fn call_duration(&self, nanos: u64) {
        self.duration
            .get_or_init(|| {
                histogram!("palisade_circuit_breaker_call_duration_seconds", "breaker" => self.breaker.clone())
            })
            .record(nanos as f64 / 1e9);
    }

    /// Called in transition order (see `Events`).
    pub(crate) fn transition(&self, from: State, to: State) {
        self.publish_all();
        self.transitions[from as usize][to as usize]
            .get_or_init(|| {
                counter!(
                    "palisade_circuit_breaker_transitions_total",
                    "breaker" => self.breaker.clone(),
                    "from" => STATES[from as usize],
                    "to" => STATES[to as usize]
                )
            })
            .increment(1);
        self.state[from as usize].set(0.0);
        self.state[to as usize].set(1.0);
    }
}

impl Drop for BreakerMetrics {
    fn drop(&mut self) {
        self.publish_all();
    }
}
