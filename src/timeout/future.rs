//! The future of [`Timeout::call`](super::Timeout::call), and the race it
//! shares with the tower response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::TimedOut;
use crate::error::Error;
use crate::name::Name;
use crate::timer::Timer;

pin_project! {
    /// A future with a deadline, from [`Timeout::call`](super::Timeout::call).
    ///
    /// The deadline starts at the first poll; `make` builds the operation
    /// then. If the operation and the deadline are both ready at one poll,
    /// the operation's result wins.
    ///
    /// # Cancel safety
    ///
    /// On expiry, and when this future is dropped, the operation's future is
    /// dropped: its work stops and what it holds is released.
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutCall<'a, T: Timer, F, Fut> {
        #[pin]
        stage: Stage<F, Fut, T::Sleep>,
        timer: &'a T,
        name: &'a Name,
        duration: Option<Duration>,
    }
}

pin_project! {
    #[project = StageProj]
    #[project_replace = StageTaken]
    pub(crate) enum Stage<F, Fut, S> {
        Waiting { make: F },
        Running {
            #[pin]
            fut: Fut,
            #[pin]
            sleep: Option<S>,
        },
        Done,
    }
}

impl<'a, T: Timer, F, Fut> TimeoutCall<'a, T, F, Fut> {
    pub(crate) fn new(timer: &'a T, name: &'a Name, duration: Option<Duration>, make: F) -> Self {
        Self {
            stage: Stage::Waiting { make },
            timer,
            name,
            duration,
        }
    }
}

impl<T, F, Fut, U, E> Future for TimeoutCall<'_, T, F, Fut>
where
    T: Timer,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<U, E>>,
{
    type Output = Result<U, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let StageProj::Waiting { .. } = this.stage.as_mut().project() {
            if let StageTaken::Waiting { make } = this.stage.as_mut().project_replace(Stage::Done) {
                // The deadline starts now, with the operation.
                let sleep = this.duration.map(|d| this.timer.sleep(d));
                this.stage.set(Stage::Running { fut: make(), sleep });
            }
        }
        let poll = match this.stage.as_mut().project() {
            StageProj::Running { fut, sleep } => {
                race(fut, sleep, this.name, this.duration.unwrap_or_default(), cx)
            }
            _ => panic!("`TimeoutCall` polled after completion"),
        };
        if poll.is_ready() {
            // Drops the operation (on expiry, that stops its work).
            this.stage.set(Stage::Done);
        }
        poll
    }
}

impl<T: Timer, F, Fut> std::fmt::Debug for TimeoutCall<'_, T, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutCall")
            .field("name", &self.name)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// Polls the operation, then the deadline: the operation wins a tie.
#[inline(always)]
pub(crate) fn race<Fut, S, U, E>(
    fut: Pin<&mut Fut>,
    sleep: Pin<&mut Option<S>>,
    name: &Name,
    after: Duration,
    cx: &mut Context<'_>,
) -> Poll<Result<U, Error<E>>>
where
    Fut: Future<Output = Result<U, E>>,
    S: Future,
{
    if let Poll::Ready(result) = fut.poll(cx) {
        return Poll::Ready(result.map_err(Error::Operation));
    }
    if passed(sleep, cx) {
        return Poll::Ready(Err(Error::TimedOut(TimedOut::new(name.clone(), after))));
    }
    Poll::Pending
}

/// Whether a deadline (`None`: no deadline) has passed; registers the
/// waker with it if not.
#[inline(always)]
pub(crate) fn passed<S: Future>(deadline: Pin<&mut Option<S>>, cx: &mut Context<'_>) -> bool {
    deadline
        .as_pin_mut()
        .is_some_and(|sleep| sleep.poll(cx).is_ready())
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of [`TimeoutService`](super::TimeoutService).
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutResponse<F, S> {
        #[pin]
        pub(super) stage: Running<F, S>,
        pub(super) name: Name,
        pub(super) after: Duration,
    }
}

#[cfg(feature = "tower")]
pin_project! {
    #[project = RunningProj]
    pub(super) enum Running<F, S> {
        Running {
            #[pin]
            fut: F,
            #[pin]
            sleep: Option<S>,
        },
        Done,
    }
}

#[cfg(feature = "tower")]
impl<F, S, U, E> Future for TimeoutResponse<F, S>
where
    F: Future<Output = Result<U, E>>,
    S: Future,
{
    type Output = Result<U, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let poll = match this.stage.as_mut().project() {
            RunningProj::Running { fut, sleep } => race(fut, sleep, this.name, *this.after, cx),
            RunningProj::Done => panic!("`TimeoutResponse` polled after completion"),
        };
        if poll.is_ready() {
            this.stage.set(Running::Done);
        }
        poll
    }
}

#[cfg(feature = "tower")]
impl<F, S> std::fmt::Debug for TimeoutResponse<F, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutResponse")
            .field("name", &self.name)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}
