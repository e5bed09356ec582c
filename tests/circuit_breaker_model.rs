//! The circuit breaker against a naive reference model (proptest): random
//! sequences of calls, held probes, cancellations and clock moves on one
//! thread; after every step the state, the window and every admission
//! decision must match the model exactly.
#![cfg(not(palisade_loom))]

use std::collections::VecDeque;
use std::time::Duration;

use palisade::circuit_breaker::{CircuitBreaker, Classification, OpenBackoff, Permit, State};
use palisade::clock::ManualClock;
use proptest::prelude::*;

const MS: u64 = 1_000_000;
const WINDOW: usize = 10;
const MIN_CALLS: usize = 5;
const THRESHOLD_PPM: u64 = 500_000; // 50 %, failures and slow calls alike
const SLOW_NS: u64 = 100 * MS;
const OPEN_NS: u64 = 1_000 * MS;
const OPEN_MAX_NS: u64 = 4_000 * MS;
const TRIALS: u64 = 3;
const PROBES: u64 = 2;
const MAX_WAIT_NS: u64 = 2_000 * MS;

#[derive(Clone, Copy, Debug)]
enum Cause {
    TrialsFailed,
    MaxWait,
    Other,
}

/// What the model hands out for an admitted call.
#[derive(Clone, Copy, Debug)]
struct RefPermit {
    generation: u64,
    start: u64,
    probe: bool,
}

/// The rules of the module docs, written the obvious way.
#[derive(Debug)]
struct Model {
    state: State,
    generation: u64,
    window: VecDeque<(bool, bool)>,
    open_until: u64,
    half_open_until: u64,
    failed_trials: u32,
    in_flight: u64,
    recorded: u64,
    trial_failures: u64,
    trial_slow: u64,
}

fn reached(count: u64, calls: u64) -> bool {
    calls > 0 && count * 1_000_000 >= THRESHOLD_PPM * calls
}

impl Model {
    fn new() -> Self {
        Self {
            state: State::Closed,
            generation: 0,
            window: VecDeque::new(),
            open_until: 0,
            half_open_until: 0,
            failed_trials: 0,
            in_flight: 0,
            recorded: 0,
            trial_failures: 0,
            trial_slow: 0,
        }
    }

    /// `cause` of a move to open: a trip (base duration), failed trials
    /// (one step longer) or the half-open maximum wait (the same step).
    fn transition(&mut self, to: State, now: u64) {
        self.transition_because(to, now, Cause::Other);
    }

    fn transition_because(&mut self, to: State, now: u64, cause: Cause) {
        match to {
            State::Open => {
                self.failed_trials = match cause {
                    Cause::TrialsFailed => self.failed_trials + 1,
                    Cause::MaxWait => self.failed_trials,
                    Cause::Other => 0,
                };
                let grown = OPEN_NS
                    .saturating_mul(1 << self.failed_trials.min(20))
                    .min(OPEN_MAX_NS);
                self.open_until = now + grown;
            }
            State::HalfOpen => {
                (
                    self.in_flight,
                    self.recorded,
                    self.trial_failures,
                    self.trial_slow,
                ) = (0, 0, 0, 0);
                self.half_open_until = now + MAX_WAIT_NS;
            }
            _ => self.failed_trials = 0,
        }
        self.window.clear();
        self.generation += 1;
        self.state = to;
    }

    fn lazy(&mut self, now: u64) {
        loop {
            match self.state {
                State::Open if now >= self.open_until => self.transition(State::HalfOpen, now),
                State::HalfOpen if now >= self.half_open_until => {
                    self.transition_because(State::Open, now, Cause::MaxWait)
                }
                _ => return,
            }
        }
    }

    fn acquire(&mut self, now: u64) -> Option<RefPermit> {
        self.lazy(now);
        let probe = match self.state {
            State::Closed => false,
            State::HalfOpen
                if self.in_flight < PROBES && self.recorded + self.in_flight < TRIALS =>
            {
                self.in_flight += 1;
                true
            }
            _ => return None,
        };
        Some(RefPermit {
            generation: self.generation,
            start: now,
            probe,
        })
    }

    fn retry_after(&self, now: u64) -> Option<Duration> {
        (self.state == State::Open).then(|| Duration::from_nanos(self.open_until - now))
    }

    fn complete(&mut self, permit: RefPermit, class: Option<Classification>, now: u64) {
        if permit.generation != self.generation {
            return; // stale: discarded
        }
        let failed = match class {
            Some(Classification::Success) => false,
            Some(Classification::Failure) => true,
            Some(Classification::Ignored) | None => {
                if permit.probe {
                    self.in_flight -= 1;
                }
                return;
            }
        };
        let slow = now - permit.start > SLOW_NS;
        if permit.probe {
            self.in_flight -= 1;
            self.recorded += 1;
            self.trial_failures += u64::from(failed);
            self.trial_slow += u64::from(slow);
            let need = (THRESHOLD_PPM * TRIALS).div_ceil(1_000_000);
            let remaining = TRIALS - self.recorded;
            if self.trial_failures >= need || self.trial_slow >= need {
                self.transition_because(State::Open, now, Cause::TrialsFailed);
            } else if self.trial_failures + remaining < need && self.trial_slow + remaining < need {
                self.transition(State::Closed, now);
            }
            return;
        }
        self.window.push_back((failed, slow));
        if self.window.len() > WINDOW {
            self.window.pop_front();
        }
        let calls = self.window.len();
        // Judged on a failure or slow call, or when a success brings the
        // window up to the minimum.
        if (failed || slow || calls == MIN_CALLS) && calls >= MIN_CALLS {
            let failures = self.window.iter().filter(|(f, _)| *f).count() as u64;
            let slows = self.window.iter().filter(|(_, s)| *s).count() as u64;
            if reached(failures, calls as u64) || reached(slows, calls as u64) {
                self.transition(State::Open, now);
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// Acquire, take `ms`, record `class` (None: cancelled).
    Call(Option<Classification>, u64),
    /// Acquire and hold the permit.
    Hold,
    /// Finish the held permit `index` (modulo) with `class` after nothing.
    Finish(usize, Option<Classification>),
    Advance(u64),
}

fn class() -> impl Strategy<Value = Option<Classification>> {
    prop_oneof![
        4 => Just(Some(Classification::Success)),
        4 => Just(Some(Classification::Failure)),
        1 => Just(Some(Classification::Ignored)),
        1 => Just(None),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            8 => (class(), prop_oneof![Just(0u64), Just(100), Just(101), 0u64..300])
                .prop_map(|(c, ms)| Step::Call(c, ms)),
            2 => Just(Step::Hold),
            2 => (0usize..8, class()).prop_map(|(i, c)| Step::Finish(i, c)),
            3 => prop_oneof![0u64..200, Just(1_000), Just(2_000), 0u64..5_000].prop_map(Step::Advance),
        ],
        0..300,
    )
}

fn record(permit: Permit<'_>, class: Option<Classification>) {
    match class {
        Some(c) => permit.record(c),
        None => drop(permit),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breaker_matches_the_reference_model(steps in steps()) {
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::builder()
            .count_window(WINDOW as u32)
            .minimum_calls(MIN_CALLS as u32)
            .failure_rate_threshold(0.5)
            .slow_call_rate_threshold(0.5)
            .slow_call_duration(Duration::from_nanos(SLOW_NS))
            .open_duration(Duration::from_nanos(OPEN_NS))
            .open_backoff(OpenBackoff::exponential(2.0).max_duration(Duration::from_nanos(OPEN_MAX_NS)))
            .half_open_trial_calls(TRIALS as u32)
            .half_open_max_concurrent(PROBES as u32)
            .half_open_max_wait(Duration::from_nanos(MAX_WAIT_NS))
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut model = Model::new();
        let mut held: Vec<(Permit<'_>, RefPermit)> = Vec::new();
        let now = |c: &ManualClock| palisade::clock::Clock::now_nanos(c);

        for step in steps {
            match step {
                Step::Call(class, ms) => {
                    let expected = model.acquire(now(&clock));
                    match (breaker.try_acquire(), expected) {
                        (Ok(permit), Some(reference)) => {
                            clock.advance(Duration::from_millis(ms));
                            record(permit, class);
                            model.complete(reference, class, now(&clock));
                        }
                        (Err(open), None) => {
                            prop_assert_eq!(open.state(), model.state);
                            prop_assert_eq!(open.retry_after(), model.retry_after(now(&clock)));
                        }
                        (got, want) => prop_assert!(false, "admission differs: {:?} vs {:?}", got.is_ok(), want),
                    }
                }
                Step::Hold => {
                    let expected = model.acquire(now(&clock));
                    match (breaker.try_acquire(), expected) {
                        (Ok(permit), Some(reference)) => held.push((permit, reference)),
                        (Err(_), None) => {}
                        (got, want) => prop_assert!(false, "admission differs: {:?} vs {:?}", got.is_ok(), want),
                    }
                }
                Step::Finish(index, class) => {
                    if !held.is_empty() {
                        let (permit, reference) = held.remove(index % held.len());
                        record(permit, class);
                        model.complete(reference, class, now(&clock));
                    }
                }
                Step::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            }
            model.lazy(now(&clock));
            prop_assert_eq!(breaker.state(), model.state);
            let snap = breaker.snapshot();
            let failures = model.window.iter().filter(|(f, _)| *f).count() as u64;
            let slow = model.window.iter().filter(|(_, s)| *s).count() as u64;
            prop_assert_eq!(
                (snap.calls(), snap.failures(), snap.slow_calls()),
                (model.window.len() as u64, failures, slow)
            );
        }
    }
}
