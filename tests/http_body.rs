//! The HTTP services against real servers on 127.0.0.1: hyper (HTTP/2 and
//! HTTP/1.1) and axum, called with hyper-util's client and reqwest. The
//! permission rides in the response body and is recorded when the body
//! ends.
#![cfg(feature = "http")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::clock::ManualClock;
use palisade::http::{BulkheadLayer, CircuitBreakerLayer, CircuitBreakerService};
use palisade::http::{GrpcFailures, HttpFailures};
use palisade::pipeline::Pipeline;
use palisade::retry::Retry;
use palisade::timer::ManualTimer;
use palisade::Bulkhead;
use support::SEC;
use tokio::sync::Notify;
use tower::{Layer, ServiceBuilder, ServiceExt};

type ServerBody = BoxBody<Bytes, std::io::Error>;

/// Frames for a response body: a data frame, then what `path` asks for.
/// `/cut` breaks once `cut` is notified (after the client has the head).
fn body_for(path: &str, cut: Arc<Notify>) -> ServerBody {
    let data = futures::stream::iter([Ok(Frame::data(Bytes::from_static(b"part")))]);
    if let Some(code) = path.strip_prefix("/trailers/") {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", code.parse().unwrap());
        if code == "14" {
            // gRFC A6: the server asks clients to stay away 20 s.
            trailers.insert("grpc-retry-pushback-ms", "20000".parse().unwrap());
        }
        let end = futures::stream::iter([Ok(Frame::trailers(trailers))]);
        return BodyExt::boxed(StreamBody::new(data.chain(end)));
    }
    match path {
        // A stream that breaks after its first frame.
        "/cut" => {
            let broken = futures::stream::once(async move {
                cut.notified().await;
                Err(std::io::Error::other("upstream reset"))
            });
            BodyExt::boxed(StreamBody::new(data.chain(broken)))
        }
        // A stream that never ends.
        "/hang" => BodyExt::boxed(StreamBody::new(data.chain(futures::stream::pending()))),
        _ => BodyExt::boxed(StreamBody::new(data)),
    }
}

/// A hyper server on 127.0.0.1 (HTTP/1.1 and HTTP/2, cleartext) answering
/// by path: `/status/N` (status N, with `retry-after: 30` on a 503),
/// `/trailers/N` (200, then `grpc-status: N` in trailers, with
/// `grpc-retry-pushback-ms: 20000` when N is 14), `/cut`,
/// `/hang`, anything else 200. Counts the requests it served.
async fn server() -> (SocketAddr, Arc<AtomicU32>) {
    let (addr, served, _) = server_with_cut().await;
    (addr, served)
}

/// [`server`], and the switch that breaks `/cut` bodies.
async fn server_with_cut() -> (SocketAddr, Arc<AtomicU32>, Arc<Notify>) {
    let cut = Arc::new(Notify::new());
    let switch = Arc::clone(&cut);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&served);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let count = Arc::clone(&count);
            let cut = Arc::clone(&cut);
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                count.fetch_add(1, Ordering::SeqCst);
                let path = req.uri().path().to_owned();
                let cut = Arc::clone(&cut);
                async move {
                    let mut res = Response::new(body_for(&path, cut));
                    if let Some(status) = path.strip_prefix("/status/") {
                        *res.status_mut() = status.parse::<u16>().unwrap().try_into().unwrap();
                        if status == "503" {
                            res.headers_mut()
                                .insert("retry-after", "30".parse().unwrap());
                        }
                    }
                    Ok::<_, Infallible>(res)
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, served, switch)
}

/// hyper-util's pooled client over HTTP/2 (trailers need it).
fn h2_client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

fn get(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap()
}

/// A breaker that trips on one failure in one call, on a manual clock.
fn breaker(clock: &ManualClock) -> CircuitBreaker {
    breaker_builder(clock).build().unwrap()
}

fn breaker_builder(clock: &ManualClock) -> palisade::circuit_breaker::CircuitBreakerBuilder {
    CircuitBreaker::builder()
        .name("dep")
        .count_window(10)
        .minimum_calls(1)
        .failure_rate_threshold(0.5)
        .open_duration(5 * SEC)
        .half_open_trial_calls(1)
        .half_open_max_concurrent(1)
        .clock(clock.clone())
}

type H2 = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

/// What most tests start from: a server, a breaker (trips on one failure
/// in one call) on a manual clock, and an HTTP/2 client guarded by
/// `guard(breaker)`.
async fn setup<C: Clone>(
    guard: fn(CircuitBreaker) -> CircuitBreakerLayer<C>,
) -> (
    SocketAddr,
    ManualClock,
    CircuitBreaker,
    CircuitBreakerService<H2, C>,
) {
    let (addr, _) = server().await;
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let client = guard(b.clone()).layer(h2_client());
    (addr, clock, b, client)
}

/// One GET through a clone of `client`, answered.
async fn send<S>(client: &S, addr: SocketAddr, path: &str) -> S::Response
where
    S: tower::Service<Request<Empty<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    client.clone().oneshot(get(addr, path)).await.unwrap()
}

#[tokio::test]
async fn a_200_whose_trailers_say_unavailable_is_a_failure() {
    let (addr, _clock, b, client) = setup(CircuitBreakerLayer::grpc).await;

    let res = send(&client, addr, "/trailers/0").await;
    assert_eq!(res.status(), 200);
    assert!(res.body().is_holding());
    let collected = res.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!((b.snapshot().calls(), b.snapshot().failures()), (1, 0));

    let res = send(&client, addr, "/trailers/14").await;
    assert_eq!(res.status(), 200);
    // The head said nothing yet: not recorded while the body is open.
    assert_eq!(b.snapshot().calls(), 1);
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(b.state(), State::Open);
    let rejected = client.oneshot(get(addr, "/trailers/0")).await.unwrap_err();
    assert!(rejected.is_circuit_open());
}

#[tokio::test]
async fn tower_http_grpc_classifier_needs_no_glue() {
    let (addr, _) = server().await;
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let classifier = tower_http::classify::GrpcErrorsAsFailures::new();
    let client = CircuitBreakerLayer::new(b.clone(), classifier).layer(h2_client());
    let res = client.oneshot(get(addr, "/trailers/13")).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test]
async fn grpc_client_errors_in_trailers_are_not_counted() {
    let (addr, _clock, b, client) = setup(CircuitBreakerLayer::grpc).await;
    for code in ["1", "3", "5", "16"] {
        let res = client
            .clone()
            .oneshot(get(addr, &format!("/trailers/{code}")))
            .await
            .unwrap();
        let _ = res.into_body().collect().await.unwrap();
    }
    assert_eq!(b.snapshot().calls(), 0);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn a_body_cut_mid_stream_is_a_failure() {
    let (addr, _, cut) = server_with_cut().await;
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let client = CircuitBreakerLayer::http(b.clone()).layer(h2_client());
    let res = client.oneshot(get(addr, "/cut")).await.unwrap();
    // The head was a 200: nothing recorded while the body streams.
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    assert!(body.is_holding());
    assert_eq!(b.snapshot().calls(), 0);
    cut.notify_one();
    let error = loop {
        match body.frame().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("the body ended without its error"),
        }
    };
    assert!(!body.is_holding(), "{error}");
    // One failure in one call trips it (and starts a fresh window).
    assert_eq!(b.state(), State::Open);
}

#[tokio::test]
async fn a_grpc_body_dropped_early_is_a_cancelled_call() {
    let (addr, clock, b, client) = setup(CircuitBreakerLayer::grpc).await;
    // Half-open with a single probe place.
    b.transition_to(State::Open);
    clock.advance(5 * SEC);
    assert_eq!(b.state(), State::HalfOpen);

    let res = send(&client, addr, "/hang").await;
    let mut body = res.into_body();
    body.frame().await.unwrap().unwrap();
    // The probe place is taken while the body streams.
    let busy = client
        .clone()
        .oneshot(get(addr, "/hang"))
        .await
        .unwrap_err();
    assert!(busy.is_circuit_open());
    drop(body);
    // Dropped before its trailers: not recorded, the place given back.
    assert_eq!(b.snapshot().calls(), 0);
    assert_eq!(b.state(), State::HalfOpen);
    let res = client.oneshot(get(addr, "/trailers/0")).await.unwrap();
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn an_http_body_dropped_early_keeps_the_heads_verdict() {
    let (addr, _clock, b, client) = setup(CircuitBreakerLayer::http).await;
    let res = send(&client, addr, "/status/500").await;
    assert_eq!(res.status(), 500);
    drop(res); // unread
    assert_eq!(b.state(), State::Open);
}

#[tokio::test]
async fn the_bulkhead_place_is_held_until_the_body_ends() {
    let (addr, served) = server().await;
    let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
    let client = BulkheadLayer::new(bulkhead.clone()).layer(h2_client());

    let first = send(&client, addr, "/").await;
    assert_eq!(bulkhead.metrics().in_flight, 1);
    let full = client.clone().oneshot(get(addr, "/")).await.unwrap_err();
    assert!(full.is_bulkhead_full());
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "the rejected call never left"
    );

    let _ = first.into_body().collect().await.unwrap();
    assert_eq!(bulkhead.metrics().in_flight, 0);
    let second = client.oneshot(get(addr, "/")).await.unwrap();
    let _ = second.into_body().collect().await.unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

/// Calls `path` once through `guard(breaker)` with hints honoured (up to
/// 60 s), reads the body to its end, and checks that the failure keeps the
/// breaker open exactly `secs` seconds (the breaker's own open duration is
/// 5 s). Returns the server and the clock for more calls.
async fn held_open_by_hint<C>(
    guard: fn(CircuitBreaker) -> CircuitBreakerLayer<C>,
    path: &str,
    secs: u32,
) -> (SocketAddr, ManualClock)
where
    C: Clone + tower_http::classify::ClassifyResponse,
    C::FailureClass: palisade::http::BreakerVerdict,
{
    let (addr, _) = server().await;
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let client = guard(b.clone())
        .hold_open_on_hint(60 * SEC)
        .layer(h2_client());
    let res = send(&client, addr, path).await;
    let _ = res.into_body().collect().await;
    assert_eq!(b.state(), State::Open);
    clock.advance((secs - 1) * SEC);
    assert_eq!(b.state(), State::Open);
    clock.advance(SEC);
    assert_eq!(b.state(), State::HalfOpen);
    (addr, clock)
}

#[tokio::test]
async fn a_retry_after_keeps_the_breaker_open_when_asked() {
    // Configured 5 s; the server asked for 30 in `retry-after`.
    let (addr, clock) = held_open_by_hint(CircuitBreakerLayer::http, "/status/503", 30).await;

    // Without the opt-in, the open duration is the configured one.
    let b = breaker(&clock);
    let client = CircuitBreakerLayer::http(b.clone()).layer(h2_client());
    drop(client.oneshot(get(addr, "/status/503")).await.unwrap());
    clock.advance(5 * SEC);
    assert_eq!(b.state(), State::HalfOpen);
}

/// Retries wait on the `tokio` feature's timer.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_http_preset_retries_gateway_errors_with_the_servers_hint() {
    let (addr, served) = server().await;
    let retry = Retry::builder()
        .max_attempts(3)
        .policy(HttpFailures::new())
        .max_hint(Duration::from_millis(1))
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(palisade::retry::RetryLayer::new(retry))
        .service(h2_client().map_err(palisade::Error::<_>::Operation));
    let res = client.oneshot(get(addr, "/status/503")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(served.load(Ordering::SeqCst), 3);

    // A 500 is a failure but not retried.
    let (addr, served) = server().await;
    let retry = Retry::builder()
        .policy(HttpFailures::new())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(palisade::retry::RetryLayer::new(retry))
        .service(h2_client().map_err(palisade::Error::<_>::Operation));
    let res = client.oneshot(get(addr, "/status/500")).await.unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

/// An axum server over HTTP/1.1, called with reqwest; `/cut` breaks once
/// the returned switch is notified.
async fn axum_server() -> (SocketAddr, Arc<Notify>) {
    use axum::routing::get;
    let cut = Arc::new(Notify::new());
    let switch = Arc::clone(&cut);
    let app = axum::Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/busy",
            get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "busy") }),
        )
        .route(
            "/cut",
            get(move || async move {
                let first = futures::stream::iter([Ok(Bytes::from_static(b"part"))]);
                let broken = futures::stream::once(async move {
                    cut.notified().await;
                    Err(std::io::Error::other("upstream reset"))
                });
                axum::body::Body::from_stream(first.chain(broken))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, switch)
}

#[tokio::test]
async fn reqwest_send_wrapped_records_at_the_end_of_the_body() {
    let (addr, cut) = axum_server().await;
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder()
        .minimum_calls(10)
        .clock(clock.clone())
        .build()
        .unwrap();
    let guard = CircuitBreakerLayer::http(b.clone());
    let client = reqwest::Client::new();

    let send = |path: &'static str| {
        let client = client.clone();
        move || async move {
            let res = client.get(format!("http://{addr}{path}")).send().await?;
            Ok::<_, reqwest::Error>(http::Response::from(res))
        }
    };
    let res = guard.call(send("/ok")).await.unwrap();
    assert_eq!(b.snapshot().calls(), 0);
    let text = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "fine");
    assert_eq!((b.snapshot().calls(), b.snapshot().failures()), (1, 0));

    let res = guard.call(send("/busy")).await.unwrap();
    assert_eq!(res.status(), 503);
    let _ = res.into_body().collect().await;
    assert_eq!(b.snapshot().failures(), 1);

    // HTTP/1.1 chunked body cut after its first chunk.
    let res = guard.call(send("/cut")).await.unwrap();
    assert_eq!(res.status(), 200);
    cut.notify_one();
    assert!(res.into_body().collect().await.is_err());
    assert_eq!((b.snapshot().calls(), b.snapshot().failures()), (3, 2));
}

#[tokio::test]
async fn reqwest_client_as_a_tower_service() {
    let (addr, _) = axum_server().await;
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::http(b.clone()))
        .map_response(http::Response::from)
        .service(reqwest::Client::new());
    let req = reqwest::Request::new(
        reqwest::Method::GET,
        format!("http://{addr}/busy").parse().unwrap(),
    );
    let res = client.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 503);
    drop(res);
    assert_eq!(b.state(), State::Open);
    let req = reqwest::Request::new(
        reqwest::Method::GET,
        format!("http://{addr}/ok").parse().unwrap(),
    );
    assert!(client.oneshot(req).await.unwrap_err().is_circuit_open());
}

#[tokio::test]
async fn no_response_is_a_failure_recorded_at_once() {
    // Nothing listens on this port once the listener is dropped.
    let addr = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let client = CircuitBreakerLayer::grpc(b.clone()).layer(h2_client());
    let err = client.oneshot(get(addr, "/")).await.unwrap_err();
    assert!(err.operation().is_some());
    assert_eq!(b.state(), State::Open);
}

/// A response made in process (no network), for the rules that need none.
fn reply(status: u16, body: &'static str) -> Response<http_body_util::Full<Bytes>> {
    let mut res = Response::new(http_body_util::Full::new(Bytes::from_static(
        body.as_bytes(),
    )));
    *res.status_mut() = status.try_into().unwrap();
    res
}

#[tokio::test]
async fn an_empty_body_ends_with_the_head_and_hints_are_forwarded() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
    let client = ServiceBuilder::new()
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .layer(CircuitBreakerLayer::http(b.clone()))
        .service(tower::service_fn(|body: &'static str| async move {
            Ok::<_, std::io::Error>(reply(200, body))
        }));

    let res = client.clone().oneshot("").await.unwrap();
    // Nothing to read: recorded and the place freed with the head.
    assert!(http_body::Body::is_end_stream(res.body()));
    assert!(!res.body().is_holding());
    assert_eq!(b.snapshot().calls(), 1);
    assert_eq!(bulkhead.metrics().in_flight, 0);

    let res = client.oneshot("hello").await.unwrap();
    assert_eq!(http_body::Body::size_hint(res.body()).exact(), Some(5));
    assert!(!http_body::Body::is_end_stream(res.body()));
    let mut body = res.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    // The last frame said so (`is_end_stream`): ended without polling for
    // `None`.
    assert!(!body.is_holding());
    assert_eq!(b.snapshot().calls(), 2);
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

#[tokio::test]
async fn a_panic_in_the_response_future_is_a_failure_and_frees_the_place() {
    use futures::FutureExt;
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
    let client = ServiceBuilder::new()
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .layer(CircuitBreakerLayer::http(b.clone()))
        .service(tower::service_fn(|fail: bool| async move {
            if fail {
                panic!("bug in the client");
            }
            Ok::<_, std::io::Error>(reply(200, "ok"))
        }));
    let caught = std::panic::AssertUnwindSafe(client.oneshot(true))
        .catch_unwind()
        .await;
    assert!(caught.is_err());
    assert_eq!(b.state(), State::Open);
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

#[tokio::test]
async fn an_open_http_breaker_keeps_the_tower_contract_under_buffer() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let inner = tower::service_fn(move |status: u16| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(reply(status, "")) }
    });
    let client = ServiceBuilder::new()
        .buffer(8)
        .layer(CircuitBreakerLayer::http(b.clone()))
        .service(inner);
    drop(client.clone().oneshot(500).await.unwrap());
    assert_eq!(b.state(), State::Open);
    for _ in 0..3 {
        let err = client.clone().oneshot(200).await.unwrap_err();
        let open = palisade::CircuitOpen::find_in(err.as_ref()).expect("a rejection");
        assert_eq!(open.state(), State::Open);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "rejected calls never reach the client"
    );
    // The buffer's worker survived: calls go through once the breaker closes.
    b.reset();
    let res = client.oneshot(200).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Retries wait on the `tokio` feature's timer.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn a_streaming_body_counts_in_flight_for_the_retry_budget() {
    let (addr, _) = server().await;
    let budget = palisade::retry::RetryBudget::in_flight(1.0, 0).unwrap();
    let retry = Retry::builder()
        .policy(HttpFailures::new())
        .budget(budget.clone())
        .build()
        .unwrap();
    let http_retry = palisade::http::RetryLayer::new(retry.clone())
        .layer(h2_client().map_err(palisade::Error::<_>::Operation));
    let mut body = send(&http_retry, addr, "/hang").await.into_body();
    body.frame().await.unwrap().unwrap();
    // The call is over at its head, but its body still streams: it counts.
    assert_eq!(budget.available(), 1);
    drop(body);
    assert_eq!(budget.available(), 0);

    // The plain retry layer gives its share back at the head.
    let head_retry = palisade::retry::RetryLayer::new(retry)
        .layer(h2_client().map_err(palisade::Error::<_>::Operation));
    let body = send(&head_retry, addr, "/hang").await.into_body();
    assert_eq!(budget.available(), 0);
    drop(body);
}

#[tokio::test]
async fn a_pushback_in_trailers_keeps_the_breaker_open_when_asked() {
    // Configured 5 s; the trailers asked for 20.
    held_open_by_hint(CircuitBreakerLayer::grpc, "/trailers/14", 20).await;
}

#[tokio::test]
async fn tower_http_server_errors_classifier_needs_no_glue() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let client = CircuitBreakerLayer::new(
        b.clone(),
        tower_http::classify::ServerErrorsAsFailures::new(),
    )
    .layer(tower::service_fn(|status: u16| async move {
        Ok::<_, std::io::Error>(reply(status, "body"))
    }));
    let res = client.clone().oneshot(404).await.unwrap();
    drop(res);
    assert_eq!((b.snapshot().calls(), b.snapshot().failures()), (1, 0));
    let res = client.oneshot(500).await.unwrap();
    assert_eq!(b.state(), State::Closed, "recorded when the body ends");
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(b.state(), State::Open);
}

// A pipeline whose breaker judges with an HTTP preset: the same rules,
// through the pipeline's one order (breaker outside the bulkhead).

/// [`breaker`], judging with the gRPC preset.
fn grpc_breaker(clock: &ManualClock) -> CircuitBreaker<GrpcFailures> {
    breaker_builder(clock)
        .classifier(GrpcFailures::new())
        .build()
        .unwrap()
}

type GrpcPipeline = Pipeline<ManualTimer, palisade::retry::RetryErrors, GrpcFailures>;

/// A pipeline with the gRPC preset as its breaker's classifier and a
/// bulkhead of one place.
fn grpc_pipeline(clock: &ManualClock) -> GrpcPipeline {
    Pipeline::builder(ManualTimer::new())
        .circuit_breaker(grpc_breaker(clock))
        .bulkhead(
            Bulkhead::builder()
                .name("dep")
                .max_concurrent(1)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_grpc_pipeline_records_unavailable_in_trailers_and_holds_its_place_until_the_body_ends() {
    let (addr, served) = server().await;
    let client = h2_client();
    let pipeline = grpc_pipeline(&ManualClock::new());
    let breaker = pipeline.circuit_breaker().unwrap().clone();
    let bulkhead = pipeline.bulkhead().unwrap().clone();
    let call = |path: &'static str| pipeline.call(|| client.request(get(addr, path)));

    let res = call("/trailers/14").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.body().is_holding());
    // The head said nothing yet: not recorded, the place still held.
    assert_eq!(breaker.snapshot().calls(), 0);
    assert_eq!(bulkhead.metrics().in_flight, 1);
    let full = call("/").await.unwrap_err();
    assert!(full.is_bulkhead_full(), "{full}");
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "the rejected call never left"
    );
    assert_eq!(
        breaker.snapshot().calls(),
        0,
        "a full bulkhead is not counted"
    );

    let collected = res.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "14");
    assert_eq!(bulkhead.metrics().in_flight, 0);
    assert_eq!(breaker.state(), State::Open);
    let rejected = call("/trailers/0").await.unwrap_err();
    assert!(rejected.is_circuit_open(), "{rejected}");
}

#[tokio::test]
async fn a_grpc_pipeline_counts_ok_in_trailers_as_a_success_and_client_errors_not_at_all() {
    let (addr, _) = server().await;
    let client = h2_client();
    let pipeline = grpc_pipeline(&ManualClock::new());
    let breaker = pipeline.circuit_breaker().unwrap();
    for (path, calls) in [("/trailers/0", 1), ("/trailers/5", 1), ("/trailers/0", 2)] {
        let res = pipeline
            .call(|| client.request(get(addr, path)))
            .await
            .unwrap();
        let _ = res.into_body().collect().await.unwrap();
        assert_eq!(breaker.snapshot().calls(), calls, "{path}");
    }
    assert_eq!(breaker.snapshot().failures(), 0);
}

#[tokio::test]
async fn a_grpc_pipeline_records_a_cut_stream_as_a_failure() {
    let (addr, _, cut) = server_with_cut().await;
    let client = h2_client();
    let pipeline = grpc_pipeline(&ManualClock::new());
    let breaker = pipeline.circuit_breaker().unwrap();
    let res = pipeline
        .call(|| client.request(get(addr, "/cut")))
        .await
        .unwrap();
    let mut body = res.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    assert_eq!(breaker.snapshot().calls(), 0);
    cut.notify_one();
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
    assert!(!body.is_holding());
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(pipeline.bulkhead().unwrap().metrics().in_flight, 0);
}

#[tokio::test]
async fn a_grpc_pipelines_body_dropped_early_is_a_cancelled_call_and_frees_the_place() {
    let (addr, _) = server().await;
    let client = h2_client();
    let clock = ManualClock::new();
    let pipeline = grpc_pipeline(&clock);
    let breaker = pipeline.circuit_breaker().unwrap();
    // Half-open with a single probe place.
    breaker.transition_to(State::Open);
    clock.advance(5 * SEC);
    let res = pipeline
        .call(|| client.request(get(addr, "/hang")))
        .await
        .unwrap();
    let mut body = res.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    assert_eq!(breaker.snapshot().calls(), 0);
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(pipeline.bulkhead().unwrap().metrics().in_flight, 0);
    let res = pipeline
        .call(|| client.request(get(addr, "/trailers/0")))
        .await
        .unwrap();
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn an_http_pipeline_retries_a_gateway_error_and_holds_its_budget_share_until_the_body_ends() {
    let (addr, served) = server().await;
    let client = h2_client();
    // Two retries in flight per call in flight.
    let budget = palisade::retry::RetryBudget::in_flight(2.0, 0).unwrap();
    let breaker = CircuitBreaker::builder()
        .classifier(HttpFailures::new())
        .build()
        .unwrap();
    let timer = ManualTimer::new();
    let pipeline = Pipeline::builder(timer.clone())
        .retry(
            Retry::builder()
                .timer(timer)
                .max_attempts(2)
                .backoff(palisade::retry::Backoff::constant(Duration::ZERO))
                .policy(HttpFailures::new())
                .budget(budget.clone())
                .build()
                .unwrap(),
        )
        .circuit_breaker(breaker)
        .build()
        .unwrap();
    let res = pipeline
        .call(|| client.request(get(addr, "/status/502")))
        .await
        .unwrap();
    // Retried once, then the second 502 is the answer.
    assert_eq!(served.load(Ordering::SeqCst), 2);
    assert_eq!(res.status(), 502);
    let breaker = pipeline.circuit_breaker().unwrap();
    assert_eq!(
        breaker.snapshot().failures(),
        1,
        "the first attempt, recorded at its retry"
    );
    // The call and its retry are in flight until the body ends.
    assert_eq!(budget.available(), 1);
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(budget.available(), 0);
    assert_eq!(breaker.snapshot().failures(), 2);
}
