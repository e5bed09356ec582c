//! Time as `u64` nanoseconds from a [`Clock`].
//!
//! Everything in palisade that needs the time takes it from a `Clock`, as a
//! `u64` count of nanoseconds from an arbitrary origin, so it fits in an
//! atomic and tests can drive it by hand with [`ManualClock`].
//!
//! The clocks, measured on the development machine (`BENCHMARKS.md`):
//!
//! | clock | one read | resolution |
//! |---|---|---|
//! | `std::time::Instant::now()` | ~19 ns | 1 ns |
//! | [`MonotonicClock`] (TSC via `quanta`) | ~10 ns | 1 ns |
//! | [`CoarseClock`] (`CLOCK_MONOTONIC_COARSE`, Linux) | ~4 ns | the kernel tick, 4 ms here |
//! | [`CachedClock`] (a thread of its own stores the time) | one load, < 1 ns | its interval, 1 ms by default |
//!
//! [`DefaultClock`] is `CoarseClock` where it exists (Linux, Android) and
//! `MonotonicClock` elsewhere: palisade reads the clock at most twice per
//! call, and only for slow-call timing and time-based windows, where a
//! few milliseconds of resolution are fine for durations measured in tens
//! or hundreds of milliseconds. Choose `MonotonicClock` for slow-call
//! durations of a few milliseconds, and `CachedClock` where the clock
//! reads are what a call costs (slow-call timing on a hot path: two reads
//! a call); it is not the default because it runs a thread (see its
//! docs).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of monotonic time in nanoseconds.
///
/// Implementations must never go backwards for a single caller; the origin is
/// arbitrary (only differences and bucket alignment matter).
///
/// # Examples
///
/// ```
/// use palisade::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now_nanos(), 5_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds since this clock's origin.
    fn now_nanos(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    #[inline]
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

/// The default clock: a fast monotonic source (TSC where the CPU has a
/// stable one, the OS monotonic clock otherwise), via `quanta`.
///
/// Its origin is the moment it was created.
///
/// # Examples
///
/// ```
/// use palisade::clock::{Clock, MonotonicClock};
///
/// let clock = MonotonicClock::new();
/// let a = clock.now_nanos();
/// let b = clock.now_nanos();
/// assert!(b >= a);
/// ```
#[derive(Clone)]
pub struct MonotonicClock {
    clock: quanta::Clock,
    origin: u64,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Self { clock, origin }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MonotonicClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonotonicClock").finish_non_exhaustive()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // `delta_as_nanos` clamps to 0 if the raw reading is not after the
        // origin, so a small cross-core skew can never underflow.
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// For tests: no test in palisade sleeps to let time pass.
///
/// # Examples
///
/// ```
/// use palisade::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let handle = clock.clone();
/// handle.advance(Duration::from_secs(1));
/// assert_eq!(clock.now_nanos(), 1_000_000_000);
/// clock.set_nanos(42);
/// assert_eq!(handle.now_nanos(), 42);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock at `nanos`.
    pub fn starting_at(nanos: u64) -> Self {
        let clock = Self::new();
        clock.set_nanos(nanos);
        clock
    }

    /// Moves the clock forward by `by` (saturating at `u64::MAX` nanoseconds).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the clock value is a standalone number; callers that need
        // ordering with other data get it from their own synchronization.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `nanos`; tests may move it backwards on purpose.
    pub fn set_nanos(&self, nanos: u64) {
        // Relaxed: see `advance`.
        self.nanos.store(nanos, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // Relaxed: see `advance`.
        self.nanos.load(Ordering::Relaxed)
    }
}

/// The coarse monotonic clock of the kernel (`CLOCK_MONOTONIC_COARSE`):
/// about 4 ns a read, advancing once per kernel tick (1 to 4 ms).
///
/// Its origin is the moment it was created.
///
/// # Examples
///
/// ```
/// use palisade::clock::{Clock, CoarseClock};
///
/// let clock = CoarseClock::new();
/// assert!(clock.resolution() <= std::time::Duration::from_millis(10));
/// let a = clock.now_nanos();
/// assert!(clock.now_nanos() >= a);
/// ```
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Clone, Copy, Debug)]
pub struct CoarseClock {
    origin: u64,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl CoarseClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Self::read(),
        }
    }

    /// How far apart two distinct readings are at least.
    pub fn resolution(&self) -> Duration {
        let res = rustix::time::clock_getres(rustix::time::ClockId::MonotonicCoarse);
        Duration::new(res.tv_sec.max(0) as u64, res.tv_nsec.max(0) as u32)
    }

    #[inline]
    fn read() -> u64 {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        (ts.tv_sec.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec.max(0) as u64)
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Clock for CoarseClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        Self::read().saturating_sub(self.origin)
    }
}

/// A clock read from memory: a thread of its own stores the time every
/// `interval` (1 ms by default), and a read is one relaxed load.
///
/// Slow-call timing (two reads a call) adds about 2 ns on it against
/// 6.5 ns on [`CoarseClock`] (`BENCHMARKS.md`): the clock for a hot
/// breaker with slow-call timing or a time window. The time it gives is the time of
/// the last tick, so it trails the true time by up to one interval, more
/// if the machine is so loaded that the thread is not scheduled; it never
/// goes backwards. Its resolution is the interval, finer than
/// `CoarseClock`'s kernel tick (4 ms here) by default.
///
/// Make one and clone it into every guard that should use it: clones
/// share one thread, which wakes once per interval and exits within one
/// interval of the last clone's drop. It is not the default clock because
/// of that thread: a library should not start threads its user did not
/// ask for, and a process that `fork`s without `exec` would keep a copy
/// whose thread does not exist in the child (its time would stand still).
/// Its origin is the moment it was created.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::clock::{CachedClock, Clock};
/// use std::time::Duration;
///
/// let clock = CachedClock::new()?;
/// let a = clock.now_nanos();
/// assert!(clock.now_nanos() >= a);
///
/// let breaker = CircuitBreaker::builder()
///     .slow_call_duration(Duration::from_millis(500))
///     .clock(clock.clone())
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CachedClock {
    shared: Arc<Cached>,
}

/// What the clones of a [`CachedClock`] and its thread share.
struct Cached {
    /// Nanoseconds from `origin` at the last tick, on a line of its own:
    /// the thread's writes invalidate no other data.
    nanos: crossbeam_utils::CachePadded<AtomicU64>,
    origin: std::time::Instant,
    interval: Duration,
}

impl Cached {
    fn tick(&self) {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the time is a standalone number. One writer reading a
        // monotonic source, so readers never see it go backwards.
        self.nanos.store(nanos, Ordering::Relaxed);
    }
}

/// Cached clock threads running, for tests.
static TICKING: AtomicU64 = AtomicU64::new(0);

impl CachedClock {
    /// The shortest interval [`with_interval`](Self::with_interval) takes:
    /// shorter would keep a core busy for little gain.
    pub const MIN_INTERVAL: Duration = Duration::from_micros(100);
    /// The longest interval: a clock that trails by more than a second is
    /// no use to a guard.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(1);

    /// A clock ticking every millisecond, on a new thread.
    ///
    /// # Errors
    ///
    /// The operating system's error if it cannot start the thread.
    pub fn new() -> std::io::Result<Self> {
        Self::with_interval(Duration::from_millis(1))
    }

    /// A clock ticking every `interval`, on a new thread.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the interval if it is outside
    /// [`MIN_INTERVAL`](Self::MIN_INTERVAL)..=[`MAX_INTERVAL`](Self::MAX_INTERVAL);
    /// the operating system's error if it cannot start the thread.
    pub fn with_interval(interval: Duration) -> std::io::Result<Self> {
        if !(Self::MIN_INTERVAL..=Self::MAX_INTERVAL).contains(&interval) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cached clock interval {interval:?}: must be from 100µs to 1s"),
            ));
        }
        let shared = Arc::new(Cached {
            nanos: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
            origin: std::time::Instant::now(),
            interval,
        });
        let weak = Arc::downgrade(&shared);
        // Relaxed: a count for tests, which wait for it to settle.
        TICKING.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name("palisade-clock".into())
            .spawn(move || {
                // The thread holds the clock only while it ticks, so the
                // last clone's drop ends it.
                while let Some(shared) = weak.upgrade() {
                    shared.tick();
                    let interval = shared.interval;
                    drop(shared);
                    std::thread::sleep(interval);
                }
                TICKING.fetch_sub(1, Ordering::Relaxed);
            })
            .inspect_err(|_| {
                TICKING.fetch_sub(1, Ordering::Relaxed);
            })?;
        Ok(Self { shared })
    }

    /// The interval between ticks.
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }

    /// Cached clock threads running in this process (for tests).
    #[doc(hidden)]
    pub fn threads_running() -> u64 {
        TICKING.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for CachedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedClock")
            .field("interval", &self.shared.interval)
            .field("nanos", &self.now_nanos())
            .finish()
    }
}

impl Clock for CachedClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // Relaxed: see `Cached::tick`.
        self.shared.nanos.load(Ordering::Relaxed)
    }
}

/// Tokio's clock: `tokio::time::Instant`, so paused tokio time
/// (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`) drives it
/// as it drives [`TokioTimer`](crate::timer::TokioTimer). With the `tokio`
/// feature it is the clock of every guard that sleeps on the default
/// timer and is given no clock (a retry's maximum elapsed time, a
/// bulkhead's wait times), and of ratio retry budgets: one time source.
/// A circuit breaker keeps its faster [`DefaultClock`]; give it this one
/// in tests on paused time. Outside tokio's test-util, it reads
/// `std::time::Instant`.
///
/// # Examples
///
/// ```
/// use palisade::clock::{Clock, TokioClock};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let clock = TokioClock::new();
/// tokio::time::sleep(Duration::from_secs(60)).await; // instant: time is paused
/// assert_eq!(clock.now_nanos(), 60_000_000_000);
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The clock breakers use unless told otherwise: [`CoarseClock`] on Linux
/// and Android, [`MonotonicClock`] elsewhere (see the module docs).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub type DefaultClock = CoarseClock;

/// The clock breakers use unless told otherwise: [`CoarseClock`] on Linux
/// and Android, [`MonotonicClock`] elsewhere (see the module docs).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub type DefaultClock = MonotonicClock;

/// Converts a duration to nanoseconds, or `None` if it does not fit a `u64`.
pub(crate) fn duration_nanos(d: Duration) -> Option<u64> {
    u64::try_from(d.as_nanos()).ok()
}
