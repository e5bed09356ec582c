//! Backoff: how long to wait before each retry.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::config_error::ConfigError;
use crate::limits::MAX_DURATION;

/// How the delay before retry `n` (the first retry is 1) grows.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Growth {
    Constant,
    Linear { step: Duration },
    Exponential { multiplier: f64 },
}

/// Randomness added to each delay, so that clients that failed together do
/// not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The delay as computed.
    #[default]
    None,
    /// Uniform in `[0, delay]` (AWS's "full jitter").
    Full,
    /// `delay / 2` plus uniform in `[0, delay / 2]`.
    Equal,
    /// Uniform in `[initial, 3 × previous delay]`, capped (AWS's
    /// "decorrelated jitter"; it ignores the growth and grows on its own).
    Decorrelated,
}

/// The delays between attempts: constant, linear or exponential, capped,
/// with optional jitter. Every delay is computed from the retry number, not
/// by adding up rounded steps, so it is exact; it saturates at the cap and
/// never overflows (retry 1 000 of an exponential backoff is the cap).
///
/// # Examples
///
/// ```
/// use palisade::retry::Backoff;
/// use std::time::Duration;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), 2.0)
///     .max_delay(Duration::from_secs(1));
/// let delays: Vec<_> = (1..=6).map(|n| backoff.base_delay(n)).collect();
/// assert_eq!(
///     delays,
///     [100, 200, 400, 800, 1000, 1000].map(Duration::from_millis)
/// );
/// assert_eq!(backoff.base_delay(1000), Duration::from_secs(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    growth: Growth,
    max: Duration,
    jitter: Jitter,
}

impl Default for Backoff {
    /// Exponential from 500 ms, × 1.5, capped at 30 s, full jitter
    /// (resilience4j's 500 ms × 1.5 with AWS's jitter advice).
    fn default() -> Self {
        Self::exponential(Duration::from_millis(500), 1.5)
            .max_delay(Duration::from_secs(30))
            .jitter(Jitter::Full)
    }
}

impl Backoff {
    /// The same delay before every retry.
    pub fn constant(delay: Duration) -> Self {
        Self {
            initial: delay,
            growth: Growth::Constant,
            max: MAX_DURATION,
            jitter: Jitter::None,
        }
    }

    /// `initial`, then `initial + step`, `initial + 2 × step`...
    pub fn linear(initial: Duration, step: Duration) -> Self {
        Self {
            growth: Growth::Linear { step },
            ..Self::constant(initial)
        }
    }

    /// `initial`, then `initial × multiplier`, `initial × multiplier²`...
    /// (`multiplier` at least 1).
    pub fn exponential(initial: Duration, multiplier: f64) -> Self {
        Self {
            growth: Growth::Exponential { multiplier },
            ..Self::constant(initial)
        }
    }

    /// No delay exceeds `max` (jitter included). Default `MAX_DURATION`.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Randomness on each delay. Default none.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Checks the values (called by the retry builder).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max > MAX_DURATION {
            return Err(ConfigError::new(
                "max_delay",
                self.max,
                "must be at most MAX_DURATION (7 days)",
            ));
        }
        if self.initial > self.max {
            return Err(ConfigError::new(
                "initial_delay",
                self.initial,
                "must be at most max_delay",
            ));
        }
        if let Growth::Exponential { multiplier } = self.growth {
            if !multiplier.is_finite() || multiplier < 1.0 {
                return Err(ConfigError::new(
                    "multiplier",
                    multiplier,
                    "must be a finite number of at least 1",
                ));
            }
        }
        Ok(())
    }

    /// The delay before retry `n` (the first retry is 1) without jitter.
    pub fn base_delay(&self, n: u32) -> Duration {
        let steps = n.saturating_sub(1);
        let delay = match self.growth {
            Growth::Constant => self.initial,
            Growth::Linear { step } => step
                .checked_mul(steps)
                .and_then(|d| d.checked_add(self.initial))
                .unwrap_or(self.max),
            Growth::Exponential { multiplier } => {
                let exponent = i32::try_from(steps).unwrap_or(i32::MAX);
                let nanos = self.initial.as_nanos() as f64 * multiplier.powi(exponent);
                if nanos.is_finite() && nanos < self.max.as_nanos() as f64 {
                    Duration::from_nanos(nanos.round() as u64)
                } else {
                    self.max
                }
            }
        };
        delay.min(self.max)
    }

    /// The delay before retry `n`, with jitter drawn from `random` (a
    /// uniform `u64`); `previous` is the delay before the last retry (for
    /// decorrelated jitter; zero before the first).
    pub(crate) fn delay(&self, n: u32, previous: Duration, random: u64) -> Duration {
        // 53 random bits as a fraction in [0, 1).
        let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
        let scale = |d: Duration| Duration::from_nanos((d.as_nanos() as f64 * fraction) as u64);
        let delay = match self.jitter {
            Jitter::None => self.base_delay(n),
            Jitter::Full => scale(self.base_delay(n)),
            Jitter::Equal => {
                let half = self.base_delay(n) / 2;
                half + scale(half)
            }
            Jitter::Decorrelated => {
                let previous = previous.max(self.initial);
                let upper = previous.saturating_mul(3).min(self.max);
                self.initial + scale(upper.saturating_sub(self.initial))
            }
        };
        delay.min(self.max)
    }
}

/// Where jitter comes from: a seedable generator (SplitMix64 on one atomic
/// word; lock-free) or a source of your own.
#[derive(Clone)]
pub(crate) enum Random {
    Seeded(Arc<AtomicU64>),
    Source(Arc<dyn Fn() -> u64 + Send + Sync>),
}

impl std::fmt::Debug for Random {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Seeded(_) => f.write_str("Seeded"),
            Self::Source(_) => f.write_str("Source"),
        }
    }
}

impl Random {
    pub(crate) fn seeded(seed: u64) -> Self {
        Self::Seeded(Arc::new(AtomicU64::new(seed)))
    }

    /// The next uniform `u64`.
    pub(crate) fn next(&self) -> u64 {
        match self {
            Self::Seeded(state) => crate::random::next_shared(state),
            Self::Source(source) => source(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exact_sequences() {
        let c = Backoff::constant(7 * MS);
        assert_eq!(
            (1..=3).map(|n| c.base_delay(n)).collect::<Vec<_>>(),
            [7 * MS; 3]
        );
        let l = Backoff::linear(100 * MS, 50 * MS).max_delay(220 * MS);
        assert_eq!(
            (1..=5).map(|n| l.base_delay(n)).collect::<Vec<_>>(),
            [100, 150, 200, 220, 220].map(Duration::from_millis)
        );
        // 1.5x from 100 ms: 100, 150, 225, 337.5 (exact, not 337), 506.25.
        let e = Backoff::exponential(100 * MS, 1.5);
        assert_eq!(e.base_delay(4), Duration::from_micros(337_500));
        assert_eq!(e.base_delay(5), Duration::from_micros(506_250));
    }

    #[test]
    fn saturates_without_overflow() {
        let e = Backoff::exponential(Duration::from_secs(1), 10.0);
        assert_eq!(e.base_delay(1000), MAX_DURATION);
        assert_eq!(e.base_delay(u32::MAX), MAX_DURATION);
        let l = Backoff::linear(Duration::from_secs(1), Duration::from_secs(3600));
        assert_eq!(l.base_delay(u32::MAX), MAX_DURATION);
        let d = Backoff::exponential(MS, 2.0).jitter(Jitter::Decorrelated);
        assert!(d.delay(1000, MAX_DURATION, u64::MAX) <= MAX_DURATION);
    }

    #[test]
    fn invalid_values_are_named() {
        let e = |b: Backoff| b.validate().unwrap_err().field();
        assert_eq!(e(Backoff::exponential(MS, f64::NAN)), "multiplier");
        assert_eq!(e(Backoff::exponential(MS, 0.0)), "multiplier");
        assert_eq!(e(Backoff::exponential(MS, -2.0)), "multiplier");
        assert_eq!(e(Backoff::constant(10 * MS).max_delay(MS)), "initial_delay");
        assert_eq!(
            e(Backoff::constant(MS).max_delay(Duration::from_secs(8 * 24 * 3600))),
            "max_delay"
        );
        assert!(Backoff::default().validate().is_ok());
    }

    proptest::proptest! {
        /// Every jitter stays in its bounds, for any draw.
        #[test]
        fn jitter_bounds(
            initial_ms in 1u64..10_000,
            multiplier in 1.0f64..4.0,
            n in 1u32..2_000,
            previous_ms in 0u64..1_000_000,
            random in proptest::prelude::any::<u64>(),
        ) {
            let initial = Duration::from_millis(initial_ms);
            let max = Duration::from_secs(60).max(initial);
            let b = Backoff::exponential(initial, multiplier).max_delay(max);
            let base = b.base_delay(n);
            proptest::prop_assert!(base >= initial.min(max) && base <= max);
            let full = b.jitter(Jitter::Full).delay(n, Duration::ZERO, random);
            proptest::prop_assert!(full <= base);
            let equal = b.jitter(Jitter::Equal).delay(n, Duration::ZERO, random);
            proptest::prop_assert!(equal >= base / 2 && equal <= base);
            let previous = Duration::from_millis(previous_ms);
            let dec = b.jitter(Jitter::Decorrelated).delay(n, previous, random);
            let upper = (previous.max(initial) * 3).min(max);
            proptest::prop_assert!(dec >= initial.min(upper) && dec <= upper.max(initial));
            proptest::prop_assert_eq!(b.jitter(Jitter::None).delay(n, previous, random), base);
        }
    }

    #[test]
    fn seeded_draws_repeat() {
        let (a, b) = (Random::seeded(42), Random::seeded(42));
        let xs: Vec<_> = (0..5).map(|_| a.next()).collect();
        let ys: Vec<_> = (0..5).map(|_| b.next()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
    }
}
