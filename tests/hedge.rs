//! Hedging on a manual timer: no hedge when the first answers in time; a
//! slow first is hedged after the delay, the hedge wins and the loser is
//! dropped; failures are followed at once; the budget caps hedges.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::noop_waker;
use palisade::hedge::Hedge;
use palisade::retry::RetryBudget;
use palisade::timer::{ManualTimer, Timer};

mod support;
use support::{counting_abandoned, hedge};

const MS: Duration = Duration::from_millis(1);

fn poll<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = noop_waker();
    fut.poll(&mut Context::from_waker(&waker))
}

/// Counts the attempts made and the attempts dropped unfinished.
#[derive(Clone, Default)]
struct Tally {
    made: Arc<AtomicU32>,
    dropped: Arc<AtomicU32>,
}

struct OnDrop(Arc<AtomicU32>, bool);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Tally {
    /// An attempt that answers `answer` after `after` on `timer`.
    fn attempt(
        &self,
        timer: &ManualTimer,
        after: Duration,
        answer: Result<u32, &'static str>,
    ) -> impl Future<Output = Result<u32, &'static str>> {
        self.made.fetch_add(1, Ordering::SeqCst);
        let sleep = timer.sleep(after);
        let guard = OnDrop(Arc::clone(&self.dropped), false);
        async move {
            // The whole guard moves in (not only its flag).
            let mut guard = guard;
            sleep.await;
            guard.1 = true;
            answer
        }
    }

    fn made(&self) -> u32 {
        self.made.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::SeqCst)
    }
}

#[test]
fn no_hedge_when_the_first_answers_before_the_delay() {
    let timer = ManualTimer::new();
    let hedge = hedge(&timer, 3);
    let tally = Tally::default();
    let mut call = pin!(hedge.call(|| tally.attempt(&timer, 40 * MS, Ok(1))));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(40 * MS);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(1)));
    assert_eq!(tally.made(), 1);
}

#[test]
fn a_slow_first_is_hedged_after_the_delay_and_the_loser_is_dropped() {
    let timer = ManualTimer::new();
    let hedge = hedge(&timer, 2);
    let tally = Tally::default();
    let mut answers = vec![Ok(2), Ok(1)]; // popped: the first gets Ok(1)
    let mut call = pin!(hedge.call(|| {
        let after = if tally.made() == 0 { 500 * MS } else { 10 * MS };
        tally.attempt(&timer, after, answers.pop().unwrap())
    }));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(49 * MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 1);
    timer.advance(MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 2, "hedged at the delay");
    timer.advance(10 * MS);
    // The hedge answered first; the slow first attempt is dropped.
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(2)));
    assert_eq!(tally.dropped(), 1);
}

#[test]
fn a_failure_with_nothing_in_flight_is_followed_at_once_and_the_last_failure_returned() {
    let timer = ManualTimer::new();
    let hedge = hedge(&timer, 3);
    let tally = Tally::default();
    let mut call = pin!(hedge.call(|| tally.attempt(&timer, 5 * MS, Err("down"))));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(5 * MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 2, "the next started at once");
    timer.advance(5 * MS);
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(5 * MS);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Err("down")));
    assert_eq!(tally.made(), 3, "max_attempts in all");
}

#[test]
fn a_spent_budget_stops_hedges_but_not_the_call() {
    let timer = ManualTimer::new();
    let budget = RetryBudget::in_flight(0.0, 0).unwrap();
    let hedge = Hedge::builder(timer.clone())
        .delay(50 * MS)
        .max_attempts(3)
        .budget(budget.clone())
        .build()
        .unwrap();
    let tally = Tally::default();
    let mut call = pin!(hedge.call(|| tally.attempt(&timer, 200 * MS, Ok(7))));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(100 * MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 1, "no budget, no hedge");
    timer.advance(100 * MS);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(7)));
}

#[test]
fn hedges_take_and_give_back_a_share_of_a_budget_shared_with_retries() {
    let timer = ManualTimer::new();
    // One retry (or hedge) in flight per call in flight.
    let budget = RetryBudget::in_flight(1.0, 0).unwrap();
    let hedge = Hedge::builder(timer.clone())
        .delay(50 * MS)
        .max_attempts(2)
        .budget(budget.clone())
        .build()
        .unwrap();
    let tally = Tally::default();
    {
        let mut call = pin!(hedge.call(|| tally.attempt(&timer, 500 * MS, Ok(1))));
        assert!(poll(call.as_mut()).is_pending());
        assert_eq!(budget.available(), 1);
        timer.advance(50 * MS);
        assert!(poll(call.as_mut()).is_pending());
        assert_eq!(tally.made(), 2);
        assert_eq!(budget.available(), 0, "the hedge holds the share");
        // Dropped mid-flight: every share comes back.
    }
    assert_eq!(tally.dropped(), 2);
    assert_eq!(budget.available(), 0);
    let mut call = pin!(hedge.call(|| tally.attempt(&timer, 10 * MS, Ok(1))));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(
        budget.available(),
        1,
        "the call counts again, the hedge does not"
    );
}

#[test]
fn bad_settings_name_their_field() {
    let timer = ManualTimer::new();
    let b = || Hedge::builder(timer.clone());
    assert_eq!(
        b().max_attempts(1).build().unwrap_err().field(),
        "max_attempts"
    );
    assert_eq!(
        b().max_attempts(17).build().unwrap_err().field(),
        "max_attempts"
    );
    assert_eq!(
        b().delay(Duration::ZERO).build().unwrap_err().field(),
        "delay"
    );
    assert_eq!(
        b().delay(Duration::from_secs(u64::MAX))
            .build()
            .unwrap_err()
            .field(),
        "delay"
    );
}

#[test]
fn a_loser_is_never_counted_by_a_breaker_inside_it_even_when_abandoned_calls_are_failures() {
    let timer = ManualTimer::new();
    let hedge = hedge(&timer, 2);
    let breaker = counting_abandoned();
    let tally = Tally::default();
    let mut call = pin!(hedge.call(|| {
        let after = if tally.made() == 0 { 500 * MS } else { 10 * MS };
        let attempt = tally.attempt(&timer, after, Ok(1));
        breaker.call(|| attempt)
    }));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(50 * MS);
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(10 * MS);
    assert!(matches!(poll(call.as_mut()), Poll::Ready(Ok(1))));
    assert_eq!(tally.dropped(), 1, "the slow first lost and was dropped");
    let counted = breaker.snapshot();
    assert_eq!(
        (counted.calls(), counted.failures()),
        (1, 0),
        "only the winner is recorded"
    );
}

#[test]
fn a_hedged_call_dropped_from_outside_counts_its_attempts_as_abandoned() {
    let timer = ManualTimer::new();
    let hedge = hedge(&timer, 2);
    let breaker = counting_abandoned();
    let tally = Tally::default();
    {
        let mut call = pin!(hedge.call(|| breaker.call(|| tally.attempt(&timer, 500 * MS, Ok(1)))));
        assert!(poll(call.as_mut()).is_pending());
        timer.advance(50 * MS);
        assert!(poll(call.as_mut()).is_pending());
        assert_eq!(tally.made(), 2);
        // The caller gives up: no attempt lost a race, both were abandoned.
    }
    let counted = breaker.snapshot();
    assert_eq!((counted.calls(), counted.failures()), (2, 2));
}

#[test]
fn a_slow_first_is_hedged_at_the_learned_percentile_and_the_loser_is_not_recorded() {
    let timer = ManualTimer::new();
    let hedge = Hedge::builder(timer.clone())
        .delay(500 * MS) // until a period has taught a delay
        .delay_percentile(0.9, Duration::from_secs(1))
        .min_data_points(10)
        .build()
        .unwrap();
    assert_eq!(hedge.delay(), 500 * MS);
    let tally = Tally::default();
    let answer_in = |after: Duration| {
        let mut call = Box::pin(hedge.call(|| tally.attempt(&timer, after, Ok(1))));
        assert!(poll(call.as_mut()).is_pending());
        timer.advance(after);
        assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(1)));
    };
    // The first second: 20 calls answering in 20 ms (and 4 ms apart).
    for _ in 0..20 {
        answer_in(20 * MS);
        timer.advance(4 * MS);
    }
    assert_eq!(hedge.delay(), 500 * MS, "the period is not over");
    timer.advance(Duration::from_secs(1));
    answer_in(20 * MS); // the first call of the next period learns
    let learned = hedge.delay();
    assert!(
        learned >= 20 * MS && learned <= 25 * MS,
        "p90 of 20 ms, to its bucket's top: {learned:?}"
    );
    // A slow first attempt is hedged at the learned delay, not at 500 ms.
    let breaker = counting_abandoned();
    let made = tally.made();
    let mut call = pin!(hedge.call(|| {
        let after = if tally.made() == made { 900 * MS } else { MS };
        let attempt = tally.attempt(&timer, after, Ok(2));
        breaker.call(|| attempt)
    }));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(learned - Duration::from_nanos(1));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), made + 1);
    timer.advance(Duration::from_nanos(1));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), made + 2, "hedged at the percentile");
    timer.advance(MS);
    assert!(matches!(poll(call.as_mut()), Poll::Ready(Ok(2))));
    assert_eq!(tally.dropped(), 1, "the slow first lost");
    assert_eq!(breaker.snapshot().calls(), 1, "only the winner recorded");
}

#[test]
fn the_delay_may_be_a_function_of_the_attempt() {
    let timer = ManualTimer::new();
    let hedge = Hedge::builder(timer.clone())
        .delay_per_attempt(|attempt| 10 * MS * attempt)
        .max_attempts(3)
        .build()
        .unwrap();
    assert_eq!(hedge.delay(), 20 * MS);
    let tally = Tally::default();
    let mut call = pin!(hedge.call(|| tally.attempt(&timer, Duration::from_secs(1), Ok(1))));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(20 * MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 2, "the first hedge after 20 ms");
    timer.advance(29 * MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 2);
    timer.advance(MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 3, "the second 30 ms after it");
}

#[test]
fn a_bad_percentile_or_period_is_named() {
    let timer = ManualTimer::new();
    let b = || Hedge::builder(timer.clone());
    assert_eq!(
        b().delay_percentile(0.0, SEC_1)
            .build()
            .unwrap_err()
            .field(),
        "delay_percentile"
    );
    assert_eq!(
        b().delay_percentile(f64::NAN, SEC_1)
            .build()
            .unwrap_err()
            .field(),
        "delay_percentile"
    );
    assert_eq!(
        b().delay_percentile(0.9, Duration::ZERO)
            .build()
            .unwrap_err()
            .field(),
        "delay_percentile.period"
    );
}

const SEC_1: Duration = Duration::from_secs(1);

#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use palisade::hedge::HedgeLayer;
    use tower::{Layer, Service, ServiceExt};

    #[test]
    fn the_layer_hedges_a_slow_call_with_a_clone_of_the_request_and_drops_the_loser() {
        let timer = ManualTimer::new();
        let tally = Tally::default();
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let inner = tower::service_fn({
            let (timer, tally, requests) = (timer.clone(), tally.clone(), Arc::clone(&requests));
            move |req: &'static str| {
                requests.lock().unwrap().push(req);
                let after = if tally.made() == 0 { 500 * MS } else { 10 * MS };
                tally.attempt(&timer, after, Ok(tally.made()))
            }
        });
        let mut svc = HedgeLayer::new(hedge(&timer, 2)).layer(inner);
        let waker = noop_waker();
        assert!(svc.poll_ready(&mut Context::from_waker(&waker)).is_ready());
        let mut call = pin!(svc.call("GET /item"));
        assert!(poll(call.as_mut()).is_pending());
        timer.advance(50 * MS);
        assert!(poll(call.as_mut()).is_pending());
        timer.advance(10 * MS);
        assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(1)), "the hedge won");
        assert_eq!(*requests.lock().unwrap(), ["GET /item", "GET /item"]);
        assert_eq!(tally.dropped(), 1, "the slow first was dropped");
        // A fast call is not hedged.
        let answer = futures::executor::block_on(svc.ready())
            .unwrap()
            .call("GET /fast");
        let mut answer = pin!(answer);
        assert!(poll(answer.as_mut()).is_pending());
        timer.advance(10 * MS);
        assert_eq!(poll(answer.as_mut()), Poll::Ready(Ok(2)));
        assert_eq!(tally.made(), 3);
    }
}

#[test]
fn an_acceptable_error_does_not_beat_an_attempt_still_running_and_stops_new_hedges() {
    use palisade::retry::Decision;
    let timer = ManualTimer::new();
    let hedge = Hedge::builder(timer.clone())
        .delay(50 * MS)
        .max_attempts(3)
        .policy(|outcome: &Result<u32, &'static str>| match outcome {
            Err("full") | Ok(_) => Decision::Accept, // a rejection is not retried
            Err(_) => Decision::Retry,
        })
        .build()
        .unwrap();
    let tally = Tally::default();
    let mut call = pin!(hedge.call(|| {
        if tally.made() == 0 {
            tally.attempt(&timer, 500 * MS, Ok(1))
        } else {
            tally.attempt(&timer, Duration::ZERO, Err("full"))
        }
    }));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(50 * MS);
    assert!(
        poll(call.as_mut()).is_pending(),
        "the rejected hedge did not end it"
    );
    timer.advance(200 * MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(tally.made(), 2, "no hedge after a rejection");
    timer.advance(250 * MS);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(1)));
    // With nothing else running, the rejection is the answer.
    let mut call = pin!(hedge.call(|| tally.attempt(&timer, Duration::ZERO, Err("full"))));
    assert_eq!(poll(call.as_mut()), Poll::Ready(Err("full")));
}
