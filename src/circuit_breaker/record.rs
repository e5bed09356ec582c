//! Recording how admitted calls ended, and judging the window.

use super::event::CircuitBreakerEventKind;
use super::half_open as trial;
use super::state::{generation_of, state_of, Admission, Inner, UNTIMED};
use super::transition::Cause;
use super::{Abandoned, Classification, State};
use crate::sync::Ordering;
use crate::window::{Outcome, Snapshot, Threshold};

/// What asks for a judgement.
#[derive(Clone, Copy, Debug)]
pub(super) enum Trigger {
    /// A failure or slow call was recorded: may trip.
    Failure,
    /// A success was recorded: may trip only if it brought the window up
    /// to the minimum. `was_below`: the last judgement found the window
    /// below the minimum.
    Success { was_below: bool },
    /// Settings changed: only refresh the hint.
    Refresh,
}

impl Inner {
    /// Records how an admitted call ended.
    #[inline(always)]
    pub(crate) fn complete(&self, admission: Admission, class: Classification) {
        if self.live.counts_abandoned() && class != Classification::Ignored {
            self.count_ended(admission.word, false);
        }
        self.record(admission, class);
    }

    /// Records an outcome in the window (or the half-open trials).
    #[inline(always)]
    fn record(&self, admission: Admission, class: Classification) {
        let state = state_of(admission.word);
        if state == State::Disabled {
            return;
        }
        if class == Classification::Ignored {
            self.release(admission);
            return;
        }
        let timed = admission.start != UNTIMED;
        let slow_nanos = if timed { self.live.slow_nanos() } else { None };
        let now = if slow_nanos.is_some() || self.window.needs_time() {
            self.clock.now_nanos()
        } else {
            0
        };
        let elapsed = now.saturating_sub(admission.start);
        // Strictly longer than the slow-call duration is slow.
        let slow = slow_nanos.is_some_and(|limit| elapsed > limit);
        let outcome = Outcome::new(class == Classification::Failure, slow);
        // Relaxed: a progressive stage's share, set up with its state word
        // (a result racing a transition is discarded either way).
        if state == State::HalfOpen && self.ramp_share.load(Ordering::Relaxed) == 0 {
            self.record_trial(admission.word, outcome);
            return;
        }
        // Relaxed: a cheap early exit; the window's own generation check is
        // what keeps a result racing a transition out of the new window.
        let recorded = self.hot.state.load(Ordering::Relaxed) == admission.word
            && self
                .window
                .record(generation_of(admission.word), now, outcome);
        if !recorded {
            self.events
                .emit(&self.name, CircuitBreakerEventKind::NotRecorded);
            return;
        }
        self.events
            .emit(&self.name, CircuitBreakerEventKind::Recorded(outcome));
        #[cfg(feature = "metrics")]
        if slow_nanos.is_some() {
            self.events.call_duration(elapsed);
        }
        if outcome != Outcome::Success {
            self.judge(admission.word, now, Trigger::Failure);
            return;
        }
        // Relaxed: a hint for whether a success must be judged; a stale value
        // costs or skips one snapshot.
        let recheck_at = self.hot.recheck_at.load(Ordering::Relaxed);
        if now >= recheck_at {
            let was_below = recheck_at == 0;
            self.judge(admission.word, now, Trigger::Success { was_below });
        }
    }

    /// Gives back what an admission holds without recording it (ignored, or
    /// cancelled under the default rule).
    pub(crate) fn release(&self, admission: Admission) {
        match state_of(admission.word) {
            State::Disabled => return, // nothing is recorded, nothing is reported
            State::HalfOpen => {
                self.update_trial(admission.word, |w| w - (1 << trial::IN_FLIGHT));
            }
            _ => {}
        }
        self.events
            .emit(&self.name, CircuitBreakerEventKind::NotRecorded);
    }

    /// A call was dropped before it completed (a panic in the operation is
    /// caught in its own poll and completed as a failure before this): the
    /// [`Abandoned`] policy decides, and a hedge's loser is never counted.
    pub(crate) fn cancel(&self, admission: Admission) {
        if state_of(admission.word) == State::Disabled || crate::superseded::losers_dropping() {
            self.release(admission);
            return;
        }
        let counted = match self.live.abandoned() {
            Abandoned::Failure => true,
            Abandoned::FailureAbove(share) => {
                let abandoned = self.count_ended(admission.word, true);
                abandoned.calls() >= self.live.minimum_calls()
                    && Threshold::from_rate(share).reached(abandoned.failures(), abandoned.calls())
            }
            _ => false,
        };
        if counted {
            self.record(admission, Classification::Failure);
        } else {
            self.release(admission);
        }
    }

    /// Counts a call that ended under `word` in the abandoned-share window
    /// (as a failure if it was abandoned) and returns the window after it.
    fn count_ended(&self, word: u64, abandoned: bool) -> Snapshot {
        let Some(window) = self.abandoned_window() else {
            return Snapshot::default();
        };
        let now = self.window_now();
        window.record(generation_of(word), now, Outcome::new(abandoned, false));
        window.snapshot(generation_of(word), now)
    }

    /// Closed (metrics-only, or progressive half-open) judgement at `now`: updates the hint for
    /// when successes must be judged, and trips the breaker if `trigger`
    /// may trip it and the window reaches a threshold.
    #[cold]
    pub(super) fn judge(&self, word: u64, now: u64, trigger: Trigger) {
        let snap = self.window.snapshot(generation_of(word), now);
        let minimum = self.live.minimum_calls();
        let below = snap.calls() < minimum;
        let recheck = if below {
            0
        } else {
            self.window.recheck_after(now)
        };
        // Relaxed: see `complete`.
        if self.hot.recheck_at.load(Ordering::Relaxed) != recheck {
            self.hot.recheck_at.store(recheck, Ordering::Relaxed);
        }
        let may_trip = match trigger {
            Trigger::Failure => true,
            Trigger::Success { was_below } => {
                snap.calls() == minimum && self.window.success_raised(snap.calls(), was_below)
            }
            Trigger::Refresh => false,
        };
        // A progressive half-open stage trips as the closed state does, as
        // a failed trial period.
        let cause = match state_of(word) {
            State::Closed => Cause::Trip,
            State::HalfOpen => Cause::TrialsFailed,
            _ => return,
        };
        if below || !may_trip {
            return;
        }
        if self.live.failure().reached(snap.failures(), snap.calls())
            || self.live.slow().reached(snap.slow_calls(), snap.calls())
        {
            self.transition(word, State::Open, cause);
        }
    }

    /// Applies `change` to the trial word of `word`'s half-open period and
    /// returns the new trial word, or `None` if that period is over.
    ///
    /// The full state word is checked before each compare-and-swap, and
    /// every transition writes a fresh trial word, so an update from an
    /// ended period fails; the trial word's tag only has to tell periods
    /// apart across the instructions between the check and the swap.
    pub(super) fn update_trial(&self, word: u64, change: impl Fn(u64) -> u64) -> Option<u64> {
        let generation = generation_of(word);
        self.change_trial(|t| {
            let live = self.is_current(word)
                && trial::same_period(t, generation)
                && trial::field(t, trial::IN_FLIGHT) > 0;
            live.then(|| change(t))
        })
    }

    /// The compare-and-swap loop on the trial word: `change` gives the next
    /// word for the current one, or `None` to leave it; returns the word
    /// written.
    pub(super) fn change_trial(&self, change: impl Fn(u64) -> Option<u64>) -> Option<u64> {
        // Acquire/AcqRel: the trial word is itself the data; these order its
        // updates with the transition that initialised it.
        let mut current = self.trial.load(Ordering::Acquire);
        loop {
            let next = change(current)?;
            match self.trial.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(next),
                Err(actual) => current = actual,
            }
        }
    }

    /// Records a half-open trial and decides as soon as the verdict is
    /// certain.
    fn record_trial(&self, word: u64, outcome: Outcome) {
        let add = (1 << trial::RECORDED)
            + (u64::from(outcome.is_failure()) << trial::FAILURES)
            + (u64::from(outcome.is_slow()) << trial::SLOW);
        let Some(t) = self.update_trial(word, |w| w - (1 << trial::IN_FLIGHT) + add) else {
            self.events
                .emit(&self.name, CircuitBreakerEventKind::NotRecorded);
            return;
        };
        self.events
            .emit(&self.name, CircuitBreakerEventKind::Recorded(outcome));
        self.decide_trials(word, t);
    }

    /// Moves out of half-open if the trial word `t` of `word`'s period
    /// holds a certain verdict under the current settings.
    pub(super) fn decide_trials(&self, word: u64, t: u64) {
        let trials = self.live.trials();
        let need_failures = self.live.failure().min_count(trials);
        let need_slow = self
            .live
            .slow_nanos()
            .map(|_| self.live.slow().min_count(trials));
        match trial::verdict(t, trials, need_failures, need_slow) {
            Some(State::Open) => {
                self.transition(word, State::Open, Cause::TrialsFailed);
            }
            Some(to) => {
                self.transition(word, to, Cause::TrialsPassed);
            }
            None => {}
        }
    }
}
