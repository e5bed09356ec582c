//! `metrics`-crate instruments for a breaker (feature `metrics`); the
//! names, kinds and labels are documented in the module docs of
//! [`circuit_breaker`](super), section "Metrics".
//!
//! Handles are registered once, when the breaker is built, so the call path
//! only increments them; a recorder installed later sees none of them.

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Unit,
};

use super::event::EventKind;
use super::State;

const STATES: [&str; 6] = [
    "closed",
    "open",
    "half_open",
    "disabled",
    "forced_open",
    "metrics_only",
];

pub(crate) struct BreakerMetrics {
    /// Indexed by `Outcome as usize`.
    calls: [Counter; 4],
    not_recorded: Counter,
    rejected: Counter,
    duration: Histogram,
    /// Indexed by `[from as usize][to as usize]`.
    transitions: [[Counter; 6]; 6],
    /// Indexed by `State as usize`.
    state: [Gauge; 6],
}

fn describe() {
    describe_counter!(
        "parapet_circuit_breaker_calls_total",
        Unit::Count,
        "Calls recorded by a circuit breaker, by outcome."
    );
    describe_counter!(
        "parapet_circuit_breaker_not_recorded_total",
        Unit::Count,
        "Admitted calls not recorded: ignored, cancelled, or from an earlier state."
    );
    describe_counter!(
        "parapet_circuit_breaker_rejected_total",
        Unit::Count,
        "Calls a circuit breaker rejected without running them."
    );
    describe_counter!(
        "parapet_circuit_breaker_transitions_total",
        Unit::Count,
        "State transitions of a circuit breaker, by state left and entered."
    );
    describe_gauge!(
        "parapet_circuit_breaker_state",
        "1 for a circuit breaker's current state, 0 for the others."
    );
    describe_histogram!(
        "parapet_circuit_breaker_call_duration_seconds",
        Unit::Seconds,
        "Duration of recorded calls (only while slow calls are timed)."
    );
}

impl BreakerMetrics {
    pub(crate) fn new(name: &str) -> Self {
        describe();
        let breaker = name.to_string();
        let calls = ["success", "failure", "slow_success", "slow_failure"].map(|outcome| {
            counter!("parapet_circuit_breaker_calls_total", "breaker" => breaker.clone(), "outcome" => outcome)
        });
        let state = STATES.map(|state| {
            gauge!("parapet_circuit_breaker_state", "breaker" => breaker.clone(), "state" => state)
        });
        state[State::Closed as usize].set(1.0);
        let transitions = STATES.map(|from| {
            STATES.map(|to| {
                counter!(
                    "parapet_circuit_breaker_transitions_total",
                    "breaker" => breaker.clone(),
                    "from" => from,
                    "to" => to
                )
            })
        });
        Self {
            transitions,
            calls,
            not_recorded: counter!("parapet_circuit_breaker_not_recorded_total", "breaker" => breaker.clone()),
            rejected: counter!("parapet_circuit_breaker_rejected_total", "breaker" => breaker.clone()),
            duration: histogram!("parapet_circuit_breaker_call_duration_seconds", "breaker" => breaker),
            state,
        }
    }

    #[inline]
    pub(crate) fn observe(&self, kind: EventKind) {
        match kind {
            EventKind::Recorded(outcome) => self.calls[outcome as usize].increment(1),
            EventKind::NotRecorded => self.not_recorded.increment(1),
            EventKind::Rejected { .. } => self.rejected.increment(1),
            EventKind::StateTransition { .. } => {}
        }
    }

    #[inline]
    pub(crate) fn call_duration(&self, nanos: u64) {
        self.duration.record(nanos as f64 / 1e9);
    }

    /// Called in transition order (see `Events`).
    pub(crate) fn transition(&self, from: State, to: State) {
        self.transitions[from as usize][to as usize].increment(1);
        self.state[from as usize].set(0.0);
        self.state[to as usize].set(1.0);
    }
}
