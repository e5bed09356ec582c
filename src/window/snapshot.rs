//! A point-in-time reading of a window, and rate thresholds compared in
//! integers.

use crate::config_error::ConfigError;

/// Calls, failures and slow calls in a window at one moment.
///
/// Always `failures <= calls` and `slow_calls <= calls`, even when taken
/// while other threads are recording.
///
/// # Examples
///
/// ```
/// use palisade::window::Snapshot;
///
/// let snap = Snapshot::new(10, 5, 1);
/// assert_eq!(snap.failure_rate(), Some(0.5));
/// assert_eq!(Snapshot::default().failure_rate(), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    calls: u64,
    failures: u64,
    slow_calls: u64,
}

impl Snapshot {
    /// A snapshot of these counts; failures and slow calls are clamped to
    /// `calls`.
    #[inline]
    pub fn new(calls: u64, failures: u64, slow_calls: u64) -> Self {
        Self {
            calls,
            failures: failures.min(calls),
            slow_calls: slow_calls.min(calls),
        }
    }

    /// A snapshot of counts read while recorders may run: negative
    /// transients read as 0, failures and slow calls are clamped to calls.
    #[inline]
    pub(crate) fn clamped(calls: i64, failures: i64, slow_calls: i64) -> Self {
        let calls = calls.max(0) as u64;
        Self::new(calls, failures.max(0) as u64, slow_calls.max(0) as u64)
    }

    /// Calls recorded (successes, failures, slow or not).
    #[inline]
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Failed calls (slow or not).
    #[inline]
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Calls slower than the slow-call duration (failed or not).
    #[inline]
    pub fn slow_calls(&self) -> u64 {
        self.slow_calls
    }

    /// `failures / calls`, or `None` with no calls.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.failures as f64 / self.calls as f64)
    }

    /// `slow_calls / calls`, or `None` with no calls.
    pub fn slow_call_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.slow_calls as f64 / self.calls as f64)
    }
}

/// A rate threshold in `(0, 1]`, compared exactly as written.
///
/// `count` of `calls` reaches the threshold `t` when `count / calls >= t`,
/// where the quotient is the correctly rounded `f64` division and `t` is the
/// `f64` the user wrote: no scaling or rounding of `t` on the way, so 2 of 3
/// reaches `2.0 / 3.0`, 1 of 10 reaches `0.1` and 5 of 10 reaches `0.5`.
/// (Rounding is monotonic, so whenever `count / calls` is at least the
/// decimal the user typed, it reaches the threshold.)
///
/// # Examples
///
/// ```
/// use palisade::window::Threshold;
///
/// let half = Threshold::new(0.5)?;
/// assert!(half.reached(5, 10));
/// assert!(!half.reached(4, 10));
/// assert!(Threshold::new(2.0 / 3.0)?.reached(2, 3));
/// assert!(Threshold::new(0.0).is_err());
/// assert!(Threshold::new(f64::NAN).is_err());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    rate: f64,
}

impl Threshold {
    /// A threshold from a fraction in `(0, 1]`.
    ///
    /// # Errors
    ///
    /// A `ConfigError` naming `threshold` if `rate` is NaN, at most 0, or
    /// above 1.
    pub fn new(rate: f64) -> Result<Self, ConfigError> {
        Self::named("threshold", rate)
    }

    pub(crate) fn named(field: &'static str, rate: f64) -> Result<Self, ConfigError> {
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(ConfigError::new(field, rate, "must be in (0, 1]"));
        }
        Ok(Self { rate })
    }

    /// A threshold known to be valid (a stored, validated rate).
    pub(crate) fn from_rate(rate: f64) -> Self {
        Self { rate }
    }

    /// The threshold as a fraction, as given.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// True if `count / calls >= self` (see the type docs); false with no
    /// calls.
    #[inline]
    pub fn reached(&self, count: u64, calls: u64) -> bool {
        calls > 0 && count as f64 / calls as f64 >= self.rate
    }

    /// The smallest count out of `calls` that reaches the threshold (at
    /// most `calls`, since the threshold is at most 1).
    pub fn min_count(&self, calls: u64) -> u64 {
        let mut k = ((self.rate * calls as f64).floor() as u64).min(calls);
        while k > 0 && self.reached(k - 1, calls) {
            k -= 1;
        }
        while k < calls && !self.reached(k, calls) {
            k += 1;
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_threshold_is_exact_at_the_boundary() {
        let t = Threshold::new(0.5).unwrap();
        assert!(t.reached(5, 10));
        assert!(!t.reached(4, 10));
        assert!(!t.reached(0, 0));
        let third = Threshold::new(1.0 / 3.0).unwrap();
        assert_eq!(third.min_count(3), 1);
        for (n, d) in [(2u64, 3u64), (1, 6), (4, 7), (1, 10), (3, 10), (7, 9)] {
            let t = Threshold::new(n as f64 / d as f64).unwrap();
            assert!(t.reached(n, d), "{n}/{d}");
            assert!(!t.reached(n - 1, d), "{}/{d}", n - 1);
            assert_eq!(t.min_count(d), n);
            assert_eq!(t.min_count(2 * d), 2 * n);
        }
        assert_eq!(t.min_count(10), 5);
        assert_eq!(t.min_count(9), 5);
        assert!(Threshold::new(1.0).unwrap().reached(3, 3));
    }

    #[test]
    fn bad_thresholds_name_the_value() {
        for bad in [0.0, -0.1, 1.0001, f64::NAN, f64::INFINITY] {
            let err = Threshold::new(bad).unwrap_err();
            assert_eq!(err.field(), "threshold");
        }
    }

    #[test]
    fn snapshot_clamps() {
        let s = Snapshot::new(3, 7, 9);
        assert_eq!((s.failures(), s.slow_calls()), (3, 3));
        assert_eq!(s.slow_call_rate(), Some(1.0));
    }
}
