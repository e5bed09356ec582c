//! The adaptive limit's futures: [`AdaptiveCall`] from
//! [`AdaptiveLimit::call`](super::AdaptiveLimit::call), and
//! [`AdaptiveResponse`], the tower service's response future.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::guard::Place;
use super::{Ended, Inner};
#[cfg(feature = "tower")]
use crate::bulkhead::BulkheadFull;
use crate::error::Error;

/// Polls the operation in `place`; when it completes, the call ends: `Ok`
/// a sample, `Err` a drop; a panic in its poll, a drop.
#[inline]
fn poll_placed<R, F, T, E>(
    fut: Pin<&mut F>,
    place: &mut Place<R>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>>
where
    R: Deref<Target = Inner>,
    F: Future<Output = Result<T, E>>,
{
    let result =
        std::task::ready!(crate::unwind::poll_noting_unwind(fut, cx, || place.end(Ended::Dropped)));
    place.end(if result.is_ok() {
        Ended::Completed
    } else {
        Ended::Dropped
    });
    Poll::Ready(result.map_err(Error::Operation))
}

pin_project! {
    /// A call under an [`AdaptiveLimit`](super::AdaptiveLimit), from
    /// [`AdaptiveLimit::call`](super::AdaptiveLimit::call). The place is
    /// taken at the first poll (its latency counts from there); at the
    /// limit, the first poll returns the rejection and `make` is never
    /// called.
    ///
    /// # Cancel safety
    ///
    /// Dropped before it completes, it gives its place back as a cancelled
    /// call: no latency sample.
    #[must_use = "futures do nothing unless polled"]
    pub struct AdaptiveCall<'a, F, Fut> {
        #[pin]
        fut: Option<Fut>,
        make: Option<F>,
        place: Option<Place<&'a Inner>>,
        inner: &'a Inner,
    }
}

impl<'a, F, Fut> AdaptiveCall<'a, F, Fut> {
    pub(super) fn new(inner: &'a Inner, make: F) -> Self {
        Self {
            fut: None,
            make: Some(make),
            place: None,
            inner,
        }
    }
}

impl<F, Fut, T, E> Future for AdaptiveCall<'_, F, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(make) = this.make.take() {
            match Place::admit(*this.inner) {
                Ok(place) => {
                    *this.place = Some(place);
                    this.fut.set(Some(make()));
                }
                Err(full) => return Poll::Ready(Err(Error::BulkheadFull(full))),
            }
        }
        let fut = this.fut.as_pin_mut().expect("polled after completion");
        let place = this.place.as_mut().expect("admitted");
        poll_placed(fut, place, cx)
    }
}

impl<F, Fut> std::fmt::Debug for AdaptiveCall<'_, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveCall")
            .field("limit", &self.inner.name)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of
    /// [`AdaptiveLimitService`](super::AdaptiveLimitService): holds the
    /// place until the inner future completes (a sample) or this is dropped
    /// (cancelled).
    #[must_use = "futures do nothing unless polled"]
    pub struct AdaptiveResponse<F> {
        #[pin]
        fut: Option<F>,
        admitted: Result<Place<crate::lease::Lease<Inner>>, Option<BulkheadFull>>,
    }
}

#[cfg(feature = "tower")]
impl<F> AdaptiveResponse<F> {
    pub(super) fn new(
        admitted: Result<Place<crate::lease::Lease<Inner>>, BulkheadFull>,
        call: impl FnOnce() -> F,
    ) -> Self {
        match admitted {
            Ok(place) => Self {
                fut: Some(call()),
                admitted: Ok(place),
            },
            Err(full) => Self {
                fut: None,
                admitted: Err(Some(full)),
            },
        }
    }
}

#[cfg(feature = "tower")]
impl<F, T, E> Future for AdaptiveResponse<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.admitted {
            Ok(place) => poll_placed(this.fut.as_pin_mut().expect("admitted"), place, cx),
            Err(full) => Poll::Ready(Err(Error::BulkheadFull(
                full.take().expect("polled after completion"),
            ))),
        }
    }
}

#[cfg(feature = "tower")]
impl<F> std::fmt::Debug for AdaptiveResponse<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveResponse").finish_non_exhaustive()
    }
}
