//! The rate limit's rejection: [`RateLimited`].

use std::fmt;
use std::time::Duration;

use crate::name::Name;

/// A call was rejected by a rate limit: which one, and how long until it
/// would let a call through (a server's `Retry-After`, rounded up to whole
/// seconds). No allocation: the name is the limit's.
///
/// # Examples
///
/// ```
/// use palisade::rate_limit::RateLimit;
/// use std::time::Duration;
///
/// let limit = RateLimit::builder().name("partner-api").rate(1, Duration::from_secs(10)).build()?;
/// limit.try_acquire().unwrap();
/// let limited = limit.try_acquire().unwrap_err();
/// assert_eq!(limited.name(), "partner-api");
/// assert!(limited.retry_after() <= Duration::from_secs(10));
/// assert_eq!(limited.retry_after_secs(), 10);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RateLimited {
    name: Name,
    retry_after_nanos: u64,
}

impl RateLimited {
    pub(crate) fn new(name: Name, retry_after: Duration) -> Self {
        Self {
            name,
            retry_after_nanos: u64::try_from(retry_after.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// The name of the rate limit.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How long until the limit would let a call through (as it stood when
    /// it rejected this one).
    pub fn retry_after(&self) -> Duration {
        Duration::from_nanos(self.retry_after_nanos)
    }

    /// [`retry_after`](Self::retry_after) in whole seconds, rounded up, as
    /// an HTTP `Retry-After` header carries it.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_nanos.div_ceil(1_000_000_000)
    }

    /// Finds a `RateLimited` in an error or its chain of sources (for
    /// `BoxError` stacks).
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a RateLimited> {
        crate::error::find_in(error)
    }
}

impl fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("name", &self.name)
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

/// When the limit would let a call through; which limit it was is
/// [`name`](RateLimited::name), and the [`Error`](crate::Error) around it
/// says it.
impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "over its rate: next call in {}",
            crate::error::HumanDuration(self.retry_after())
        )
    }
}

impl std::error::Error for RateLimited {}
