//! The Grafana dashboard (`dashboards/palisade.json`) against a real
//! Prometheus: the server scrapes the demo's metrics on 127.0.0.1 during a
//! short protected run, and every query of the dashboard, evaluated through
//! Prometheus's HTTP API over the run, returns data; the breaker-state
//! query shows the breaker open and closed again. The sidecar example
//! (`examples/sidecar.rs`) runs next, and Prometheus scrapes its proxy's
//! own `/metrics` as a second job: its canary's breaker is seen open, then
//! closed.
//!
//! Needs Debian's `prometheus` on the PATH (`.ci/run` installs it and sets
//! `PALISADE_REQUIRE_PROMETHEUS=1`, which makes its absence a failure;
//! elsewhere the test says it is skipped).
#![cfg(feature = "metrics")]

#[path = "../cascade.rs"]
#[allow(dead_code, unreachable_pub)]
mod cascade;

#[path = "../sidecar.rs"]
#[allow(dead_code, unreachable_pub)]
mod sidecar;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cascade::{phase, Options};

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Every query of the dashboard, with its panel's title.
fn queries() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboards/palisade.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap().to_string();
        assert!(
            panel["description"]
                .as_str()
                .is_some_and(|d| d.ends_with('?')),
            "{title}: each panel says the question it answers"
        );
        for target in panel["targets"].as_array().unwrap() {
            all.push((title.clone(), target["expr"].as_str().unwrap().to_string()));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let Ok(binary) = which("prometheus") else {
        assert!(
            std::env::var_os("PALISADE_REQUIRE_PROMETHEUS").is_none(),
            "prometheus is not on the PATH"
        );
        eprintln!("skipped: no `prometheus` on the PATH (apt-get install prometheus)");
        return;
    };
    // The demo's metrics, served where Prometheus will scrape them.
    let handle = cascade::prometheus();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = metrics.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    tokio::spawn(async move { axum::serve(metrics, app).await.unwrap() });

    // The sidecar's admin endpoint, bound now so Prometheus knows it.
    let sidecar_admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sidecar_target = sidecar_admin.local_addr().unwrap();

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: palisade-demo\n    static_configs:\n      - targets: ['{target}']\n  - job_name: palisade-sidecar\n    static_configs:\n      - targets: ['{sidecar_target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _server = Server(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{api}/-/ready")).send().await {
            if r.status().is_success() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "prometheus did not become ready");

    // A short protected run: the breaker opens, probes and closes.
    let start = unix_now();
    let opts = Options {
        verbose: false,
        ..Options::short()
    };
    let report = phase(&opts, true).await;
    assert!(!report.transitions.is_empty(), "the breaker moved");
    // The sidecar's run, paced so that scrapes see each step.
    let render: sidecar::Render = Arc::new(|| handle.render());
    let options = sidecar::Options {
        pause: Duration::from_millis(1500),
        verbose: false,
    };
    let sidecar = sidecar::run(&options, sidecar_admin, Some(render))
        .await
        .unwrap();
    assert!(sidecar.passed(), "{:?}", sidecar.checks);
    // The last scrapes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = unix_now();

    let range = |expr: String| {
        let client = client.clone();
        let api = api.clone();
        async move {
            let query = encode(&expr.replace("$__rate_interval", "10s"));
            let text = client
                .get(format!(
                    "{api}/api/v1/query_range?query={query}&start={start}&end={end}&step=1"
                ))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["status"], "success", "{expr}: {body}");
            body["data"]["result"].as_array().unwrap().clone()
        }
    };
    for (title, expr) in queries() {
        let series = range(expr.clone()).await;
        let values = series
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().iter())
            .filter(|v| v[1].as_str().is_some_and(|x| x != "NaN"))
            .count();
        assert!(values > 0, "{title}: `{expr}` returned no data");
    }
    // The breaker-state panel shows the transition the run made: open at
    // some point, closed at the end.
    let states =
        range("sum by (job, breaker, state) (palisade_circuit_breaker_state)".into()).await;
    let of = |job: &str, breaker: &str, state: &str| -> Vec<f64> {
        states
            .iter()
            .find(|s| {
                s["metric"]["job"] == job
                    && s["metric"]["breaker"] == breaker
                    && s["metric"]["state"] == state
            })
            .map(|s| {
                s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v[1].as_str().unwrap().parse().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    for (job, breaker) in [("palisade-demo", "b"), ("palisade-sidecar", "green")] {
        assert!(
            of(job, breaker, "open").contains(&1.0),
            "{job}: {breaker} open at some point: {states:?}"
        );
        assert_eq!(
            of(job, breaker, "closed").last(),
            Some(&1.0),
            "{job}: {breaker} closed at the end"
        );
    }
}

/// `text` as a URL query value: every byte but letters and digits
/// percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The first `name` on the PATH.
fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
