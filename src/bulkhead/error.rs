//! The bulkhead's rejection: [`BulkheadFull`].

use std::fmt;
use std::time::Duration;

use crate::name::Name;

/// Why a bulkhead turned a call away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Every place was taken and the bulkhead does not queue (fail fast),
    /// or its queue of waiters was full too.
    Full,
    /// The call waited in the queue for the maximum wait and got no place.
    WaitTimedOut,
    /// A thread pool shut down before the job ran.
    ShutDown,
    /// An [`AdaptiveLimit`](crate::adaptive::AdaptiveLimit) had as many
    /// calls in flight as its current limit.
    AdaptiveLimit,
}

/// A call was rejected by a bulkhead: which one, its limit, and whether it
/// was full or the wait timed out. No allocation: the name is the
/// bulkhead's (see [`BulkheadBuilder::name`](super::BulkheadBuilder::name)).
///
/// # Examples
///
/// ```
/// use palisade::bulkhead::{Bulkhead, Rejection};
///
/// let bulkhead = Bulkhead::builder().name("search").max_concurrent(1).build()?;
/// let _held = bulkhead.try_acquire().unwrap();
/// let full = bulkhead.try_acquire().unwrap_err();
/// assert_eq!(full.name(), "search");
/// assert_eq!(full.limit(), 1);
/// assert_eq!(full.reason(), Rejection::Full);
/// assert_eq!(full.to_string(), "full at 1 concurrent call");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BulkheadFull {
    name: Name,
    limit: u32,
    reason: Rejection,
    /// How long the call waited (0 when it did not).
    waited_nanos: u64,
}

impl BulkheadFull {
    pub(crate) fn new(name: Name, limit: u32, reason: Rejection, waited: Duration) -> Self {
        Self {
            name,
            limit,
            reason,
            waited_nanos: u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// The name of the bulkhead.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Its limit of concurrent calls when it rejected the call.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Full, or the wait timed out.
    pub fn reason(&self) -> Rejection {
        self.reason
    }

    /// How long the call waited for a place (zero unless it queued).
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos)
    }

    /// The kind of guard that rejected the call, as logs name it: a thread
    /// pool's shutdown is the pool's, an adaptive limit's rejection its
    /// own; every other rejection is a bulkhead's.
    pub(crate) fn guard(&self) -> &'static str {
        match self.reason {
            Rejection::ShutDown => "thread pool",
            Rejection::AdaptiveLimit => "adaptive limit",
            _ => "bulkhead",
        }
    }

    /// Finds a `BulkheadFull` in an error or its chain of sources (for
    /// `BoxError` stacks).
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BulkheadFull> {
        crate::error::find_in(error)
    }
}

impl fmt::Debug for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadFull")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .field("reason", &self.reason)
            .field("waited", &self.waited())
            .finish()
    }
}

/// The details of the rejection: full, or no place within the wait, and
/// the limit. Which bulkhead it was is [`name`](BulkheadFull::name), and
/// the [`Error`](crate::Error) around it says it.
impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls = if self.limit == 1 { "call" } else { "calls" };
        match self.reason {
            Rejection::ShutDown => f.write_str("shut down"),
            Rejection::AdaptiveLimit => {
                write!(
                    f,
                    "full at its current limit of {} concurrent {calls}",
                    self.limit
                )
            }
            Rejection::WaitTimedOut => write!(
                f,
                "no place within {} at {} concurrent {calls}",
                crate::error::HumanDuration(self.waited()),
                self.limit
            ),
            _ => write!(f, "full at {} concurrent {calls}", self.limit),
        }
    }
}

impl std::error::Error for BulkheadFull {}
