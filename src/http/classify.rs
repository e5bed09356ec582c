//! The HTTP and gRPC presets, and how a `tower-http` failure class counts
//! in a circuit breaker.

use std::fmt;
use std::time::SystemTime;

use http::{HeaderMap, Response, StatusCode};
use tower_http::classify::{
    ClassifiedResponse, ClassifyEos, ClassifyResponse, GrpcCode, GrpcFailureClass,
    NeverClassifyEos, ServerErrorsFailureClass, StatusInRangeFailureClass,
};

use crate::circuit_breaker::Classification;
use crate::pipeline::Judged;
use crate::retry::hint::{self, Hint};
use crate::retry::{Decision, Rejectable, RetryPolicy};

/// How a circuit breaker counts a `tower-http` failure class: the bridge
/// from a [`ClassifyResponse`] (which says only "success" or "failure of
/// this class") to the breaker's [`Classification`] (which can also say
/// "do not count this").
///
/// Implemented for the failure classes of `tower-http`'s own classifiers
/// (each a failure), for the presets' [`HttpFailure`] and [`GrpcFailure`],
/// and for [`Classification`] itself, so any classifier can decide exactly
/// with `.map_failure_class(|class| Classification::...)`.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::Classification;
/// use palisade::http::BreakerVerdict;
/// use tower_http::classify::ServerErrorsFailureClass;
///
/// let class = ServerErrorsFailureClass::StatusCode(http::StatusCode::BAD_GATEWAY);
/// assert_eq!(class.classification(), Classification::Failure);
/// ```
pub trait BreakerVerdict {
    /// How the breaker counts this failure class.
    fn classification(&self) -> Classification;
}

impl BreakerVerdict for Classification {
    fn classification(&self) -> Classification {
        *self
    }
}

macro_rules! every_class_a_failure {
    ($($t:ty),*) => {$(
        impl BreakerVerdict for $t {
            fn classification(&self) -> Classification {
                Classification::Failure
            }
        }
    )*};
}

every_class_a_failure!(
    ServerErrorsFailureClass,
    GrpcFailureClass,
    StatusInRangeFailureClass
);

/// The breaker's verdict on a response head by a `tower-http` classifier:
/// known from the head, or at the end of the body.
pub(crate) fn head_verdict<C, B>(classifier: C, response: &Response<B>) -> Judged<C::ClassifyEos>
where
    C: ClassifyResponse,
    C::FailureClass: BreakerVerdict,
{
    match classifier.classify_response(response) {
        ClassifiedResponse::Ready(verdict) => Judged::Now(
            verdict.map_or_else(|class| class.classification(), |()| Classification::Success),
        ),
        ClassifiedResponse::RequiresEos(eos) => Judged::AtBodyEnd(eos),
    }
}

/// The HTTP preset: a `tower-http` classifier, a breaker verdict and a
/// retry policy in one.
///
/// | response | breaker | retried |
/// |---|---|---|
/// | 1xx, 2xx, 3xx | success | no |
/// | 408 Request Timeout, 429 Too Many Requests | failure ([`HttpFailure::Transient`]) | yes |
/// | other 4xx | success: the caller's mistake, not the dependency's health | no |
/// | 502, 503, 504 | failure ([`HttpFailure::Gateway`]) | yes |
/// | 500, 501, 505-599 | failure ([`HttpFailure::ServerError`]) | no |
/// | no response (connect, reset), body broken mid-stream | failure ([`HttpFailure::Error`]) | yes (not a palisade rejection) |
///
/// Sources: RFC 9110 §15.5.9 (a 408 means the server closed an idle
/// request; the client may repeat it), RFC 6585 §4 (429, with
/// `Retry-After`), RFC 9110 §15.6 (5xx: the server failed), Envoy's
/// `gateway-error` retry condition (502, 503, 504: a proxy could not get an
/// answer, so trying again may reach a healthy instance), Polly's
/// `HandleTransientHttpError` (5xx and 408 are failures). A 500 is counted
/// but not retried: it usually is a bug that answers the same way again.
///
/// A retry made because of a response waits for its `Retry-After` (or
/// `grpc-retry-pushback-ms`) when it has one, within the retry's
/// `max_hint`. As a retry policy it reads errors through
/// [`Rejectable`] (palisade's `Error`, `BoxError`): a raw client error
/// (hyper-util's, tonic's) goes through `.map_err(palisade::Error::Operation)`
/// first.
///
/// # Examples
///
/// ```
/// use palisade::http::{HttpFailure, HttpFailures};
/// use tower_http::classify::{ClassifiedResponse, ClassifyResponse};
///
/// let res = http::Response::builder().status(503).body(()).unwrap();
/// match HttpFailures::new().classify_response(&res) {
///     ClassifiedResponse::Ready(Err(HttpFailure::Gateway(status))) => assert_eq!(status, 503),
///     _ => unreachable!(),
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpFailures {
    _private: (),
}

impl HttpFailures {
    /// The preset.
    pub const fn new() -> Self {
        Self { _private: () }
    }

    /// The failure class of a status, `None` for a status that is not one.
    pub fn class_of(status: StatusCode) -> Option<HttpFailure> {
        match status.as_u16() {
            408 | 429 => Some(HttpFailure::Transient(status)),
            502..=504 => Some(HttpFailure::Gateway(status)),
            500..=599 => Some(HttpFailure::ServerError(status)),
            _ => None,
        }
    }
}

/// A failure by the [`HttpFailures`] preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpFailure {
    /// 408 or 429: try again later.
    Transient(StatusCode),
    /// 502, 503 or 504: a gateway could not get an answer.
    Gateway(StatusCode),
    /// Another 5xx: the server failed.
    ServerError(StatusCode),
    /// No response, or its body broke before its end.
    Error,
}

impl HttpFailure {
    /// The response's status, if there was a response.
    pub fn status(&self) -> Option<StatusCode> {
        match *self {
            Self::Transient(s) | Self::Gateway(s) | Self::ServerError(s) => Some(s),
            Self::Error => None,
        }
    }

    /// Whether the preset retries it.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::ServerError(_))
    }
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(s) => write!(f, "transient status {s}"),
            Self::Gateway(s) => write!(f, "gateway status {s}"),
            Self::ServerError(s) => write!(f, "server error status {s}"),
            Self::Error => f.write_str("no response, or the response body broke"),
        }
    }
}

impl BreakerVerdict for HttpFailure {
    fn classification(&self) -> Classification {
        Classification::Failure
    }
}

impl ClassifyResponse for HttpFailures {
    type FailureClass = HttpFailure;
    type ClassifyEos = NeverClassifyEos<HttpFailure>;

    fn classify_response<B>(
        self,
        res: &Response<B>,
    ) -> ClassifiedResponse<HttpFailure, Self::ClassifyEos> {
        ClassifiedResponse::Ready(Self::class_of(res.status()).map_or(Ok(()), Err))
    }

    fn classify_error<E>(self, _error: &E) -> HttpFailure
    where
        E: fmt::Display + 'static,
    {
        HttpFailure::Error
    }
}

/// The gRPC preset: a `tower-http` classifier, a breaker verdict and a
/// retry policy in one, reading `grpc-status` from the headers of a
/// trailers-only response or else from the trailers at the end of the
/// body.
///
/// | status | breaker | retried |
/// |---|---|---|
/// | `OK` | success | no |
/// | `UNAVAILABLE` | failure | yes |
/// | `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`, `RESOURCE_EXHAUSTED`, `DATA_LOSS` | failure | no |
/// | `CANCELLED` and the client's errors (`INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS`, `PERMISSION_DENIED`, `FAILED_PRECONDITION`, `ABORTED`, `OUT_OF_RANGE`, `UNIMPLEMENTED`, `UNAUTHENTICATED`) | ignored (not counted) | no |
/// | no response (connect, reset), body broken mid-stream | failure ([`GrpcFailure::Error`]) | yes, as `UNAVAILABLE` (not a palisade rejection) |
///
/// Sources: the gRPC status code guide (`doc/statuscodes.md`: which codes
/// the server side generates, and that `UNAVAILABLE` is "most likely a
/// transient condition, which can be corrected by retrying with a
/// backoff"), Google's API design guide on errors (retry `UNAVAILABLE`
/// only; `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED` and `INTERNAL` only with
/// care, so not by default), gRFC A6 (`grpc-retry-pushback-ms`).
///
/// A response that is not gRPC (an HTTP status other than 200 from a proxy,
/// with no `grpc-status`) is read with gRPC's own HTTP-to-gRPC mapping
/// (`doc/http-grpc-status-mapping.md`): 400 `INTERNAL`, 401
/// `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`, 404 `UNIMPLEMENTED`, 429,
/// 502, 503, 504 `UNAVAILABLE`, anything else `UNKNOWN`. A body that ends
/// with no `grpc-status` is `INTERNAL`, as grpc-go reports it ("server
/// closed the stream without sending trailers").
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::Classification;
/// use palisade::http::{BreakerVerdict, GrpcFailures};
/// use tower_http::classify::{ClassifiedResponse, ClassifyEos, ClassifyResponse};
///
/// // An HTTP 200 whose trailers say UNAVAILABLE (14) is a failure.
/// let res = http::Response::builder().status(200).body(()).unwrap();
/// let ClassifiedResponse::RequiresEos(eos) = GrpcFailures::new().classify_response(&res) else {
///     unreachable!()
/// };
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert("grpc-status", "14".parse().unwrap());
/// let class = eos.classify_eos(Some(&trailers)).unwrap_err();
/// assert_eq!(class.classification(), Classification::Failure);
/// assert!(class.is_retryable());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrpcFailures {
    _private: (),
}

impl GrpcFailures {
    /// The preset.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

/// A non-`OK` outcome by the [`GrpcFailures`] preset.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum GrpcFailure {
    /// The call ended with this status.
    Status(GrpcCode),
    /// No response, or its body broke before its end.
    Error,
}

impl GrpcFailure {
    /// The status, as the client sees it: [`GrpcFailure::Error`] is
    /// `UNAVAILABLE`.
    pub fn code(&self) -> GrpcCode {
        match *self {
            Self::Status(code) => code,
            Self::Error => GrpcCode::Unavailable,
        }
    }

    /// Whether the preset retries it: `UNAVAILABLE` only.
    pub fn is_retryable(&self) -> bool {
        matches!(self.code(), GrpcCode::Unavailable)
    }
}

impl fmt::Display for GrpcFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(code) => write!(f, "gRPC status {code:?}"),
            Self::Error => f.write_str("no response, or the response body broke"),
        }
    }
}

impl BreakerVerdict for GrpcFailure {
    fn classification(&self) -> Classification {
        match self.code() {
            GrpcCode::Unavailable
            | GrpcCode::DeadlineExceeded
            | GrpcCode::Internal
            | GrpcCode::Unknown
            | GrpcCode::ResourceExhausted
            | GrpcCode::DataLoss => Classification::Failure,
            // `Ok` never is a failure class; the rest are the caller's.
            _ => Classification::Ignored,
        }
    }
}

/// `grpc-status` in `headers`: `None` if absent, `Unknown` if unreadable.
fn grpc_status(headers: &HeaderMap) -> Option<Result<(), GrpcFailure>> {
    // A `HeaderName` made once: looking up by `&str` parses the name on
    // every call (most of the lookup's cost, by callgrind).
    const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
    let value = headers.get(&GRPC_STATUS)?;
    let code = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .map_or(GrpcCode::Unknown, code_of);
    Some(match code {
        GrpcCode::Ok => Ok(()),
        code => Err(GrpcFailure::Status(code)),
    })
}

/// tower-http's `From<i32>` maps unknown numbers to `Unknown` too; written
/// out so the mapping is visible here.
fn code_of(n: i32) -> GrpcCode {
    match n {
        0..=16 => GrpcCode::from(n),
        _ => GrpcCode::Unknown,
    }
}

/// gRPC's mapping of an HTTP status to a code, for a response that is not
/// gRPC.
fn code_of_http(status: StatusCode) -> GrpcCode {
    match status.as_u16() {
        400 => GrpcCode::Internal,
        401 => GrpcCode::Unauthenticated,
        403 => GrpcCode::PermissionDenied,
        404 => GrpcCode::Unimplemented,
        429 | 502..=504 => GrpcCode::Unavailable,
        _ => GrpcCode::Unknown,
    }
}

impl ClassifyResponse for GrpcFailures {
    type FailureClass = GrpcFailure;
    type ClassifyEos = GrpcEos;

    fn classify_response<B>(self, res: &Response<B>) -> ClassifiedResponse<GrpcFailure, GrpcEos> {
        if let Some(status) = grpc_status(res.headers()) {
            return ClassifiedResponse::Ready(status);
        }
        if res.status() != StatusCode::OK {
            return ClassifiedResponse::Ready(Err(GrpcFailure::Status(code_of_http(res.status()))));
        }
        ClassifiedResponse::RequiresEos(GrpcEos { _private: () })
    }

    fn classify_error<E>(self, _error: &E) -> GrpcFailure
    where
        E: fmt::Display + 'static,
    {
        GrpcFailure::Error
    }
}

/// The end-of-stream half of [`GrpcFailures`]: reads `grpc-status` from the
/// trailers.
#[derive(Clone, Copy, Debug)]
pub struct GrpcEos {
    _private: (),
}

impl ClassifyEos for GrpcEos {
    type FailureClass = GrpcFailure;

    fn classify_eos(self, trailers: Option<&HeaderMap>) -> Result<(), GrpcFailure> {
        trailers
            .and_then(grpc_status)
            .unwrap_or(Err(GrpcFailure::Status(GrpcCode::Internal)))
    }

    fn classify_error<E>(self, _error: &E) -> GrpcFailure
    where
        E: fmt::Display + 'static,
    {
        GrpcFailure::Error
    }
}

/// The retry decision for a failure class: retry after the response's
/// hint, if it has one, else after the backoff; not at all if the response
/// says so.
fn retry_on<B>(retryable: bool, res: &Response<B>) -> Decision {
    if !retryable {
        return Decision::Accept;
    }
    match hint::from_headers(res.headers(), SystemTime::now()) {
        Some(Hint::After(delay)) => Decision::RetryAfter(delay),
        Some(Hint::DoNotRetry) => Decision::Accept,
        None => Decision::Retry,
    }
}

/// A transport error is retried unless it is a guard's rejection.
fn retry_error<E: Rejectable>(error: &E) -> Decision {
    if error.is_rejection() {
        Decision::Accept
    } else {
        Decision::Retry
    }
}

/// Retries what the table on [`HttpFailures`] says. A response with a body
/// still to read is dropped when it is retried (with its permission: the
/// breaker records what its head said).
impl<B, E: Rejectable> RetryPolicy<Response<B>, E> for HttpFailures {
    fn decide(&self, outcome: &Result<Response<B>, E>) -> Decision {
        match outcome {
            Ok(res) => retry_on(
                Self::class_of(res.status()).is_some_and(|c| c.is_retryable()),
                res,
            ),
            Err(e) => retry_error(e),
        }
    }
}

/// Retries `UNAVAILABLE` read from the response head (a trailers-only
/// response, as a server that fails a unary call sends, or a non-gRPC
/// response from a proxy). A status that arrives in trailers after a body
/// is known only when the body is read, too late to retry the call.
impl<B, E: Rejectable> RetryPolicy<Response<B>, E> for GrpcFailures {
    fn decide(&self, outcome: &Result<Response<B>, E>) -> Decision {
        match outcome {
            Ok(res) => match self.classify_response(res) {
                ClassifiedResponse::Ready(Err(class)) => retry_on(class.is_retryable(), res),
                _ => Decision::Accept,
            },
            Err(e) => retry_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, grpc: Option<&str>) -> Response<()> {
        let mut b = Response::builder().status(status);
        if let Some(code) = grpc {
            b = b.header("grpc-status", code);
        }
        b.body(()).unwrap()
    }

    fn verdict<C: ClassifyResponse>(c: C, res: &Response<()>) -> Option<Classification>
    where
        C::FailureClass: BreakerVerdict,
    {
        match c.classify_response(res) {
            ClassifiedResponse::Ready(Ok(())) => Some(Classification::Success),
            ClassifiedResponse::Ready(Err(class)) => Some(class.classification()),
            ClassifiedResponse::RequiresEos(_) => None,
        }
    }

    #[test]
    fn http_table() {
        let f = Some(Classification::Failure);
        let s = Some(Classification::Success);
        for (status, expected, retried) in [
            (200, s, false),
            (204, s, false),
            (304, s, false),
            (400, s, false),
            (404, s, false),
            (408, f, true),
            (429, f, true),
            (500, f, false),
            (501, f, false),
            (502, f, true),
            (503, f, true),
            (504, f, true),
            (505, f, false),
            (599, f, false),
        ] {
            let res = response(status, None);
            assert_eq!(verdict(HttpFailures::new(), &res), expected, "{status}");
            let decision =
                RetryPolicy::<_, crate::Error<()>>::decide(&HttpFailures::new(), &Ok(res));
            assert_eq!(decision == Decision::Retry, retried, "{status}");
        }
    }

    #[test]
    fn http_retry_waits_for_the_hint_and_never_retries_rejections() {
        let res = Response::builder()
            .status(429)
            .header("retry-after", "7")
            .body(())
            .unwrap();
        let p = HttpFailures::new();
        assert_eq!(
            RetryPolicy::<_, crate::Error<()>>::decide(&p, &Ok(res)),
            Decision::RetryAfter(std::time::Duration::from_secs(7))
        );
        let open = crate::Error::<()>::CircuitOpen(crate::CircuitOpen::new(
            crate::name::Name::new("x".into()),
            crate::circuit_breaker::State::Open,
            None,
        ));
        assert_eq!(
            RetryPolicy::<Response<()>, _>::decide(&p, &Err(open)),
            Decision::Accept
        );
        assert_eq!(
            RetryPolicy::<Response<()>, _>::decide(&p, &Err(crate::Error::Operation(()))),
            Decision::Retry
        );
    }

    #[test]
    fn grpc_table() {
        let f = Some(Classification::Failure);
        let i = Some(Classification::Ignored);
        for (code, expected) in [
            (1, i),
            (2, f),
            (3, i),
            (4, f),
            (5, i),
            (6, i),
            (7, i),
            (8, f),
            (9, i),
            (10, i),
            (11, i),
            (12, i),
            (13, f),
            (14, f),
            (15, f),
            (16, i),
            (99, f), // unknown number: UNKNOWN
        ] {
            let res = response(200, Some(&code.to_string()));
            assert_eq!(verdict(GrpcFailures::new(), &res), expected, "{code}");
            let retried =
                RetryPolicy::<_, crate::Error<()>>::decide(&GrpcFailures::new(), &Ok(res));
            assert_eq!(retried == Decision::Retry, code == 14, "{code}");
        }
        assert_eq!(
            verdict(GrpcFailures::new(), &response(200, Some("0"))),
            Some(Classification::Success)
        );
        assert_eq!(
            verdict(GrpcFailures::new(), &response(200, Some("fourteen"))),
            Some(Classification::Failure)
        );
    }

    #[test]
    fn grpc_reads_trailers_and_maps_non_grpc_responses() {
        assert_eq!(verdict(GrpcFailures::new(), &response(200, None)), None);
        let eos = GrpcEos { _private: () };
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        assert!(eos.classify_eos(Some(&trailers)).is_ok());
        // Ended without a status: INTERNAL.
        assert!(matches!(
            eos.classify_eos(None),
            Err(GrpcFailure::Status(GrpcCode::Internal))
        ));
        for (status, code) in [
            (503, 14),
            (429, 14),
            (404, 12),
            (401, 16),
            (400, 13),
            (500, 2),
        ] {
            let class = match GrpcFailures::new().classify_response(&response(status, None)) {
                ClassifiedResponse::Ready(Err(class)) => class,
                _ => panic!("{status}"),
            };
            assert_eq!(class.code() as i32, code_of(code) as i32, "{status}");
        }
    }
}
