//! What holding the permission until the end of the response body costs:
//! an HTTP response (`Full` body, 10 % answered 503) through tower, the
//! body read to its end, bare; with palisade's breaker recording at the
//! response head (`CircuitBreakerLayer`, default classifier); with
//! `palisade::http`'s breaker recording at the end of the body (HTTP
//! preset); with its breaker and bulkhead; and with tower-resilience's
//! breaker (head).
//!
//! `cargo bench --all-features --bench http`
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

mod support;

use std::future::ready;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body::Body;
use http_body_util::Full;
use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use palisade::Bulkhead;
use support::{run, tower_call};
use tower::Layer;

type Res = http::Response<Full<Bytes>>;

fn inner() -> impl tower::Service<
    u64,
    Response = Res,
    Error = std::io::Error,
    Future = std::future::Ready<Result<Res, std::io::Error>>,
> + Clone {
    tower::service_fn(|i: u64| {
        let mut res = http::Response::new(Full::new(Bytes::from_static(b"reply")));
        if i % 10 == 0 {
            *res.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        }
        ready(Ok(res))
    })
}

/// Reads a response body to its end.
fn drain<B: Body>(body: B) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut body = pin!(body);
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        let _ = black_box(frame.is_ok());
    }
}

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap()
}

fn http_body(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_body");
    // The classic layer would count every Ok as a success; judge the
    // status as the HTTP preset does, so both rows classify alike.
    let head = CircuitBreaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .failure_rate_threshold(0.5)
        .classifier(|r: &Result<Res, std::io::Error>| match r {
            Ok(res) if res.status().is_server_error() => {
                palisade::circuit_breaker::Classification::Failure
            }
            Ok(_) => palisade::circuit_breaker::Classification::Success,
            Err(_) => palisade::circuit_breaker::Classification::Failure,
        })
        .build()
        .unwrap();
    let at_head = CircuitBreakerLayer::new(head).layer(inner());
    let at_end = palisade::http::CircuitBreakerLayer::http(breaker()).layer(inner());
    let bulkhead = Bulkhead::builder().max_concurrent(100).build().unwrap();
    let both = palisade::http::BulkheadLayer::new(bulkhead)
        .layer(palisade::http::CircuitBreakerLayer::http(breaker()).layer(inner()));
    let peer = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .minimum_number_of_calls(100)
        .build()
        .unwrap()
        .layer(inner());
    run(&mut g, "bare", 1, &|| {
        let mut svc = inner();
        Box::new(move |i| drain(tower_call(&mut svc, black_box(i)).unwrap().into_body()))
    });
    run(&mut g, "palisade_at_head", 1, &|| {
        let mut svc = at_head.clone();
        Box::new(move |i| drain(tower_call(&mut svc, black_box(i)).unwrap().into_body()))
    });
    run(&mut g, "palisade_http_at_end", 1, &|| {
        let mut svc = at_end.clone();
        Box::new(move |i| drain(tower_call(&mut svc, black_box(i)).unwrap().into_body()))
    });
    run(&mut g, "palisade_http_breaker_bulkhead", 1, &|| {
        let mut svc = both.clone();
        Box::new(move |i| drain(tower_call(&mut svc, black_box(i)).unwrap().into_body()))
    });
    run(&mut g, "tower_resilience_at_head", 1, &|| {
        let mut svc = peer.clone();
        Box::new(move |i| drain(tower_call(&mut svc, black_box(i)).unwrap().into_body()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = http_body
}
criterion_main!(benches);
