//! An axum server whose outbound calls go through palisade tower layers,
//! with errors mapped to responses by `HandleErrorLayer`.
//!
//! Run: `cargo run --example axum_outbound`
//!
//! The route `/stock` calls a dependency through a `PipelineLayer` (breaker
//! and attempt timeout) under a `Buffer`; the handler turns palisade's flat
//! errors into status codes with `palisade::error::kind_of`. The example
//! forces the breaker open halfway to show the 503, then exits.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::error::{kind_of, ErrorKind};
use palisade::pipeline::{Pipeline, PipelineLayer};
use palisade::timer::TokioTimer;
use tower::{BoxError, ServiceBuilder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let breaker = CircuitBreaker::builder().name("inventory").build()?;
    let pipeline = Pipeline::builder(TokioTimer)
        .circuit_breaker(breaker.clone())
        .attempt_timeout(Duration::from_millis(300))
        .build()?;
    let outbound = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|err: BoxError| async move {
            match kind_of(err.as_ref()) {
                ErrorKind::CircuitOpen | ErrorKind::BulkheadFull => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "inventory is resting".to_string(),
                ),
                ErrorKind::TimedOut => (StatusCode::GATEWAY_TIMEOUT, err.to_string()),
                _ => (StatusCode::BAD_GATEWAY, err.to_string()),
            }
        }))
        .buffer(64)
        .map_err(BoxError::from)
        // Requests become what the outbound call needs (and Clone, for retries).
        .map_request(|req: axum::extract::Request| req.uri().path().to_string())
        .layer(PipelineLayer::new(pipeline))
        .service(tower::service_fn(|path: String| async move {
            // Here the real outbound call (reqwest, hyper, tonic).
            Ok::<_, std::io::Error>(format!("stock for {path}: 42"))
        }));
    let app = axum::Router::new().route_service("/stock", outbound);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/stock", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    for step in 0..4 {
        if step == 2 {
            breaker.transition_to(State::ForcedOpen);
            println!("(breaker forced open)");
        }
        let response = client.get(&url).send().await?;
        println!(
            "GET /stock -> {} {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}
