//! The cascade, for real, and palisade stopping it.
//!
//! Run: `cargo run --release --example cascade` (about a minute;
//! `--help` for the flags).
//!
//! A client sends requests at a fixed rate (open loop: they keep coming
//! whether earlier ones returned or not) to service A, over HTTP on
//! 127.0.0.1. A has two routes: `/b` calls service B over HTTP, `/local`
//! never touches B. A has a fixed capacity (a concurrency limit shared by
//! every route, standing for its pool of workers). On a scripted timeline B
//! is healthy, then slow (seconds per request), then failing fast with 503s,
//! then healthy again.
//!
//! Phase 1, unprotected: A calls B directly. When B slows down, A's workers
//! all end up waiting on B, and `/local`, which never touches B, stops
//! answering too: the cascade.
//!
//! Phase 2, protected: A calls B through a palisade pipeline (total timeout,
//! retry with a budget, circuit breaker, bulkhead, attempt timeout) with a
//! fallback. Calls to B hold at most a few workers for a bounded time, the
//! breaker opens and answers from the fallback without waiting, probes B,
//! and closes once B recovers; `/local` keeps answering throughout.
//!
//! With `-p palisade-examples --features metrics`, A serves its Prometheus metrics at
//! `/metrics` while it runs (the address is printed).
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::pipeline::Pipeline;
use palisade::retry::{Backoff, Retry, RetryBudget};
use palisade::timer::TokioTimer;

/// The demo's knobs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Length of each phase.
    pub phase: Duration,
    /// When, in each phase, B turns slow.
    pub slow_at: Duration,
    /// How long B stays slow.
    pub slow_for: Duration,
    /// How long B then fails fast (503).
    pub fail_for: Duration,
    /// How long B takes to answer while slow.
    pub slow_response: Duration,
    /// Requests per second to each of A's routes.
    pub rate: u32,
    /// A's capacity: requests it serves at once.
    pub workers: usize,
    /// How long the breaker stays open before probing.
    pub open_for: Duration,
    /// Print a line per second.
    pub verbose: bool,
    /// Write a picture of both phases here (SVG).
    pub plot: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            phase: Duration::from_secs(30),
            slow_at: Duration::from_secs(5),
            slow_for: Duration::from_secs(10),
            fail_for: Duration::from_secs(5),
            slow_response: Duration::from_secs(3),
            rate: 40,
            workers: 16,
            open_for: Duration::from_secs(3),
            verbose: true,
            plot: None,
        }
    }
}

/// The client gives up on a request after this long.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

const HEALTHY: u8 = 0;
const SLOW: u8 = 1;
const FAILING: u8 = 2;

/// Service B: its behaviour follows `mode`.
async fn serve_b(mode: Arc<AtomicU8>, slow: Duration) -> String {
    let app = Router::new().route(
        "/",
        get(move || {
            let mode = Arc::clone(&mode);
            async move {
                match mode.load(Ordering::SeqCst) {
                    SLOW => {
                        tokio::time::sleep(slow).await;
                        (StatusCode::OK, "fresh").into_response()
                    }
                    FAILING => (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
                    _ => {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        (StatusCode::OK, "fresh").into_response()
                    }
                }
            }
        }),
    );
    listen(app).await
}

async fn listen(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Why a call to B failed.
#[derive(Debug)]
enum Upstream {
    Http(reqwest::Error),
    Status(u16),
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(e) => write!(f, "{e}"),
            Self::Status(s) => write!(f, "status {s}"),
        }
    }
}

impl std::error::Error for Upstream {}

async fn call_b(client: &reqwest::Client, url: &str) -> Result<String, Upstream> {
    let response = client.get(url).send().await.map_err(Upstream::Http)?;
    if !response.status().is_success() {
        return Err(Upstream::Status(response.status().as_u16()));
    }
    response.text().await.map_err(Upstream::Http)
}

/// What A uses to call B in one phase.
struct Guard {
    pipeline: Pipeline<TokioTimer>,
    breaker: CircuitBreaker,
    bulkhead: Bulkhead,
}

#[derive(Clone)]
struct A {
    client: reqwest::Client,
    b: Arc<str>,
    guard: Option<Arc<Guard>>,
    fallbacks: Arc<AtomicUsize>,
}

async fn route_b(AxumState(a): AxumState<A>) -> axum::response::Response {
    match &a.guard {
        None => match call_b(&a.client, &a.b).await {
            Ok(body) => (StatusCode::OK, body).into_response(),
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        },
        Some(guard) => match guard.pipeline.call(|| call_b(&a.client, &a.b)).await {
            Ok(body) => (StatusCode::OK, body).into_response(),
            // The fallback: a cached answer, at once.
            Err(e) if e.is_rejection() || e.is_timeout() => {
                a.fallbacks.fetch_add(1, Ordering::Relaxed);
                (StatusCode::OK, [("x-fallback", "1")], "cached").into_response()
            }
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        },
    }
}

async fn route_local() -> &'static str {
    "local"
}

/// Service A: both routes share `workers` places (its capacity).
async fn serve_a(a: A, workers: usize) -> String {
    let app = Router::new()
        .route("/b", get(route_b))
        .route("/local", get(route_local))
        .with_state(a)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(workers));
    // Added after the limit: a scrape never waits for a worker.
    #[cfg(feature = "metrics")]
    let app = app.route(
        "/metrics",
        get(|| std::future::ready(prometheus().render())),
    );
    listen(app).await
}

/// The process's Prometheus recorder (feature `metrics`), installed before
/// the first breaker or bulkhead is built: they register their metrics
/// when built.
#[cfg(feature = "metrics")]
fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("no other recorder is installed")
    })
}

/// One request's fate.
#[derive(Clone, Copy, Debug)]
struct Sample {
    second: usize,
    local: bool,
    latency: Duration,
    ok: bool,
    fallback: bool,
}

/// One second of one route.
#[derive(Clone, Copy, Debug, Default)]
pub struct Second {
    pub requests: usize,
    pub ok: usize,
    pub fallbacks: usize,
    pub p50: Duration,
    pub p99: Duration,
}

impl Second {
    pub fn success_rate(&self) -> f64 {
        if self.requests == 0 {
            1.0
        } else {
            self.ok as f64 / self.requests as f64
        }
    }
}

fn summarize(samples: &[Sample], second: usize, local: bool) -> Second {
    let mut latencies: Vec<Duration> = samples
        .iter()
        .filter(|s| s.second == second && s.local == local)
        .map(|s| s.latency)
        .collect();
    latencies.sort();
    let of = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    let these = samples
        .iter()
        .filter(|s| s.second == second && s.local == local);
    Second {
        requests: latencies.len(),
        ok: these.clone().filter(|s| s.ok).count(),
        fallbacks: these.filter(|s| s.fallback).count(),
        p50: of(0.5),
        p99: of(0.99),
    }
}

/// What one phase measured.
#[derive(Clone, Debug, Default)]
pub struct PhaseReport {
    pub protected: bool,
    pub local: Vec<Second>,
    pub b: Vec<Second>,
    pub transitions: Vec<(Duration, State, State)>,
    pub breaker: Vec<Option<State>>,
}

impl PhaseReport {
    pub fn worst_local_p99(&self) -> Duration {
        self.local.iter().map(|s| s.p99).max().unwrap_or_default()
    }

    pub fn worst_local_success(&self) -> f64 {
        self.local
            .iter()
            .map(Second::success_rate)
            .fold(1.0, f64::min)
    }

    pub fn b_answered(&self) -> f64 {
        let (ok, all) = self
            .b
            .iter()
            .fold((0, 0), |(ok, all), s| (ok + s.ok, all + s.requests));
        if all == 0 {
            1.0
        } else {
            ok as f64 / all as f64
        }
    }

    pub fn fallbacks(&self) -> usize {
        self.b.iter().map(|s| s.fallbacks).sum()
    }
}

fn b_mode_at(opts: &Options, t: Duration) -> u8 {
    if t < opts.slow_at {
        HEALTHY
    } else if t < opts.slow_at + opts.slow_for {
        SLOW
    } else if t < opts.slow_at + opts.slow_for + opts.fail_for {
        FAILING
    } else {
        HEALTHY
    }
}

fn mode_name(mode: u8) -> &'static str {
    match mode {
        SLOW => "B slow",
        FAILING => "B failing",
        _ => "B healthy",
    }
}

fn guard(opts: &Options) -> Guard {
    let timer = TokioTimer;
    let breaker = CircuitBreaker::builder()
        .name("b")
        .count_window(20)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        .open_duration(opts.open_for)
        .half_open_trial_calls(3)
        .half_open_max_concurrent(3)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder()
        .name("b")
        .max_concurrent(4)
        .build()
        .unwrap();
    let retry = Retry::builder()
        .name("b")
        .max_attempts(2)
        .backoff(Backoff::constant(Duration::from_millis(50)))
        .budget(RetryBudget::ratio(0.1, 5, Duration::from_secs(10)).unwrap())
        .timer(timer)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer)
        .timeout(Duration::from_secs(1))
        .retry(retry)
        .circuit_breaker(breaker.clone())
        .bulkhead(bulkhead.clone())
        .attempt_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    Guard {
        pipeline,
        breaker,
        bulkhead,
    }
}

/// Runs one phase: B on the timeline, A (protected or not), the load.
pub async fn phase(opts: &Options, protected: bool) -> PhaseReport {
    #[cfg(feature = "metrics")]
    let _ = prometheus();
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let b = serve_b(Arc::clone(&mode), opts.slow_response).await;
    let guard = protected.then(|| Arc::new(guard(opts)));
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    if let Some(g) = &guard {
        let sink = Arc::clone(&transitions);
        g.breaker.on_state_transition(move |from, to| {
            sink.lock().unwrap().push((start.elapsed(), from, to));
        });
    }
    let a = serve_a(
        A {
            client: reqwest::Client::new(),
            b: Arc::from(format!("{b}/")),
            guard: guard.clone(),
            fallbacks: Arc::new(AtomicUsize::new(0)),
        },
        opts.workers,
    )
    .await;
    #[cfg(feature = "metrics")]
    if opts.verbose {
        println!("(Prometheus metrics of A: {a}/metrics while this phase runs)");
    }
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let seconds = opts.phase.as_secs() as usize;
    let label = if protected {
        "protected  "
    } else {
        "unprotected"
    };
    let mut breaker_states = Vec::new();
    let mut load = Vec::new();
    // The open-loop load: one spawned request per tick per route.
    for local in [true, false] {
        let (client, samples) = (client.clone(), Arc::clone(&samples));
        let url = format!("{a}/{}", if local { "local" } else { "b" });
        let every = Duration::from_secs(1) / opts.rate;
        let phase_len = opts.phase;
        load.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut inflight = Vec::new();
            while start.elapsed() < phase_len {
                tick.tick().await;
                let (client, samples, url) = (client.clone(), Arc::clone(&samples), url.clone());
                inflight.push(tokio::spawn(async move {
                    let sent = Instant::now();
                    let second = start.elapsed().as_secs() as usize;
                    let result = client.get(&url).send().await;
                    let (ok, fallback) = match result {
                        Ok(r) => (
                            r.status().is_success(),
                            r.headers().contains_key("x-fallback"),
                        ),
                        Err(_) => (false, false),
                    };
                    samples.lock().unwrap().push(Sample {
                        second,
                        local,
                        latency: sent.elapsed(),
                        ok,
                        fallback,
                    });
                }));
            }
            for request in inflight {
                let _ = request.await;
            }
        }));
    }
    // A second's line is printed once its slowest requests are in (the
    // client gives up after 2 s): three seconds late.
    let line = |second: usize, state: Option<State>, samples: &[Sample]| {
        let (l, bb) = (
            summarize(samples, second, true),
            summarize(samples, second, false),
        );
        let guard_state = match &guard {
            Some(g) => format!(
                " | breaker {:<9} bulkhead {}/{}",
                format!("{:?}", state.unwrap_or(State::Closed)),
                g.bulkhead.metrics().in_flight,
                g.bulkhead.metrics().limit
            ),
            None => String::new(),
        };
        println!(
            "[{label}] t={second:>2}s {:<9} | /local p50 {:>6} p99 {:>6} ok {:>4} | /b p50 {:>6} p99 {:>6} ok {:>4} fallbacks {:>3}{guard_state}",
            mode_name(b_mode_at(opts, Duration::from_secs(second as u64))),
            ms(l.p50),
            ms(l.p99),
            pct(l.success_rate()),
            ms(bb.p50),
            ms(bb.p99),
            pct(bb.success_rate()),
            bb.fallbacks,
        );
    };
    const LAG: usize = 3;
    // B's timeline, and a line per second.
    for second in 0..seconds {
        let t = Duration::from_secs(second as u64);
        mode.store(b_mode_at(opts, t), Ordering::SeqCst);
        tokio::time::sleep_until((start + t + Duration::from_secs(1)).into()).await;
        breaker_states.push(guard.as_ref().map(|g| g.breaker.state()));
        if opts.verbose && second >= LAG {
            line(
                second - LAG,
                breaker_states[second - LAG],
                &samples.lock().unwrap(),
            );
        }
    }
    mode.store(HEALTHY, Ordering::SeqCst);
    for l in load {
        let _ = l.await;
    }
    if opts.verbose {
        let first = seconds.saturating_sub(LAG);
        for (second, state) in breaker_states.iter().enumerate().skip(first) {
            line(second, *state, &samples.lock().unwrap());
        }
    }
    let s = samples.lock().unwrap().clone();
    let transitions = transitions.lock().unwrap().clone();
    PhaseReport {
        protected,
        local: (0..seconds).map(|i| summarize(&s, i, true)).collect(),
        b: (0..seconds).map(|i| summarize(&s, i, false)).collect(),
        transitions,
        breaker: breaker_states,
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The verdict's thresholds for the route that never touches B.
pub const DEGRADED_P99: Duration = Duration::from_millis(500);
pub const HEALTHY_P99: Duration = Duration::from_millis(250);

pub fn print_summary(unprotected: &PhaseReport, protected: &PhaseReport) {
    println!();
    println!(
        "| phase | /local worst p99 | /local worst success | /b answered | fallbacks served |"
    );
    println!("|---|---|---|---|---|");
    for r in [unprotected, protected] {
        println!(
            "| {} | {} | {} | {} | {} |",
            if r.protected {
                "protected"
            } else {
                "unprotected"
            },
            ms(r.worst_local_p99()),
            pct(r.worst_local_success()),
            pct(r.b_answered()),
            r.fallbacks()
        );
    }
    println!();
    println!("Breaker transitions (protected phase):");
    for (t, from, to) in &protected.transitions {
        println!("  t={:>5.1}s {from:?} -> {to:?}", t.as_secs_f64());
    }
    println!();
    let cascade =
        unprotected.worst_local_p99() > DEGRADED_P99 || unprotected.worst_local_success() < 0.9;
    let held =
        protected.worst_local_p99() <= HEALTHY_P99 && protected.worst_local_success() >= 0.99;
    println!(
        "Verdict: unprotected, a slow B {} /local (worst p99 {}, worst success {}); \
         protected, /local {} (worst p99 {}, worst success {}) and /b was answered {} of the time, {} times from the fallback.",
        if cascade { "took down" } else { "did not take down" },
        ms(unprotected.worst_local_p99()),
        pct(unprotected.worst_local_success()),
        if held { "stayed healthy" } else { "degraded" },
        ms(protected.worst_local_p99()),
        pct(protected.worst_local_success()),
        pct(protected.b_answered()),
        protected.fallbacks(),
    );
}

const HELP: &str = "\
cascade: a slow dependency takes down its caller, then palisade prevents it.

Usage: cargo run --release --example cascade -- [FLAGS]

  --phase SECS        length of each of the two phases (default 30)
  --slow-at SECS      when B turns slow in each phase (default 5)
  --slow-for SECS     how long B stays slow (default 10)
  --fail-for SECS     how long B then fails with 503s (default 5)
  --slow-ms MS        how long B takes per request while slow (default 3000)
  --rate N            requests per second to each route of A (default 40)
  --workers N         A's capacity, requests served at once (default 16)
  --quiet             no line per second, only the summary
  --plot FILE.svg     also draw both phases on one time axis (p99 per route,
                      success rate, breaker state as bands)
  --help              this text

Everything runs on 127.0.0.1 and stops by itself.";

#[allow(dead_code)]
fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a whole number"))
        };
        match flag.as_str() {
            "--phase" => opts.phase = Duration::from_secs(value("--phase")?),
            "--slow-at" => opts.slow_at = Duration::from_secs(value("--slow-at")?),
            "--slow-for" => opts.slow_for = Duration::from_secs(value("--slow-for")?),
            "--fail-for" => opts.fail_for = Duration::from_secs(value("--fail-for")?),
            "--slow-ms" => opts.slow_response = Duration::from_millis(value("--slow-ms")?),
            "--rate" => opts.rate = value("--rate")?.clamp(1, 1000) as u32,
            "--workers" => opts.workers = value("--workers")?.clamp(1, 1024) as usize,
            "--quiet" => opts.verbose = false,
            "--plot" => {
                let file = args.next().ok_or("--plot needs a file name")?;
                opts.plot = Some(file.into());
            }
            "--help" | "-h" => return Err(HELP.to_string()),
            other => return Err(format!("unknown flag {other}\n\n{HELP}")),
        }
    }
    if opts.phase.is_zero() || opts.phase > Duration::from_secs(600) {
        return Err("--phase must be between 1 and 600 seconds".to_string());
    }
    Ok(opts)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() {
    let opts = match parse(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(message) => {
            println!("{message}");
            return;
        }
    };
    println!(
        "Client → A (capacity {} workers) → B, {} requests/s to each of A's routes; \
         B is slow ({} ms) from {}s to {}s, then fails with 503s until {}s.\n",
        opts.workers,
        opts.rate,
        opts.slow_response.as_millis(),
        opts.slow_at.as_secs(),
        (opts.slow_at + opts.slow_for).as_secs(),
        (opts.slow_at + opts.slow_for + opts.fail_for).as_secs(),
    );
    println!("Phase 1: A calls B unprotected.");
    let unprotected = phase(&opts, false).await;
    println!("\nPhase 2: A calls B through a palisade pipeline (timeout, retry with budget, breaker, bulkhead) and a fallback.");
    let protected = phase(&opts, true).await;
    print_summary(&unprotected, &protected);
    if let Some(file) = &opts.plot {
        match plot(file, &unprotected, &protected) {
            Ok(()) => println!("\nWrote {}", file.display()),
            Err(e) => println!("\nCould not write {}: {e}", file.display()),
        }
    }
}

/// Both phases on one time axis: p99 of each route (top), success rate of
/// each route (bottom), the protected breaker's open and half-open
/// seconds as bands.
pub fn plot(
    file: &std::path::Path,
    unprotected: &PhaseReport,
    protected: &PhaseReport,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let seconds = unprotected.local.len().max(protected.local.len()) as f64;
    let root = SVGBackend::new(file, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(430);
    let worst = [unprotected, protected]
        .iter()
        .flat_map(|r| r.local.iter().chain(r.b.iter()))
        .map(|s| s.p99.as_millis() as f64)
        .fold(10.0, f64::max);
    let series = |r: &PhaseReport, local: bool| -> Vec<(f64, f64, f64)> {
        let route = if local { &r.local } else { &r.b };
        route
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    i as f64 + 0.5,
                    s.p99.as_millis() as f64,
                    s.success_rate() * 100.0,
                )
            })
            .collect()
    };
    let lines = [
        (unprotected, true, "unprotected /local", RED),
        (unprotected, false, "unprotected /b", MAGENTA),
        (protected, true, "protected /local", BLUE),
        (protected, false, "protected /b", CYAN),
    ];

    let mut chart = ChartBuilder::on(&top)
        .caption("p99 latency per route (ms)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, 0f64..worst * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds into the phase")
        .draw()?;
    // The protected breaker's open (red) and half-open (orange) seconds.
    for (i, state) in protected.breaker.iter().enumerate() {
        let color = match state {
            Some(State::Open) => RED.mix(0.12),
            Some(State::HalfOpen) => RGBColor(255, 165, 0).mix(0.2),
            _ => continue,
        };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(i as f64, 0.0), (i as f64 + 1.0, worst * 1.1)],
            color.filled(),
        )))?;
    }
    for (report, local, name, color) in &lines {
        let points: Vec<_> = series(report, *local)
            .iter()
            .map(|(x, p99, _)| (*x, *p99))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "success rate per route (%); bands: protected breaker open / half-open",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, 0f64..105f64)?;
    chart
        .configure_mesh()
        .x_desc("seconds into the phase")
        .draw()?;
    for (report, local, _, color) in &lines {
        let points: Vec<_> = series(report, *local)
            .iter()
            .map(|(x, _, ok)| (*x, *ok))
            .collect();
        chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}
