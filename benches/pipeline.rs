//! The full pipeline's happy-path overhead (total timeout, retry, breaker,
//! bulkhead, attempt timeout; nothing fails) against the sum of its parts
//! measured alone, seatbelt's pipeline (timeout, retry, breaker) and a
//! tower-resilience stack (breaker, bulkhead), in one run, at 1 and 2
//! threads sharing the instances. palisade's timeouts use a timer that never
//! fires; seatbelt's clock is tokio's.
//!
//! Run: `cargo bench -p palisade-benches --bench pipeline`
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::future::{ready, Ready};
use std::hint::black_box;
use std::time::Duration;

use http_body_util::Full;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::CircuitBreaker;
use palisade::http::GrpcFailures;
use palisade::pipeline::Pipeline;
use palisade::retry::Retry;
use palisade::timeout::Timeout;
use tower::service_fn;

mod support;
use support::{poll_ready, run, seatbelt_context, tower_call, Never};

#[inline]
fn op(i: u64) -> Ready<Result<u64, std::io::Error>> {
    ready(Ok(i))
}

/// An HTTP response as a gRPC server's unary answer carries it: OK in the
/// head, one data frame.
#[inline]
fn grpc_response(i: u64) -> Ready<Result<http::Response<Full<Bytes>>, std::io::Error>> {
    let mut res = http::Response::new(Full::new(Bytes::from_static(b"x")));
    res.headers_mut()
        .insert(GRPC_STATUS, http::HeaderValue::from_static("0"));
    black_box(i);
    ready(Ok(res))
}

const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// Reads a body to its end; its frames are ready at once.
fn drain<B: http_body::Body>(body: B) {
    let mut body = std::pin::pin!(body);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    while let std::task::Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        black_box(frame.ok());
    }
}

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .build()
        .unwrap()
}

fn bulkhead() -> Bulkhead {
    Bulkhead::builder().max_concurrent(1024).build().unwrap()
}

fn retry() -> Retry {
    Retry::builder().timer(Never).build().unwrap()
}

fn pipeline(c: &mut Criterion) {
    use layered::{Execute, Stack};

    let mut g = c.benchmark_group("pipeline");
    let full = Pipeline::builder(Never)
        .timeout(Duration::from_secs(10))
        .retry(retry())
        .circuit_breaker(breaker())
        .bulkhead(bulkhead())
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // The same five guards around an HTTP call: judged by the default
    // classifier when the response arrives, or by the gRPC preset at the
    // end of its body.
    let five = || {
        Pipeline::builder(Never)
            .timeout(Duration::from_secs(10))
            .retry(retry())
            .bulkhead(bulkhead())
            .attempt_timeout(Duration::from_secs(1))
    };
    let http_default = five().circuit_breaker(breaker()).build().unwrap();
    let grpc = five()
        .circuit_breaker(
            CircuitBreaker::builder()
                .count_window(100)
                .minimum_calls(100)
                .classifier(GrpcFailures::new())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let (timeout, r, b, bh) = (
        Timeout::builder()
            .duration(Duration::from_secs(1))
            .timer(Never)
            .build()
            .unwrap(),
        retry(),
        breaker(),
        bulkhead(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let context = seatbelt_context(&rt);
    let seatbelt_svc = (
        seatbelt::timeout::Timeout::layer("t", &context)
            .timeout_error(|_| std::io::Error::other("timeout"))
            .timeout(Duration::from_secs(10)),
        seatbelt::retry::Retry::layer("r", &context)
            .clone_input()
            .recovery_with(|out: &Result<u64, std::io::Error>, _| match out {
                Ok(_) => seatbelt::RecoveryInfo::never(),
                Err(_) => seatbelt::RecoveryInfo::retry(),
            }),
        seatbelt::breaker::Breaker::layer("b", &context)
            .recovery_with(|out: &Result<u64, std::io::Error>, _| match out {
                Ok(_) => seatbelt::RecoveryInfo::never(),
                Err(_) => seatbelt::RecoveryInfo::retry(),
            })
            .rejected_input_error(|_, _| std::io::Error::other("open")),
        Execute::new(op as fn(u64) -> Ready<Result<u64, std::io::Error>>),
    )
        .into_service();
    let peer_stack = tower::ServiceBuilder::new()
        .layer(
            tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
                .sliding_window_size(100)
                .minimum_number_of_calls(100)
                .build()
                .unwrap(),
        )
        .layer(
            tower_resilience::bulkhead::BulkheadLayer::builder()
                .max_concurrent_calls(1024)
                .build()
                .unwrap(),
        )
        .service(service_fn(
            op as fn(u64) -> Ready<Result<u64, std::io::Error>>,
        ));
    // No guard at all: what the pipeline's state machine costs alone.
    let empty = Pipeline::builder(Never).build().unwrap();
    for threads in [1, 2] {
        run(&mut g, "bare", threads, &|| {
            Box::new(move |i| {
                let _ = black_box(poll_ready(op(black_box(i))));
            })
        });
        run(&mut g, "palisade_pipeline", threads, &|| {
            let p = &full;
            Box::new(move |i| {
                let _ = black_box(poll_ready(p.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "palisade_pipeline_empty", threads, &|| {
            let p = &empty;
            Box::new(move |i| {
                let _ = black_box(poll_ready(p.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "http_bare", threads, &|| {
            Box::new(move |i| {
                let res = poll_ready(grpc_response(i)).unwrap();
                drain(black_box(res).into_body());
            })
        });
        run(&mut g, "palisade_pipeline_http_default", threads, &|| {
            let p = &http_default;
            Box::new(move |i| {
                let res = poll_ready(p.call(|| grpc_response(i))).unwrap();
                drain(black_box(res).into_body());
            })
        });
        run(&mut g, "palisade_pipeline_http_grpc", threads, &|| {
            let p = &grpc;
            Box::new(move |i| {
                let res = poll_ready(p.call(|| grpc_response(i))).unwrap();
                drain(black_box(res).into_body());
            })
        });
        run(&mut g, "part_timeout", threads, &|| {
            let t = &timeout;
            Box::new(move |i| {
                let _ = black_box(poll_ready(t.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "part_retry", threads, &|| {
            let r = &r;
            Box::new(move |i| {
                let _ = black_box(poll_ready(r.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "part_breaker", threads, &|| {
            let b = &b;
            Box::new(move |i| {
                let _ = black_box(poll_ready(b.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "part_bulkhead", threads, &|| {
            let bh = &bh;
            Box::new(move |i| {
                let _ = black_box(poll_ready(bh.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "seatbelt_timeout_retry_breaker", threads, &|| {
            let (s, entered) = (&seatbelt_svc, rt.enter());
            Box::new(move |i| {
                let _ = &entered;
                let _ = black_box(poll_ready(layered::Service::execute(s, black_box(i))));
            })
        });
        run(
            &mut g,
            "tower_resilience_breaker_bulkhead",
            threads,
            &|| {
                let mut svc = peer_stack.clone();
                Box::new(move |i| {
                    let _ = black_box(tower_call(&mut svc, black_box(i)));
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = pipeline
}
criterion_main!(benches);
