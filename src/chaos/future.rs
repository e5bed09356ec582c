//! The chaos futures: [`ChaosCall`] from [`Chaos::call`](super::Chaos::call),
//! and [`ChaosResponse`], the tower service's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{Fault, Inner, Roll};
use crate::timer::BoxSleep;

pin_project! {
    /// A call chaos may touch, from [`Chaos::call`](super::Chaos::call):
    /// the dice are rolled at the first poll; a fault answers at once (the
    /// operation is never made), a delay sleeps before the operation is
    /// made.
    #[must_use = "futures do nothing unless polled"]
    pub struct ChaosCall<'a, F, M, Fut> {
        #[pin]
        fut: Option<Fut>,
        make: Option<M>,
        sleep: Option<BoxSleep>,
        picked: bool,
        inner: &'a Inner<F>,
    }
}

impl<'a, F, M, Fut> ChaosCall<'a, F, M, Fut> {
    pub(super) fn new(inner: &'a Inner<F>, make: M, picked: bool) -> Self {
        Self {
            fut: None,
            make: Some(make),
            sleep: None,
            picked,
            inner,
        }
    }
}

impl<F, M, Fut, T, E> Future for ChaosCall<'_, F, M, Fut>
where
    F: Fault<T, E>,
    M: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.fut.is_none() {
            if this.sleep.is_none() && std::mem::take(this.picked) {
                match this.inner.roll() {
                    Roll::Untouched => {}
                    Roll::Fault => {
                        *this.make = None;
                        return Poll::Ready(this.inner.fault().inject());
                    }
                    Roll::Delay(delay) => *this.sleep = Some(this.inner.sleep(delay)),
                }
            }
            if let Some(sleep) = this.sleep.as_mut() {
                std::task::ready!(sleep.as_mut().poll(cx));
                *this.sleep = None;
            }
            let make = this.make.take().expect("polled after completion");
            this.fut.set(Some(make()));
        }
        this.fut.as_pin_mut().expect("made").poll(cx)
    }
}

impl<F, M, Fut> std::fmt::Debug for ChaosCall<'_, F, M, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosCall")
            .field("delayed", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of [`ChaosService`](super::ChaosService): the
    /// inner call (after an injected delay, if rolled), or the fault's
    /// outcome (the inner service never called).
    #[must_use = "futures do nothing unless polled"]
    pub struct ChaosResponse<Fut, T, E> {
        #[pin]
        fut: Option<Fut>,
        sleep: Option<BoxSleep>,
        fault: Option<Result<T, E>>,
    }
}

#[cfg(feature = "tower")]
impl<Fut, T, E> ChaosResponse<Fut, T, E> {
    pub(super) fn called(fut: Fut, sleep: Option<BoxSleep>) -> Self {
        Self {
            fut: Some(fut),
            sleep,
            fault: None,
        }
    }

    pub(super) fn faulted(outcome: Result<T, E>) -> Self {
        Self {
            fut: None,
            sleep: None,
            fault: Some(outcome),
        }
    }
}

#[cfg(feature = "tower")]
impl<Fut, T, E> Future for ChaosResponse<Fut, T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(outcome) = this.fault.take() {
            return Poll::Ready(outcome);
        }
        if let Some(sleep) = this.sleep.as_mut() {
            std::task::ready!(sleep.as_mut().poll(cx));
            *this.sleep = None;
        }
        this.fut
            .as_pin_mut()
            .expect("polled after completion")
            .poll(cx)
    }
}

#[cfg(feature = "tower")]
impl<Fut, T, E> std::fmt::Debug for ChaosResponse<Fut, T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosResponse")
            .field("delayed", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}
