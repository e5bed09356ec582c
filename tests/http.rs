//! End to end over real HTTP: an axum server on 127.0.0.1 and a reqwest
//! client, guarded by a circuit breaker (as a future wrapper and as a tower
//! layer). Time for the breaker comes from a manual clock; nothing sleeps.
#![cfg(not(palisade_loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::clock::ManualClock;

/// A dependency whose health the test switches; it counts the requests
/// that actually reach it.
#[derive(Default)]
struct Dependency {
    down: AtomicBool,
    hits: AtomicUsize,
}

async fn serve(dep: Arc<Dependency>) -> String {
    let app = Router::new().route(
        "/",
        get(move || {
            let dep = Arc::clone(&dep);
            async move {
                dep.hits.fetch_add(1, Ordering::SeqCst);
                if dep.down.load(Ordering::SeqCst) {
                    (StatusCode::SERVICE_UNAVAILABLE, "down")
                } else {
                    (StatusCode::OK, "up")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/")
}

fn breaker(clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder()
        .name("dependency")
        .count_window(10)
        .minimum_calls(5)
        .open_duration(Duration::from_secs(30))
        .half_open_trial_calls(2)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// One guarded GET; a 5xx is an error, so the breaker counts it as a failure.
async fn fetch(
    breaker: &CircuitBreaker,
    client: &reqwest::Client,
    url: &str,
) -> Result<String, palisade::Error<reqwest::Error>> {
    breaker
        .call(|| async {
            let response = client.get(url).send().await?.error_for_status()?;
            response.text().await
        })
        .await
}

#[tokio::test]
async fn breaker_stops_calling_a_failing_server_and_recovers() {
    let dep = Arc::new(Dependency::default());
    let url = serve(Arc::clone(&dep)).await;
    let client = reqwest::Client::new();
    let clock = ManualClock::new();
    let breaker = breaker(&clock);

    assert_eq!(fetch(&breaker, &client, &url).await.unwrap(), "up");

    dep.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        let err = fetch(&breaker, &client, &url).await.unwrap_err();
        let status = err.operation().and_then(|e| e.status());
        assert_eq!(status, Some(reqwest::StatusCode::SERVICE_UNAVAILABLE));
    }
    // 4 failures in 5 calls: open. The server is no longer called.
    assert_eq!(breaker.state(), State::Open);
    let hits = dep.hits.load(Ordering::SeqCst);
    for _ in 0..20 {
        let err = fetch(&breaker, &client, &url).await.unwrap_err();
        assert!(err.is_circuit_open());
    }
    assert_eq!(
        dep.hits.load(Ordering::SeqCst),
        hits,
        "rejected calls never left the process"
    );

    // The dependency recovers; after the open duration two trials close it.
    dep.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(30));
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(fetch(&breaker, &client, &url).await.unwrap(), "up");
    assert_eq!(fetch(&breaker, &client, &url).await.unwrap(), "up");
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(dep.hits.load(Ordering::SeqCst), hits + 2);
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn tower_layer_guards_an_http_client_service() {
    use palisade::circuit_breaker::CircuitBreakerLayer;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    let dep = Arc::new(Dependency::default());
    let url = serve(Arc::clone(&dep)).await;
    let client = reqwest::Client::new();
    let clock = ManualClock::new();
    let breaker = breaker(&clock);
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(service_fn(move |url: String| {
            let client = client.clone();
            async move { client.get(url).send().await?.error_for_status() }
        }));

    dep.down.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        let err = svc.clone().oneshot(url.clone()).await.unwrap_err();
        assert!(!err.is_rejection());
    }
    let hits = dep.hits.load(Ordering::SeqCst);
    assert_eq!(hits, 5);
    // Open: the response future rejects (`poll_ready` stays ready), the
    // client is never invoked.
    let err = svc.clone().oneshot(url.clone()).await.unwrap_err();
    let palisade::Error::CircuitOpen(open) = err else {
        panic!("expected a rejection")
    };
    assert_eq!(open.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(dep.hits.load(Ordering::SeqCst), hits);
}

/// The breaker inside an axum app's stack, in front of an outbound call;
/// `HandleErrorLayer` turns the `BoxError` back into a response, finding the
/// rejection by downcasting.
#[cfg(feature = "tower")]
#[tokio::test]
async fn breaker_in_an_axum_stack_with_handle_error_layer() {
    use axum::error_handling::HandleErrorLayer;
    use palisade::circuit_breaker::CircuitBreakerLayer;
    use palisade::CircuitOpen;
    use tower::{service_fn, BoxError, ServiceBuilder};

    let dep = Arc::new(Dependency::default());
    let upstream = serve(Arc::clone(&dep)).await;
    let clock = ManualClock::new();
    let client = reqwest::Client::new();
    let proxy = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|err: BoxError| async move {
            match CircuitOpen::find_in(err.as_ref()) {
                Some(open) => (StatusCode::SERVICE_UNAVAILABLE, format!("{err}: {open}")),
                None => (StatusCode::BAD_GATEWAY, format!("upstream: {err}")),
            }
        }))
        .map_err(BoxError::from)
        .layer(CircuitBreakerLayer::new(breaker(&clock)))
        .service(service_fn(move |_req: axum::extract::Request| {
            let (client, upstream) = (client.clone(), upstream.clone());
            async move {
                let body = client
                    .get(upstream)
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await?;
                Ok::<_, reqwest::Error>(body)
            }
        }));
    let app = Router::new().route_service("/proxy", proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = format!("http://{}/proxy", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get(front.clone()).await, (200, "up".to_string()));
    dep.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        assert_eq!(get(front.clone()).await.0, 502);
    }
    let (status, body) = get(front.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with(
            "circuit breaker `dependency` rejected the call: the circuit is open; next trial in "
        ),
        "{body}"
    );
    assert_eq!(dep.hits.load(Ordering::SeqCst), 5);
}
