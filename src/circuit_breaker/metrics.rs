//! `metrics`-crate instruments for a breaker (feature `metrics`).
//!
//! Handles are registered once, when the breaker is built, with the label
//! `breaker` = its name; the call path only increments them. Install the
//! recorder before building breakers.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `parapet_circuit_breaker_calls_total` | counter | `breaker`, `outcome` = `success`, `failure`, `slow_success`, `slow_failure` |
//! | `parapet_circuit_breaker_not_recorded_total` | counter | `breaker` (ignored, cancelled or stale calls) |
//! | `parapet_circuit_breaker_rejected_total` | counter | `breaker` |
//! | `parapet_circuit_breaker_transitions_total` | counter | `breaker`, `to` = the state entered |
//! | `parapet_circuit_breaker_state` | gauge | `breaker`, `state`: 1 for the current state, 0 for the others |

use metrics::{counter, gauge, Counter, Gauge};

use super::event::EventKind;
use super::State;

const STATES: [(State, &str); 6] = [
    (State::Closed, "closed"),
    (State::Open, "open"),
    (State::HalfOpen, "half_open"),
    (State::Disabled, "disabled"),
    (State::ForcedOpen, "forced_open"),
    (State::MetricsOnly, "metrics_only"),
];

pub(crate) struct BreakerMetrics {
    /// Indexed by `Outcome as usize`.
    calls: [Counter; 4],
    not_recorded: Counter,
    rejected: Counter,
    /// Indexed by `State as usize`.
    transitions: [Counter; 6],
    state: [Gauge; 6],
}

impl BreakerMetrics {
    pub(crate) fn new(name: &str) -> Self {
        let breaker = name.to_string();
        let calls = ["success", "failure", "slow_success", "slow_failure"].map(|outcome| {
            counter!("parapet_circuit_breaker_calls_total", "breaker" => breaker.clone(), "outcome" => outcome)
        });
        let transitions = STATES.map(|(_, to)| {
            counter!("parapet_circuit_breaker_transitions_total", "breaker" => breaker.clone(), "to" => to)
        });
        let state = STATES.map(|(_, state)| {
            gauge!("parapet_circuit_breaker_state", "breaker" => breaker.clone(), "state" => state)
        });
        state[State::Closed as usize].set(1.0);
        Self {
            calls,
            not_recorded: counter!("parapet_circuit_breaker_not_recorded_total", "breaker" => breaker.clone()),
            rejected: counter!("parapet_circuit_breaker_rejected_total", "breaker" => breaker),
            transitions,
            state,
        }
    }

    #[inline]
    pub(crate) fn observe(&self, kind: EventKind) {
        match kind {
            EventKind::Recorded(outcome) => self.calls[outcome as usize].increment(1),
            EventKind::NotRecorded => self.not_recorded.increment(1),
            EventKind::Rejected { .. } => self.rejected.increment(1),
            EventKind::StateTransition { from, to } => {
                self.transitions[to as usize].increment(1);
                self.state[from as usize].set(0.0);
                self.state[to as usize].set(1.0);
            }
        }
    }
}
