//! An "orders" service (axum) that calls "inventory" over reqwest and
//! "pricing" over hyper-util: one pipeline per downstream host from a TOML
//! file, `Retry-After` honoured, a fallback for pricing, the file watched
//! for changes, Prometheus metrics.
//!
//! Run: `cargo run -p palisade-examples --example orders --features metrics`
//!
//! It starts the two dependencies on 127.0.0.1 (inventory answers its
//! first request 503 with `retry-after: 1`; pricing is down), serves
//! orders, places two orders, raises inventory's bulkhead by rewriting the
//! file, prints palisade's metrics, and exits.

use std::time::Duration;

use axum::extract::Path;
use axum::response::IntoResponse;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use palisade::client::{ClientLayer, Clients, ReloadEvent};
use palisade::config::Config;
use tower::{Layer, ServiceExt};

/// The configuration file: defaults for every host, then per-host entries.
const CONFIG: &str = r#"
[pipelines.defaults]
timeout = "2s"
attempt_timeout = "500ms"
retry = { max_attempts = 3, backoff = { exponential = { initial = "50ms", multiplier = 2.0 } }, max_hint = "200ms", budget = { ratio = 0.2 } }
circuit_breaker = { failure_rate_threshold = 0.5, window = { count = 20 }, minimum_calls = 5 }
bulkhead = { max_concurrent = 16 }

[pipelines."127.0.0.1:{PRICING}"]
fallback = true
retry = { max_attempts = 2 }
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "metrics")]
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let inventory = dependency(
        |n| (n == 0).then_some(StatusCode::SERVICE_UNAVAILABLE),
        "12 in stock",
    )
    .await?;
    let pricing = dependency(|_| Some(StatusCode::SERVICE_UNAVAILABLE), "4.20").await?;
    let file = std::env::temp_dir().join(format!("orders-{}.toml", std::process::id()));
    std::fs::write(&file, CONFIG.replace("{PRICING}", &pricing.to_string()))?;

    // palisade: the clients from the file, a fallback, the file watched.
    let config: Config = toml::from_str(&std::fs::read_to_string(&file)?)?;
    let clients = Clients::builder(config)
        .fallback(|failed| {
            Some(Response::new(Bytes::from(format!(
                "list price ({})",
                failed.key()
            ))))
        })
        .build()?;
    let (reloaded, mut on_reload) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = clients.watch(
        &file,
        |t: &str| toml::from_str::<Config>(t),
        move |e: &ReloadEvent| {
            let _ = reloaded.send(e.clone());
        },
    )?;
    let reqwest = reqwest::Client::new();
    let inventory_client =
        ClientLayer::new(clients.clone()).layer(tower::service_fn(move |req: Request<String>| {
            let client = reqwest.clone();
            async move {
                Ok::<_, reqwest::Error>(Response::from(client.execute(req.try_into()?).await?))
            }
        }));
    let pricing_client = ClientLayer::new(clients.clone())
        .layer(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());

    // One order: stock from inventory and price from pricing, at once.
    let app = axum::Router::new().route(
        "/order/{item}",
        axum::routing::get(move |Path(item): Path<String>| async move {
            let stock = inventory_client.oneshot(
                Request::get(format!("http://127.0.0.1:{inventory}/{item}"))
                    .body(String::new())
                    .unwrap(),
            );
            let price = pricing_client.oneshot(
                Request::get(format!("http://127.0.0.1:{pricing}/{item}"))
                    .body(Full::default())
                    .unwrap(),
            );
            let (stock, price) = tokio::join!(stock, price);
            match (stock, price) {
                (Ok(stock), Ok(price)) => {
                    format!("{item}: {}, {}", text(stock).await, text(price).await)
                }
                (Err(e), _) => format!("{item}: inventory failed: {e}"),
                (_, Err(e)) => format!("{item}: pricing failed: {e}"),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let orders = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    for item in ["tea", "scones"] {
        println!(
            "GET /order/{item} -> {}",
            reqwest::get(format!("{orders}/order/{item}"))
                .await?
                .text()
                .await?
        );
    }
    // palisade: the control plane writes the file; the running hosts take it.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)?.replace("max_concurrent = 16", "max_concurrent = 32"),
    )?;
    println!(
        "reload: {:?}",
        tokio::time::timeout(Duration::from_secs(10), on_reload.recv()).await?
    );
    let limit = clients
        .pipeline(&format!("127.0.0.1:{inventory}"))?
        .bulkhead()
        .map(|b| b.metrics().limit);
    println!("inventory's bulkhead now: {limit:?}");

    #[cfg(feature = "metrics")]
    {
        clients.publish_metrics();
        let scraped = prometheus.render();
        let lines = scraped
            .lines()
            .filter(|l| l.starts_with("palisade_") && !l.contains(" 0"));
        lines.take(8).for_each(|l| println!("{l}"));
    }
    std::fs::remove_file(&file)?;
    Ok(())
}

/// A response body as text.
async fn text<B: BodyExt>(response: Response<B>) -> String {
    match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => "(the body broke)".to_owned(),
    }
}

/// A dependency on 127.0.0.1 answering `body`, or the status `fail` gives
/// for its `n`th request.
async fn dependency(
    fail: impl Fn(u32) -> Option<StatusCode> + Clone + Send + Sync + 'static,
    body: &'static str,
) -> std::io::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let app = axum::Router::new().fallback(move || {
        let n = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let status = fail(n);
        async move {
            match status {
                Some(status) => (status, [("retry-after", "1")], "unavailable").into_response(),
                None => body.into_response(),
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}
