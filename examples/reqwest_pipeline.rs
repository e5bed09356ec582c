//! A reqwest call wrapped in a palisade pipeline (the future wrapper).
//!
//! Run: `cargo run --example reqwest_pipeline`
//!
//! Starts a small HTTP server on 127.0.0.1 that fails its first two
//! requests, then calls it through total timeout → retry → circuit breaker
//! → bulkhead → attempt timeout: the retry absorbs the two failures, and
//! the caller gets the body, or one flat `palisade::Error`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::CircuitBreaker;
use palisade::pipeline::Pipeline;
use palisade::retry::{Backoff, Retry};
use palisade::timer::TokioTimer;

#[derive(Debug)]
enum Upstream {
    Http(reqwest::Error),
    Status(StatusCode),
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(e) => e.fmt(f),
            Self::Status(s) => write!(f, "status {s}"),
        }
    }
}

impl std::error::Error for Upstream {}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, Upstream> {
    let response = client.get(url).send().await.map_err(Upstream::Http)?;
    match response.status() {
        StatusCode::OK => response.text().await.map_err(Upstream::Http),
        status => Err(Upstream::Status(status)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A dependency that fails twice, then answers.
    let hits = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/stock",
        get({
            let hits = Arc::clone(&hits);
            move || async move {
                match hits.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                    _ => (StatusCode::OK, "42 in stock"),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/stock", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let pipeline = Pipeline::builder(TokioTimer)
        .timeout(Duration::from_secs(2))
        .retry(
            Retry::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(20)))
                .build()?,
        )
        .circuit_breaker(CircuitBreaker::builder().name("inventory").build()?)
        .bulkhead(
            Bulkhead::builder()
                .name("inventory")
                .max_concurrent(8)
                .build()?,
        )
        .attempt_timeout(Duration::from_millis(500))
        .build()?;

    let client = reqwest::Client::new();
    match pipeline.call(|| get_text(&client, &url)).await {
        Ok(body) => println!(
            "inventory says: {body} (after {} requests)",
            hits.load(Ordering::SeqCst)
        ),
        Err(e) if e.is_rejection() => println!("skipped: {e}"),
        Err(e) => println!("failed: {e}"),
    }
    Ok(())
}
