//! The future of [`Pipeline::call`](super::Pipeline::call) and of the
//! pipeline's tower service: one state machine for every guard, rather than
//! the guards' futures nested in each other (nested, each call moved every
//! layer's state into the next; see BENCHMARKS.md).
//!
//! It holds the pipeline through `R` (a reference, or an `Arc` for the
//! `'static` tower future) and keeps no borrow of it: the breaker's
//! admission and the limiter's place are plain data, given back through
//! the pipeline when the attempt ends or the future is dropped, or handed
//! to an HTTP response body ([`Judge`]).
//!
//! The module is public, as tower's `future` modules are: it names the
//! futures ([`PipelineCall`], and for the tower form [`ServiceAttempt`]).

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::judge::{HandOver, Judge, Judged};
use super::Pipeline;
pub use crate::attempt::Attempts;
#[cfg(feature = "tower")]
pub use crate::attempt::{ServiceAttempt, ServiceAttempts};
use crate::circuit_breaker::guard::Standing;
use crate::circuit_breaker::Classification;
use crate::error::Error;
use crate::hedge::{Hedge, HedgeCall};
use crate::limit::Limiter;
use crate::retry::guard::Progress;
use crate::retry::{Retry, RetryPolicy};
use crate::timeout::future::passed;
use crate::timer::Timer;

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
    /// Answered: nothing is held any more, and dropping the future has
    /// nothing to give back.
    Done,
}

pin_project! {
    /// A call through a [`Pipeline`]: one concrete, nameable future, which
    /// allocates nothing unless a retry waits or the bulkhead queues.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the running attempt and gives back the breaker's
    /// admission (a cancelled call), the bulkhead place or queue slot, and
    /// what the call holds of a retry budget.
    #[must_use = "futures do nothing unless polled"]
    pub struct PipelineCall<
        R,
        Tm: Timer,
        P,
        A: Attempts,
        C = crate::circuit_breaker::DefaultClassifier,
        L: Limiter = crate::bulkhead::Bulkhead,
    >
    where
        R: Deref<Target = Pipeline<Tm, P, C, L>>,
    {
        // Declared first, dropped first: the operation, then what it held.
        #[pin]
        fut: Option<A::Attempt>,
        #[pin]
        attempt_deadline: Option<Tm::Sleep>,
        #[pin]
        total_deadline: Option<Tm::Sleep>,
        // The wait before the next attempt, on the pipeline's timer.
        #[pin]
        backoff: Option<Tm::Sleep>,
        queued: Option<L::Queued>,
        // The breaker's admission of the running attempt.
        admission: Standing,
        // The running attempt's place under the concurrency limit.
        seat: L::Seat,
        progress: Progress,
        step: Step,
        // One attempt of a hedged call: the hedge holds the retry's place
        // and the total timeout is around the hedge.
        hedged: bool,
        attempts: A,
        pipeline: R,
        policy: PhantomData<fn() -> (P, C)>,
    }

    impl<R, Tm: Timer, P, A: Attempts, C, L: Limiter> PinnedDrop for PipelineCall<R, Tm, P, A, C, L>
    where
        R: Deref<Target = Pipeline<Tm, P, C, L>>,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if *this.step == Step::Done {
                return;
            }
            // The operation first, then what it held.
            this.fut.set(None);
            let pipeline: &Pipeline<Tm, P, C, L> = this.pipeline;
            // A queued wait leaves the queue when its field is dropped.
            give_back(pipeline, this.admission, this.seat, None);
            if let Some(retry) = retry_of(pipeline, *this.hedged) {
                this.progress.finish(retry.parts().0);
            }
        }
    }
}

/// The pipeline's retry, unless the call is one attempt of a hedged call.
#[inline(always)]
fn retry_of<Tm, P, C, L>(pipeline: &Pipeline<Tm, P, C, L>, hedged: bool) -> Option<&Retry<P>> {
    match hedged {
        false => pipeline.retry.as_ref(),
        true => None,
    }
}

/// Gives back what an attempt holds: its place, and its admission,
/// recorded as `class` (`None`: cancelled).
#[inline(always)]
fn give_back<Tm, P, C, L: Limiter>(
    pipeline: &Pipeline<Tm, P, C, L>,
    admission: &mut Standing,
    seat: &mut L::Seat,
    class: Option<Classification>,
) {
    // What the attempt holds is looked at first: most of the time there is
    // nothing to give back (dropped after completion).
    if L::holds(seat) {
        if let Some(limit) = &pipeline.limit {
            limit.release(seat, class);
        }
    }
    if admission.holds() {
        if let Some(breaker) = &pipeline.breaker {
            admission.settle(breaker, class);
        }
    }
}

impl<R, Tm: Timer, P, A: Attempts, C, L: Limiter> PipelineCall<R, Tm, P, A, C, L>
where
    R: Deref<Target = Pipeline<Tm, P, C, L>>,
{
    pub(crate) fn new(pipeline: R, attempts: A) -> Self {
        Self::with(pipeline, attempts, false)
    }

    /// One attempt of a hedged call: breaker, limit and attempt timeout,
    /// without the retry and the total timeout.
    fn hedged(pipeline: R, attempts: A) -> Self {
        Self::with(pipeline, attempts, true)
    }

    fn with(pipeline: R, attempts: A, hedged: bool) -> Self {
        Self {
            fut: None,
            attempt_deadline: None,
            total_deadline: None,
            backoff: None,
            queued: None,
            admission: Standing::default(),
            seat: L::Seat::default(),
            progress: Progress::default(),
            step: Step::Start,
            hedged,
            attempts,
            pipeline,
            policy: PhantomData,
        }
    }
}

impl<R, Tm, P, A, T, E, C, L> Future for PipelineCall<R, Tm, P, A, C, L>
where
    R: Deref<Target = Pipeline<Tm, P, C, L>>,
    L: Limiter,
    Tm: Timer,
    A: Attempts,
    A::Attempt: Future<Output = Result<T, E>>,
    P: RetryPolicy<T, Error<E>>,
    C: Judge<T, E, L>,
{
    type Output = Result<C::Output, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let pipeline: &Pipeline<Tm, P, C, L> = this.pipeline;
        let retry = retry_of(pipeline, *this.hedged);

        // Makes the attempt's future; its deadline and the breaker's
        // slow-call clock start with it (not while the call waited for a
        // bulkhead place).
        macro_rules! start_attempt {
            () => {{
                if let Some(breaker) = &pipeline.breaker {
                    this.admission.begin(breaker);
                }
                this.fut.set(Some(this.attempts.next_attempt()));
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
                if !passed(this.total_deadline.as_mut(), cx) {
                    return Poll::Pending;
                }
                this.fut.set(None);
                this.attempt_deadline.set(None);
                *this.queued = None;
                this.backoff.set(None);
                give_back(pipeline, this.admission, this.seat, None);
                if let Some(retry) = retry {
                    this.progress.finish(retry.parts().0);
                }
                *this.step = Step::Done;
                let total = pipeline.total.as_ref().expect("a total deadline");
                return Poll::Ready(Err(Error::TimedOut(total.fired())));
            }};
        }

        loop {
            // The steps in the order a call goes through them, each falling
            // into the next: a happy call runs straight down (no dispatch
            // per step); a step that cannot go on returns or breaks out with
            // the attempt's outcome.
            let outcome: Result<T, Error<E>> = 'attempt: {
                if *this.step == Step::Start {
                    if let Some(total) = pipeline.total.as_ref().filter(|_| !*this.hedged) {
                        this.total_deadline.set(total.start());
                    }
                    if let Some(retry) = retry {
                        this.progress.start_on(retry.parts().0, &*pipeline.clock);
                    }
                    *this.step = Step::Admit;
                }
                if *this.step == Step::Backoff {
                    let backoff = this.backoff.as_mut().as_pin_mut().expect("waiting");
                    if backoff.poll(cx).is_pending() {
                        pending_or_total!();
                    }
                    this.backoff.set(None);
                    *this.step = Step::Admit;
                }
                if *this.step == Step::Admit {
                    if let Some(breaker) = &pipeline.breaker {
                        // Reserved: its slow-call clock starts with the
                        // attempt, after any wait for a bulkhead place.
                        if let Err(open) = this.admission.reserve(breaker) {
                            break 'attempt Err(Error::CircuitOpen(open));
                        }
                    }
                    if let Some(limit) = &pipeline.limit {
                        if let Err(no) = limit.admit(this.seat, this.queued) {
                            break 'attempt Err(no);
                        }
                    }
                    if this.queued.is_some() {
                        *this.step = Step::Queued;
                    } else {
                        start_attempt!();
                    }
                }
                if *this.step == Step::Queued {
                    let queued = this.queued.as_mut().expect("queued");
                    let limit = pipeline.limit.as_ref().expect("a limit");
                    match limit.poll_queue(this.seat, queued, cx) {
                        Poll::Ready(Ok(())) => {
                            *this.queued = None;
                            start_attempt!();
                        }
                        Poll::Ready(Err(no)) => {
                            *this.queued = None;
                            break 'attempt Err(no);
                        }
                        Poll::Pending => pending_or_total!(),
                    }
                }
                // Running.
                let polled = {
                    let fut = this.fut.as_mut().as_pin_mut().expect("running");
                    match &pipeline.breaker {
                        Some(breaker) => this.admission.poll_operation(breaker, fut, cx),
                        None => fut.poll(cx),
                    }
                };
                match polled {
                    Poll::Ready(result) => result.map_err(Error::Operation),
                    Poll::Pending => {
                        if !passed(this.attempt_deadline.as_mut(), cx) {
                            pending_or_total!();
                        }
                        let attempt = pipeline.attempt.as_ref().expect("a deadline");
                        Err(Error::TimedOut(attempt.fired()))
                    }
                }
            };
            // The attempt is over: drop it and let the breaker judge it.
            this.fut.set(None);
            this.attempt_deadline.set(None);
            // The breaker's verdict, which the limit hears too; with no
            // breaker, `Ok` or not (for an adaptive limit, a drop).
            let verdict = match (&pipeline.breaker, &outcome) {
                // A limit's rejection is not the dependency's fault.
                (_, Err(Error::BulkheadFull(_) | Error::RateLimited(_))) => {
                    Judged::Now(Classification::Ignored)
                }
                (Some(breaker), _) => breaker.classifier().judge(&outcome),
                (None, Ok(_)) => Judged::Now(Classification::Success),
                (None, Err(_)) => Judged::Now(Classification::Failure),
            };
            if !C::HANDS_OVER {
                // Judged now, whatever happens next: given back at once
                // (the path of every judge but the HTTP ones).
                give_back(pipeline, this.admission, this.seat, verdict.now());
            }
            let result = match retry {
                None => outcome,
                Some(retry) => {
                    let (shared, policy) = retry.parts();
                    // Under a total timeout, a retry whose wait would end
                    // past it is not made (asked only when one is due).
                    let total = this.total_deadline.as_ref().get_ref().as_ref();
                    let remaining = || total.and_then(|sleep| pipeline.timer.remaining(sleep));
                    match this.progress.next_delay(
                        shared,
                        &*pipeline.clock,
                        policy,
                        &outcome,
                        remaining,
                    ) {
                        Some(delay) => {
                            // Retried: the attempt's response (if any) is
                            // dropped unread, and its head's verdict stands.
                            drop(outcome);
                            give_back(pipeline, this.admission, this.seat, verdict.now());
                            this.backoff.set(Some(pipeline.timer.sleep(delay)));
                            *this.step = Step::Backoff;
                            continue;
                        }
                        None => outcome,
                    }
                }
            };
            // The call's result: its value may take over what the attempt
            // holds (an HTTP response until its body ends); the rest is
            // given back now.
            let mut verdict = Some(verdict);
            let result = result.map(|value| {
                C::deliver(
                    value,
                    HandOver {
                        verdict: &mut verdict,
                        breaker: pipeline.breaker.as_ref(),
                        admission: &mut *this.admission,
                        limit: pipeline.limit.as_ref(),
                        seat: &mut *this.seat,
                        retry: retry.map(|retry| retry.parts().0),
                        progress: &mut *this.progress,
                        max_hint: pipeline.max_hint,
                    },
                )
            });
            if C::HANDS_OVER {
                // (Any other judge gave everything back with its verdict.)
                give_back(
                    pipeline,
                    this.admission,
                    this.seat,
                    verdict.as_ref().and_then(Judged::now),
                );
            }
            if let Some(retry) = retry {
                this.progress.finish(retry.parts().0);
            }
            *this.step = Step::Done;
            return Poll::Ready(result);
        }
    }
}

impl<R, Tm: Timer, P, A: Attempts, C, L: Limiter> std::fmt::Debug
    for PipelineCall<R, Tm, P, A, C, L>
where
    R: Deref<Target = Pipeline<Tm, P, C, L>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineCall")
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

/// The attempts of a hedged pipeline call: each one a call through the
/// pipeline's breaker, limit and attempt timeout, made by a clone of the
/// operation.
#[derive(Debug)]
pub struct HedgedAttempts<R, F> {
    pipeline: R,
    make: F,
}

impl<R, Tm, P, C, L, F> Attempts for HedgedAttempts<R, F>
where
    R: Deref<Target = Pipeline<Tm, P, C, L>> + Clone,
    Tm: Timer,
    L: Limiter,
    F: Attempts + Clone,
    PipelineCall<R, Tm, P, F, C, L>: Future,
{
    type Attempt = PipelineCall<R, Tm, P, F, C, L>;

    fn next_attempt(&mut self) -> Self::Attempt {
        PipelineCall::hedged(self.pipeline.clone(), self.make.clone())
    }
}

pin_project! {
    /// A hedged call through a [`Pipeline`], from
    /// [`Pipeline::call_hedged`]: the pipeline's total timeout around a
    /// [`HedgeCall`] whose attempts each go through the pipeline's
    /// breaker, limit and attempt timeout.
    ///
    /// # Cancel safety
    ///
    /// Dropping it, or the total timeout firing, drops every attempt in
    /// flight: abandoned calls, which the breaker's
    /// [`Abandoned`](crate::circuit_breaker::Abandoned) policy judges (a
    /// hedge's losers, dropped when another attempt wins, never count).
    #[must_use = "futures do nothing unless polled"]
    pub struct HedgedCall<'a, Tm: Timer, P, Q, F, C = crate::circuit_breaker::DefaultClassifier, L: Limiter = crate::bulkhead::Bulkhead>
    where
        F: Attempts,
    {
        #[pin]
        call: Option<HedgeCall<&'a Hedge<Tm, Q>, Tm, Q, HedgedAttempts<&'a Pipeline<Tm, P, C, L>, F>, PipelineCall<&'a Pipeline<Tm, P, C, L>, Tm, P, F, C, L>>>,
        #[pin]
        total: Option<Tm::Sleep>,
        started: bool,
        pipeline: &'a Pipeline<Tm, P, C, L>,
    }
}

impl<'a, Tm: Timer, P, Q, F: Attempts, C, L: Limiter> HedgedCall<'a, Tm, P, Q, F, C, L> {
    pub(super) fn new(
        pipeline: &'a Pipeline<Tm, P, C, L>,
        hedge: &'a Hedge<Tm, Q>,
        make: F,
    ) -> Self {
        Self {
            call: Some(HedgeCall::new(hedge, HedgedAttempts { pipeline, make })),
            total: None,
            started: false,
            pipeline,
        }
    }
}

impl<Tm, P, Q, F, T, E, C, L> Future for HedgedCall<'_, Tm, P, Q, F, C, L>
where
    Tm: Timer,
    L: Limiter,
    F: Attempts + Clone,
    F::Attempt: Future<Output = Result<T, E>>,
    P: RetryPolicy<T, Error<E>>,
    Q: RetryPolicy<C::Output, Error<E>>,
    C: Judge<T, E, L>,
{
    type Output = Result<C::Output, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.started {
            *this.started = true;
            if let Some(total) = &this.pipeline.total {
                this.total.set(total.start());
            }
        }
        let Some(call) = this.call.as_mut().as_pin_mut() else {
            return Poll::Pending; // polled after it answered
        };
        if let Poll::Ready(answer) = call.poll(cx) {
            this.call.set(None);
            this.total.set(None);
            return Poll::Ready(answer);
        }
        if !passed(this.total.as_mut(), cx) {
            return Poll::Pending;
        }
        // Every attempt in flight is abandoned.
        this.call.set(None);
        let total = this.pipeline.total.as_ref().expect("a total deadline");
        Poll::Ready(Err(Error::TimedOut(total.fired())))
    }
}

impl<Tm: Timer, P, Q, F: Attempts, C, L: Limiter> std::fmt::Debug
    for HedgedCall<'_, Tm, P, Q, F, C, L>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HedgedCall")
            .field("answered", &self.call.is_none())
            .finish_non_exhaustive()
    }
}
