//! The metrics scheme end to end: breaker, bulkhead, retry, thread pool,
//! adaptive limit and rate limit report through a real Prometheus exporter
//! (`metrics-exporter-prometheus`),
//! whose text is served over HTTP on 127.0.0.1 and scraped with a real
//! client after a scripted sequence of calls.
#![cfg(feature = "metrics")]

use std::time::Duration;

use palisade::bulkhead::{Bulkhead, ThreadPool};
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::retry::{Backoff, Retry};
use palisade::timer::ManualTimer;

/// The value of the sample `name{labels...}` in Prometheus text.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            (series == name || series.starts_with(&format!("{name}{{")))
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

#[tokio::test]
async fn every_primitive_reports_through_a_real_exporter() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let timer = ManualTimer::new();
    let (adaptive, rate) = metrics::with_local_recorder(&recorder, || {
        (
            palisade::adaptive::AdaptiveLimit::builder()
                .name("search")
                .initial_limit(1)
                .window(1)
                .build()
                .unwrap(),
            palisade::rate_limit::RateLimit::builder()
                .name("partner")
                .rate(1, Duration::from_secs(60))
                .build()
                .unwrap(),
        )
    });
    let (breaker, bulkhead, retry, pool) = metrics::with_local_recorder(&recorder, || {
        (
            CircuitBreaker::builder()
                .name("payments")
                .count_window(4)
                .minimum_calls(4)
                .failure_rate_threshold(0.5)
                .build()
                .unwrap(),
            Bulkhead::builder()
                .name("pool")
                .max_concurrent(1)
                .build()
                .unwrap(),
            Retry::builder()
                .name("payments-retry")
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::ZERO))
                .timer(timer.clone())
                .build()
                .unwrap(),
            ThreadPool::builder()
                .name("legacy")
                .threads(1)
                .build()
                .unwrap(),
        )
    });

    // The script. A transition's series is registered when it first
    // happens, with the recorder in force then (a test's local one here).
    for _ in 0..2 {
        breaker.call_sync(|| Ok::<_, std::io::Error>(())).unwrap();
    }
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..2 {
            let _ = breaker.call_sync(|| Err::<(), _>(std::io::Error::other("down")));
        }
    });
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.call_sync(|| Ok::<_, std::io::Error>(())).is_err());
    let held = bulkhead.try_acquire().unwrap();
    assert!(bulkhead.try_acquire().is_err());
    drop(held);
    let _ = retry
        .call(|| async { Err::<(), _>(std::io::Error::other("flaky")) })
        .await;
    pool.spawn_blocking(|| 1).await.unwrap();
    // The adaptive limit: a rejection, then a drop (which closes a window).
    let place = adaptive.try_acquire().unwrap();
    assert!(adaptive.try_acquire().is_err());
    place.dropped();
    // The rate limit: one call, then one rejected.
    rate.try_acquire().unwrap();
    assert!(rate.try_acquire().is_err());
    // Batched per-call counts are published at these reads.
    let _ = (breaker.metrics(), bulkhead.metrics());

    // Serve the exporter's text over HTTP and scrape it.
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let b = [("breaker", "payments")];
    let calls = "palisade_circuit_breaker_calls_total";
    assert_eq!(sample(&text, calls, &[b[0], ("outcome", "success")]), 2.0);
    assert_eq!(sample(&text, calls, &[b[0], ("outcome", "failure")]), 2.0);
    assert_eq!(
        sample(&text, "palisade_circuit_breaker_rejected_total", &b),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "palisade_circuit_breaker_transitions_total",
            &[b[0], ("from", "closed"), ("to", "open")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "palisade_circuit_breaker_state",
            &[b[0], ("state", "open")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "palisade_circuit_breaker_state",
            &[b[0], ("state", "closed")]
        ),
        0.0
    );

    let a = [("adaptive", "search")];
    assert_eq!(sample(&text, "palisade_adaptive_rejected_total", &a), 1.0);
    assert_eq!(sample(&text, "palisade_adaptive_drops_total", &a), 1.0);
    assert_eq!(sample(&text, "palisade_adaptive_in_flight", &a), 0.0);
    assert_eq!(
        sample(&text, "palisade_adaptive_limit", &a),
        f64::from(adaptive.limit())
    );
    assert_eq!(
        sample(
            &text,
            "palisade_rate_limit_rejected_total",
            &[("rate_limit", "partner")]
        ),
        1.0
    );

    let p = ("bulkhead", "pool");
    assert_eq!(sample(&text, "palisade_bulkhead_admitted_total", &[p]), 1.0);
    assert_eq!(
        sample(
            &text,
            "palisade_bulkhead_rejected_total",
            &[p, ("reason", "full")]
        ),
        1.0
    );
    assert_eq!(sample(&text, "palisade_bulkhead_in_flight", &[p]), 0.0);
    assert_eq!(sample(&text, "palisade_bulkhead_limit", &[p]), 1.0);

    let r = ("retry", "payments-retry");
    assert_eq!(sample(&text, "palisade_retry_retries_total", &[r]), 1.0);
    assert_eq!(
        sample(
            &text,
            "palisade_retry_gave_up_total",
            &[r, ("reason", "attempts")]
        ),
        1.0
    );

    let t = ("pool", "legacy");
    assert_eq!(
        sample(&text, "palisade_thread_pool_completed_total", &[t]),
        1.0
    );
    assert_eq!(sample(&text, "palisade_thread_pool_active", &[t]), 0.0);

    // Descriptions become `# HELP` lines.
    for name in [
        "palisade_circuit_breaker_calls_total",
        "palisade_bulkhead_admitted_total",
        "palisade_retry_retries_total",
        "palisade_thread_pool_completed_total",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name} in\n{text}"
        );
    }
}

/// A per-host registry multiplies every series: a breaker exports a
/// transition's series once it happens, and no duration histogram while
/// slow calls are not timed. Before: 36 transition series from the start
/// and an empty histogram, 57 series per breaker.
#[test]
fn a_breaker_exports_only_series_that_can_carry_a_value() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let breaker = metrics::with_local_recorder(&recorder, || {
        CircuitBreaker::builder()
            .name("pricing")
            .count_window(2)
            .minimum_calls(2)
            .build()
            .unwrap()
    });
    let _ = breaker.call_sync(|| Ok::<_, std::io::Error>(()));
    let _ = breaker.metrics();
    let series = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains("breaker=\"pricing\""))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let text = handle.render();
    let before = series(&text);
    assert!(
        !text.contains("palisade_circuit_breaker_transitions_total{"),
        "{text}"
    );
    assert!(
        !text.contains("palisade_circuit_breaker_call_duration_seconds"),
        "{text}"
    );
    assert_eq!(
        before.len(),
        12,
        "4 outcomes, not recorded, rejected, 6 states: {before:#?}"
    );

    metrics::with_local_recorder(&recorder, || breaker.transition_to(State::ForcedOpen));
    let text = handle.render();
    assert_eq!(series(&text).len(), 13, "one transition happened");
    assert_eq!(
        sample(
            &text,
            "palisade_circuit_breaker_transitions_total",
            &[
                ("breaker", "pricing"),
                ("from", "closed"),
                ("to", "forced_open")
            ]
        ),
        1.0
    );
}

/// Timeouts and fallbacks are counted, per instance, from their first
/// event (before, neither was counted at all).
#[test]
fn timeouts_and_fallbacks_are_counted() {
    use futures::FutureExt;
    use palisade::fallback::Fallback;
    use palisade::timeout::Timeout;

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let timer = ManualTimer::new();
        let timeout = Timeout::builder()
            .name("inventory")
            .duration(Duration::from_secs(1))
            .timer(timer.clone())
            .build()
            .unwrap();
        let mut call = Box::pin(timeout.call(std::future::pending::<Result<(), std::io::Error>>));
        assert!(call.as_mut().now_or_never().is_none());
        timer.advance(Duration::from_secs(2));
        assert!(call.now_or_never().unwrap().unwrap_err().is_timeout());

        let fallback = Fallback::value(7).name("cached-price");
        for _ in 0..2 {
            let served = fallback.call(|| async { Err::<i32, _>("down") });
            assert_eq!(served.now_or_never().unwrap(), Ok(7));
        }
    });
    let text = handle.render();
    assert_eq!(
        sample(
            &text,
            "palisade_timeout_timed_out_total",
            &[("timeout", "inventory")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "palisade_fallback_served_total",
            &[("fallback", "cached-price")]
        ),
        2.0
    );
    assert!(
        text.contains("# HELP palisade_fallback_served_total "),
        "{text}"
    );
}
