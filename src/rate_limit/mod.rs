//! Rate limit: at most so many calls per period, per instance or per key
//! (a downstream's published quota, a tenant's share).
//!
//! The counting is [`governor`]'s GCRA (a well-kept implementation: one
//! compare-and-swap per call, no background task), timed on palisade's own
//! clocks, so it runs on any runtime and under a manual clock in tests. A
//! call over the rate is rejected at once with [`Error::RateLimited`](crate::Error::RateLimited),
//! which says how long until the next call would go
//! ([`RateLimited::retry_after`]: a server's `Retry-After`), or, with
//! [`max_wait`](RateLimitBuilder::max_wait), waits for its turn on the
//! limit's timer when that turn is near enough. Waiters do not queue: each
//! sleeps until the turn it was told of and asks again, so when several
//! wait for one turn, one gets it and the others wait for the next, or
//! are rejected once that would pass their maximum wait.
//!
//! A [`RateLimit`] is a future wrapper ([`call`](RateLimit::call)), a
//! tower layer ([`RateLimitLayer`]: a wait happens in `poll_ready`, a
//! rejection comes from the response future) and a limiter a
//! [`Pipeline`](crate::pipeline::Pipeline) can hold in the bulkhead's place.
//! A [`KeyedRateLimit`] keeps a rate per key, as a wrapper and as a tower
//! layer ([`KeyedRateLimitLayer`], the key read from each request).
//!
//! With the `metrics` feature, every rejection counts in
//! `palisade_rate_limit_rejected_total`, labelled `rate_limit` = its name.
//!
//! # Examples
//!
//! ```
//! use palisade::rate_limit::RateLimit;
//! use std::time::Duration;
//!
//! // The partner's quota: 10 calls a second, 5 at once after a quiet spell.
//! let limit = RateLimit::builder()
//!     .name("partner")
//!     .rate(10, Duration::from_secs(1))
//!     .burst(5)
//!     .build()?;
//! for _ in 0..5 {
//!     limit.try_acquire().unwrap();
//! }
//! let limited = limit.try_acquire().unwrap_err();
//! assert!(limited.retry_after() <= Duration::from_millis(100));
//! # Ok::<(), palisade::ConfigError>(())
//! ```

mod builder;
mod error;
pub mod future;
pub(crate) mod guard;
#[cfg(feature = "tower")]
mod layer;

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::Quota;

pub use builder::RateLimitBuilder;
pub use error::RateLimited;
pub use future::RateLimitCall;
#[cfg(feature = "tower")]
pub use future::RateLimitResponse;
#[cfg(feature = "tower")]
pub use layer::{KeyedRateLimitLayer, KeyedRateLimitService, RateLimitLayer, RateLimitService};

use crate::clock::Clock;
use guard::{Check, Settings};

/// palisade's clock as governor's: nanoseconds as a `Duration` since the
/// clock's origin.
#[derive(Clone)]
pub(crate) struct GovClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovClock {
    type Instant = Duration;

    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.now_nanos())
    }
}

type Direct = governor::RateLimiter<NotKeyed, InMemoryState, GovClock, NoOpMiddleware<Duration>>;
type Keyed<K> = governor::RateLimiter<K, DashMapStateStore<K>, GovClock, NoOpMiddleware<Duration>>;

pub(crate) struct Inner {
    pub(crate) settings: Settings,
    limiter: Direct,
}

impl Check for Inner {
    #[inline]
    fn check(&self) -> Result<(), Duration> {
        self.limiter.check().map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(self.limiter.clock()))
        })
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// The direct limit a [`RateLimitCall`] asks.
pub struct DirectCheck<'a>(&'a Inner);

impl Check for DirectCheck<'_> {
    #[inline]
    fn check(&self) -> Result<(), Duration> {
        self.0.check()
    }

    fn settings(&self) -> &Settings {
        &self.0.settings
    }
}

impl std::fmt::Debug for DirectCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DirectCheck")
            .field(&self.0.settings.name)
            .finish()
    }
}

/// At most so many calls per period (see the [module docs](self)). Cheap
/// to clone: clones share the count.
#[derive(Clone)]
pub struct RateLimit {
    pub(crate) inner: Arc<Inner>,
}

impl RateLimit {
    /// A builder with the defaults (100 calls a second).
    pub fn builder() -> RateLimitBuilder {
        RateLimitBuilder::default()
    }

    fn from_parts(settings: Settings, quota: Quota, clock: GovClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                limiter: governor::RateLimiter::direct_with_clock(quota, clock),
            }),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.inner.settings.name.as_str()
    }

    /// Takes a turn now, if there is one.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] with the time until the next turn.
    #[inline]
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        self.inner
            .check()
            .map_err(|wait| self.inner.settings.rejected(wait))
    }

    /// Runs `make()`'s future when the rate allows: at once, after a wait
    /// of at most [`max_wait`](RateLimitBuilder::max_wait), or not at all.
    ///
    /// # Errors
    ///
    /// [`Error::RateLimited`](crate::Error::RateLimited) (`make` is not
    /// called), or [`Error::Operation`](crate::Error::Operation) with the
    /// operation's error.
    pub fn call<F, Fut, T, E>(&self, make: F) -> RateLimitCall<DirectCheck<'_>, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        RateLimitCall::new(DirectCheck(&self.inner), make)
    }
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("name", &self.name())
            .field("max_wait", &self.inner.settings.max_wait)
            .finish_non_exhaustive()
    }
}

/// A rate per key (see [`RateLimitBuilder::build_keyed`]): each key
/// counts on its own. Keys are kept until [`retain_recent`](Self::retain_recent)
/// drops those back at a full burst; call it now and then (a key space
/// from remote input grows without it).
pub struct KeyedRateLimit<K: Hash + Eq + Clone> {
    inner: Arc<KeyedInner<K>>,
}

impl<K: Hash + Eq + Clone> Clone for KeyedRateLimit<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct KeyedInner<K: Hash + Eq + Clone> {
    settings: Settings,
    limiter: Keyed<K>,
}

/// One key's turn in a [`KeyedRateLimit`], for its call future.
pub struct KeyedCheck<'a, K: Hash + Eq + Clone> {
    inner: &'a KeyedInner<K>,
    key: K,
}

impl<K: Hash + Eq + Clone> Check for KeyedCheck<'_, K> {
    #[inline]
    fn check(&self) -> Result<(), Duration> {
        self.inner
            .limiter
            .check_key(&self.key)
            .map_err(|not_until| {
                not_until.wait_time_from(governor::clock::Clock::now(self.inner.limiter.clock()))
            })
    }

    fn settings(&self) -> &Settings {
        &self.inner.settings
    }
}

impl<K: Hash + Eq + Clone + std::fmt::Debug> std::fmt::Debug for KeyedCheck<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCheck")
            .field("key", &self.key)
            .finish()
    }
}

impl<K: Hash + Eq + Clone> KeyedRateLimit<K> {
    fn from_parts(settings: Settings, quota: Quota, clock: GovClock) -> Self {
        Self {
            inner: Arc::new(KeyedInner {
                settings,
                limiter: governor::RateLimiter::dashmap_with_clock(quota, clock),
            }),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.inner.settings.name.as_str()
    }

    /// Takes a turn for `key` now, if it has one.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] with the time until `key`'s next turn.
    pub fn try_acquire(&self, key: &K) -> Result<(), RateLimited> {
        self.inner.limiter.check_key(key).map_err(|not_until| {
            let wait =
                not_until.wait_time_from(governor::clock::Clock::now(self.inner.limiter.clock()));
            self.inner.settings.rejected(wait)
        })
    }

    /// As [`RateLimit::call`], on `key`'s rate.
    ///
    /// # Errors
    ///
    /// As [`RateLimit::call`].
    pub fn call<F, Fut, T, E>(&self, key: K, make: F) -> RateLimitCall<KeyedCheck<'_, K>, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        RateLimitCall::new(
            KeyedCheck {
                inner: &self.inner,
                key,
            },
            make,
        )
    }

    /// Forgets the keys whose rate is back at a full burst (their state is
    /// a fresh key's).
    pub fn retain_recent(&self) {
        self.inner.limiter.retain_recent();
    }

    /// How many keys it keeps (an estimate under concurrent use).
    pub fn keys(&self) -> usize {
        self.inner.limiter.len()
    }
}

impl<K: Hash + Eq + Clone> std::fmt::Debug for KeyedRateLimit<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimit")
            .field("name", &self.name())
            .field("keys", &self.keys())
            .finish_non_exhaustive()
    }
}
