//! A [`Pipeline`](crate::pipeline::Pipeline) over HTTP: with an HTTP
//! judge as its breaker's classifier, an attempt that returns a response
//! is over when the response body ends.

use std::fmt;

use http::{HeaderMap, Response};
use http_body::Body;
use tower_http::classify::{ClassifyEos, ClassifyResponse};

use super::body::{BodyGuard, BreakerGuard, BudgetGuard, GuardedResponse, ResponseBody};
use super::classify::head_verdict;
use super::{BreakerVerdict, GrpcFailures, HttpFailures};
use crate::circuit_breaker::Classification;
use crate::error::Error;
use crate::limit::Limiter;
use crate::pipeline::{HandOver, Judge, Judged};

/// Any `tower-http` classifier (`ServerErrorsAsFailures`,
/// `GrpcErrorsAsFailures`, `StatusInRangeAsFailures`, one of your own) as a
/// pipeline's breaker classifier, judging at the end of the response body
/// as the presets [`HttpFailures`] and [`GrpcFailures`] do (they need no
/// wrapper). Its failure classes count as [`BreakerVerdict`] says.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::http::BodyEnd;
/// use palisade::pipeline::Pipeline;
/// use palisade::timer::ManualTimer;
/// use tower_http::classify::StatusInRangeAsFailures;
///
/// // 400-599 are failures.
/// let breaker = CircuitBreaker::builder()
///     .classifier(BodyEnd(StatusInRangeAsFailures::new(400..=599)))
///     .build()?;
/// let pipeline = Pipeline::builder(ManualTimer::new()).circuit_breaker(breaker).build()?;
/// let response = futures::executor::block_on(pipeline.call(|| async {
///     let body = http_body_util::Full::new(bytes::Bytes::from("no"));
///     Ok::<_, std::io::Error>(http::Response::builder().status(404).body(body).unwrap())
/// }))
/// .unwrap();
/// drop(response); // its head said: a failure
/// let breaker = pipeline.circuit_breaker().unwrap();
/// assert_eq!(breaker.snapshot().failures(), 1);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyEnd<C>(pub C);

/// The verdict on an attempt's result by `classifier`.
fn judge_response<K, B, E>(
    classifier: K,
    result: &Result<Response<B>, Error<E>>,
) -> Judged<K::ClassifyEos>
where
    K: ClassifyResponse,
    K::FailureClass: BreakerVerdict,
    E: fmt::Display + 'static,
{
    match result {
        Ok(response) => head_verdict(classifier, response),
        Err(Error::Operation(error)) => {
            Judged::Now(classifier.classify_error(error).classification())
        }
        // A timeout or a panic: the dependency did not answer in time.
        Err(_) => Judged::Now(Classification::Failure),
    }
}

/// The response, its body holding what the attempt holds until it ends.
fn deliver<A, C, L: Limiter, B: Body>(
    response: Response<B>,
    hand_over: HandOver<'_, A, C, L>,
) -> GuardedResponse<B, PipelineGuard<A, L>>
where
    A: ClassifyEos,
    A::FailureClass: BreakerVerdict,
{
    let guard = PipelineGuard::take(hand_over, response.headers());
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, ResponseBody::new(body, guard))
}

macro_rules! judge_at_body_end {
    ($judge:ty, $eos:ty, $classifier:ident => $inner:expr $(, $param:ident: $bound:path)?) => {
        impl<B, E $(, $param: $bound)?> crate::pipeline::judge::sealed::Sealed<Response<B>, E> for $judge
        where
            $judge: Clone,
        {
        }

        impl<B, E, L $(, $param: $bound)?> Judge<Response<B>, E, L> for $judge
        where
            $judge: Clone,
            B: Body,
            E: fmt::Display + 'static,
            L: Limiter,
            <$eos as ClassifyEos>::FailureClass: BreakerVerdict,
            $eos: Send + 'static,
        {
            type Output = GuardedResponse<B, PipelineGuard<$eos, L>>;
            type AtEnd = $eos;
            const HANDS_OVER: bool = true;

            fn judge(&self, result: &Result<Response<B>, Error<E>>) -> Judged<$eos> {
                let $classifier = self.clone();
                judge_response($inner, result)
            }

            fn deliver<C>(
                value: Response<B>,
                hand_over: HandOver<'_, $eos, C, L>,
            ) -> Self::Output {
                deliver(value, hand_over)
            }
        }
    };
}

judge_at_body_end!(HttpFailures, <HttpFailures as ClassifyResponse>::ClassifyEos, c => c);
judge_at_body_end!(GrpcFailures, <GrpcFailures as ClassifyResponse>::ClassifyEos, c => c);
judge_at_body_end!(
    BodyEnd<K>,
    <K as ClassifyResponse>::ClassifyEos,
    c => c.0,
    K: ClassifyResponse
);

/// What a pipeline's response body holds until it ends (see
/// [`Judge`]): the attempt's breaker admission with the verdict still to
/// record, its place under the pipeline's concurrency limit, and its share
/// of an in-flight retry budget. The breaker records first; then the
/// place and the budget share are given back.
pub struct PipelineGuard<A, L: Limiter> {
    breaker: Option<BreakerGuard<A>>,
    place: Option<L::Held>,
    budget: BudgetGuard,
}

impl<A, L: Limiter> PipelineGuard<A, L> {
    /// Takes what `hand_over` holds (the response head's `headers` give the
    /// hint that may hold the breaker open, when the pipeline reads hints).
    fn take<C>(hand_over: HandOver<'_, A, C, L>, headers: &HeaderMap) -> Self {
        let HandOver {
            verdict,
            breaker,
            admission,
            limit,
            seat,
            retry,
            progress,
            max_hint,
        } = hand_over;
        // What the limit hears: the head's verdict (a verdict that waits
        // for the body counts the call as completed).
        let class = verdict.as_ref().map(|verdict| match verdict {
            Judged::Now(class) => *class,
            Judged::AtBodyEnd(_) => Classification::Success,
        });
        let breaker = breaker.and_then(|breaker| {
            let ticket = admission.hand_over(breaker)?;
            let verdict = verdict.take()?;
            Some(BreakerGuard::new(ticket, verdict, headers, max_hint))
        });
        Self {
            breaker,
            place: limit.and_then(|limit| limit.hand_over(seat, class)),
            budget: BudgetGuard::new(retry.and_then(|retry| progress.take_hold(retry))),
        }
    }
}

impl<A, L: Limiter> super::body::sealed::Sealed for PipelineGuard<A, L> {}

impl<A, L: Limiter> BodyGuard for PipelineGuard<A, L>
where
    A: ClassifyEos,
    A::FailureClass: BreakerVerdict,
{
    fn trailers(self, trailers: &HeaderMap) {
        if let Some(breaker) = self.breaker {
            breaker.trailers(trailers);
        }
    }

    fn ended(self) {
        if let Some(breaker) = self.breaker {
            breaker.ended();
        }
    }

    fn broke<E: fmt::Display + 'static>(self, error: &E) {
        if let Some(breaker) = self.breaker {
            breaker.broke(error);
        }
    }
}

impl<A, L: Limiter> fmt::Debug for PipelineGuard<A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineGuard")
            .field("breaker", &self.breaker)
            .field("place", &self.place.is_some())
            .field("budget", &self.budget)
            .finish()
    }
}
