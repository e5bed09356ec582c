//! The breaker's shared state: the state word, the window, the tunables.
//!
//! One word holds `generation << 3 | state`; every transition bumps the
//! generation, so a permission granted in an earlier state is recognised and
//! its result discarded, and the window records in that generation, so a
//! result racing a transition can never land in the new window. Transitions
//! are rare and serialised by a mutex that is never taken on the call path
//! and never held while user code (listeners) runs.
//!
//! The state machine is split by duty: `admission.rs` (who may run),
//! `record.rs` (recording and judging), `transition.rs` (moving between
//! states).

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use super::config::{Abandoned, Settings, Validated, WindowKind};
use super::event::Events;
use super::half_open as trial;
use super::transition::Cause;
use super::State;
use crate::clock::Clock;
use crate::name::Name;
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
    pub(super) fn needs_time(&self) -> bool {
        !matches!(self, Self::Count(_))
    }

    /// Records in `generation`; false if the record was dropped. Inlined
    /// into the call path with the count window's common case (see
    /// `CountWindow::record_in`).
    #[inline(always)]
    pub(super) fn record(&self, generation: u64, now: u64, outcome: Outcome) -> bool {
        match self {
            Self::Count(w) => w.record_in(generation, outcome),
            Self::Time(w) => w.record_in(generation, now, outcome),
            Self::Hybrid(w) => w.record_in(generation, now, outcome),
        }
    }

    pub(super) fn snapshot(&self, generation: u64, now: u64) -> Snapshot {
        match self {
            Self::Count(w) => w.snapshot_in(generation),
            Self::Time(w) => w.snapshot_in(generation, now),
            Self::Hybrid(w) => w.snapshot_in(generation, now),
        }
    }

    /// Starts `generation` with an empty window.
    pub(super) fn restart(&self, generation: u64) {
        match self {
            Self::Count(w) => w.restart(generation),
            Self::Time(w) => w.restart(generation),
            Self::Hybrid(w) => w.restart(generation),
        }
    }

    /// True if a success that left `calls` in the window added a call (rather
    /// than pushing out an older one), given whether the last judgement
    /// found the window below the minimum. A count window never shrinks, so
    /// it grew to the minimum only from below; a time window only grows
    /// with a record; a hybrid window grows unless its count part is full.
    pub(super) fn success_raised(&self, calls: u64, was_below: bool) -> bool {
        match self {
            Self::Count(_) => was_below,
            Self::Time(_) => true,
            Self::Hybrid(w) => was_below || calls < u64::from(w.size()),
        }
    }

    /// When a window judged at `now` to hold at least the minimum calls may
    /// next hold fewer: never for a count window; at the next bucket
    /// boundary for a time (or hybrid) window, whose old buckets expire.
    pub(super) fn recheck_after(&self, now: u64) -> u64 {
        let width = match self {
            Self::Count(_) => return u64::MAX,
            Self::Time(w) => w.bucket_width(),
            Self::Hybrid(w) => w.bucket_width(),
        };
        let width = width.as_nanos() as u64;
        (now / width).saturating_add(1).saturating_mul(width)
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
pub(super) fn pack(generation: u64, state: State) -> u64 {
    generation << STATE_BITS | state as u64
}

#[inline]
pub(crate) fn state_of(word: u64) -> State {
    State::from_bits(word & STATE_MASK)
}

#[inline]
pub(super) fn generation_of(word: u64) -> u64 {
    word >> STATE_BITS
}

/// What a call was admitted with: the state word at admission (state and
/// generation; a half-open admission is a probe) and the clock reading when
/// it started, or [`UNTIMED`] if slow calls were not timed then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Admission {
    pub(super) word: u64,
    pub(super) start: u64,
}

impl Admission {
    /// No admission: no state word is 0 (generations start at
    /// [`FIRST_GENERATION`]).
    pub(crate) const NONE: Self = Self {
        word: 0,
        start: UNTIMED,
    };

    #[inline]
    pub(crate) fn is_none(self) -> bool {
        self.word == 0
    }
}

/// `Admission::start` of a call admitted while slow-call detection was off:
/// such a call is never judged slow.
pub(super) const UNTIMED: u64 = u64::MAX;

/// Read on the call path; written only by transitions (and `recheck_at` by
/// the rare evaluations that change it).
#[derive(Debug)]
pub(super) struct Hot {
    pub(super) state: AtomicU64,
    /// A success recorded at or after this clock time must be judged: 0
    /// while the window holds fewer than the minimum calls (every success
    /// may bring it up), the next bucket boundary for a time window that
    /// holds enough (its old calls may expire), `u64::MAX` for a count
    /// window that holds enough.
    pub(super) recheck_at: AtomicU64,
}

/// Runtime-tunable values read without a lock; written together under the
/// transition lock by `reconfigure`. Relaxed throughout: each is a
/// standalone value, and a call racing a reconfiguration may see either.
#[derive(Debug)]
pub(super) struct Live {
    failure_rate: std::sync::atomic::AtomicU64,
    slow_rate: std::sync::atomic::AtomicU64,
    /// `u64::MAX` when off.
    slow_nanos: std::sync::atomic::AtomicU64,
    minimum_calls: AtomicU32,
    probes: AtomicU32,
    trials: AtomicU32,
    /// The [`Abandoned`] policy: [`IGNORE`], [`FAILURE`], or the bits of
    /// the `FailureAbove` share.
    abandoned: std::sync::atomic::AtomicU64,
}

/// `Live::abandoned` for [`Abandoned::Ignore`] (no share has these bits).
const IGNORE: u64 = u64::MAX;
/// `Live::abandoned` for [`Abandoned::Failure`].
const FAILURE: u64 = u64::MAX - 1;

impl Live {
    fn new(v: &Validated) -> Self {
        let live = Self {
            failure_rate: std::sync::atomic::AtomicU64::new(0),
            slow_rate: std::sync::atomic::AtomicU64::new(0),
            slow_nanos: std::sync::atomic::AtomicU64::new(u64::MAX),
            minimum_calls: AtomicU32::new(0),
            probes: AtomicU32::new(0),
            trials: AtomicU32::new(0),
            abandoned: std::sync::atomic::AtomicU64::new(IGNORE),
        };
        live.store(v);
        live
    }

    pub(super) fn store(&self, v: &Validated) {
        self.failure_rate.store(v.failure.rate().to_bits(), Relaxed);
        self.slow_rate.store(v.slow.rate().to_bits(), Relaxed);
        self.slow_nanos.store(v.slow_nanos, Relaxed);
        self.minimum_calls.store(v.settings.minimum_calls, Relaxed);
        self.probes
            .store(v.settings.half_open_max_concurrent, Relaxed);
        self.trials.store(v.settings.half_open_trial_calls, Relaxed);
        let abandoned = match v.settings.abandoned {
            Abandoned::Ignore => IGNORE,
            Abandoned::Failure => FAILURE,
            Abandoned::FailureAbove(share) => share.to_bits(),
        };
        self.abandoned.store(abandoned, Relaxed);
    }

    /// The slow-call duration, or `None` when slow calls are not timed.
    #[inline]
    pub(super) fn slow_nanos(&self) -> Option<u64> {
        let nanos = self.slow_nanos.load(Relaxed);
        (nanos != u64::MAX).then_some(nanos)
    }

    #[inline]
    pub(super) fn failure(&self) -> Threshold {
        Threshold::from_rate(f64::from_bits(self.failure_rate.load(Relaxed)))
    }

    #[inline]
    pub(super) fn slow(&self) -> Threshold {
        Threshold::from_rate(f64::from_bits(self.slow_rate.load(Relaxed)))
    }

    #[inline]
    pub(super) fn minimum_calls(&self) -> u64 {
        u64::from(self.minimum_calls.load(Relaxed))
    }

    #[inline]
    pub(super) fn probes(&self) -> u64 {
        u64::from(self.probes.load(Relaxed))
    }

    #[inline]
    pub(super) fn trials(&self) -> u64 {
        u64::from(self.trials.load(Relaxed))
    }

    /// The abandoned-call policy.
    pub(super) fn abandoned(&self) -> Abandoned {
        match self.abandoned.load(Relaxed) {
            IGNORE => Abandoned::Ignore,
            FAILURE => Abandoned::Failure,
            share => Abandoned::FailureAbove(f64::from_bits(share)),
        }
    }

    /// True under the `FailureAbove` policy: ended calls are counted in
    /// the abandoned-share window.
    #[inline]
    pub(super) fn counts_abandoned(&self) -> bool {
        self.abandoned.load(Relaxed) < FAILURE
    }
}

/// State only transitions touch, under the lock.
#[derive(Debug)]
pub(super) struct Cold {
    pub(super) validated: Validated,
    /// Consecutive failed half-open periods: the open-backoff exponent.
    pub(super) failed_trials: u32,
    pub(super) rng: u64,
    /// The progressive half-open stage running, from 0.
    pub(super) ramp_stage: usize,
}

/// Everything a breaker shares between its clones.
pub(crate) struct Inner {
    pub(super) hot: CachePadded<Hot>,
    pub(super) window: Window,
    /// Under the `FailureAbove` policy, abandoned calls (as failures)
    /// against ended calls (as successes), in a window of the breaker's
    /// shape and generation; made when the policy is first set.
    pub(super) abandoned: OnceLock<Window>,
    pub(super) window_kind: WindowKind,
    pub(super) trial: CachePadded<AtomicU64>,
    /// Clock time the open state ends. Written before the state word is
    /// published (Release), read after it is loaded (Acquire).
    pub(super) open_until: AtomicU64,
    /// Clock time the half-open state gives up waiting for a verdict.
    pub(super) half_open_until: AtomicU64,
    /// In a progressive half-open stage, the share of calls it admits in
    /// millionths; 0 in the trial-call mode and every other state. Written
    /// like the deadlines.
    pub(super) ramp_share: AtomicU64,
    /// Calls that asked in the current ramp stage.
    pub(super) ramp_calls: AtomicU64,
    /// Calls rejected since the last transition.
    pub(super) rejected: AtomicU64,
    pub(super) live: Live,
    pub(super) cold: Mutex<Cold>,
    pub(crate) events: Events,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) name: Name,
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

/// The generation a breaker starts in (generation 0 is what a zeroed
/// window slot holds, so it is never current).
const FIRST_GENERATION: u64 = 1;

impl Inner {
    pub(crate) fn new(
        name: Name,
        window_kind: WindowKind,
        window: Window,
        validated: Validated,
        initial: State,
        clock: Arc<dyn Clock>,
        seed: u64,
    ) -> Self {
        window.restart(FIRST_GENERATION);
        let inner = Self {
            hot: CachePadded::new(Hot {
                state: AtomicU64::new(pack(FIRST_GENERATION, State::Closed)),
                recheck_at: AtomicU64::new(0),
            }),
            window,
            abandoned: OnceLock::new(),
            window_kind,
            trial: CachePadded::new(AtomicU64::new(trial::tag(FIRST_GENERATION))),
            open_until: AtomicU64::new(0),
            half_open_until: AtomicU64::new(0),
            ramp_share: AtomicU64::new(0),
            ramp_calls: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            live: Live::new(&validated),
            cold: Mutex::new(Cold {
                validated,
                failed_trials: 0,
                rng: seed,
                ramp_stage: 0,
            }),
            events: Events::new(&name),
            clock,
            name,
        };
        inner.abandoned_window();
        if initial != State::Closed {
            inner.transition(
                pack(FIRST_GENERATION, State::Closed),
                initial,
                Cause::Manual,
            );
        }
        inner
    }

    /// The clock reading a window needs at `complete` or `snapshot` (0 for
    /// a count window, which reads no clock).
    #[inline]
    pub(super) fn window_now(&self) -> u64 {
        if self.window.needs_time() {
            self.clock.now_nanos()
        } else {
            0
        }
    }

    /// The raw window of the current state.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let word = self.hot.state.load(Ordering::Acquire);
        self.window.snapshot(generation_of(word), self.window_now())
    }

    /// The abandoned-share window, made if the policy needs it and it is
    /// not there yet (it starts in the current generation).
    pub(super) fn abandoned_window(&self) -> Option<&Window> {
        if !self.live.counts_abandoned() {
            return None;
        }
        Some(self.abandoned.get_or_init(|| {
            let window = self
                .window_kind
                .build()
                .expect("the main window was built from the same shape");
            window.restart(generation_of(self.hot.state.load(Ordering::Acquire)));
            window
        }))
    }

    pub(crate) fn settings(&self) -> Settings {
        self.cold.lock().validated.settings.clone()
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for bits in 0..6 {
            let s = State::from_bits(bits);
            assert_eq!(s as u64, bits, "the table follows the discriminants");
            let w = pack(12345, s);
            assert_eq!((state_of(w), generation_of(w)), (s, 12345));
        }
    }
}
