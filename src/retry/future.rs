//! The future of [`Retry::call`](super::Retry::call).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::budget::BudgetCall;
use super::{Decision, GaveUp, RetryEventKind, RetryPolicy, Shared};
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
    budget: Option<BudgetCall>,
}

impl Progress {
    /// The first attempt starts.
    pub(crate) fn start(&mut self, shared: &Shared) {
        if let Some(budget) = &shared.budget {
            self.budget = Some(budget.start());
        }
        if shared.max_elapsed.is_some() {
            self.started = shared.clock.now_nanos();
        }
        self.attempts = 1;
    }

    #[cfg(feature = "tower")]
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After an attempt: the wait before the next one, or (`Err`) the
    /// result to return.
    pub(crate) fn next<P, T, E>(
        &mut self,
        shared: &Shared,
        policy: &P,
        result: Result<T, E>,
    ) -> Result<BoxSleep, Result<T, E>>
    where
        P: RetryPolicy<T, E> + ?Sized,
    {
        let (hint, hinted) = match policy.decide(&result) {
            Decision::Accept => return Err(result),
            Decision::Retry => (None, false),
            Decision::RetryAfter(hint) => (Some(hint), true),
        };
        let attempt = self.attempts;
        let gave_up = |reason| {
            shared.emit(RetryEventKind::GaveUp {
                attempts: attempt,
                reason,
            });
            Err(result)
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
            let elapsed =
                Duration::from_nanos(shared.clock.now_nanos().saturating_sub(self.started));
            if elapsed.saturating_add(delay) > max {
                return gave_up(GaveUp::Elapsed);
            }
        }
        if let Some(budget) = &mut self.budget {
            if !budget.withdraw() {
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
        Ok(shared.timer.sleep_boxed(delay))
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(sleep) = this.sleep {
                std::task::ready!(sleep.as_mut().poll(cx));
                *this.sleep = None;
                this.attempt.set(Some((this.make)()));
            }
            let Some(attempt) = this.attempt.as_mut().as_pin_mut() else {
                // The first poll: the first attempt.
                this.progress.start(this.shared);
                this.attempt.set(Some((this.make)()));
                continue;
            };
            let result = std::task::ready!(attempt.poll(cx));
            this.attempt.set(None);
            match this.progress.next(this.shared, *this.policy, result) {
                Ok(sleep) => *this.sleep = Some(sleep),
                Err(result) => return Poll::Ready(result),
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
