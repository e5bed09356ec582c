//! [`Metrics`]: what a breaker knows, read in one call.

use super::half_open as trial;
use super::state::{generation_of, state_of, Inner};
use super::State;
use crate::sync::Ordering;
use crate::window::Snapshot;

/// A reading of a breaker: its state, its window, and the rates it judges,
/// from [`CircuitBreaker::metrics`](super::CircuitBreaker::metrics).
///
/// Unlike the raw [`Snapshot`], the rates read `None` below the minimum
/// number of calls, where the breaker gives no verdict.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder().minimum_calls(10).build()?;
/// let _ = breaker.call_sync(|| Err::<(), _>("refused"));
/// let m = breaker.metrics();
/// assert_eq!(m.window().failure_rate(), Some(1.0)); // raw: one call
/// assert_eq!(m.failure_rate(), None); // no verdict below 10 calls
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    state: State,
    window: Snapshot,
    minimum_calls: u64,
    timed: bool,
    rejected: u64,
    trial: u64,
}

impl Metrics {
    /// The state, after any transition its clock makes due.
    pub fn state(&self) -> State {
        self.state
    }

    /// The raw window of the current state (all calls recorded in it).
    pub fn window(&self) -> Snapshot {
        self.window
    }

    /// The failure rate the breaker judges: `None` below the minimum number
    /// of calls.
    pub fn failure_rate(&self) -> Option<f64> {
        self.judged().and_then(|w| w.failure_rate())
    }

    /// The slow-call rate the breaker judges: `None` below the minimum
    /// number of calls, or when slow calls are not timed.
    pub fn slow_call_rate(&self) -> Option<f64> {
        self.judged()
            .filter(|_| self.timed)
            .and_then(|w| w.slow_call_rate())
    }

    fn judged(&self) -> Option<Snapshot> {
        (self.window.calls() >= self.minimum_calls).then_some(self.window)
    }

    /// Calls rejected since the last transition.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Half-open probes running now (0 outside half-open).
    pub fn trials_running(&self) -> u64 {
        trial::field(self.trial, trial::IN_FLIGHT)
    }

    /// Half-open trials recorded in this period (0 outside half-open).
    pub fn trials_recorded(&self) -> u64 {
        trial::field(self.trial, trial::RECORDED)
    }

    /// Failed trials among them.
    pub fn trial_failures(&self) -> u64 {
        trial::field(self.trial, trial::FAILURES)
    }

    /// Slow trials among them.
    pub fn trial_slow_calls(&self) -> u64 {
        trial::field(self.trial, trial::SLOW)
    }
}

impl Inner {
    pub(crate) fn metrics(&self) -> Metrics {
        #[cfg(feature = "metrics")]
        self.events.publish_metrics();
        let (word, now) = self.current_at();
        let generation = generation_of(word);
        let now = now.unwrap_or_else(|| self.window_now());
        // Acquire: see `update_trial`.
        let t = self.trial.load(Ordering::Acquire);
        let in_period = state_of(word) == State::HalfOpen && trial::same_period(t, generation);
        Metrics {
            state: state_of(word),
            window: self.window.snapshot(generation, now),
            minimum_calls: self.live.minimum_calls(),
            timed: self.live.slow_nanos().is_some(),
            // Relaxed: a statistic.
            rejected: self.rejected.load(Ordering::Relaxed),
            trial: if in_period { t } else { 0 },
        }
    }
}
