//! Moving between states: the one place the state word is written.

use super::half_open as trial;
use super::record::Trigger;
use super::state::{generation_of, pack, state_of, Cold, Inner};
use super::{Settings, State, MAX_DURATION};
use crate::config_error::ConfigError;
use crate::sync::Ordering;
use std::time::Duration;

/// Why a transition happens; it decides the open duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Closed judged the window unhealthy: the base open duration.
    Trip,
    /// Half-open trials reached the threshold: the backoff grows one step.
    TrialsFailed,
    /// Half-open trials could no longer reach the threshold.
    TrialsPassed,
    /// The open duration passed.
    Deadline,
    /// Half-open reached its maximum wait with no verdict: reopens for the
    /// same step of the backoff (no trial failed).
    MaxWait,
    /// `transition_to`, `reset`, or the initial state: the base open
    /// duration, the backoff forgotten.
    Manual,
    /// A progressive half-open stage passed: the next stage starts.
    StagePassed,
}

impl Inner {
    /// Moves from the state word `expected` to `to`; false if the state
    /// changed meanwhile (someone else already moved it).
    ///
    /// Under the lock: sets up the new state's deadlines, a fresh trial
    /// word and a fresh window generation, then publishes the new word.
    /// Listeners hear of it after the lock is released, in the order the
    /// transitions happened.
    pub(crate) fn transition(&self, expected: u64, to: State, cause: Cause) -> bool {
        let mut cold = self.cold.lock();
        let moved = self.transition_locked(&mut cold, expected, to, cause);
        drop(cold);
        if moved {
            self.events.dispatch_transitions(self.name.as_str());
        }
        moved
    }

    /// [`transition`](Self::transition) with the lock held; the caller
    /// dispatches the events after releasing it.
    fn transition_locked(&self, cold: &mut Cold, expected: u64, to: State, cause: Cause) -> bool {
        // Relaxed: under the lock, which orders all transitions.
        if self.hot.state.load(Ordering::Relaxed) != expected {
            return false;
        }
        let from = state_of(expected);
        let generation = generation_of(expected) + 1;
        let now = self.clock.now_nanos();
        match cause {
            Cause::TrialsFailed => cold.failed_trials = cold.failed_trials.saturating_add(1),
            Cause::Deadline | Cause::MaxWait | Cause::StagePassed => {}
            Cause::Trip | Cause::TrialsPassed | Cause::Manual => cold.failed_trials = 0,
        }
        let mut ramp_share = 0;
        match to {
            State::Open => {
                let open = cold
                    .validated
                    .open_nanos_after(cold.failed_trials, &mut cold.rng);
                self.open_until
                    .store(now.saturating_add(open), Ordering::Relaxed);
            }
            State::HalfOpen => {
                cold.ramp_stage = match cause {
                    Cause::StagePassed => cold.ramp_stage + 1,
                    _ => 0,
                };
                let until = match &cold.validated.ramp {
                    Some(ramp) => {
                        let last = ramp.stages.len() - 1;
                        ramp_share = ramp.stages[cold.ramp_stage.min(last)];
                        now.saturating_add(ramp.stage_nanos)
                    }
                    None => now.saturating_add(cold.validated.half_open_wait_nanos),
                };
                self.half_open_until.store(until, Ordering::Relaxed);
            }
            _ => {}
        }
        self.ramp_share.store(ramp_share, Ordering::Relaxed);
        self.ramp_calls.store(0, Ordering::Relaxed);
        // Every state starts with a fresh trial word and window generation;
        // late results of earlier states find neither.
        self.trial.store(trial::tag(generation), Ordering::Relaxed);
        self.window.restart(generation);
        if let Some(abandoned) = self.abandoned.get() {
            abandoned.restart(generation);
        }
        self.hot.recheck_at.store(0, Ordering::Relaxed);
        self.rejected.store(0, Ordering::Relaxed);
        self.events.queue_transition(from, to);
        // Release: publishes the deadlines, trial word and window restart
        // above to every call that loads the new word with Acquire.
        self.hot
            .state
            .store(pack(generation, to), Ordering::Release);
        true
    }

    /// A progressive half-open stage's time is up (`word` is its state
    /// word): judges the stage's window under the lock, by the rules on
    /// [`HalfOpenRamp`](super::HalfOpenRamp): reopen, next stage, close, or
    /// run the stage again when it holds too few calls to judge.
    pub(super) fn end_stage(&self, word: u64) {
        let mut cold = self.cold.lock();
        let now = self.clock.now_nanos();
        // Relaxed: under the lock; another caller may have ended or
        // extended this stage first.
        if self.hot.state.load(Ordering::Relaxed) != word
            || now < self.half_open_until.load(Ordering::Relaxed)
        {
            return;
        }
        let snap = self.window.snapshot(generation_of(word), self.window_now());
        let minimum = self.live.minimum_calls();
        let (to, cause) = if snap.calls() == 0 || snap.calls() >= minimum {
            let failed = snap.calls() > 0
                && (self.live.failure().reached(snap.failures(), snap.calls())
                    || self.live.slow().reached(snap.slow_calls(), snap.calls()));
            let stages = cold.validated.ramp.as_ref().map_or(0, |r| r.stages.len());
            if failed {
                (State::Open, Cause::TrialsFailed)
            } else if cold.ramp_stage + 1 < stages {
                (State::HalfOpen, Cause::StagePassed)
            } else {
                (State::Closed, Cause::TrialsPassed)
            }
        } else {
            // Too few calls to judge: the stage runs again, window kept.
            let stage_nanos = cold
                .validated
                .ramp
                .as_ref()
                .map_or(cold.validated.half_open_wait_nanos, |r| r.stage_nanos);
            self.half_open_until
                .store(now.saturating_add(stage_nanos), Ordering::Relaxed);
            return;
        };
        let moved = self.transition_locked(&mut cold, word, to, cause);
        drop(cold);
        if moved {
            self.events.dispatch_transitions(self.name.as_str());
        }
    }

    /// Keeps an open breaker open until at least `at_least` from now (see
    /// `CircuitBreaker::hold_open`). Under the transition lock, so it
    /// extends the open period it saw, never a later one; a call deciding
    /// at the same moment may still see the earlier deadline.
    pub(crate) fn hold_open(&self, at_least: Duration) -> bool {
        let _cold = self.cold.lock();
        if state_of(self.hot.state.load(Ordering::Relaxed)) != State::Open {
            return false;
        }
        let nanos = at_least.min(MAX_DURATION).as_nanos() as u64;
        let until = self.clock.now_nanos().saturating_add(nanos);
        self.open_until.fetch_max(until, Ordering::Relaxed) < until
    }

    /// Moves to `to` from whatever state the breaker is in.
    pub(crate) fn force(&self, to: State) {
        while !self.transition(self.hot.state.load(Ordering::Acquire), to, Cause::Manual) {}
    }

    /// Resets the breaker: closed, fresh window, open backoff forgotten.
    pub(crate) fn reset(&self) {
        self.force(State::Closed);
    }

    /// Applies new settings and judges the current state again under them:
    /// a half-open period whose trials now hold a verdict ends, and a closed
    /// window learns whether it is below the new minimum (a closed breaker
    /// trips only on a record, as always).
    pub(crate) fn reconfigure(&self, settings: Settings) -> Result<(), ConfigError> {
        let validated = settings.validate(self.window.max_calls())?;
        {
            let mut cold = self.cold.lock();
            self.live.store(&validated);
            cold.validated = validated;
        }
        // A policy that counts abandoned calls starts its window now.
        self.abandoned_window();
        let (word, now) = self.current_at();
        match state_of(word) {
            State::HalfOpen if self.ramp_share.load(Ordering::Relaxed) == 0 => {
                // Acquire: see `update_trial`.
                let t = self.trial.load(Ordering::Acquire);
                if trial::same_period(t, generation_of(word)) {
                    self.decide_trials(word, t);
                }
            }
            State::Closed | State::MetricsOnly | State::HalfOpen => {
                let now = now.unwrap_or_else(|| self.window_now());
                self.judge(word, now, Trigger::Refresh);
            }
            _ => {}
        }
        Ok(())
    }
}
