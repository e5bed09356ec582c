//! The fallback's futures: [`FallbackCall`] from
//! [`Fallback::call`](super::Fallback::call), and [`FallbackResponse`], the
//! tower service's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{Handler, Served, When};

pin_project! {
    #[project = StageProj]
    pub(super) enum Stage<Fut, Fb> {
        Running { #[pin] fut: Fut },
        Falling { #[pin] fallback: Fb },
    }
}

impl<Fut, Fb> Stage<Fut, Fb> {
    /// Polls the operation, then the fallback if the error was picked.
    #[inline]
    pub(super) fn poll_with<T, E, H, W>(
        mut self: Pin<&mut Self>,
        handler: &H,
        when: &W,
        served: &Served,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, E>>
    where
        Fut: Future<Output = Result<T, E>>,
        H: Handler<E, T, Future = Fb>,
        Fb: Future<Output = T>,
        W: When<E>,
    {
        loop {
            match self.as_mut().project() {
                StageProj::Running { fut } => match std::task::ready!(fut.poll(cx)) {
                    Err(e) if when.applies(&e) => {
                        served.count();
                        self.set(Stage::Falling {
                            fallback: handler.handle(e),
                        });
                    }
                    other => return Poll::Ready(other),
                },
                StageProj::Falling { fallback } => return fallback.poll(cx).map(Ok),
            }
        }
    }
}

pin_project! {
    /// The future of [`Fallback::call`](super::Fallback::call).
    #[must_use = "futures do nothing unless polled"]
    pub struct FallbackCall<'a, H, W, Fut, Fb> {
        #[pin]
        pub(super) stage: Stage<Fut, Fb>,
        pub(super) handler: &'a H,
        pub(super) when: &'a W,
        pub(super) served: &'a Served,
    }
}

impl<H, W, Fut, Fb, T, E> Future for FallbackCall<'_, H, W, Fut, Fb>
where
    Fut: Future<Output = Result<T, E>>,
    H: Handler<E, T, Future = Fb>,
    Fb: Future<Output = T>,
    W: When<E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.stage
            .poll_with(*this.handler, *this.when, this.served, cx)
    }
}

impl<H, W, Fut, Fb> std::fmt::Debug for FallbackCall<'_, H, W, Fut, Fb> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackCall").finish_non_exhaustive()
    }
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of [`FallbackService`](super::FallbackService).
    #[must_use = "futures do nothing unless polled"]
    pub struct FallbackResponse<F, Fb, H, W> {
        #[pin]
        pub(super) stage: Stage<F, Fb>,
        pub(super) handler: H,
        pub(super) when: W,
        pub(super) served: Served,
    }
}

#[cfg(feature = "tower")]
impl<F, Fb, H, W, T, E> Future for FallbackResponse<F, Fb, H, W>
where
    F: Future<Output = Result<T, E>>,
    H: Handler<E, T, Future = Fb>,
    Fb: Future<Output = T>,
    W: When<E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.stage
            .poll_with(this.handler, this.when, this.served, cx)
    }
}

#[cfg(feature = "tower")]
impl<F, Fb, H, W> std::fmt::Debug for FallbackResponse<F, Fb, H, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackResponse").finish_non_exhaustive()
    }
}
