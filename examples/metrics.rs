//! Metrics exported with `metrics-exporter-prometheus`, served over HTTP
//! and scraped by a real request.
//!
//! Run: `cargo run -p palisade-examples --example metrics --features metrics`
//!
//! Installs the Prometheus recorder first (instances register their
//! metrics when built), runs a few calls through a breaker and a bulkhead,
//! serves `/metrics` on 127.0.0.1, scrapes it once and prints palisade's
//! lines. Point a real Prometheus at such an endpoint in your service.

#[cfg(feature = "metrics")]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use palisade::bulkhead::Bulkhead;
    use palisade::circuit_breaker::CircuitBreaker;

    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let breaker = CircuitBreaker::builder().name("inventory").build()?;
    let bulkhead = Bulkhead::builder()
        .name("inventory")
        .max_concurrent(1)
        .build()?;
    for i in 0..5 {
        let _ = breaker.call_sync(|| if i % 2 == 0 { Ok(()) } else { Err("down") });
    }
    let held = bulkhead.try_acquire()?;
    let _ = bulkhead.try_acquire(); // rejected: full
    drop(held);
    // Publish the per-thread batches now (a scrape loop would call this).
    let _ = (breaker.metrics(), bulkhead.metrics());

    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let text = reqwest::get(&url).await?.text().await?;
    for line in text
        .lines()
        .filter(|l| l.starts_with("palisade_") && !l.contains("quantile"))
    {
        println!("{line}");
    }
    Ok(())
}

#[cfg(not(feature = "metrics"))]
fn main() {
    println!("run with: cargo run -p palisade-examples --example metrics --features metrics");
}
