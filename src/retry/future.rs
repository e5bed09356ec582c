//! The future of [`Retry::call`](super::Retry::call).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
#[cfg(feature = "tower")]
use tower_service::Service;

use super::budget::BudgetCall;
use super::{Decision, GaveUp, RetryEventKind, RetryPolicy, Shared};
use crate::clock::Clock;
use crate::timer::BoxSleep;

pin_project! {
    /// A retried operation, from [`Retry::call`](super::Retry::call):
    /// resolves to the last attempt's own result.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the running attempt (or the wait before the next)
    /// and gives back what the call holds of the budget.
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryCall<'a, P, F, Fut> {
        #[pin]
        attempt: Option<Fut>,
        sleep: Option<BoxSleep>,
        make: F,
        shared: &'a Shared,
        policy: &'a P,
        progress: Progress,
    }

    impl<P, F, Fut> PinnedDrop for RetryCall<'_, P, F, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.progress.finish(this.shared);
        }
    }
}

/// Where a retried call stands: shared by the future wrapper and the tower
/// response future.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Attempts started.
    attempts: u32,
    /// Clock reading at the first attempt (with a maximum elapsed time).
    started: u64,
    previous_delay: Duration,
    budget: BudgetCall,
}

impl Progress {
    /// The first attempt starts, measured on the retry's own clock.
    #[inline]
    pub(crate) fn start(&mut self, shared: &Shared) {
        self.start_on(shared, &*shared.clock);
    }

    /// The first attempt starts, measured on `clock` (a pipeline's: its
    /// timer's time).
    #[inline]
    pub(crate) fn start_on(&mut self, shared: &Shared, clock: &dyn Clock) {
        self.attempts = 1;
        if shared.needs_start {
            self.start_slow(shared, clock);
        }
    }

    #[cold]
    fn start_slow(&mut self, shared: &Shared, clock: &dyn Clock) {
        if let Some(budget) = &shared.budget {
            budget.start(&mut self.budget);
        }
        if shared.max_elapsed.is_some() {
            self.started = clock.now_nanos();
        }
    }

    #[cfg(feature = "tower")]
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// What the call holds of its budget, taken over (the call is over,
    /// but its response is still being read).
    #[cfg(feature = "http")]
    pub(crate) fn take_hold(&mut self, shared: &Shared) -> Option<super::budget::BudgetHold> {
        let budget = shared.budget.as_ref()?;
        super::budget::BudgetHold::take(budget, &mut self.budget)
    }

    /// The call is over: gives back its budget holds (idempotent).
    #[inline]
    pub(crate) fn finish(&mut self, shared: &Shared) {
        if self.budget.holds() {
            if let Some(budget) = &shared.budget {
                budget.finish(&mut self.budget);
            }
        }
    }

    /// After an attempt: the wait before the next one, slept on the
    /// retry's own timer, or (`Err`) the result to return.
    #[inline]
    pub(crate) fn next<P, T, E>(
        &mut self,
        shared: &Shared,
        policy: &P,
        result: Result<T, E>,
    ) -> Result<BoxSleep, Result<T, E>>
    where
        P: RetryPolicy<T, E> + ?Sized,
    {
        match self.next_delay(shared, &*shared.clock, policy, &result, || None) {
            Some(delay) => Ok(shared.timer.sleep_boxed(delay)),
            None => Err(result),
        }
    }

    /// After an attempt that ended in `result`: how long to wait before
    /// the next one (measured on `clock`), or `None` if `result` is the
    /// call's. `remaining` is the time left on a total timeout around the
    /// retries, asked only when a retry is due: a retry whose wait would
    /// end at or past it is not made. The policy decides first; only a
    /// retry takes the slow path. The result is only looked at, so a
    /// caller that returns it never moves it through here.
    #[inline]
    pub(crate) fn next_delay<P, T, E>(
        &mut self,
        shared: &Shared,
        clock: &dyn Clock,
        policy: &P,
        result: &Result<T, E>,
        remaining: impl FnOnce() -> Option<Duration>,
    ) -> Option<Duration>
    where
        P: RetryPolicy<T, E> + ?Sized,
    {
        match policy.decide(result) {
            Decision::Accept => None,
            decision => self.retry(shared, clock, decision, remaining),
        }
    }

    #[cold]
    fn retry(
        &mut self,
        shared: &Shared,
        clock: &dyn Clock,
        decision: Decision,
        remaining: impl FnOnce() -> Option<Duration>,
    ) -> Option<Duration> {
        let (hint, hinted) = match decision {
            Decision::RetryAfter(hint) => (Some(hint), true),
            _ => (None, false),
        };
        let attempt = self.attempts;
        let gave_up = |reason| {
            shared.emit(RetryEventKind::GaveUp {
                attempts: attempt,
                reason,
            });
            None
        };
        if attempt >= shared.max_attempts {
            return gave_up(GaveUp::Attempts);
        }
        let delay = match hint {
            Some(hint) => hint.min(shared.max_hint),
            None => shared
                .backoff
                .delay(attempt, self.previous_delay, shared.random.next()),
        };
        if let Some(max) = shared.max_elapsed {
            let elapsed = Duration::from_nanos(clock.now_nanos().saturating_sub(self.started));
            if elapsed.saturating_add(delay) > max {
                return gave_up(GaveUp::Elapsed);
            }
        }
        if remaining().is_some_and(|left| delay >= left) {
            return gave_up(GaveUp::Deadline);
        }
        if let Some(budget) = &shared.budget {
            if !budget.withdraw(&mut self.budget) {
                return gave_up(GaveUp::Budget);
            }
        }
        shared.emit(RetryEventKind::Retry {
            attempt,
            delay,
            hinted,
        });
        self.previous_delay = delay;
        self.attempts += 1;
        Some(delay)
    }
}

impl<'a, P, F, Fut> RetryCall<'a, P, F, Fut> {
    pub(crate) fn new(shared: &'a Shared, policy: &'a P, make: F) -> Self {
        Self {
            attempt: None,
            sleep: None,
            make,
            shared,
            policy,
            progress: Progress::default(),
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.progress.attempts
    }

    /// This future, resolving to the result and the number of attempts.
    pub fn counted(self) -> Counted<Self> {
        Counted { inner: self }
    }
}

impl<P, F, Fut, T, E> Future for RetryCall<'_, P, F, Fut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: RetryPolicy<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.progress.attempts == 0 {
            this.progress.start(this.shared);
            this.attempt.set(Some((this.make)()));
        }
        loop {
            if let Some(sleep) = this.sleep {
                std::task::ready!(sleep.as_mut().poll(cx));
                *this.sleep = None;
                this.attempt.set(Some((this.make)()));
            }
            let attempt = this.attempt.as_mut().as_pin_mut();
            let result = std::task::ready!(attempt
                .expect("`RetryCall` polled after completion")
                .poll(cx));
            match this.progress.next(this.shared, *this.policy, result) {
                Ok(sleep) => {
                    this.attempt.set(None);
                    *this.sleep = Some(sleep);
                }
                Err(result) => {
                    // The finished attempt is dropped with this future.
                    this.progress.finish(this.shared);
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl<P, F, Fut> std::fmt::Debug for RetryCall<'_, P, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryCall")
            .field("name", &self.shared.name)
            .field("attempts", &self.progress.attempts)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A [`RetryCall`] that also says how many attempts it made.
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Counted<C> {
        #[pin]
        inner: C,
    }
}

impl<P, F, Fut, T, E> Future for Counted<RetryCall<'_, P, F, Fut>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: RetryPolicy<T, E>,
{
    type Output = (Result<T, E>, u32);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        let result = std::task::ready!(inner.as_mut().poll(cx));
        Poll::Ready((result, inner.progress.attempts))
    }
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of [`RetryService`](super::RetryService).
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryResponse<S, Req, P>
    where
        S: Service<Req>,
    {
        #[pin]
        pub(super) state: State<S::Future>,
        pub(super) service: S,
        pub(super) req: Req,
        pub(super) retry: super::Retry<P>,
        pub(super) progress: Progress,
        // Keep the budget holds at completion (the HTTP layer moves them
        // into the response body).
        pub(super) hand_over: bool,
    }

    impl<S, Req, P> PinnedDrop for RetryResponse<S, Req, P>
    where
        S: Service<Req>,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.progress.finish(&this.retry.shared);
        }
    }
}

#[cfg(feature = "tower")]
pin_project! {
    #[project = StateProj]
    pub(super) enum State<F> {
        Calling { #[pin] fut: F },
        Sleeping { sleep: BoxSleep },
        Readying,
    }
}

#[cfg(feature = "tower")]
impl<S, Req, P> Future for RetryResponse<S, Req, P>
where
    S: Service<Req>,
    P: RetryPolicy<S::Response, S::Error>,
    Req: Clone,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut } => {
                    let result = std::task::ready!(fut.poll(cx));
                    match this
                        .progress
                        .next(&this.retry.shared, &this.retry.policy, result)
                    {
                        Ok(sleep) => this.state.set(State::Sleeping { sleep }),
                        Err(result) => {
                            if !*this.hand_over {
                                this.progress.finish(&this.retry.shared);
                            }
                            return Poll::Ready(result);
                        }
                    }
                }
                StateProj::Sleeping { sleep } => {
                    std::task::ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    // Every attempt goes through a readied service; an error
                    // here is the attempt's outcome.
                    if let Err(e) = std::task::ready!(this.service.poll_ready(cx)) {
                        match this
                            .progress
                            .next(&this.retry.shared, &this.retry.policy, Err(e))
                        {
                            Ok(sleep) => this.state.set(State::Sleeping { sleep }),
                            Err(result) => {
                                if !*this.hand_over {
                                    this.progress.finish(&this.retry.shared);
                                }
                                return Poll::Ready(result);
                            }
                        }
                        continue;
                    }
                    let fut = this.service.call(this.req.clone());
                    this.state.set(State::Calling { fut });
                }
            }
        }
    }
}

#[cfg(feature = "http")]
#[cfg(feature = "tower")]
impl<S: Service<Req>, Req, P> RetryResponse<S, Req, P> {
    /// What the finished call holds of its budget, taken over.
    pub(crate) fn take_hold(self: Pin<&mut Self>) -> Option<super::budget::BudgetHold> {
        let this = self.project();
        this.progress.take_hold(&this.retry.shared)
    }
}

#[cfg(feature = "tower")]
impl<S: Service<Req>, Req, P> std::fmt::Debug for RetryResponse<S, Req, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryResponse")
            .field("attempts", &self.progress.attempts())
            .finish_non_exhaustive()
    }
}
