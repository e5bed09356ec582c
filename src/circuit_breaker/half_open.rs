//! The half-open trial word and the half-open rules, as pure functions.
//!
//! One `u64`: `tag:20 | in_flight:11 | recorded:11 | failures:11 | slow:11`.
//! The tag is the low bits of the generation of the state it was set up
//! for; every transition writes a fresh word. It is updated by
//! compare-and-swap in `record.rs`, after checking the full state word, so a
//! late update from an earlier period is dropped: the tag only has to tell
//! periods apart across the few instructions between that check and the
//! compare-and-swap.

use super::State;

const FIELD: u32 = 11;
const MASK: u64 = (1 << FIELD) - 1;
pub(super) const SLOW: u32 = 0;
pub(super) const FAILURES: u32 = FIELD;
pub(super) const RECORDED: u32 = 2 * FIELD;
pub(super) const IN_FLIGHT: u32 = 3 * FIELD;
const TAG: u32 = 4 * FIELD;

/// One field of a trial word.
#[inline]
pub(super) fn field(word: u64, shift: u32) -> u64 {
    word >> shift & MASK
}

/// The empty trial word of the half-open period of `generation`.
#[inline]
pub(super) fn tag(generation: u64) -> u64 {
    (generation & ((1 << (64 - TAG)) - 1)) << TAG
}

/// True if `word` belongs to the half-open period of `generation`.
#[inline]
pub(super) fn same_period(word: u64, generation: u64) -> bool {
    word >> TAG << TAG == tag(generation)
}

/// Half-open admits a call while running probes are fewer than the cap and
/// recorded trials plus running probes are fewer than the trial count.
#[inline]
pub(super) fn admits(word: u64, generation: u64, probes: u64, trials: u64) -> bool {
    let in_flight = field(word, IN_FLIGHT);
    same_period(word, generation)
        && in_flight < probes
        && field(word, RECORDED) + in_flight < trials
}

/// The verdict as soon as it is certain: `Open` once the failures (or slow
/// calls, when `need_slow` is set) among the trials reach what the
/// threshold needs out of `trials`; `Closed` once the remaining trials can no
/// longer get there; `None` while both are still possible.
pub(super) fn verdict(
    word: u64,
    trials: u64,
    need_failures: u64,
    need_slow: Option<u64>,
) -> Option<State> {
    let remaining = trials.saturating_sub(field(word, RECORDED));
    let failures = field(word, FAILURES);
    let slow = field(word, SLOW);
    let need_slow = need_slow.unwrap_or(u64::MAX);
    if failures >= need_failures || slow >= need_slow {
        Some(State::Open)
    } else if failures + remaining < need_failures && slow.saturating_add(remaining) < need_slow {
        Some(State::Closed)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(generation: u64, in_flight: u64, recorded: u64, failures: u64, slow: u64) -> u64 {
        tag(generation)
            + (in_flight << IN_FLIGHT)
            + (recorded << RECORDED)
            + (failures << FAILURES)
            + (slow << SLOW)
    }

    #[test]
    fn tags_tell_periods_apart() {
        let w = word(7, 2, 0, 1, 0);
        assert!(same_period(w, 7));
        assert!(!same_period(w, 8));
        assert_eq!(field(w, IN_FLIGHT), 2);
        assert_eq!(field(w, FAILURES), 1);
        assert_eq!(field(w, RECORDED), 0);
        assert!(!same_period(tag(7 + 4096), 7));
    }

    #[test]
    fn admission_respects_the_cap_and_the_trial_count() {
        // cap 2, 4 trials
        assert!(admits(word(1, 1, 0, 0, 0), 1, 2, 4));
        assert!(!admits(word(1, 2, 0, 0, 0), 1, 2, 4), "cap reached");
        assert!(
            !admits(word(1, 1, 3, 0, 0), 1, 2, 4),
            "1 running + 3 recorded = 4"
        );
        assert!(!admits(word(1, 0, 0, 0, 0), 2, 2, 4), "another period");
    }

    #[test]
    fn verdict_is_reached_as_soon_as_it_is_certain() {
        // 3 trials at 50 %: 2 failures needed to reopen.
        assert_eq!(verdict(word(1, 0, 1, 1, 0), 3, 2, None), None);
        assert_eq!(verdict(word(1, 0, 2, 2, 0), 3, 2, None), Some(State::Open));
        assert_eq!(
            verdict(word(1, 0, 2, 0, 0), 3, 2, None),
            Some(State::Closed)
        );
        assert_eq!(verdict(word(1, 0, 2, 1, 0), 3, 2, None), None);
        // Slow calls reopen too when timed, and keep it undecided.
        assert_eq!(
            verdict(word(1, 0, 2, 0, 2), 3, 2, Some(2)),
            Some(State::Open)
        );
        assert_eq!(verdict(word(1, 0, 2, 0, 1), 3, 2, Some(2)), None);
        assert_eq!(
            verdict(word(1, 0, 3, 1, 1), 3, 2, Some(2)),
            Some(State::Closed)
        );
    }
}
