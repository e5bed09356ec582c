//! Who may run: the lazy clock-driven transitions and admission.

use std::time::Duration;

use super::config::Ramp;
use super::error::CircuitOpen;
use super::event::CircuitBreakerEventKind;
use super::half_open as trial;
use super::state::{generation_of, state_of, Admission, Inner, UNTIMED};
use super::transition::Cause;
use super::State;
use crate::sync::Ordering;

impl Inner {
    /// The current state word, after at most one clock-driven transition
    /// (open → half-open at the deadline, half-open → open at the maximum
    /// wait), and the clock reading it made, if it needed one (only in the
    /// open and half-open states), so callers need not read it again.
    ///
    /// One transition at most, whatever the clock reads: with the clock at
    /// `u64::MAX` every deadline has passed, and looping would flip between
    /// open and half-open forever.
    pub(super) fn current_at(&self) -> (u64, Option<u64>) {
        // Acquire: pairs with the Release that publishes a transition, so
        // the deadlines and trial word it set up are visible.
        let word = self.hot.state.load(Ordering::Acquire);
        let (deadline, next, cause) = match state_of(word) {
            State::Open => (&self.open_until, State::HalfOpen, Cause::Deadline),
            State::HalfOpen => (&self.half_open_until, State::Open, Cause::MaxWait),
            _ => return (word, None),
        };
        let now = self.clock.now_nanos();
        // Relaxed: ordered by the Acquire load of the state word above.
        if now < deadline.load(Ordering::Relaxed) {
            return (word, Some(now));
        }
        // Relaxed: as the deadline.
        if next == State::Open && self.ramp_share.load(Ordering::Relaxed) != 0 {
            self.end_stage(word);
        } else {
            self.transition(word, next, cause);
        }
        (self.hot.state.load(Ordering::Acquire), Some(now))
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        state_of(self.current_at().0)
    }

    /// True while `word` is still the breaker's state word: an admission
    /// made under it is still valid.
    #[inline]
    pub(crate) fn is_current(&self, word: u64) -> bool {
        // Acquire: see `current_at`.
        self.hot.state.load(Ordering::Acquire) == word
    }

    /// Asks to run one call, starting now.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Admission, CircuitOpen> {
        let mut admission = self.reserve()?;
        self.begin(&mut admission);
        Ok(admission)
    }

    /// Asks to run one call that starts later (tower's `poll_ready`): the
    /// admission is untimed until [`begin`](Self::begin).
    #[inline]
    pub(crate) fn reserve(&self) -> Result<Admission, CircuitOpen> {
        // Acquire: see `current_at`.
        let word = self.hot.state.load(Ordering::Acquire);
        match state_of(word) {
            State::Closed | State::MetricsOnly | State::Disabled => Ok(Self::admission(word)),
            _ => self.reserve_slow(),
        }
    }

    /// The admission of a call let through under `word`, not yet started.
    #[inline]
    fn admission(word: u64) -> Admission {
        Admission {
            word,
            start: UNTIMED,
        }
    }

    #[cold]
    fn reserve_slow(&self) -> Result<Admission, CircuitOpen> {
        let (word, now) = self.current_at();
        let state = state_of(word);
        let retry_after = match state {
            State::HalfOpen if self.try_probe(word) => return Ok(Self::admission(word)),
            State::Open => {
                let until = self.open_until.load(Ordering::Relaxed);
                let now = now.unwrap_or_else(|| self.clock.now_nanos());
                Some(Duration::from_nanos(until.saturating_sub(now)))
            }
            State::HalfOpen | State::ForcedOpen => None,
            State::Closed | State::MetricsOnly | State::Disabled => {
                return Ok(Self::admission(word))
            }
        };
        // Relaxed: a statistic; reset (Relaxed) under the transition lock.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.events.emit(
            &self.name,
            CircuitBreakerEventKind::Rejected { state, retry_after },
        );
        Err(CircuitOpen::new(self.name.clone(), state, retry_after))
    }

    /// Whether a call asking now would be let through, found without
    /// asking: no probe place taken, no rejection counted, no event. For a
    /// tower `poll_ready` that must not wait on its inner service for a
    /// call the breaker will reject. A call racing a transition may find
    /// otherwise when it asks.
    #[cfg(feature = "tower")]
    pub(crate) fn would_admit(&self) -> bool {
        let (word, _) = self.current_at();
        match state_of(word) {
            State::Closed | State::MetricsOnly | State::Disabled => true,
            State::Open | State::ForcedOpen => false,
            State::HalfOpen => match self.ramp_share.load(Ordering::Relaxed) {
                0 => trial::admits(
                    // Acquire: see `change_trial`.
                    self.trial.load(Ordering::Acquire),
                    generation_of(word),
                    self.live.probes(),
                    self.live.trials(),
                ),
                share => Ramp::admits(self.ramp_calls.load(Ordering::Relaxed), share),
            },
        }
    }

    /// Starts the call's slow-call clock, if slow calls are timed: when the
    /// call really starts (the first poll of a future, tower's `call`), so
    /// waiting for readiness or for a first poll does not count. A call
    /// started while timing is off stays untimed, and so does one a
    /// disabled breaker let through (it records nothing).
    #[inline]
    pub(crate) fn begin(&self, admission: &mut Admission) {
        if state_of(admission.word) != State::Disabled {
            admission.start = self.start_time();
        }
    }

    /// The start of a call admitted now: the clock if slow calls are timed,
    /// else [`UNTIMED`].
    #[inline]
    fn start_time(&self) -> u64 {
        match self.live.slow_nanos() {
            Some(_) => self.clock.now_nanos(),
            None => UNTIMED,
        }
    }

    /// Takes a half-open probe place if one is free, or in a progressive
    /// half-open stage, counts the call and lets it through if its turn
    /// falls in the stage's share.
    fn try_probe(&self, word: u64) -> bool {
        // Relaxed: read after the state word's Acquire load, as the
        // deadlines; a call racing a transition is judged under its word,
        // whose results the next state discards.
        let share = self.ramp_share.load(Ordering::Relaxed);
        if share != 0 {
            return Ramp::admits(self.ramp_calls.fetch_add(1, Ordering::Relaxed), share);
        }
        let generation = generation_of(word);
        let (probes, trials) = (self.live.probes(), self.live.trials());
        self.change_trial(|t| {
            trial::admits(t, generation, probes, trials).then_some(t + (1 << trial::IN_FLIGHT))
        })
        .is_some()
    }
}
