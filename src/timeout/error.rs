//! The timeout's error: [`TimedOut`].

use std::fmt;
use std::time::Duration;

use crate::name::Name;

/// An operation ran out of time and was dropped. No allocation: the name
/// is the timeout's.
///
/// # Examples
///
/// ```
/// use palisade::timeout::Timeout;
/// use palisade::timer::ManualTimer;
/// use std::time::Duration;
///
/// let timer = ManualTimer::new();
/// let timeout = Timeout::builder().name("search").duration(Duration::from_millis(300)).timer(timer.clone()).build()?;
/// let mut call = Box::pin(timeout.call(|| std::future::pending::<Result<(), ()>>()));
/// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// assert!(call.as_mut().poll(&mut cx).is_pending());
/// timer.advance(Duration::from_millis(300));
/// let std::task::Poll::Ready(Err(err)) = call.as_mut().poll(&mut cx) else { panic!() };
/// let palisade::Error::TimedOut(timed_out) = err else { panic!() };
/// assert_eq!(timed_out.after(), Duration::from_millis(300));
/// assert_eq!(timed_out.to_string(), "no result within 300ms");
/// # use std::future::Future;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TimedOut {
    name: Name,
    after_nanos: u64,
}

impl TimedOut {
    /// The error of timeout `name` firing, counted (feature `metrics`:
    /// `palisade_timeout_timed_out_total{timeout=...}`, looked up in the
    /// recorder in force at each firing, an error path: a timeout that never
    /// fires exports no series).
    pub(crate) fn new(name: Name, after: Duration) -> Self {
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(
                "palisade_timeout_timed_out_total",
                metrics::Unit::Count,
                "Calls (or attempts) a timeout dropped."
            );
            metrics::counter!("palisade_timeout_timed_out_total", "timeout" => name.as_str().to_owned())
                .increment(1);
        }
        Self {
            name,
            after_nanos: u64::try_from(after.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// The name of the timeout that fired.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How long the operation had: it was dropped after this.
    pub fn after(&self) -> Duration {
        Duration::from_nanos(self.after_nanos)
    }

    /// Finds a `TimedOut` in an error or its chain of sources (for
    /// `BoxError` stacks).
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TimedOut> {
        crate::error::find_in(error)
    }
}

impl fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedOut")
            .field("name", &self.name)
            .field("after", &self.after())
            .finish()
    }
}

/// The details: how long the operation had. Which timeout it was is
/// [`name`](TimedOut::name), and the [`Error`](crate::Error) around it says
/// it.
impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no result within {}",
            crate::error::HumanDuration(self.after())
        )
    }
}

impl std::error::Error for TimedOut {}
