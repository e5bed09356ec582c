//! The one place palisade waits for time to pass: a small [`Timer`] trait,
//! in the spirit of `hyper::rt::Timer`, so that what needs a timer
//! (timeouts, retry delays) is not tied to one runtime.
//!
//! [`TokioTimer`] implements it on tokio (feature `tokio`, on by default).
//! Everything else in palisade (the windows, the circuit breaker) needs no
//! timer and no runtime at all.

use std::future::Future;
use std::time::Duration;

/// Makes futures that complete after a duration.
///
/// # Examples
///
/// A timer for any executor, built on a thread (for illustration; use the
/// runtime's own timer in production):
///
/// ```
/// use palisade::timer::Timer;
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// struct ThreadTimer;
///
/// impl Timer for ThreadTimer {
///     type Sleep = futures::channel::oneshot::Receiver<()>;
///
///     fn sleep(&self, duration: Duration) -> Self::Sleep {
///         let (tx, rx) = futures::channel::oneshot::channel();
///         std::thread::spawn(move || {
///             std::thread::sleep(duration);
///             let _ = tx.send(());
///         });
///         rx
///     }
/// }
///
/// let _ = futures::executor::block_on(ThreadTimer.sleep(Duration::from_millis(1)));
/// ```
pub trait Timer: Send + Sync + 'static {
    /// The future `sleep` returns.
    type Sleep: Future + Send;

    /// A future that completes once `duration` has passed.
    fn sleep(&self, duration: Duration) -> Self::Sleep;

    /// A clock that reads the time this timer sleeps on, if it has one. A
    /// guard that both sleeps on the timer and measures time (a retry's
    /// maximum elapsed time, a bulkhead's wait times) and is given no clock
    /// uses this one, so paused or hand-driven time drives both alike.
    /// Default `None`: the crate's [`DefaultClock`](crate::clock::DefaultClock).
    fn clock(&self) -> Option<std::sync::Arc<dyn crate::clock::Clock>> {
        None
    }

    /// How long `sleep` has left, if this timer can tell. A pipeline asks
    /// it of its total timeout only when a retry is due, so that a retry
    /// whose wait would end past the total timeout is not made, without a
    /// clock read on every call. Default `None`: the pipeline cannot tell,
    /// and such a retry waits into the timeout.
    fn remaining(&self, sleep: &Self::Sleep) -> Option<Duration> {
        let _ = sleep;
        None
    }
}

/// The tokio timer: `tokio::time::sleep`, so paused tokio time
/// (`tokio::time::pause`) drives it in tests. Its clock is
/// [`TokioClock`](crate::clock::TokioClock), on the same time.
///
/// # Examples
///
/// ```
/// use palisade::timer::{Timer, TokioTimer};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = tokio::time::Instant::now();
/// TokioTimer.sleep(Duration::from_secs(60)).await; // instant: time is paused
/// assert_eq!(start.elapsed(), Duration::from_secs(60));
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTimer;

#[cfg(feature = "tokio")]
impl Timer for TokioTimer {
    type Sleep = tokio::time::Sleep;

    #[inline]
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn clock(&self) -> Option<std::sync::Arc<dyn crate::clock::Clock>> {
        Some(std::sync::Arc::new(crate::clock::TokioClock::new()))
    }

    fn remaining(&self, sleep: &Self::Sleep) -> Option<Duration> {
        Some(
            sleep
                .deadline()
                .saturating_duration_since(tokio::time::Instant::now()),
        )
    }
}

/// A timer driven by hand, for tests on any executor: sleeps complete when
/// [`advance`](Self::advance) moves its time past their deadline. It is also
/// a [`Clock`](crate::clock::Clock) reading the same time, so a guard that
/// both sleeps and measures elapsed time (retry's maximum elapsed time)
/// sees one consistent time.
///
/// # Examples
///
/// ```
/// use palisade::timer::{ManualTimer, Timer};
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
/// use std::time::Duration;
///
/// let timer = ManualTimer::new();
/// let mut sleep = pin!(timer.sleep(Duration::from_secs(5)));
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(sleep.as_mut().poll(&mut cx).is_pending());
/// timer.advance(Duration::from_secs(5));
/// assert!(sleep.as_mut().poll(&mut cx).is_ready());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualTimer {
    inner: std::sync::Arc<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    now: std::sync::atomic::AtomicU64,
    next_id: std::sync::atomic::AtomicU64,
    /// Sleeps waiting: id, deadline, waker.
    sleepers: parking_lot::Mutex<Vec<(u64, u64, std::task::Waker)>>,
}

impl ManualTimer {
    /// A timer at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward by `by` and wakes the sleeps now due.
    pub fn advance(&self, by: Duration) {
        use std::sync::atomic::Ordering::SeqCst;
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let now = self
            .inner
            .now
            .fetch_update(SeqCst, SeqCst, |n| Some(n.saturating_add(by)))
            .map_or(u64::MAX, |before| before.saturating_add(by));
        let due: Vec<_> = {
            let mut sleepers = self.inner.sleepers.lock();
            let (due, waiting) = std::mem::take(&mut *sleepers)
                .into_iter()
                .partition(|(_, deadline, _)| *deadline <= now);
            *sleepers = waiting;
            due
        };
        for (_, _, waker) in due {
            waker.wake();
        }
    }

    /// Time since the timer was made (the sum of the advances).
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now())
    }

    /// The time until the earliest sleep waiting (polled, not yet due, not
    /// dropped) is due: what to [`advance`](Self::advance) by to wake it.
    pub fn next_wake(&self) -> Option<Duration> {
        let now = self.now();
        let sleepers = self.inner.sleepers.lock();
        let earliest = sleepers.iter().map(|(_, deadline, _)| *deadline).min()?;
        Some(Duration::from_nanos(earliest.saturating_sub(now)))
    }

    /// Sleeps polled at least once, not yet due and not dropped.
    pub fn sleeping(&self) -> usize {
        self.inner.sleepers.lock().len()
    }

    fn now(&self) -> u64 {
        self.inner.now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Timer for ManualTimer {
    type Sleep = ManualSleep;

    fn sleep(&self, duration: Duration) -> ManualSleep {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        ManualSleep {
            timer: self.clone(),
            id: self
                .inner
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            deadline: self.now().saturating_add(nanos),
        }
    }

    fn clock(&self) -> Option<std::sync::Arc<dyn crate::clock::Clock>> {
        Some(std::sync::Arc::new(self.clone()))
    }

    fn remaining(&self, sleep: &ManualSleep) -> Option<Duration> {
        Some(Duration::from_nanos(
            sleep.deadline.saturating_sub(self.now()),
        ))
    }
}

impl crate::clock::Clock for ManualTimer {
    fn now_nanos(&self) -> u64 {
        self.now()
    }
}

/// The sleep of a [`ManualTimer`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ManualSleep {
    timer: ManualTimer,
    id: u64,
    deadline: u64,
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        self.timer
            .inner
            .sleepers
            .lock()
            .retain(|(id, ..)| *id != self.id);
    }
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.timer.now() >= self.deadline {
            return std::task::Poll::Ready(());
        }
        let mut sleepers = self.timer.inner.sleepers.lock();
        // Checked again under the lock: `advance` takes it to wake.
        if self.timer.now() >= self.deadline {
            return std::task::Poll::Ready(());
        }
        match sleepers.iter_mut().find(|(id, ..)| *id == self.id) {
            Some((.., waker)) if waker.will_wake(cx.waker()) => {}
            Some((.., waker)) => *waker = cx.waker().clone(),
            None => sleepers.push((self.id, self.deadline, cx.waker().clone())),
        }
        std::task::Poll::Pending
    }
}

/// A boxed sleep: what a guard that waits only on its slow path holds, so
/// that its types need no timer parameter.
pub(crate) type BoxSleep = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// [`Timer`] behind a pointer (its `Sleep` boxed): for guards that sleep
/// only on a slow path (a bulkhead's queue), where one allocation per wait
/// is nothing next to the wait.
pub(crate) trait DynTimer: Send + Sync + 'static {
    fn sleep_boxed(&self, duration: Duration) -> BoxSleep;

    /// [`Timer::clock`].
    fn clock(&self) -> Option<std::sync::Arc<dyn crate::clock::Clock>>;
}

impl<T: Timer> DynTimer for T {
    fn sleep_boxed(&self, duration: Duration) -> BoxSleep {
        let sleep = self.sleep(duration);
        Box::pin(async move {
            sleep.await;
        })
    }

    fn clock(&self) -> Option<std::sync::Arc<dyn crate::clock::Clock>> {
        Timer::clock(self)
    }
}

/// The clock of a guard given `clock`, or else the clock of its `timer`,
/// or else the crate's [`DefaultClock`](crate::clock::DefaultClock).
pub(crate) fn clock_for(
    clock: Option<std::sync::Arc<dyn crate::clock::Clock>>,
    timer: Option<&dyn DynTimer>,
) -> std::sync::Arc<dyn crate::clock::Clock> {
    clock
        .or_else(|| timer.and_then(DynTimer::clock))
        .unwrap_or_else(|| std::sync::Arc::new(crate::clock::DefaultClock::new()))
}

/// The timer guards use unless given one: tokio's with the `tokio`
/// feature, none without.
pub(crate) fn default_timer() -> Option<std::sync::Arc<dyn DynTimer>> {
    #[cfg(feature = "tokio")]
    return Some(std::sync::Arc::new(TokioTimer));
    #[cfg(not(feature = "tokio"))]
    None
}
