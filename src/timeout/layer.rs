//! The timeout as a tower layer.

use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use super::future::{Running, TimeoutResponse};
use super::Timeout;
use crate::error::Error;
use crate::limits::MAX_DURATION;
use crate::name::Name;
use crate::timer::Timer;

/// How long a request may take: a fixed duration (the [`Timeout`]'s), or a
/// function of the request (a deadline header, a per-route budget).
/// `None` means no limit.
pub trait PerRequest<Req> {
    /// The time `req` has.
    fn duration(&self, req: &Req) -> Option<Duration>;
}

/// The [`Timeout`]'s own duration, for every request.
#[derive(Clone, Copy, Debug)]
pub struct Fixed(Option<Duration>);

impl<Req> PerRequest<Req> for Fixed {
    #[inline]
    fn duration(&self, _: &Req) -> Option<Duration> {
        self.0
    }
}

impl<Req, F: Fn(&Req) -> Option<Duration>> PerRequest<Req> for F {
    #[inline]
    fn duration(&self, req: &Req) -> Option<Duration> {
        self(req)
    }
}

/// A tower [`Layer`] that gives each call of the inner service a deadline.
///
/// # Examples
///
/// ```
/// use palisade::timeout::{Timeout, TimeoutLayer};
/// use palisade::timer::ManualTimer;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let timeout = Timeout::builder().duration(Duration::from_secs(2)).timer(ManualTimer::new()).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(TimeoutLayer::new(timeout))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) }));
/// assert_eq!(futures::executor::block_on(svc.oneshot(1)).unwrap(), 2);
///
/// // Or a deadline from the request itself:
/// let timeout = Timeout::builder().timer(ManualTimer::new()).build()?;
/// let layer = TimeoutLayer::per_request(timeout, |ms: &u64| Some(Duration::from_millis(*ms)));
/// # let _ = layer;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TimeoutLayer<T, D = Fixed> {
    timer: T,
    duration: D,
    name: Name,
}

impl<T: Timer + Clone> TimeoutLayer<T, Fixed> {
    /// Every call gets `timeout`'s duration.
    pub fn new(timeout: Timeout<T>) -> Self {
        Self {
            duration: Fixed(timeout.duration),
            timer: timeout.timer,
            name: timeout.name,
        }
    }
}

impl<T: Timer + Clone, D> TimeoutLayer<T, D> {
    /// Each call gets the duration `duration` picks for its request (`None`:
    /// no limit), measured with `timeout`'s timer and named as it is.
    pub fn per_request(timeout: Timeout<T>, duration: D) -> Self {
        Self {
            duration,
            timer: timeout.timer,
            name: timeout.name,
        }
    }
}

impl<S, T: Clone, D: Clone> Layer<S> for TimeoutLayer<T, D> {
    type Service = TimeoutService<S, T, D>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            timer: self.timer.clone(),
            duration: self.duration.clone(),
            name: self.name.clone(),
        }
    }
}

/// A tower [`Service`] whose calls have a deadline; made by
/// [`TimeoutLayer`]. The deadline starts in `call`; `poll_ready` passes the
/// inner service's readiness through (its errors as [`Error::Operation`]).
/// On expiry the inner response future is dropped and the call resolves to
/// [`Error::TimedOut`].
#[derive(Clone, Debug)]
pub struct TimeoutService<S, T, D = Fixed> {
    inner: S,
    timer: T,
    duration: D,
    name: Name,
}

impl<S, T, D, Req> Service<Req> for TimeoutService<S, T, D>
where
    S: Service<Req>,
    T: Timer,
    D: PerRequest<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = TimeoutResponse<S::Future, T::Sleep>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Operation)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let after = self.duration.duration(&req).map(|d| d.min(MAX_DURATION));
        let fut = self.inner.call(req);
        // The deadline starts with the call.
        let sleep = after.map(|d| self.timer.sleep(d));
        TimeoutResponse {
            stage: Running::Running { fut, sleep },
            // Free for a `&'static str` name; a name made at run time is
            // one reference count per call.
            name: self.name.clone(),
            after: after.unwrap_or_default(),
        }
    }
}

inner_service!(TimeoutService<S, T, D>);
