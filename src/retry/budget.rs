//! Retry budgets: under a long run of failures, a retrying client adds at
//! most the budgeted load, shared by every user of one budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
#[cfg(not(feature = "tokio"))]
use crate::clock::DefaultClock;
use crate::config_error::ConfigError;
use crate::window::{Outcome, TimeWindow};

/// A retry budget, shared by every retry (and every clone) that holds it.
/// Lock-free. Two kinds:
///
/// - [`ratio`](Self::ratio) (tower, Finagle, reqwest): retries may be up to
///   `ratio` of the requests made over the last `ttl`, plus
///   `min_per_second` so that a quiet client can still retry.
/// - [`in_flight`](Self::in_flight) (Envoy, failsafe-go): retries running
///   at once may be up to `ratio` of the calls running at once, and at
///   least `min`.
///
/// A retry that the budget refuses is not made: the caller gets the last
/// attempt's outcome.
///
/// # Examples
///
/// ```
/// use palisade::retry::RetryBudget;
/// use std::time::Duration;
///
/// // 20 % extra load, and 3 retries a second whatever the traffic.
/// let budget = RetryBudget::ratio(0.2, 3, Duration::from_secs(10))?;
/// # let _ = budget;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RetryBudget {
    kind: Arc<Kind>,
}

#[derive(Debug)]
enum Kind {
    Ratio(Ratio),
    InFlight(InFlight),
}

struct Ratio {
    /// Requests are recorded as successes and retries as failures: calls =
    /// requests + retries.
    window: TimeWindow,
    ratio: f64,
    reserve: u64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ratio")
            .field("ratio", &self.ratio)
            .field("reserve", &self.reserve)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct InFlight {
    calls: AtomicU64,
    retries: AtomicU64,
    ratio: f64,
    min: u64,
}

fn check_ratio(ratio: f64) -> Result<(), ConfigError> {
    if !(0.0..=1000.0).contains(&ratio) || ratio.is_nan() {
        return Err(ConfigError::new(
            "ratio",
            ratio,
            "must be a number in [0, 1000]",
        ));
    }
    Ok(())
}

impl RetryBudget {
    /// Retries up to `ratio` of the requests of the last `ttl` (in `[1 s,
    /// 1 h]`), plus `min_per_second` retries a second. Time is
    /// [`TokioClock`](crate::clock::TokioClock)'s with the `tokio` feature
    /// (the default timer's time), else the crate's `DefaultClock`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `ratio` (not a number in `[0, 1000]`) or
    /// `ttl`.
    pub fn ratio(ratio: f64, min_per_second: u32, ttl: Duration) -> Result<Self, ConfigError> {
        // Tokio's time with the `tokio` feature, as the default timer's
        // (paused time in tests drives both).
        #[cfg(feature = "tokio")]
        let clock = crate::clock::TokioClock::new();
        #[cfg(not(feature = "tokio"))]
        let clock = DefaultClock::new();
        Self::ratio_with_clock(ratio, min_per_second, ttl, clock)
    }

    /// As [`ratio`](Self::ratio), on `clock` (a `ManualTimer` in tests).
    ///
    /// # Errors
    ///
    /// As [`ratio`](Self::ratio).
    pub fn ratio_with_clock(
        ratio: f64,
        min_per_second: u32,
        ttl: Duration,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        check_ratio(ratio)?;
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                "ttl",
                ttl,
                "must be at least 1 s and at most 1 h",
            ));
        }
        let window = TimeWindow::new(ttl, 10)?;
        Ok(Self {
            kind: Arc::new(Kind::Ratio(Ratio {
                window,
                ratio,
                reserve: u64::from(min_per_second).saturating_mul(ttl.as_secs()),
                clock: Arc::new(clock),
            })),
        })
    }

    /// Retries running at once up to `ratio` of the calls running at once,
    /// and at least `min`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `ratio` if it is not a number in
    /// `[0, 1000]`.
    pub fn in_flight(ratio: f64, min: u32) -> Result<Self, ConfigError> {
        check_ratio(ratio)?;
        Ok(Self {
            kind: Arc::new(Kind::InFlight(InFlight {
                calls: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                ratio,
                min: u64::from(min),
            })),
        })
    }

    /// A call (its first attempt) starts.
    pub(crate) fn start(&self, call: &mut BudgetCall) {
        match &*self.kind {
            Kind::Ratio(r) => {
                r.window.record(r.clock.now_nanos(), Outcome::Success);
            }
            // Relaxed: a count read only to size the budget.
            Kind::InFlight(f) => {
                f.calls.fetch_add(1, Ordering::Relaxed);
                call.counted = true;
            }
        }
    }

    /// Takes one retry for `call`; false if the budget has none.
    pub(crate) fn withdraw(&self, call: &mut BudgetCall) -> bool {
        // The previous retry of this call (in-flight kind) has ended.
        self.end_retry(call);
        match &*self.kind {
            Kind::Ratio(r) => {
                let (allowed, spent) = r.allowance();
                if spent >= allowed {
                    return false;
                }
                r.window.record(r.clock.now_nanos(), Outcome::Failure);
                true
            }
            Kind::InFlight(f) => {
                let allowed = f.allowed();
                // Relaxed: the count is the data; the update keeps it within
                // the allowance.
                let taken = f
                    .retries
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                        (r < allowed).then_some(r + 1)
                    })
                    .is_ok();
                call.retrying = taken;
                taken
            }
        }
    }

    /// `call` is over: gives back what it counts (once; later calls do
    /// nothing).
    pub(crate) fn finish(&self, call: &mut BudgetCall) {
        self.end_retry(call);
        if let Kind::InFlight(f) = &*self.kind {
            if std::mem::take(&mut call.counted) {
                f.calls.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn end_retry(&self, call: &mut BudgetCall) {
        if let Kind::InFlight(f) = &*self.kind {
            if std::mem::take(&mut call.retrying) {
                f.retries.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Retries the budget would allow now (a reading for tests and
    /// dashboards).
    pub fn available(&self) -> u64 {
        match &*self.kind {
            Kind::Ratio(r) => {
                let (allowed, spent) = r.allowance();
                allowed.saturating_sub(spent)
            }
            Kind::InFlight(f) => f
                .allowed()
                .saturating_sub(f.retries.load(Ordering::Relaxed)),
        }
    }
}

/// The largest `k` with `k / n <= ratio` as the user wrote the ratio, the
/// way the breaker's thresholds are exact: 0.29 of 100 is 29, although
/// `0.29 * 100.0` is 28.999999999999996 in floating point.
fn share(ratio: f64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let within = |k: u64| k as f64 / n as f64 <= ratio;
    // A first guess within a step or two of the answer, then exact steps.
    let mut k = (ratio * n as f64).round().min(u64::MAX as f64) as u64;
    while k > 0 && !within(k) {
        k -= 1;
    }
    while k < u64::MAX && within(k + 1) {
        k += 1;
    }
    k
}

impl Ratio {
    /// Retries allowed over the window, and retries made.
    fn allowance(&self) -> (u64, u64) {
        let snap = self.window.snapshot(self.clock.now_nanos());
        let retries = snap.failures();
        let requests = snap.calls() - retries;
        let allowed = self.reserve.saturating_add(share(self.ratio, requests));
        (allowed, retries)
    }
}

impl InFlight {
    fn allowed(&self) -> u64 {
        let calls = self.calls.load(Ordering::Relaxed);
        self.min.max(share(self.ratio, calls))
    }
}

/// What one call holds of an in-flight budget (the ratio kind holds
/// nothing): plain flags, kept by the call, given back by
/// [`RetryBudget::finish`].
#[derive(Debug, Default)]
pub(crate) struct BudgetCall {
    /// The call is counted in flight.
    counted: bool,
    /// One of its retries is counted in flight.
    retrying: bool,
}

impl BudgetCall {
    /// True while it holds something to give back.
    #[inline]
    pub(crate) fn holds(&self) -> bool {
        self.counted || self.retrying
    }
}

/// What a finished call still holds of an in-flight budget, owned: given
/// back when dropped. The HTTP retry layer keeps it in the response body,
/// so a call counts in flight until its body ends.
#[cfg(feature = "http")]
#[derive(Debug)]
pub(crate) struct BudgetHold {
    budget: RetryBudget,
    call: BudgetCall,
}

#[cfg(feature = "http")]
impl BudgetHold {
    /// Takes over what `call` holds of `budget`; `None` if nothing.
    pub(crate) fn take(budget: &RetryBudget, call: &mut BudgetCall) -> Option<Self> {
        call.holds().then(|| Self {
            budget: budget.clone(),
            call: std::mem::take(call),
        })
    }
}

#[cfg(feature = "http")]
impl Drop for BudgetHold {
    fn drop(&mut self) {
        self.budget.finish(&mut self.call);
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn a_share_is_exact_where_the_float_product_rounds_down() {
        assert_eq!(share(0.29, 100), 29); // 0.29 * 100.0 = 28.999999999999996
        assert_eq!(share(0.2, 10), 2);
        assert_eq!(share(0.2, 9), 1);
        assert_eq!(share(1.0 / 3.0, 3), 1);
        assert_eq!(share(0.0, 1000), 0);
        assert_eq!(share(1000.0, 3), 3000);
        assert_eq!(share(0.5, 0), 0);
        for n in 1..=1000u64 {
            for k in 0..=n {
                let ratio = k as f64 / n as f64;
                assert_eq!(share(ratio, n), k, "{k}/{n}");
            }
        }
    }
}
