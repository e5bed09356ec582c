//! The hedge's future: [`HedgeCall`], from [`Hedge::call`](super::Hedge::call).

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::Hedge;
use crate::attempt::Attempts;
use crate::retry::guard::BudgetCall;
use crate::retry::{Decision, RetryPolicy};
use crate::timer::Timer;

/// A hedge attempt: boxed (only hedges are), with its own share of the
/// budget.
struct Running<Fut> {
    fut: Pin<Box<Fut>>,
    budget: BudgetCall,
}

pin_project! {
    /// A hedged call, from [`Hedge::call`](super::Hedge::call) (where `H`
    /// is `&Hedge`) or the tower service (where it is `Arc<Hedge>`).
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops every attempt in flight (each an abandoned call
    /// for the guards inside it) and gives back the budget shares.
    #[must_use = "futures do nothing unless polled"]
    #[project = HedgeCallProj]
    pub struct HedgeCall<H: Deref<Target = Hedge<Tm, P>>, Tm: Timer, P, F, Fut> {
        // Declared first, dropped first: the attempts, then what they held.
        #[pin]
        first: Option<Fut>,
        hedges: Vec<Running<Fut>>,
        #[pin]
        timer: Option<Tm::Sleep>,
        started: u32,
        budget: BudgetCall,
        // When the first attempt started, if the delay is learned.
        start: u64,
        make: F,
        hedge: H,
        policy: PhantomData<fn() -> P>,
    }

    impl<H: Deref<Target = Hedge<Tm, P>>, Tm: Timer, P, F, Fut> PinnedDrop
        for HedgeCall<H, Tm, P, F, Fut>
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            this.first.set(None);
            let hedge: &Hedge<Tm, P> = this.hedge;
            finish(hedge, this.hedges, this.budget);
        }
    }
}

/// Drops the hedges in flight and gives back every budget share.
#[inline]
fn finish<Tm, P, Fut>(
    hedge: &Hedge<Tm, P>,
    hedges: &mut Vec<Running<Fut>>,
    budget: &mut BudgetCall,
) {
    if !hedges.is_empty() {
        drop_hedges(hedge, hedges);
    }
    if let Some(shared) = &hedge.budget {
        shared.finish(budget);
    }
}

/// Drops the hedges in flight, giving back their budget shares.
#[cold]
fn drop_hedges<Tm, P, Fut>(hedge: &Hedge<Tm, P>, hedges: &mut Vec<Running<Fut>>) {
    for mut running in hedges.drain(..) {
        drop(running.fut);
        if let Some(shared) = &hedge.budget {
            shared.finish(&mut running.budget);
        }
    }
}

impl<H: Deref<Target = Hedge<Tm, P>>, Tm: Timer, P, F, Fut> HedgeCall<H, Tm, P, F, Fut> {
    pub(crate) fn new(hedge: H, make: F) -> Self {
        Self {
            first: None,
            hedges: Vec::new(),
            timer: None,
            started: 0,
            budget: BudgetCall::default(),
            start: 0,
            make,
            hedge,
            policy: PhantomData,
        }
    }
}

impl<H, Tm, P, F, Fut, T, E> Future for HedgeCall<H, Tm, P, F, Fut>
where
    H: Deref<Target = Hedge<Tm, P>>,
    Tm: Timer,
    P: RetryPolicy<T, E>,
    F: Attempts<Attempt = Fut>,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let hedge: &Hedge<Tm, P> = this.hedge;
        let mut first_outcome = None;
        // Not begun: no attempt started yet.
        if *this.started == 0 {
            if let Some(budget) = &hedge.budget {
                budget.start(this.budget);
            }
            if let Some(learned) = hedge.learned() {
                *this.start = learned.clock.now_nanos();
            }
            this.first.set(Some(this.make.next_attempt()));
            *this.started = 1;
            // The happy path, kept apart from the loop below: the first
            // attempt answers acceptably at its first poll.
            if let Some(fut) = this.first.as_mut().as_pin_mut() {
                if let Poll::Ready(outcome) = fut.poll(cx) {
                    this.first.set(None);
                    if let Some(learned) = hedge.learned() {
                        learned.record(*this.start);
                    }
                    if accepted(&hedge.policy, &outcome) {
                        if let Some(shared) = &hedge.budget {
                            shared.finish(this.budget);
                        }
                        return Poll::Ready(outcome);
                    }
                    first_outcome = Some(outcome);
                }
            }
        }
        poll_attempts(this, first_outcome, cx)
    }
}

/// Everything but the happy path: polls the attempts in flight (`last`:
/// an outcome already in hand), starts hedges when their delay is up,
/// and decides.
#[inline(never)]
fn poll_attempts<H, Tm, P, F, Fut, T, E>(
    mut this: HedgeCallProj<'_, H, Tm, P, F, Fut>,
    mut carried: Option<Result<T, E>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, E>>
where
    H: Deref<Target = Hedge<Tm, P>>,
    Tm: Timer,
    P: RetryPolicy<T, E>,
    F: Attempts<Attempt = Fut>,
    Fut: Future<Output = Result<T, E>>,
{
    let hedge: &Hedge<Tm, P> = this.hedge;
    loop {
        // The attempts, the first one first: an acceptable outcome
        // ends the call; a retryable failure is kept as the answer if
        // nothing better comes.
        let mut last = carried.take();
        if let Some(fut) = this.first.as_mut().as_pin_mut() {
            if let Poll::Ready(outcome) = fut.poll(cx) {
                this.first.set(None);
                if let Some(learned) = hedge.learned() {
                    learned.record(*this.start);
                }
                last = Some(outcome);
            }
        }
        let mut i = 0;
        while i < this.hedges.len() && last.as_ref().is_none_or(|o| !accepted(&hedge.policy, o)) {
            if let Poll::Ready(outcome) = this.hedges[i].fut.as_mut().poll(cx) {
                let mut done = this.hedges.swap_remove(i);
                if let Some(budget) = &hedge.budget {
                    budget.finish(&mut done.budget);
                }
                last = Some(outcome);
            } else {
                i += 1;
            }
        }
        let in_flight = this.first.is_some() || !this.hedges.is_empty();
        if let Some(outcome) = last {
            let acceptable = accepted(&hedge.policy, &outcome);
            if acceptable && outcome.is_err() && in_flight {
                // An error not worth trying again (a guard's rejection:
                // a full bulkhead, an open breaker) does not beat an
                // attempt still running; it stops new hedges, and the
                // call waits for the others.
                *this.started = hedge.max_attempts;
                this.timer.set(None);
                continue;
            }
            if acceptable || (!in_flight && !can_hedge(hedge, *this.started)) {
                if in_flight {
                    // The attempts still in flight lost: dropped as
                    // losers, which no breaker inside them counts as
                    // abandoned.
                    crate::superseded::dropping_losers(|| {
                        this.first.set(None);
                        finish(hedge, this.hedges, this.budget);
                    });
                } else {
                    finish(hedge, this.hedges, this.budget);
                }
                return Poll::Ready(outcome);
            }
            if !in_flight {
                // Failed with nothing else in flight: the next at once,
                // if the budget allows; else this is the answer.
                if !start_hedge(hedge, this.hedges, this.make, this.started) {
                    finish(hedge, this.hedges, this.budget);
                    return Poll::Ready(outcome);
                }
                let next = can_hedge(hedge, *this.started)
                    .then(|| hedge.timer.sleep(hedge.delay_before(*this.started + 1)));
                this.timer.set(next);
                continue;
            }
        }
        // Nothing acceptable yet: a hedge when the delay has passed.
        if !can_hedge(hedge, *this.started) {
            return Poll::Pending;
        }
        if *this.started == 1 && this.timer.is_none() {
            // The first attempt did not answer at its first poll: the
            // delay starts now (an attempt that answers at once never
            // arms a timer).
            this.timer
                .set(Some(hedge.timer.sleep(hedge.delay_before(2))));
        }
        let Some(timer) = this.timer.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        if timer.poll(cx).is_pending() {
            return Poll::Pending;
        }
        if start_hedge(hedge, this.hedges, this.make, this.started) {
            let next = can_hedge(hedge, *this.started)
                .then(|| hedge.timer.sleep(hedge.delay_before(*this.started + 1)));
            this.timer.set(next);
        } else {
            // The budget is spent: no more hedges for this call.
            this.timer.set(None);
            return Poll::Pending;
        }
    }
}

fn accepted<T, E, P: RetryPolicy<T, E>>(policy: &P, outcome: &Result<T, E>) -> bool {
    matches!(policy.decide(outcome), Decision::Accept)
}

fn can_hedge<Tm, P>(hedge: &Hedge<Tm, P>, started: u32) -> bool {
    started < hedge.max_attempts
}

/// Starts the next attempt, boxed, if the budget allows.
fn start_hedge<Tm, P, F: Attempts<Attempt = Fut>, Fut>(
    hedge: &Hedge<Tm, P>,
    hedges: &mut Vec<Running<Fut>>,
    make: &mut F,
    started: &mut u32,
) -> bool {
    let mut budget = BudgetCall::default();
    if let Some(shared) = &hedge.budget {
        if !shared.withdraw(&mut budget) {
            return false;
        }
    }
    hedges.push(Running {
        fut: Box::pin(make.next_attempt()),
        budget,
    });
    *started += 1;
    true
}

impl<H: Deref<Target = Hedge<Tm, P>>, Tm: Timer, P, F, Fut> std::fmt::Debug
    for HedgeCall<H, Tm, P, F, Fut>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HedgeCall")
            .field("started", &self.started)
            .field("hedges", &self.hedges.len())
            .finish_non_exhaustive()
    }
}
