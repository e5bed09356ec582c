//! The future of [`Pipeline::call`](super::Pipeline::call): one state
//! machine for every guard, rather than the guards' futures nested in each
//! other (nested, each call moved every layer's state into the next; see
//! BENCHMARKS.md).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{judge, Pipeline};
use crate::bulkhead::future::Wait;
use crate::bulkhead::permit::Place;
use crate::bulkhead::Admit;
use crate::circuit_breaker::future::FailOnUnwind;
use crate::circuit_breaker::permit::Ticket;
use crate::error::Error;
use crate::retry::future::Progress;
use crate::retry::RetryPolicy;
use crate::timer::{BoxSleep, Timer};

type BreakerInner = crate::circuit_breaker::state::Inner;
type BulkheadInner = crate::bulkhead::Inner;

/// Where the call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Before the first poll.
    Start,
    /// Asking the breaker and the bulkhead for the next attempt.
    Admit,
    /// Queued for a bulkhead place.
    Queued,
    /// The attempt runs.
    Running,
    /// Waiting before the next attempt.
    Backoff,
}

pin_project! {
    /// A call through a [`Pipeline`], from [`Pipeline::call`]: one
    /// concrete, nameable future, which allocates nothing unless a retry
    /// waits or the bulkhead queues.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the running attempt and gives back the breaker's
    /// admission (a cancelled call), the bulkhead place or queue slot, and
    /// what the call holds of a retry budget.
    #[must_use = "futures do nothing unless polled"]
    pub struct PipelineCall<'a, Tm: Timer, P, F, Fut> {
        // Declared first, dropped first: the operation, then what it held.
        #[pin]
        fut: Option<Fut>,
        #[pin]
        attempt_deadline: Option<Tm::Sleep>,
        #[pin]
        total_deadline: Option<Tm::Sleep>,
        backoff: Option<BoxSleep>,
        place: Option<Place<&'a BulkheadInner>>,
        wait: Option<Wait<&'a BulkheadInner>>,
        ticket: Option<Ticket<&'a BreakerInner>>,
        progress: Progress,
        step: Step,
        make: F,
        pipeline: &'a Pipeline<Tm, P>,
    }

    impl<Tm: Timer, P, F, Fut> PinnedDrop for PipelineCall<'_, Tm, P, F, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(retry) = &this.pipeline.retry {
                this.progress.finish(retry.parts().0);
            }
        }
    }
}

impl<'a, Tm: Timer, P, F, Fut> PipelineCall<'a, Tm, P, F, Fut> {
    pub(crate) fn new(pipeline: &'a Pipeline<Tm, P>, make: F) -> Self {
        Self {
            fut: None,
            attempt_deadline: None,
            total_deadline: None,
            backoff: None,
            place: None,
            wait: None,
            ticket: None,
            progress: Progress::default(),
            step: Step::Start,
            make,
            pipeline,
        }
    }
}

impl<Tm, P, F, Fut, T, E> Future for PipelineCall<'_, Tm, P, F, Fut>
where
    Tm: Timer,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: RetryPolicy<T, Error<E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let pipeline: &Pipeline<Tm, P> = this.pipeline;

        // Makes the attempt's future; its deadline starts with it (not while
        // the call waited for a bulkhead place).
        macro_rules! start_attempt {
            () => {{
                this.fut.set(Some((this.make)()));
                if let Some(attempt) = &pipeline.attempt {
                    this.attempt_deadline.set(attempt.start());
                }
                *this.step = Step::Running;
            }};
        }
        // Nothing is ready: pending, unless the total deadline has passed;
        // then everything is dropped (the breaker's admission as a
        // cancelled call) and the call times out.
        macro_rules! pending_or_total {
            () => {{
                let expired = this
                    .total_deadline
                    .as_mut()
                    .as_pin_mut()
                    .is_some_and(|d| d.poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                this.fut.set(None);
                this.attempt_deadline.set(None);
                *this.place = None;
                *this.wait = None;
                *this.ticket = None;
                *this.backoff = None;
                if let Some(retry) = &pipeline.retry {
                    this.progress.finish(retry.parts().0);
                }
                let total = pipeline.total.as_ref().expect("a total deadline");
                return Poll::Ready(Err(Error::TimedOut(total.fired())));
            }};
        }

        loop {
            let outcome: Result<T, Error<E>> = match *this.step {
                Step::Start => {
                    if let Some(total) = &pipeline.total {
                        this.total_deadline.set(total.start());
                    }
                    if let Some(retry) = &pipeline.retry {
                        this.progress.start(retry.parts().0);
                    }
                    *this.step = Step::Admit;
                    continue;
                }
                Step::Admit => {
                    let mut rejected = None;
                    if let Some(breaker) = &pipeline.breaker {
                        match breaker.inner().acquire() {
                            Ok(admission) => {
                                let mut ticket = Ticket::unarmed(breaker.inner());
                                ticket.arm(admission);
                                *this.ticket = Some(ticket);
                            }
                            Err(open) => rejected = Some(Error::CircuitOpen(open)),
                        }
                    }
                    if rejected.is_none() {
                        if let Some(bulkhead) = &pipeline.bulkhead {
                            match bulkhead.inner().admit() {
                                Admit::Admitted => *this.place = Some(Place(bulkhead.inner())),
                                Admit::Queued(waiter) => {
                                    *this.wait = Some(Wait::new(bulkhead.inner(), waiter));
                                    *this.step = Step::Queued;
                                    continue;
                                }
                                Admit::Rejected(full) => rejected = Some(Error::BulkheadFull(full)),
                            }
                        }
                    }
                    match rejected {
                        Some(error) => Err(error),
                        None => {
                            start_attempt!();
                            continue;
                        }
                    }
                }
                Step::Queued => {
                    let wait = this.wait.as_mut().expect("queued");
                    match wait.poll_wait(cx) {
                        Poll::Ready(Ok(())) => {
                            let bulkhead = pipeline.bulkhead.as_ref().expect("queued");
                            *this.wait = None;
                            *this.place = Some(Place(bulkhead.inner()));
                            start_attempt!();
                            continue;
                        }
                        Poll::Ready(Err(full)) => {
                            *this.wait = None;
                            Err(Error::BulkheadFull(full))
                        }
                        Poll::Pending => pending_or_total!(),
                    }
                }
                Step::Running => {
                    let polled = {
                        let fut = this.fut.as_mut().as_pin_mut().expect("running");
                        match this.ticket.as_mut() {
                            Some(ticket) => {
                                let guard = FailOnUnwind(ticket);
                                let polled = fut.poll(cx);
                                std::mem::forget(guard);
                                polled
                            }
                            None => fut.poll(cx),
                        }
                    };
                    match polled {
                        Poll::Ready(result) => result.map_err(Error::Operation),
                        Poll::Pending => {
                            let timed_out = this
                                .attempt_deadline
                                .as_mut()
                                .as_pin_mut()
                                .is_some_and(|d| d.poll(cx).is_ready());
                            if !timed_out {
                                pending_or_total!();
                            }
                            let attempt = pipeline.attempt.as_ref().expect("a deadline");
                            Err(Error::TimedOut(attempt.fired()))
                        }
                    }
                }
                Step::Backoff => {
                    let backoff = this.backoff.as_mut().expect("waiting");
                    if backoff.as_mut().poll(cx).is_pending() {
                        pending_or_total!();
                    }
                    *this.backoff = None;
                    *this.step = Step::Admit;
                    continue;
                }
            };
            // The attempt is over: drop it, give back its place, and let the
            // breaker judge it.
            this.fut.set(None);
            this.attempt_deadline.set(None);
            *this.place = None;
            if let Some(mut ticket) = this.ticket.take() {
                ticket.finish(judge(&outcome));
            }
            match &pipeline.retry {
                None => return Poll::Ready(outcome),
                Some(retry) => {
                    let (shared, policy) = retry.parts();
                    match this.progress.next(shared, policy, outcome) {
                        Ok(sleep) => {
                            *this.backoff = Some(sleep);
                            *this.step = Step::Backoff;
                        }
                        Err(result) => {
                            this.progress.finish(shared);
                            return Poll::Ready(result);
                        }
                    }
                }
            }
        }
    }
}
