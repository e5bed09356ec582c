//! The rate limit's futures: [`RateLimitCall`] from
//! [`RateLimit::call`](super::RateLimit::call) and
//! [`KeyedRateLimit::call`](super::KeyedRateLimit::call), and
//! [`RateLimitResponse`], the tower service's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::guard::{Check, Turn};
#[cfg(feature = "tower")]
use super::RateLimited;
use crate::error::Error;

pin_project! {
    /// A call under a rate limit, from
    /// [`RateLimit::call`](super::RateLimit::call): asks for its turn at
    /// the first poll, waits for it when configured to, then runs the
    /// operation (`make` is called only then).
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting, it takes no turn.
    #[must_use = "futures do nothing unless polled"]
    pub struct RateLimitCall<C, F, Fut> {
        #[pin]
        fut: Option<Fut>,
        make: Option<F>,
        turn: Option<Turn>,
        started: bool,
        limit: C,
    }
}

impl<C, F, Fut> RateLimitCall<C, F, Fut> {
    pub(super) fn new(limit: C, make: F) -> Self {
        Self {
            fut: None,
            make: Some(make),
            turn: None,
            started: false,
            limit,
        }
    }
}

impl<C, F, Fut, T, E> Future for RateLimitCall<C, F, Fut>
where
    C: Check,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.started {
            *this.started = true;
            match Turn::ask(this.limit, None) {
                Ok(turn) => *this.turn = turn,
                Err(limited) => return Poll::Ready(Err(Error::RateLimited(limited))),
            }
        }
        if let Some(turn) = this.turn.as_mut() {
            if let Err(limited) = std::task::ready!(turn.poll(this.limit, cx)) {
                *this.turn = None;
                return Poll::Ready(Err(Error::RateLimited(limited)));
            }
            *this.turn = None;
        }
        if let Some(make) = this.make.take() {
            this.fut.set(Some(make()));
        }
        let fut = this.fut.as_pin_mut().expect("polled after completion");
        fut.poll(cx).map_err(Error::Operation)
    }
}

impl<C, F, Fut> std::fmt::Debug for RateLimitCall<C, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitCall")
            .field("waiting", &self.turn.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of
    /// [`RateLimitService`](super::RateLimitService): the inner call, or
    /// the rejection.
    #[must_use = "futures do nothing unless polled"]
    pub struct RateLimitResponse<F> {
        #[pin]
        fut: Option<F>,
        limited: Option<RateLimited>,
    }
}

#[cfg(feature = "tower")]
impl<F> RateLimitResponse<F> {
    pub(super) fn called(fut: F) -> Self {
        Self {
            fut: Some(fut),
            limited: None,
        }
    }

    pub(super) fn limited(limited: RateLimited) -> Self {
        Self {
            fut: None,
            limited: Some(limited),
        }
    }
}

#[cfg(feature = "tower")]
impl<F, T, E> Future for RateLimitResponse<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.fut.as_pin_mut() {
            Some(fut) => fut.poll(cx).map_err(Error::Operation),
            None => Poll::Ready(Err(Error::RateLimited(
                this.limited.take().expect("polled after completion"),
            ))),
        }
    }
}

#[cfg(feature = "tower")]
impl<F> std::fmt::Debug for RateLimitResponse<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitResponse").finish_non_exhaustive()
    }
}
