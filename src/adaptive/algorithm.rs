//! How the limit moves after each window of samples: pure functions of the
//! window and the algorithm's own state, tested here without time or
//! threads.

use crate::config_error::ConfigError;

/// What one window of completed calls looked like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Window {
    /// The calls' mean latency, in microseconds, from the moment each got
    /// its place (drops included: a timeout's latency is the timeout).
    pub(crate) mean_micros: f64,
    /// Calls in the window that were dropped (timed out, or failed as the
    /// classifier says).
    pub(crate) drops: u32,
    /// The most calls in flight at once during the window.
    pub(crate) peak: u32,
}

/// How an [`AdaptiveLimit`](super::AdaptiveLimit) follows its dependency.
///
/// # Examples
///
/// ```
/// use palisade::adaptive::{Algorithm, Gradient};
///
/// let algorithm = Algorithm::Gradient(Gradient::new().tolerance(1.5)?);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// Latency against a no-load baseline (the default).
    Gradient(Gradient),
    /// Additive increase, multiplicative decrease on drops.
    Aimd(Aimd),
}

impl Default for Algorithm {
    fn default() -> Self {
        Self::Gradient(Gradient::new())
    }
}

/// A gradient limit, after Netflix's `Gradient2Limit`: each window compares
/// the window's mean latency with a no-load *baseline*, and moves the limit
/// by that ratio.
///
/// - `gradient = tolerance × baseline / mean`, kept within `[0.5, 1]`: at
///   or under `tolerance` times the baseline the dependency is not
///   queueing; above, the limit shrinks in proportion (at most by half a
///   window).
/// - While the window is within *half* the tolerance of the baseline
///   (1.1 times it, by default) and the calls actually use the limit (at
///   some point in the window, at least half of it in flight), the limit
///   grows by `√limit` (headroom to find more capacity); an idle limit
///   does not grow. Between half the tolerance and the tolerance it holds:
///   a dead band, so the limit settles instead of swinging around the
///   point where it starts to shrink.
/// - The new limit is smoothed: `limit × (1 − smoothing) + new × smoothing`.
///
/// The baseline is measured, not kept: at a limit near the dependency's
/// capacity every window is a little queued, so a baseline taken from
/// recent windows drifts up with the limit, and the limit with it (the
/// creep seen in Netflix's `Gradient2Limit` and failsafe-go). So every
/// `probe_every` windows the limit *probes*: it halves for three windows
/// (one for the calls in flight to drain, two measured), and the lower
/// measured mean is the new baseline, up or down. Between probes it does
/// not move: the lowest of many noisy windows would only ever fall, and
/// the limit with it. This is Envoy's adaptive concurrency filter's
/// answer (its `minRTT` window at a pinned concurrency). A probe costs
/// throughput: three windows in `probe_every + 3` at half the limit.
/// Before the first probe, the first window's mean is the baseline.
///
/// Defaults: `tolerance` 1.2, `smoothing` 0.2, `probe_every` 50.
/// Netflix's default tolerance is 1.5; but a saturated dependency's latency
/// grows in proportion to the calls in flight (Little's law), so the limit
/// settles between `1 + (tolerance − 1) / 2` and `tolerance` times the
/// dependency's capacity: 10 to 20 % more calls in flight than it serves at
/// once with 1.2, 25 to 50 % more with 1.5.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient {
    tolerance: f64,
    smoothing: f64,
    probe_every: u32,
}

impl Default for Gradient {
    fn default() -> Self {
        Self::new()
    }
}

impl Gradient {
    /// The defaults (see [`Gradient`]).
    pub fn new() -> Self {
        Self {
            tolerance: 1.2,
            smoothing: 0.2,
            probe_every: 50,
        }
    }

    /// How much slower than the baseline a window may be before the limit
    /// shrinks. Default 1.2.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `tolerance` unless it is in `[1, 10]`.
    pub fn tolerance(mut self, tolerance: f64) -> Result<Self, ConfigError> {
        if !(1.0..=10.0).contains(&tolerance) {
            return Err(ConfigError::new(
                "tolerance",
                tolerance,
                "must be in [1, 10]",
            ));
        }
        self.tolerance = tolerance;
        Ok(self)
    }

    /// How far each window moves the limit toward its new value. Default 0.2.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `smoothing` unless it is in `(0, 1]`.
    pub fn smoothing(mut self, smoothing: f64) -> Result<Self, ConfigError> {
        if !(smoothing > 0.0 && smoothing <= 1.0) {
            return Err(ConfigError::new(
                "smoothing",
                smoothing,
                "must be in (0, 1]",
            ));
        }
        self.smoothing = smoothing;
        Ok(self)
    }

    /// How many windows pass between two probes of the baseline.
    /// Default 50: a probe's three windows at half the limit take about as
    /// long as five at the full limit, a tenth of the time.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `probe_every` unless it is in
    /// `[1, 10 000]`.
    pub fn probe_every(mut self, windows: u32) -> Result<Self, ConfigError> {
        if !(1..=10_000).contains(&windows) {
            return Err(ConfigError::new(
                "probe_every",
                windows,
                "must be in [1, 10000]",
            ));
        }
        self.probe_every = windows;
        Ok(self)
    }
}

/// An AIMD limit: a window with a drop (a timeout, a failure) cuts the
/// limit by `backoff`; a window without, whose calls used at least half of
/// the limit, raises it by `increase`. Default `backoff` 0.9, `increase` 1
/// (Netflix's `AIMDLimit`).
#[derive(Clone, Debug, PartialEq)]
pub struct Aimd {
    backoff: f64,
    increase: u32,
}

impl Default for Aimd {
    fn default() -> Self {
        Self::new()
    }
}

impl Aimd {
    /// The defaults (see [`Aimd`]).
    pub fn new() -> Self {
        Self {
            backoff: 0.9,
            increase: 1,
        }
    }

    /// The factor a window with a drop multiplies the limit by. Default 0.9.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `backoff` unless it is in `[0.5, 1)`.
    pub fn backoff(mut self, backoff: f64) -> Result<Self, ConfigError> {
        if !(0.5..1.0).contains(&backoff) {
            return Err(ConfigError::new("backoff", backoff, "must be in [0.5, 1)"));
        }
        self.backoff = backoff;
        Ok(self)
    }

    /// What a window without a drop adds to a used limit. Default 1.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `increase` unless it is in `[1, 1000]`.
    pub fn increase(mut self, increase: u32) -> Result<Self, ConfigError> {
        if !(1..=1000).contains(&increase) {
            return Err(ConfigError::new(
                "increase",
                increase,
                "must be in [1, 1000]",
            ));
        }
        self.increase = increase;
        Ok(self)
    }
}

/// Where a gradient limit's baseline probe stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Probe {
    /// Not probing: this many windows since the last probe.
    After(u32),
    /// The limit is halved; the calls admitted before drain this window.
    Draining,
    /// The limit is halved; the lowest mean of this window and the next
    /// (some calls admitted before the probe may still end in the first)
    /// is the new baseline.
    Measuring(Option<f64>),
}

/// An algorithm with its state: the limit as a real number (so small
/// steps add up) and, for the gradient, the baseline and its probe.
#[derive(Debug)]
pub(crate) struct Estimator {
    algorithm: Algorithm,
    estimate: f64,
    baseline: Option<f64>,
    probe: Probe,
    min: u32,
    max: u32,
}

impl Estimator {
    pub(crate) fn new(algorithm: Algorithm, initial: u32, min: u32, max: u32) -> Self {
        Self {
            algorithm,
            estimate: f64::from(initial),
            baseline: None,
            probe: Probe::After(0),
            min,
            max,
        }
    }

    /// The no-load latency the gradient compares with, once measured.
    #[cfg(test)]
    pub(crate) fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    /// Whether the limit is halved to measure the baseline.
    pub(crate) fn probing(&self) -> bool {
        !matches!(self.probe, Probe::After(_))
    }

    /// The limit callers get now: the estimate, or half of it while
    /// probing; within `[min, max]`, truncated (7.9 lets 7 calls in).
    fn current(&self) -> u32 {
        let limit = if self.probing() {
            (self.estimate / 2.0).max(f64::from(self.min))
        } else {
            self.estimate
        };
        limit as u32
    }

    /// Moves the limit after `window`; the limit callers get now.
    pub(crate) fn update(&mut self, window: Window) -> u32 {
        let limit = self.estimate;
        let used = f64::from(window.peak) * 2.0 >= limit;
        let next = match &self.algorithm {
            Algorithm::Gradient(g) => match self.probe {
                Probe::Draining => {
                    self.probe = Probe::Measuring(None);
                    limit
                }
                Probe::Measuring(None) => {
                    self.probe = Probe::Measuring(Some(window.mean_micros));
                    limit
                }
                Probe::Measuring(Some(first)) => {
                    self.baseline = Some(first.min(window.mean_micros));
                    self.probe = Probe::After(0);
                    limit
                }
                Probe::After(windows) => {
                    // Only a probe (or the first window) sets it: the
                    // lowest of many noisy windows would only ever fall.
                    let baseline = *self.baseline.get_or_insert(window.mean_micros);
                    // How much slower than the baseline the window was.
                    let ratio = if baseline > 0.0 {
                        window.mean_micros / baseline
                    } else {
                        1.0
                    };
                    let gradient = (g.tolerance / ratio).clamp(0.5, 1.0);
                    let headroom = if ratio <= 1.0 + (g.tolerance - 1.0) / 2.0 && used {
                        limit.sqrt()
                    } else {
                        0.0
                    };
                    let new = limit * gradient + headroom;
                    self.probe = if windows + 1 >= g.probe_every {
                        Probe::Draining
                    } else {
                        Probe::After(windows + 1)
                    };
                    if used {
                        limit * (1.0 - g.smoothing) + new * g.smoothing
                    } else {
                        // Not what holds the calls back: left alone.
                        limit
                    }
                }
            },
            Algorithm::Aimd(a) => {
                if window.drops > 0 {
                    limit * a.backoff
                } else if used {
                    limit + f64::from(a.increase)
                } else {
                    limit
                }
            }
        };
        self.estimate = next.clamp(f64::from(self.min), f64::from(self.max));
        self.current()
    }

    /// New bounds; the limit is brought within them.
    /// The floor and the ceiling.
    pub(crate) fn bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    pub(crate) fn set_bounds(&mut self, min: u32, max: u32) -> u32 {
        self.min = min;
        self.max = max;
        self.estimate = self.estimate.clamp(f64::from(min), f64::from(max));
        self.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(mean: f64, drops: u32, peak: u32) -> Window {
        Window {
            mean_micros: mean,
            drops,
            peak,
        }
    }

    #[test]
    fn gradient_grows_a_used_limit_while_latency_stays_at_the_baseline() {
        let mut e = Estimator::new(Algorithm::default(), 16, 1, 1000);
        assert_eq!(e.update(window(1000.0, 0, 16)), 16); // 16 + 0.2 × 4 = 16.8
        assert_eq!(e.update(window(1000.0, 0, 16)), 17);
    }

    #[test]
    fn gradient_leaves_an_unused_limit_alone_whatever_the_latency() {
        let mut e = Estimator::new(Algorithm::default(), 16, 1, 1000);
        for mean in [1000.0, 900.0, 5000.0, 1000.0, 3000.0] {
            assert_eq!(e.update(window(mean, 0, 3)), 16);
        }
    }

    #[test]
    fn gradient_shrinks_in_proportion_to_the_latency_over_tolerance() {
        let mut e = Estimator::new(Algorithm::default(), 100, 1, 1000);
        e.update(window(1000.0, 0, 100)); // baseline 1 ms
        let before = e.estimate;
        // 2.4 ms: gradient 1.2 / 2.4 = 0.5; smoothed: 80 % old + 20 % half.
        e.update(window(2400.0, 0, 100));
        assert!((e.estimate - before * 0.9).abs() < 1e-9, "{}", e.estimate);
    }

    #[test]
    fn a_probe_halves_the_limit_for_two_windows_and_measures_the_baseline_anew() {
        let g = Gradient::new().probe_every(3).unwrap();
        let mut e = Estimator::new(Algorithm::Gradient(g), 10, 1, 1000);
        assert_eq!(e.update(window(100.0, 0, 0)), 10);
        assert_eq!(e.update(window(100.0, 0, 0)), 10);
        assert!(!e.probing());
        assert_eq!(e.update(window(100.0, 0, 0)), 5, "halved: the probe drains");
        assert!(e.probing());
        assert_eq!(e.update(window(100.0, 0, 0)), 5, "the drained window");
        assert_eq!(e.update(window(950.0, 0, 0)), 5, "measured");
        assert_eq!(
            e.update(window(900.0, 0, 0)),
            10,
            "measured: the probe is over"
        );
        // The lower measured mean is the new baseline, up as well as down.
        assert_eq!(e.baseline(), Some(900.0));
        assert!(!e.probing());
        // Between probes it stays.
        e.update(window(300.0, 0, 0));
        assert_eq!(e.baseline(), Some(900.0));
    }

    #[test]
    fn aimd_cuts_on_a_drop_and_adds_when_used() {
        let mut e = Estimator::new(Algorithm::Aimd(Aimd::new()), 100, 1, 1000);
        assert_eq!(e.update(window(1.0, 1, 100)), 90);
        assert_eq!(e.update(window(1.0, 0, 90)), 91);
        assert_eq!(e.update(window(1.0, 0, 10)), 91);
    }

    #[test]
    fn the_limit_keeps_within_its_bounds() {
        let mut e = Estimator::new(Algorithm::Aimd(Aimd::new()), 5, 4, 6);
        for _ in 0..10 {
            e.update(window(1.0, 1, 5));
        }
        assert_eq!(e.update(window(1.0, 1, 5)), 4);
        for _ in 0..10 {
            e.update(window(1.0, 0, 6));
        }
        assert_eq!(e.update(window(1.0, 0, 6)), 6);
    }

    #[test]
    fn settings_out_of_range_name_their_field() {
        assert_eq!(
            Gradient::new().tolerance(0.9).unwrap_err().field(),
            "tolerance"
        );
        assert_eq!(
            Gradient::new().tolerance(f64::NAN).unwrap_err().field(),
            "tolerance"
        );
        assert_eq!(
            Gradient::new().smoothing(0.0).unwrap_err().field(),
            "smoothing"
        );
        assert_eq!(
            Gradient::new().probe_every(0).unwrap_err().field(),
            "probe_every"
        );
        assert_eq!(Aimd::new().backoff(1.0).unwrap_err().field(), "backoff");
        assert_eq!(Aimd::new().increase(0).unwrap_err().field(), "increase");
    }
}
