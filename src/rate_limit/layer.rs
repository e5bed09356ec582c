//! The rate limit as a tower layer.

use std::hash::Hash;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::RateLimitResponse;
use super::guard::Turn;
use super::{KeyedRateLimit, RateLimit, RateLimited};
use crate::error::Error;

/// A tower [`Layer`] that puts a [`RateLimit`] around the inner service.
///
/// # Examples
///
/// ```
/// use palisade::rate_limit::{RateLimit, RateLimitLayer};
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let limit = RateLimit::builder().rate(1, Duration::from_secs(60)).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(RateLimitLayer::new(limit))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// futures::executor::block_on(async {
///     assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
///     let limited = svc.oneshot(2).await.unwrap_err();
///     assert!(limited.is_rate_limited());
/// });
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limit: RateLimit,
}

impl RateLimitLayer {
    /// A layer for `limit` (it may be shared).
    pub fn new(limit: RateLimit) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limit: self.limit.clone(),
            state: State::Idle,
        }
    }
}

/// What the service holds for its next call.
#[derive(Debug)]
enum State {
    /// Nothing asked yet.
    Idle,
    /// Waiting for a turn (a limit with a `max_wait`).
    Waiting(Turn),
    /// A turn taken: the next call goes.
    Reserved,
    /// Over the rate: the next call is rejected.
    Rejected(RateLimited),
}

/// A tower [`Service`] under a [`RateLimit`]; made by [`RateLimitLayer`].
///
/// It keeps the tower contract: `poll_ready` takes the next call's turn;
/// over the rate it waits for the turn only when the limit has a
/// `max_wait` and the turn is within it, and otherwise is ready at once
/// without polling the inner service: the call's response future then
/// resolves to [`Error::RateLimited`]. A turn taken by `poll_ready` and
/// never used (the service dropped) is spent; a clone starts with none.
pub struct RateLimitService<S> {
    inner: S,
    limit: RateLimit,
    state: State,
}

impl<S: Clone> Clone for RateLimitService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limit: self.limit.clone(),
            state: State::Idle,
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limit", &self.limit)
            .field("state", &self.state)
            .finish()
    }
}

impl<S, Req> Service<Req> for RateLimitService<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = RateLimitResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            match &mut self.state {
                State::Idle => {
                    self.state = match Turn::ask(&*self.limit.inner, None) {
                        Ok(None) => State::Reserved,
                        Ok(Some(turn)) => State::Waiting(turn),
                        Err(limited) => State::Rejected(limited),
                    };
                }
                State::Waiting(turn) => {
                    self.state = match std::task::ready!(turn.poll(&*self.limit.inner, cx)) {
                        Ok(()) => State::Reserved,
                        Err(limited) => State::Rejected(limited),
                    };
                }
                State::Reserved => return self.inner.poll_ready(cx).map_err(Error::Operation),
                // Rejected: the call will not reach the inner service.
                State::Rejected(_) => return Poll::Ready(Ok(())),
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Reserved => RateLimitResponse::called(self.inner.call(req)),
            State::Rejected(limited) => RateLimitResponse::limited(limited),
            // Called without `poll_ready` (a contract breach): asked now,
            // without waiting.
            State::Idle | State::Waiting(_) => match self.limit.try_acquire() {
                Ok(()) => RateLimitResponse::called(self.inner.call(req)),
                Err(limited) => RateLimitResponse::limited(limited),
            },
        }
    }
}

inner_service!(RateLimitService<S>);

/// A tower [`Layer`] that puts a [`KeyedRateLimit`] around the inner
/// service: each request counts on the rate of its key (`key(&req)`: a
/// tenant, a route, a client id).
///
/// The key is known only in `call`, so the turn is taken there, without
/// waiting: over its key's rate a request is rejected by the response
/// future ([`Error::RateLimited`]) and the inner service is not called;
/// `poll_ready` is the inner service's (it cannot know whether the next
/// request will be rejected).
///
/// # Examples
///
/// ```
/// use palisade::rate_limit::{KeyedRateLimitLayer, RateLimit};
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let per_tenant = RateLimit::builder().rate(1, Duration::from_secs(60)).build_keyed::<u32>()?;
/// let svc = ServiceBuilder::new()
///     .layer(KeyedRateLimitLayer::new(per_tenant, |tenant: &u32| *tenant))
///     .service(service_fn(|tenant: u32| async move { Ok::<_, std::io::Error>(tenant) }));
/// futures::executor::block_on(async {
///     assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
///     assert_eq!(svc.clone().oneshot(2).await.unwrap(), 2);
///     assert!(svc.oneshot(1).await.unwrap_err().is_rate_limited());
/// });
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct KeyedRateLimitLayer<K: Hash + Eq + Clone, F> {
    limit: KeyedRateLimit<K>,
    key: F,
}

impl<K: Hash + Eq + Clone, F> KeyedRateLimitLayer<K, F> {
    /// A layer counting each request on the rate of `key(&request)`.
    pub fn new(limit: KeyedRateLimit<K>, key: F) -> Self {
        Self { limit, key }
    }
}

impl<K: Hash + Eq + Clone, F: Clone> Clone for KeyedRateLimitLayer<K, F> {
    fn clone(&self) -> Self {
        Self {
            limit: self.limit.clone(),
            key: self.key.clone(),
        }
    }
}

impl<K: Hash + Eq + Clone, F> std::fmt::Debug for KeyedRateLimitLayer<K, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<S, K: Hash + Eq + Clone, F: Clone> Layer<S> for KeyedRateLimitLayer<K, F> {
    type Service = KeyedRateLimitService<S, K, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limit: self.limit.clone(),
            key: self.key.clone(),
        }
    }
}

/// A tower [`Service`] under a [`KeyedRateLimit`]; made by
/// [`KeyedRateLimitLayer`].
pub struct KeyedRateLimitService<S, K: Hash + Eq + Clone, F> {
    inner: S,
    limit: KeyedRateLimit<K>,
    key: F,
}

impl<S: Clone, K: Hash + Eq + Clone, F: Clone> Clone for KeyedRateLimitService<S, K, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limit: self.limit.clone(),
            key: self.key.clone(),
        }
    }
}

impl<S: std::fmt::Debug, K: Hash + Eq + Clone, F> std::fmt::Debug
    for KeyedRateLimitService<S, K, F>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("inner", &self.inner)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<S, K, F, Req> Service<Req> for KeyedRateLimitService<S, K, F>
where
    S: Service<Req>,
    K: Hash + Eq + Clone,
    F: Fn(&Req) -> K,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = RateLimitResponse<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Operation)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.limit.try_acquire(&(self.key)(&req)) {
            Ok(()) => RateLimitResponse::called(self.inner.call(req)),
            Err(limited) => RateLimitResponse::limited(limited),
        }
    }
}

inner_service!(KeyedRateLimitService<S, K, F> where K: Hash + Eq + Clone);
