//! The one place parapet waits for time to pass: a small [`Timer`] trait,
//! in the spirit of `hyper::rt::Timer`, so that what needs a timer
//! (timeouts, retry delays) is not tied to one runtime.
//!
//! [`TokioTimer`] implements it on tokio (feature `tokio`, on by default).
//! Everything else in parapet (the windows, the circuit breaker) needs no
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
/// use parapet::timer::Timer;
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
}

/// The tokio timer: `tokio::time::sleep`, so paused tokio time
/// (`tokio::time::pause`) drives it in tests.
///
/// # Examples
///
/// ```
/// use parapet::timer::{Timer, TokioTimer};
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
}

/// A boxed sleep: what a guard that waits only on its slow path holds, so
/// that its types need no timer parameter.
pub(crate) type BoxSleep = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// [`Timer`] behind a pointer (its `Sleep` boxed): for guards that sleep
/// only on a slow path (a bulkhead's queue), where one allocation per wait
/// is nothing next to the wait.
pub(crate) trait DynTimer: Send + Sync + 'static {
    fn sleep_boxed(&self, duration: Duration) -> BoxSleep;
}

impl<T: Timer> DynTimer for T {
    fn sleep_boxed(&self, duration: Duration) -> BoxSleep {
        let sleep = self.sleep(duration);
        Box::pin(async move {
            sleep.await;
        })
    }
}

/// The timer guards use unless given one: tokio's with the `tokio`
/// feature, none without.
pub(crate) fn default_timer() -> Option<std::sync::Arc<dyn DynTimer>> {
    #[cfg(feature = "tokio")]
    return Some(std::sync::Arc::new(TokioTimer));
    #[cfg(not(feature = "tokio"))]
    None
}
