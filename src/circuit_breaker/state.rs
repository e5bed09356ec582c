//! The breaker's state machine, lock-free on the call path.
//!
//! One word holds `generation << 3 | state`; every transition bumps the
//! generation, so a permission granted in an earlier state is recognised and
//! its result discarded. Transitions themselves are rare and serialised by a
//! mutex that is never taken on the call path and never held while user
//! code (listeners) runs.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::config::{Settings, Validated};
use super::event::{EventKind, Events};
use super::half_open as trial;
use super::{Classification, State};
use crate::clock::Clock;
use crate::error::{CircuitOpen, ConfigError};
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::window::{CountWindow, HybridWindow, Outcome, Snapshot, Threshold, TimeWindow};

/// The breaker's health window.
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
    Hybrid(HybridWindow),
}

impl Window {
    #[inline]
    fn needs_time(&self) -> bool {
        !matches!(self, Self::Count(_))
    }

    #[inline]
    fn record(&self, now: u64, outcome: Outcome) {
        match self {
            Self::Count(w) => w.record(outcome),
            Self::Time(w) => w.record(now, outcome),
            Self::Hybrid(w) => w.record(now, outcome),
        }
    }

    fn snapshot(&self, now: u64) -> Snapshot {
        match self {
            Self::Count(w) => w.snapshot(),
            Self::Time(w) => w.snapshot(now),
            Self::Hybrid(w) => w.snapshot(now),
        }
    }

    fn reset(&self) {
        match self {
            Self::Count(w) => w.reset(),
            Self::Time(w) => w.reset(),
            Self::Hybrid(w) => w.reset(),
        }
    }

    /// The most calls the window can hold (`minimum_calls` may not exceed
    /// it): the size of a count or hybrid window; unbounded for time.
    pub(crate) fn max_calls(&self) -> u32 {
        match self {
            Self::Count(w) => w.size(),
            Self::Hybrid(w) => w.size(),
            Self::Time(_) => u32::MAX,
        }
    }
}

const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

#[inline]
fn pack(generation: u64, state: State) -> u64 {
    generation << STATE_BITS | state as u64
}

#[inline]
pub(crate) fn state_of(word: u64) -> State {
    State::from_bits(word & STATE_MASK)
}

#[inline]
fn generation_of(word: u64) -> u64 {
    word >> STATE_BITS
}

/// What a call was admitted with: the state word at admission (state and
/// generation), its start time if slow calls are timed, and whether it holds
/// a half-open probe place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Admission {
    word: u64,
    start: u64,
    probe: bool,
}

/// Read on the call path; written only by transitions (and `below_min` by
/// the rare evaluations that change it).
#[derive(Debug)]
struct Hot {
    state: AtomicU64,
    /// The window held fewer than the minimum calls when last judged, so the
    /// next success may bring it up to the minimum and must be judged.
    below_min: AtomicBool,
}

/// Runtime-tunable values read without a lock; written together under the
/// transition lock by `reconfigure`. Relaxed throughout: each is a
/// standalone value, and a call racing a reconfiguration may see either.
#[derive(Debug)]
struct Live {
    failure_ppm: AtomicU32,
    slow_ppm: AtomicU32,
    /// `u64::MAX` when off.
    slow_nanos: std::sync::atomic::AtomicU64,
    minimum_calls: AtomicU32,
    probes: AtomicU32,
    trials: AtomicU32,
    cancelled_as_failure: AtomicBool,
}

impl Live {
    fn new(v: &Validated) -> Self {
        let live = Self {
            failure_ppm: AtomicU32::new(0),
            slow_ppm: AtomicU32::new(0),
            slow_nanos: std::sync::atomic::AtomicU64::new(u64::MAX),
            minimum_calls: AtomicU32::new(0),
            probes: AtomicU32::new(0),
            trials: AtomicU32::new(0),
            cancelled_as_failure: AtomicBool::new(false),
        };
        live.store(v);
        live
    }

    fn store(&self, v: &Validated) {
        self.failure_ppm.store(v.failure.ppm(), Relaxed);
        self.slow_ppm.store(v.slow.ppm(), Relaxed);
        self.slow_nanos.store(v.slow_nanos, Relaxed);
        self.minimum_calls.store(v.settings.minimum_calls, Relaxed);
        self.probes
            .store(v.settings.half_open_max_concurrent, Relaxed);
        self.trials.store(v.settings.half_open_trial_calls, Relaxed);
        self.cancelled_as_failure
            .store(v.settings.cancelled_as_failure, Relaxed);
    }

    /// The slow-call duration, or `None` when slow calls are not timed.
    #[inline]
    fn slow_nanos(&self) -> Option<u64> {
        let nanos = self.slow_nanos.load(Relaxed);
        (nanos != u64::MAX).then_some(nanos)
    }

    #[inline]
    fn failure(&self) -> Threshold {
        Threshold::from_ppm(self.failure_ppm.load(Relaxed))
    }

    #[inline]
    fn slow(&self) -> Threshold {
        Threshold::from_ppm(self.slow_ppm.load(Relaxed))
    }

    #[inline]
    fn minimum_calls(&self) -> u64 {
        u64::from(self.minimum_calls.load(Relaxed))
    }

    #[inline]
    fn probes(&self) -> u64 {
        u64::from(self.probes.load(Relaxed))
    }

    #[inline]
    fn trials(&self) -> u64 {
        u64::from(self.trials.load(Relaxed))
    }

    #[inline]
    fn cancelled_as_failure(&self) -> bool {
        self.cancelled_as_failure.load(Relaxed)
    }
}

/// State only transitions touch, under the lock.
#[derive(Debug)]
struct Cold {
    validated: Validated,
    /// Consecutive failed half-open periods: the open-backoff exponent.
    failed_trials: u32,
    rng: u64,
}

/// Everything a breaker shares between its clones.
pub(crate) struct Inner {
    hot: CachePadded<Hot>,
    window: Window,
    trial: CachePadded<AtomicU64>,
    /// Clock time the open state ends. Written before the state word is
    /// published (Release), read after it is loaded (Acquire).
    open_until: AtomicU64,
    /// Clock time the half-open state gives up waiting for a verdict.
    half_open_until: AtomicU64,
    live: Live,
    cold: Mutex<Cold>,
    pub(crate) events: Events,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) name: Arc<str>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn new(
        name: Arc<str>,
        window: Window,
        validated: Validated,
        initial: State,
        clock: Arc<dyn Clock>,
        seed: u64,
    ) -> Self {
        let inner = Self {
            hot: CachePadded::new(Hot {
                state: AtomicU64::new(pack(0, State::Closed)),
                below_min: AtomicBool::new(true),
            }),
            window,
            trial: CachePadded::new(AtomicU64::new(0)),
            open_until: AtomicU64::new(0),
            half_open_until: AtomicU64::new(0),
            live: Live::new(&validated),
            cold: Mutex::new(Cold {
                validated,
                failed_trials: 0,
                rng: seed,
            }),
            events: Events::new(&name),
            clock,
            name,
        };
        if initial != State::Closed {
            inner.transition(pack(0, State::Closed), initial);
        }
        inner
    }

    /// The current state word, after the lazy, clock-driven transitions
    /// (open → half-open at the deadline, half-open → open at the maximum
    /// wait).
    fn current(&self) -> u64 {
        self.current_at().0
    }

    /// `current()` and the clock reading it made, if it needed one (only in
    /// the open and half-open states), so callers need not read it again.
    fn current_at(&self) -> (u64, Option<u64>) {
        let mut now = None;
        loop {
            // Acquire: pairs with the Release that publishes a transition, so
            // the deadlines and trial word it set up are visible.
            let word = self.hot.state.load(Ordering::Acquire);
            let (deadline, next) = match state_of(word) {
                State::Open => (&self.open_until, State::HalfOpen),
                State::HalfOpen => (&self.half_open_until, State::Open),
                _ => return (word, now),
            };
            let t = *now.get_or_insert_with(|| self.clock.now_nanos());
            // Relaxed: ordered by the Acquire load of the state word above.
            if t < deadline.load(Ordering::Relaxed) {
                return (word, now);
            }
            self.transition(word, next);
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        state_of(self.current())
    }

    /// Asks to run one call.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Admission, CircuitOpen> {
        // Acquire: see `current`.
        let word = self.hot.state.load(Ordering::Acquire);
        match state_of(word) {
            State::Closed | State::MetricsOnly => Ok(Admission {
                word,
                start: self.start_time(),
                probe: false,
            }),
            State::Disabled => Ok(Admission {
                word,
                start: 0,
                probe: false,
            }),
            _ => self.acquire_slow(),
        }
    }

    #[cold]
    fn acquire_slow(&self) -> Result<Admission, CircuitOpen> {
        let (word, now) = self.current_at();
        let state = state_of(word);
        let retry_after = match state {
            State::HalfOpen if self.try_probe(word) => {
                return Ok(Admission {
                    word,
                    start: self.start_time(),
                    probe: true,
                })
            }
            State::Open => {
                let until = self.open_until.load(Ordering::Relaxed);
                let now = now.unwrap_or_else(|| self.clock.now_nanos());
                Some(Duration::from_nanos(until.saturating_sub(now)))
            }
            State::HalfOpen | State::ForcedOpen => None,
            State::Closed | State::MetricsOnly | State::Disabled => return self.acquire(),
        };
        self.events
            .emit(&self.name, EventKind::Rejected { state, retry_after });
        Err(CircuitOpen {
            name: Arc::clone(&self.name),
            state,
            retry_after,
        })
    }

    /// Restarts the call's clock: for an admission reserved before the call
    /// really starts (tower's `poll_ready`), so waiting for readiness does
    /// not count towards the slow-call duration.
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn restart(&self, admission: &mut Admission) {
        admission.start = self.start_time();
    }

    #[inline]
    fn start_time(&self) -> u64 {
        match self.live.slow_nanos() {
            Some(_) => self.clock.now_nanos(),
            None => 0,
        }
    }

    /// Takes a half-open probe place if one is free.
    fn try_probe(&self, word: u64) -> bool {
        let generation = generation_of(word);
        let (probes, trials) = (self.live.probes(), self.live.trials());
        // Acquire/AcqRel: the trial word is itself the data; these order its
        // updates with the transition that initialised it.
        let mut current = self.trial.load(Ordering::Acquire);
        loop {
            if !trial::admits(current, generation, probes, trials) {
                return false;
            }
            match self.trial.compare_exchange_weak(
                current,
                current + (1 << trial::IN_FLIGHT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Applies `change` to the trial word of `word`'s half-open period and
    /// returns the new trial word, or `None` if that period is over.
    fn update_trial(&self, word: u64, change: impl Fn(u64) -> u64) -> Option<u64> {
        let generation = generation_of(word);
        let mut current = self.trial.load(Ordering::Acquire);
        loop {
            if !trial::same_period(current, generation)
                || trial::field(current, trial::IN_FLIGHT) == 0
            {
                return None;
            }
            let next = change(current);
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

    /// Records how an admitted call ended.
    #[inline(always)]
    pub(crate) fn complete(&self, admission: Admission, class: Classification) {
        let state = state_of(admission.word);
        if state == State::Disabled {
            return;
        }
        if class == Classification::Ignored {
            self.release(admission);
            return;
        }
        let slow_nanos = self.live.slow_nanos();
        let now = if slow_nanos.is_some() || self.window.needs_time() {
            self.clock.now_nanos()
        } else {
            0
        };
        // Strictly longer than the slow-call duration is slow.
        let slow = slow_nanos.is_some_and(|limit| now.saturating_sub(admission.start) > limit);
        let outcome = Outcome::new(class == Classification::Failure, slow);
        if admission.probe {
            self.record_trial(admission.word, outcome);
            return;
        }
        // Relaxed: only compares the generation; a transition racing this
        // check may let this one result into the new window (documented).
        if self.hot.state.load(Ordering::Relaxed) != admission.word {
            self.events.emit(&self.name, EventKind::NotRecorded);
            return;
        }
        self.window.record(now, outcome);
        self.events.emit(&self.name, EventKind::Recorded(outcome));
        if outcome != Outcome::Success || self.hot.below_min.load(Relaxed) {
            self.judge(admission.word, now);
        }
    }

    /// Gives back what an admission holds without recording it (ignored, or
    /// cancelled under the default rule).
    pub(crate) fn release(&self, admission: Admission) {
        if state_of(admission.word) == State::Disabled {
            return; // disabled: nothing is recorded, nothing is reported
        }
        if admission.probe {
            self.update_trial(admission.word, |w| w - (1 << trial::IN_FLIGHT));
        }
        self.events.emit(&self.name, EventKind::NotRecorded);
    }

    /// A call was dropped before it completed.
    pub(crate) fn cancel(&self, admission: Admission) {
        // A panic in the operation is a failure (the unwinding goes on).
        if std::thread::panicking() || self.live.cancelled_as_failure() {
            self.complete(admission, Classification::Failure);
        } else {
            self.release(admission);
        }
    }

    /// Closed (or metrics-only) judgement after a record.
    #[cold]
    fn judge(&self, word: u64, now: u64) {
        let snap = self.window.snapshot(now);
        let below = snap.calls() < self.live.minimum_calls();
        // Relaxed: a hint for whether successes must judge; a stale value
        // only costs or skips one extra snapshot.
        if self.hot.below_min.load(Relaxed) != below {
            self.hot.below_min.store(below, Relaxed);
        }
        if below || state_of(word) != State::Closed {
            return;
        }
        if self.live.failure().reached(snap.failures(), snap.calls())
            || self.live.slow().reached(snap.slow_calls(), snap.calls())
        {
            self.transition(word, State::Open);
        }
    }

    /// Records a half-open trial and decides as soon as the verdict is
    /// certain.
    fn record_trial(&self, word: u64, outcome: Outcome) {
        let add = (1 << trial::RECORDED)
            + (u64::from(outcome.is_failure()) << trial::FAILURES)
            + (u64::from(outcome.is_slow()) << trial::SLOW);
        let Some(t) = self.update_trial(word, |w| w - (1 << trial::IN_FLIGHT) + add) else {
            self.events.emit(&self.name, EventKind::NotRecorded);
            return;
        };
        self.events.emit(&self.name, EventKind::Recorded(outcome));
        let trials = self.live.trials();
        let need_failures = self.live.failure().min_count(trials);
        let need_slow = self
            .live
            .slow_nanos()
            .map(|_| self.live.slow().min_count(trials));
        if let Some(to) = trial::verdict(t, trials, need_failures, need_slow) {
            self.transition(word, to);
        }
    }

    /// Moves from the state word `expected` to `to`; false if the state
    /// changed meanwhile (someone else already moved it).
    pub(crate) fn transition(&self, expected: u64, to: State) -> bool {
        let mut cold = self.cold.lock();
        // Relaxed: under the lock, which orders all transitions.
        if self.hot.state.load(Ordering::Relaxed) != expected {
            return false;
        }
        let from = state_of(expected);
        let generation = generation_of(expected) + 1;
        let now = self.clock.now_nanos();
        match to {
            State::Open => {
                if from == State::HalfOpen {
                    cold.failed_trials = cold.failed_trials.saturating_add(1);
                } else {
                    cold.failed_trials = 0;
                }
                let cold = &mut *cold;
                let open = cold
                    .validated
                    .open_nanos_after(cold.failed_trials, &mut cold.rng);
                let until = now.saturating_add(open);
                self.open_until.store(until, Ordering::Relaxed);
            }
            State::HalfOpen => {
                self.trial.store(trial::tag(generation), Ordering::Relaxed);
                let until = now.saturating_add(cold.validated.half_open_wait_nanos);
                self.half_open_until.store(until, Ordering::Relaxed);
            }
            State::Closed => cold.failed_trials = 0,
            State::Disabled | State::ForcedOpen | State::MetricsOnly => {}
        }
        // Every state starts with a fresh window generation.
        self.window.reset();
        self.hot.below_min.store(true, Relaxed);
        // Release: publishes the deadlines, trial word and window reset above
        // to every call that loads the new word with Acquire.
        self.hot
            .state
            .store(pack(generation, to), Ordering::Release);
        drop(cold);
        self.events
            .emit(&self.name, EventKind::StateTransition { from, to });
        true
    }

    /// Moves to `to` from whatever state the breaker is in.
    pub(crate) fn force(&self, to: State) {
        while !self.transition(self.hot.state.load(Ordering::Acquire), to) {}
    }

    /// Resets the breaker: closed, fresh window, open backoff forgotten.
    pub(crate) fn reset(&self) {
        self.force(State::Closed);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let now = if self.window.needs_time() {
            self.clock.now_nanos()
        } else {
            0
        };
        self.window.snapshot(now)
    }

    pub(crate) fn settings(&self) -> Settings {
        self.cold.lock().validated.settings.clone()
    }

    pub(crate) fn reconfigure(&self, settings: Settings) -> Result<(), ConfigError> {
        let validated = settings.validate(self.window.max_calls())?;
        let mut cold = self.cold.lock();
        self.live.store(&validated);
        cold.validated = validated;
        Ok(())
    }
}

#[cfg(all(test, not(parapet_loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::Disabled,
            State::ForcedOpen,
            State::MetricsOnly,
        ] {
            let w = pack(12345, s);
            assert_eq!((state_of(w), generation_of(w)), (s, 12345));
        }
    }
}
