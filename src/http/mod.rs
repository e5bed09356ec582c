//! HTTP and gRPC: calls that end when the response body ends (feature
//! `http`).
//!
//! For an HTTP or gRPC client the outcome of a call is often known only at
//! the end of the response: gRPC carries its status in trailers (an HTTP
//! 200 can be a failed call), and a stream can break mid-body. A guard
//! that records at the response head gets both wrong, and a bulkhead that
//! frees its place at the head lets more calls in while earlier bodies
//! still stream. Here the permission rides in the body:
//!
//! - [`CircuitBreakerLayer`] records each call when its body ends, judged
//!   by a `tower-http` classifier: the presets [`HttpFailures`] and
//!   [`GrpcFailures`], or `tower-http`'s own `ServerErrorsAsFailures`,
//!   `GrpcErrorsAsFailures` and `StatusInRangeAsFailures`, with no glue
//!   ([`BreakerVerdict`] says how a failure class counts).
//! - [`BulkheadLayer`] holds the place until the body ends.
//! - [`RetryLayer`] retries as the retry layer does and holds the call's
//!   share of an in-flight retry budget until the body ends.
//! - The response body is a [`ResponseBody`]: a named, allocation-free
//!   wrapper that forwards every frame, `size_hint` and `is_end_stream`.
//!   When a call ends (trailers, last frame, error, or a drop before the
//!   end, the cancel rule) is documented there.
//! - The presets are also retry policies ([`RetryPolicy`](crate::retry::RetryPolicy)):
//!   they retry what they call transient and wait for the response's
//!   `Retry-After` or `grpc-retry-pushback-ms`.
//! - A failed response's hint can also keep the breaker open longer
//!   ([`CircuitBreakerLayer::hold_open_on_hint`]).
//!
//! They work with any client that is a tower service answering
//! `http::Response<B>` with `B: http_body::Body`: hyper-util's `Client`,
//! a tonic `Channel` (below its generated client), a reqwest `Client`
//! after `.map_response(http::Response::from)`; and around a future such as
//! reqwest's `send()` through [`CircuitBreakerLayer::call`].
//!
//! # Several guards: the pipeline
//!
//! To put several guards around a call, use a
//! [`Pipeline`](crate::pipeline::Pipeline) whose breaker judges with a
//! preset (or any `tower-http` classifier in [`BodyEnd`]): its one
//! documented order, one flat error, and the same rules as here, the
//! attempt's admission, place and budget share riding in the body:
//!
//! ```
//! use palisade::circuit_breaker::CircuitBreaker;
//! use palisade::http::GrpcFailures;
//! use palisade::pipeline::Pipeline;
//! use palisade::timer::ManualTimer;
//! use palisade::Bulkhead;
//!
//! # futures::executor::block_on(async {
//! let pipeline = Pipeline::builder(ManualTimer::new())
//!     .circuit_breaker(CircuitBreaker::builder().classifier(GrpcFailures::new()).build()?)
//!     .bulkhead(Bulkhead::builder().max_concurrent(10).build()?)
//!     .build()?;
//! let response = pipeline
//!     .call(|| async {
//!         // Here the real client's call (hyper-util, tonic's channel).
//!         let body = http_body_util::Full::new(bytes::Bytes::from("reply"));
//!         Ok::<_, std::io::Error>(http::Response::new(body))
//!     })
//!     .await
//!     .unwrap();
//! // The body holds the place (and waits for its trailers' `grpc-status`).
//! assert_eq!(pipeline.bulkhead().unwrap().metrics().in_flight, 1);
//! drop(response);
//! assert_eq!(pipeline.bulkhead().unwrap().metrics().in_flight, 0);
//! # Ok::<(), palisade::ConfigError>(())
//! # }).unwrap();
//! ```
//!
//! # Stacking the single-guard layers
//!
//! Put the bulkhead outside the breaker: the breaker judges errors with
//! the classifier, which cannot tell a bulkhead's rejection from a failed
//! connection (the pipeline, which knows its own guards, ignores it). A
//! call the breaker rejects holds its place only until that rejection is
//! returned, at once. A retry goes outside both; `Error::flatten` keeps the
//! error flat:
//!
//! ```
//! use palisade::circuit_breaker::CircuitBreaker;
//! use palisade::http::{BulkheadLayer, CircuitBreakerLayer};
//! use palisade::Bulkhead;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # futures::executor::block_on(async {
//! let breaker = CircuitBreaker::builder().name("inventory").build()?;
//! let bulkhead = Bulkhead::builder().name("inventory").max_concurrent(10).build()?;
//! let client = ServiceBuilder::new()
//!     .map_err(palisade::Error::flatten)
//!     .layer(BulkheadLayer::new(bulkhead))
//!     .layer(CircuitBreakerLayer::http(breaker.clone()))
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         // Here the real client (hyper-util, tonic, reqwest).
//!         let body = http_body_util::Full::new(bytes::Bytes::from("busy"));
//!         Ok::<_, std::io::Error>(http::Response::builder().status(503).body(body).unwrap())
//!     }));
//! let response = client.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(response.status(), 503);
//! drop(response); // dropped unread: the head's verdict (a failure) stands
//! assert_eq!(breaker.snapshot().failures(), 1);
//! # Ok::<(), palisade::ConfigError>(())
//! # }).unwrap();
//! ```
//!
//! # Peers
//!
//! `tower-resilience`, `failsafe`, `recloser` and `seatbelt` judge a call
//! when its future or response future completes, at the response head;
//! tower's own `ConcurrencyLimit` frees its permit then too, and `tower`'s
//! retry budget has no notion of calls in flight. `tower-http` reads
//! trailers with these classifiers, but only to log and count
//! (`TraceLayer`). gRPC's own xDS circuit breaking (gRFC A32) counts a
//! request in flight until the RPC ends, stream included: what this module
//! does for any client.

mod body;
mod classify;
mod layer;
mod pipeline;
mod retry;
mod service;

pub use body::{
    BodyGuard, BreakerGuard, BudgetGuard, BulkheadGuard, GuardedResponse, ResponseBody,
};
pub use classify::{BreakerVerdict, GrpcEos, GrpcFailure, GrpcFailures, HttpFailure, HttpFailures};
pub use layer::{BulkheadLayer, CircuitBreakerLayer, GuardedCall, OnceService};
pub use pipeline::{BodyEnd, PipelineGuard};
pub use retry::{RetryLayer, RetryResponse, RetryService};
pub use service::{
    Arm, BreakerArm, BulkheadArm, BulkheadService, CircuitBreakerService, ResponseFuture,
};
pub use tower_http::classify::GrpcCode;
