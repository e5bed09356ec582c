//! The rate limit's side of a composed call: what every form of the limit
//! shares ([`Settings`], [`Check`]: one limit or one key of a keyed one),
//! the wait for a turn ([`Turn`]), and the pipeline's plain-data seat.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::RateLimited;
use crate::clock::Clock;
use crate::name::Name;
use crate::timer::{BoxSleep, DynTimer};

/// What a limit's calls share besides the count.
// `pub` (in a crate-private module) only because the public futures are
// generic over `Check`, whose method returns it.
#[allow(unreachable_pub)]
pub struct Settings {
    pub(crate) name: Name,
    pub(crate) max_wait: Duration,
    pub(crate) timer: Option<Arc<dyn DynTimer>>,
    pub(crate) clock: Arc<dyn Clock>,
    /// `palisade_rate_limit_rejected_total{rate_limit=NAME}`.
    #[cfg(feature = "metrics")]
    pub(crate) rejected: metrics::Counter,
}

impl Settings {
    /// A call over the rate: its rejection, counted.
    #[cold]
    pub(crate) fn rejected(&self, wait: Duration) -> RateLimited {
        #[cfg(feature = "metrics")]
        self.rejected.increment(1);
        RateLimited::new(self.name.clone(), wait)
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

/// Asks a limit for one call: `Ok`, or how long until the next would go.
#[allow(unreachable_pub)]
pub trait Check {
    /// Takes a turn now, or says how long until the next.
    fn check(&self) -> Result<(), Duration>;
    /// The limit's settings.
    fn settings(&self) -> &Settings;
}

/// Where a call waiting for its turn stands: when its wait began, and the
/// sleep until the turn it was told of.
#[allow(unreachable_pub)]
pub struct Turn {
    began: u64,
    sleep: BoxSleep,
}

impl Turn {
    /// Asks `limit` for a turn: `Ok(None)` now, `Ok(Some)` a wait within
    /// `max_wait` since `began` (the first ask's time, `None` for now),
    /// else the rejection.
    pub(crate) fn ask<C: Check + ?Sized>(
        limit: &C,
        began: Option<u64>,
    ) -> Result<Option<Turn>, RateLimited> {
        let wait = match limit.check() {
            Ok(()) => return Ok(None),
            Err(wait) => wait,
        };
        let settings = limit.settings();
        let now = settings.clock.now_nanos();
        let began = began.unwrap_or(now);
        let waited = Duration::from_nanos(now.saturating_sub(began));
        match &settings.timer {
            Some(timer) if waited + wait <= settings.max_wait => Ok(Some(Turn {
                began,
                sleep: timer.sleep_boxed(wait),
            })),
            _ => Err(settings.rejected(wait)),
        }
    }

    /// Waits for the turn, then asks again: `Ready(Ok)` with the turn
    /// taken, `Ready(Err)` when the next wait would go past `max_wait`.
    pub(crate) fn poll<C: Check + ?Sized>(
        &mut self,
        limit: &C,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), RateLimited>> {
        loop {
            std::task::ready!(self.sleep.as_mut().poll(cx));
            match Turn::ask(limit, Some(self.began))? {
                None => return Poll::Ready(Ok(())),
                Some(next) => *self = next,
            }
        }
    }
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

/// A composed call's standing with a rate limit: nothing to give back (a
/// turn is taken, not held).
#[allow(unreachable_pub)]
#[derive(Debug, Default)]
pub struct Seat;
