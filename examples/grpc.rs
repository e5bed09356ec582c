//! A tonic client whose channel is guarded by palisade, against a tonic
//! server on 127.0.0.1 that fails on demand with a status in its trailers.
//!
//! Run: `cargo run -p palisade-examples --example grpc --features grpc`
//!
//! (The feature compiles `examples/proto/echo.proto` at build time with
//! `tonic-prost-build` and the `protoc` binary of `protoc-bin-vendored`:
//! nothing to install.)
//!
//! The server streams a few ticks per call and ends it with `OK`, or, while
//! it is failing, with `UNAVAILABLE` in the trailers: the HTTP status is 200
//! and the ticks arrive, so a guard that judged the response head would see
//! a success. The breaker here holds each call's admission in the response
//! body and records it when the trailers arrive: it opens, rejects calls
//! without sending them, then lets a trial through after its open duration
//! and closes once the server is healthy again.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::http::{BulkheadLayer, CircuitBreakerLayer};
use palisade::Bulkhead;
use tonic::{Request, Response, Status};
use tower::ServiceBuilder;

mod pb {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    tonic::include_proto!("echo");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{Tick, TicksRequest};

/// The server: streams `count` ticks, then ends with `OK` or, while
/// `failing`, `UNAVAILABLE`.
#[derive(Clone, Default)]
struct Ticker {
    failing: Arc<AtomicBool>,
    served: Arc<AtomicU32>,
}

type TickStream = Pin<Box<dyn futures::Stream<Item = Result<Tick, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for Ticker {
    type TicksStream = TickStream;

    async fn ticks(&self, request: Request<TicksRequest>) -> Result<Response<TickStream>, Status> {
        self.served.fetch_add(1, Ordering::SeqCst);
        let count = request.into_inner().count;
        let ticks = futures::stream::iter((0..count).map(|n| Ok(Tick { n })));
        let end = if self.failing.load(Ordering::SeqCst) {
            Some(Err(Status::unavailable("warming up a replica")))
        } else {
            None
        };
        let stream = futures::StreamExt::chain(ticks, futures::stream::iter(end));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// One call: the ticks it read, and how it ended.
async fn call<T>(client: &mut EchoClient<T>) -> Result<u32, Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let mut stream = client.ticks(TicksRequest { count: 3 }).await?.into_inner();
    let mut read = 0;
    while stream.message().await?.is_some() {
        read += 1;
    }
    Ok(read)
}

fn describe(result: &Result<u32, Status>) -> String {
    match result {
        Ok(ticks) => format!("OK after {ticks} ticks"),
        // tonic keeps the service's error as the status's source.
        Err(status) if palisade::CircuitOpen::find_in(status).is_some() => {
            let open = palisade::CircuitOpen::find_in(status).unwrap();
            format!("not sent: {open}")
        }
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let ticker = Ticker::default();
    let server = tonic::transport::Server::builder()
        .add_service(EchoServer::new(ticker.clone()))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);

    let breaker = CircuitBreaker::builder()
        .name("ticker")
        .count_window(10)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .open_duration(Duration::from_millis(300))
        .half_open_trial_calls(2)
        .build()?;
    breaker.on_state_transition(|from, to| println!("    breaker: {from:?} -> {to:?}"));
    let bulkhead = Bulkhead::builder()
        .name("ticker")
        .max_concurrent(8)
        .build()?;

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    // The generated client takes any tower service of HTTP requests: the
    // channel inside palisade's HTTP layers. The bulkhead goes outside the
    // breaker (see `palisade::http`), and errors stay one flat type.
    let guarded = ServiceBuilder::new()
        .map_err(palisade::Error::flatten)
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .layer(CircuitBreakerLayer::grpc(breaker.clone()))
        .service(channel.clone());
    let mut client = EchoClient::new(guarded);

    println!("healthy server:");
    for _ in 0..3 {
        println!("  call: {}", describe(&call(&mut client).await));
    }
    assert_eq!(breaker.state(), State::Closed);

    println!("server fails with UNAVAILABLE in the trailers, after HTTP 200 and the ticks:");
    ticker.failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        println!("  call: {}", describe(&call(&mut client).await));
    }
    assert_eq!(
        breaker.state(),
        State::Open,
        "trailers must count as failures"
    );
    let served = ticker.served.load(Ordering::SeqCst);
    for _ in 0..2 {
        let result = call(&mut client).await;
        println!("  call: {}", describe(&result));
        let status = result.unwrap_err();
        assert!(
            palisade::CircuitOpen::find_in(&status).is_some(),
            "{status:?}"
        );
    }
    assert_eq!(
        ticker.served.load(Ordering::SeqCst),
        served,
        "an open breaker sends nothing"
    );

    println!("server recovers; after the open duration the breaker tries again:");
    ticker.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..3 {
        println!("  call: {}", describe(&call(&mut client).await));
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        bulkhead.metrics().in_flight,
        0,
        "every body ended, every place back"
    );
    println!(
        "served {} calls; breaker {:?}",
        ticker.served.load(Ordering::SeqCst),
        breaker.state()
    );

    // The same channel through `palisade::client`: the host's pipeline
    // from configuration, judged by the gRPC preset at the end of each
    // stream. A gRPC client's requests name no host (the channel does) and
    // their bodies cannot be copied: the layer names the host and sends
    // each request once.
    println!("the same channel, its pipeline from configuration (palisade::client):");
    let config = toml::from_str(
        r#"[pipelines.ticker]
        attempt_timeout = "5s"
        circuit_breaker = { window = { count = 10 }, minimum_calls = 4, failure_rate_threshold = 0.5 }
        bulkhead = { max_concurrent = 8 }"#,
    )?;
    let clients = palisade::client::Clients::builder(config).grpc().build()?;
    let layer = palisade::client::ClientLayer::new(clients.clone())
        .host("ticker")
        .send_once();
    let mut client = EchoClient::new(tower::Layer::layer(&layer, channel));
    ticker.failing.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        println!("  call: {}", describe(&call(&mut client).await));
    }
    let pipeline = clients.pipeline("ticker")?;
    let breaker = pipeline.circuit_breaker().expect("configured");
    assert_eq!(
        breaker.snapshot().failures(),
        2,
        "UNAVAILABLE in the trailers, judged at the end of the stream"
    );
    assert_eq!(pipeline.bulkhead().map(|b| b.metrics().in_flight), Some(0));
    println!(
        "  the host's breaker saw {} failures",
        breaker.snapshot().failures()
    );
    Ok(())
}
