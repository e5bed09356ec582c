//! The cascade, for real, and palisade stopping it.
//!
//! Run: `cargo run --release --example cascade` (about a minute;
//! `--help` for the flags).
//!
//! Clients send requests at a fixed rate (open loop: they keep coming
//! whether earlier ones returned or not) to service A, over HTTP on
//! 127.0.0.1. A has two routes: `/b` calls service B over HTTP, `/local`
//! never touches B. On a scripted timeline B is healthy, then slow (seconds
//! per request), then failing fast with 503s, then healthy again.
//!
//! Everything is set as it is in production, not to make the demo work:
//!
//! - **A is a thread-per-request server**: a fixed pool of workers (16,
//!   standing for Tomcat's 200 on a bigger machine) and a bounded queue of
//!   requests waiting for one (32; beyond it A answers 503 at once, as a
//!   full accept queue does). A worker runs its request to the end even if
//!   the client has gone: a thread blocked on B does not notice.
//! - **A's HTTP client to B has a 10 s timeout**, a common setting
//!   (reqwest has none by default, many libraries 30 s or none).
//! - **The clients have a 1 s deadline and retry once** on a failure or a
//!   timeout, as SDKs, gRPC and service meshes do by default.
//!
//! Phase 1, unprotected: A calls B directly. When B slows down, every
//! worker ends up waiting seconds on B, the queue fills, and `/local`, which
//! never touches B, fails too: its requests wait past the clients' deadline
//! or are turned away, and the clients' retries add load. That is the
//! cascade: a slow dependency takes its caller down.
//!
//! Phase 2, protected: A calls B through a palisade pipeline (total timeout,
//! retry with a budget, circuit breaker, bulkhead, attempt timeout) with a
//! fallback. Calls to B hold at most a few workers for a bounded time, the
//! breaker opens and answers from the fallback without waiting, probes B,
//! and closes once B recovers; `/local` keeps answering throughout.
//!
//! The verdict at the end is computed from the numbers: it says whether
//! this run reproduced the cascade and whether protection held, and says
//! so when the machine was too busy for the run to show either.
//!
//! With `-p palisade-examples --features metrics`, A serves its Prometheus
//! metrics at `/metrics` while it runs (the address is printed); the Grafana
//! dashboard in `dashboards/` reads them.
#![allow(missing_docs)]

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use palisade::adaptive::AdaptiveLimit;
use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::DefaultClassifier;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::pipeline::Pipeline;
use palisade::retry::RetryErrors;
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
    /// A's workers: requests it serves at once.
    pub workers: usize,
    /// Requests that may wait for one of A's workers; beyond, A answers 503.
    pub queue: usize,
    /// The clients' deadline per attempt.
    pub client_timeout: Duration,
    /// How many times a client retries a failed request.
    pub client_retries: u32,
    /// How long the breaker stays open before probing.
    pub open_for: Duration,
    /// Print a line per second.
    pub verbose: bool,
    /// Write a picture of both phases here (SVG).
    pub plot: Option<std::path::PathBuf>,
    /// Protect with an adaptive concurrency limit in the bulkhead's place.
    pub adaptive: bool,
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
            queue: 32,
            client_timeout: Duration::from_secs(1),
            client_retries: 1,
            open_for: Duration::from_secs(3),
            verbose: true,
            plot: None,
            adaptive: false,
        }
    }
}

impl Options {
    /// A short run for the tests (about 9 s a phase), with the same story:
    /// B slow from 2 s, failing at 5 s, healthy from 6 s.
    pub fn short() -> Self {
        Self {
            phase: Duration::from_secs(9),
            slow_at: Duration::from_secs(2),
            slow_for: Duration::from_secs(3),
            fail_for: Duration::from_secs(1),
            slow_response: Duration::from_millis(2500),
            rate: 30,
            workers: 8,
            queue: 16,
            open_for: Duration::from_secs(1),
            ..Self::default()
        }
    }

    /// When B is healthy again.
    fn recovered_at(&self) -> Duration {
        self.slow_at + self.slow_for + self.fail_for
    }
}

/// A's own HTTP client to B gives up after this long.
const A_TO_B_TIMEOUT: Duration = Duration::from_secs(10);

/// B's behaviour at a moment of the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Healthy = 0,
    Slow = 1,
    Failing = 2,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Healthy => "B healthy",
            Self::Slow => "B slow",
            Self::Failing => "B failing",
        }
    }
}

fn mode_at(opts: &Options, t: Duration) -> Mode {
    if t < opts.slow_at {
        Mode::Healthy
    } else if t < opts.slow_at + opts.slow_for {
        Mode::Slow
    } else if t < opts.recovered_at() {
        Mode::Failing
    } else {
        Mode::Healthy
    }
}

/// Service B: its behaviour follows `mode`.
async fn serve_b(mode: Arc<AtomicU8>, slow: Duration) -> String {
    let app = Router::new().route(
        "/",
        get(move || {
            let mode = Arc::clone(&mode);
            async move {
                match mode.load(Ordering::SeqCst) {
                    m if m == Mode::Slow as u8 => {
                        tokio::time::sleep(slow).await;
                        (StatusCode::OK, "fresh").into_response()
                    }
                    m if m == Mode::Failing as u8 => {
                        (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
                    }
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

/// What A uses to call B in the protected phase: the pipeline with a fixed
/// bulkhead, or (`--adaptive`) with an adaptive limit in its place.
struct Guard {
    pipeline: Limited,
    breaker: CircuitBreaker,
}

enum Limited {
    Fixed(Pipeline<TokioTimer>),
    Adaptive(Pipeline<TokioTimer, RetryErrors, DefaultClassifier, AdaptiveLimit>),
}

impl Guard {
    async fn call(
        &self,
        client: &reqwest::Client,
        b: &str,
    ) -> Result<String, palisade::Error<Upstream>> {
        match &self.pipeline {
            Limited::Fixed(p) => p.call(|| call_b(client, b)).await,
            Limited::Adaptive(p) => p.call(|| call_b(client, b)).await,
        }
    }

    /// Calls in flight to B, and the limit.
    fn limit(&self) -> (u32, u32) {
        match &self.pipeline {
            Limited::Fixed(p) => {
                let m = p.bulkhead().expect("a bulkhead").metrics();
                (m.in_flight, m.limit)
            }
            Limited::Adaptive(p) => {
                let m = p.limiter().expect("a limit").metrics();
                (m.in_flight, m.limit)
            }
        }
    }
}

/// A's capacity: its workers and the queue in front of them.
struct Capacity {
    workers: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

impl Capacity {
    /// Runs `work` on a worker, as a thread-per-request server does: it
    /// waits in the queue for a worker (or is turned away with a 503 when
    /// the queue is full), then runs to its end even if the client hangs up
    /// meanwhile (the request lives in a task of its own).
    async fn serve(
        self: &Arc<Self>,
        work: impl Future<Output = Response> + Send + 'static,
    ) -> Response {
        let capacity = Arc::clone(self);
        let permit = match Arc::clone(&self.workers).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return (StatusCode::SERVICE_UNAVAILABLE, "A is overloaded").into_response();
                }
                None
            }
        };
        let request = tokio::spawn(async move {
            let _worker = match permit {
                Some(permit) => permit,
                None => {
                    let permit = Arc::clone(&capacity.workers).acquire_owned().await;
                    capacity.waiting.fetch_sub(1, Ordering::SeqCst);
                    permit.expect("the semaphore is never closed")
                }
            };
            work.await
        });
        request
            .await
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

#[derive(Clone)]
struct A {
    client: reqwest::Client,
    b: Arc<str>,
    guard: Option<Arc<Guard>>,
    capacity: Arc<Capacity>,
}

async fn route_b(AxumState(a): AxumState<A>) -> Response {
    let capacity = Arc::clone(&a.capacity);
    capacity
        .serve(async move {
            match &a.guard {
                None => match call_b(&a.client, &a.b).await {
                    Ok(body) => (StatusCode::OK, body).into_response(),
                    Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                },
                Some(guard) => match guard.call(&a.client, &a.b).await {
                    Ok(body) => (StatusCode::OK, body).into_response(),
                    // The fallback: a cached answer, at once.
                    Err(e) if e.is_rejection() || e.is_timeout() => {
                        (StatusCode::OK, [("x-fallback", "1")], "cached").into_response()
                    }
                    Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                },
            }
        })
        .await
}

async fn route_local(AxumState(a): AxumState<A>) -> Response {
    a.capacity
        .serve(async { (StatusCode::OK, "local").into_response() })
        .await
}

/// Service A.
async fn serve_a(a: A) -> String {
    let app = Router::new()
        .route("/b", get(route_b))
        .route("/local", get(route_local))
        .with_state(a);
    // A scrape never waits for a worker.
    #[cfg(feature = "metrics")]
    let app = app.route(
        "/metrics",
        get(|| std::future::ready(prometheus().render())),
    );
    listen(app).await
}

/// The process's Prometheus recorder (feature `metrics`), installed before
/// the first breaker or bulkhead is built: they register their metrics
/// when built. Durations are histograms with buckets, so that a fleet's
/// quantiles can be aggregated across instances.
#[cfg(feature = "metrics")]
pub fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_string()),
                &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("no other recorder is installed")
    })
}

/// One client request's fate (its retries included).
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
    let these: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.second == second && s.local == local)
        .collect();
    let mut latencies: Vec<Duration> = these.iter().map(|s| s.latency).collect();
    latencies.sort();
    let of = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    Second {
        requests: these.len(),
        ok: these.iter().filter(|s| s.ok).count(),
        fallbacks: these.iter().filter(|s| s.fallback).count(),
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
    /// The breaker's transitions, when they happened.
    pub transitions: Vec<(Duration, State, State)>,
}

/// Seconds `range` of a route, pooled.
fn pooled(route: &[Second], range: std::ops::Range<usize>) -> Second {
    let seconds = route.get(range).unwrap_or_default();
    Second {
        requests: seconds.iter().map(|s| s.requests).sum(),
        ok: seconds.iter().map(|s| s.ok).sum(),
        fallbacks: seconds.iter().map(|s| s.fallbacks).sum(),
        p50: Duration::ZERO,
        p99: seconds.iter().map(|s| s.p99).max().unwrap_or_default(),
    }
}

impl PhaseReport {
    /// The second of `/local` with the lowest success rate (the earliest
    /// of equals), and that rate.
    pub fn worst_local_second(&self) -> (usize, f64) {
        self.local
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.success_rate()))
            .fold((0, 1.0), |worst, s| if s.1 < worst.1 { s } else { worst })
    }

    pub fn worst_local_p99(&self) -> Duration {
        self.local.iter().map(|s| s.p99).max().unwrap_or_default()
    }

    pub fn b_answered(&self) -> f64 {
        pooled(&self.b, 0..self.b.len()).success_rate()
    }

    pub fn fallbacks(&self) -> usize {
        self.b.iter().map(|s| s.fallbacks).sum()
    }
}

/// The verdict's thresholds.
///
/// `/local` *failed* in a second when fewer than half of its requests
/// succeeded; it *stayed up* when at least 97 % did over the phase and no
/// second fell below 90 %. Before B slows, `/local` should answer in a few
/// milliseconds: a p99 above `BUSY_P99` then means the machine itself is
/// too busy for latency to say anything.
pub const FAILED_BELOW: f64 = 0.5;
pub const UP_OVER_PHASE: f64 = 0.97;
pub const UP_EVERY_SECOND: f64 = 0.9;
pub const BUSY_P99: Duration = Duration::from_millis(200);

/// What the run showed, computed from its numbers.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Unprotected, `/local` failed (not only slowed) while B was in
    /// trouble.
    pub cascade: bool,
    /// Protected, `/local` stayed up the whole phase.
    pub protected_held: bool,
    /// Before B slowed, `/local` was already slow or failing in a phase.
    pub busy: bool,
    /// The verdict in words.
    pub text: String,
}

pub fn verdict(opts: &Options, unprotected: &PhaseReport, protected: &PhaseReport) -> Verdict {
    let baseline_end = (opts.slow_at.as_secs() as usize).max(1);
    let baseline = |r: &PhaseReport| pooled(&r.local, 0..baseline_end);
    let busy = [unprotected, protected].iter().any(|r| {
        let b = baseline(r);
        b.p99 > BUSY_P99 || b.success_rate() < UP_EVERY_SECOND
    });
    let (worst_at, worst) = unprotected.worst_local_second();
    let trouble = opts.slow_at.as_secs() as usize..unprotected.local.len();
    let unprotected_trouble = pooled(&unprotected.local, trouble);
    let cascade = worst < FAILED_BELOW;
    let protected_all = pooled(&protected.local, 0..protected.local.len());
    let (p_worst_at, p_worst) = protected.worst_local_second();
    let protected_held =
        protected_all.success_rate() >= UP_OVER_PHASE && p_worst >= UP_EVERY_SECOND;

    let mut text = String::from("Verdict: ");
    if cascade {
        text += &format!(
            "unprotected, /local (which never calls B) failed once B slowed down: at t={worst_at}s only {} of its requests succeeded, and {} from B's slowdown to the end: A's workers were all waiting on B. ",
            pct(worst),
            pct(unprotected_trouble.success_rate()),
        );
    } else {
        text += &format!(
            "this run did not reproduce the cascade: unprotected, /local still answered (worst second t={worst_at}s: {} succeeded, p99 {}). ",
            pct(worst),
            ms(unprotected.worst_local_p99()),
        );
    }
    if protected_held {
        text += &format!(
            "Protected, /local stayed up ({} of its requests succeeded, worst second {}, p99 at worst {}), and /b was answered {} of the time, {} times from the fallback.",
            pct(protected_all.success_rate()),
            pct(p_worst),
            ms(protected.worst_local_p99()),
            pct(protected.b_answered()),
            protected.fallbacks(),
        );
    } else {
        text += &format!(
            "Protected, /local did not stay up: {} of its requests succeeded, {} at t={p_worst_at}s.",
            pct(protected_all.success_rate()),
            pct(p_worst),
        );
    }
    if busy {
        text += &format!(
            " The machine was busy: before B slowed, /local's p99 was already {} (unprotected) and {} (protected), so these figures say more about the machine than about the services.",
            ms(baseline(unprotected).p99),
            ms(baseline(protected).p99),
        );
    }
    Verdict {
        cascade,
        protected_held,
        busy,
        text,
    }
}

fn guard(opts: &Options) -> Guard {
    let timer = TokioTimer;
    let breaker = CircuitBreaker::builder()
        .name("b")
        .count_window(20)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        // Timed, so the metrics have call durations.
        .slow_call_duration(Duration::from_secs(1))
        .open_duration(opts.open_for)
        .half_open_trial_calls(3)
        .half_open_max_concurrent(3)
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
        .attempt_timeout(Duration::from_millis(300));
    let pipeline = if opts.adaptive {
        // Starts where the fixed bulkhead is, finds B's capacity from its
        // latency; a window of 10 calls, so it moves within a second here.
        let limit = AdaptiveLimit::builder()
            .name("b")
            .initial_limit(4)
            .min_limit(1)
            .max_limit(64)
            .window(10)
            .build()
            .unwrap();
        Limited::Adaptive(pipeline.limiter(limit).build().unwrap())
    } else {
        let bulkhead = Bulkhead::builder()
            .name("b")
            .max_concurrent(4)
            .build()
            .unwrap();
        Limited::Fixed(pipeline.bulkhead(bulkhead).build().unwrap())
    };
    Guard { pipeline, breaker }
}

/// One client request: up to `1 + retries` attempts, each with the
/// deadline; ok if one succeeds.
async fn client_request(client: &reqwest::Client, url: &str, retries: u32) -> (bool, bool) {
    for _ in 0..=retries {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return (true, r.headers().contains_key("x-fallback"));
            }
        }
    }
    (false, false)
}

/// Runs one phase: B on the timeline, A (protected or not), the load.
pub async fn phase(opts: &Options, protected: bool) -> PhaseReport {
    #[cfg(feature = "metrics")]
    let _ = prometheus();
    let mode = Arc::new(AtomicU8::new(0));
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
    let capacity = Arc::new(Capacity {
        workers: Arc::new(tokio::sync::Semaphore::new(opts.workers)),
        waiting: AtomicUsize::new(0),
        queue: opts.queue,
    });
    let a = serve_a(A {
        client: reqwest::Client::builder()
            .timeout(A_TO_B_TIMEOUT)
            .build()
            .unwrap(),
        b: Arc::from(format!("{b}/")),
        guard: guard.clone(),
        capacity: Arc::clone(&capacity),
    })
    .await;
    #[cfg(feature = "metrics")]
    if opts.verbose {
        println!("(Prometheus metrics of A: {a}/metrics while this phase runs)");
    }
    let client = reqwest::Client::builder()
        .timeout(opts.client_timeout)
        .build()
        .unwrap();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let seconds = opts.phase.as_secs() as usize;
    let label = if protected {
        "protected  "
    } else {
        "unprotected"
    };
    let mut load = Vec::new();
    // The open-loop load: one spawned request per tick per route.
    for local in [true, false] {
        let (client, samples) = (client.clone(), Arc::clone(&samples));
        let url = format!("{a}/{}", if local { "local" } else { "b" });
        let every = Duration::from_secs(1) / opts.rate;
        let (phase_len, retries) = (opts.phase, opts.client_retries);
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
                    let (ok, fallback) = client_request(&client, &url, retries).await;
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
    // A second's line is printed once its slowest requests are in: the
    // clients give up after (1 + retries) deadlines.
    let lag = ((opts.client_timeout * (opts.client_retries + 1)).as_secs() + 1) as usize;
    let line = |second: usize, samples: &[Sample], state: &str| {
        let (l, bb) = (
            summarize(samples, second, true),
            summarize(samples, second, false),
        );
        println!(
            "[{label}] t={second:>2}s {:<9} | /local p99 {:>6} ok {:>4} | /b p99 {:>6} ok {:>4} fallbacks {:>3}{state}",
            mode_at(opts, Duration::from_secs(second as u64)).name(),
            ms(l.p99),
            pct(l.success_rate()),
            ms(bb.p99),
            pct(bb.success_rate()),
            bb.fallbacks,
        );
    };
    // What A and its guards look like at the end of a second.
    let state_now = || {
        let queue = format!(" | A queue {:>3}", capacity.waiting.load(Ordering::SeqCst));
        match &guard {
            Some(g) => {
                let (in_flight, limit) = g.limit();
                let kind = match g.pipeline {
                    Limited::Fixed(_) => "bulkhead",
                    Limited::Adaptive(_) => "adaptive",
                };
                format!(
                    "{queue} | breaker {:<8} {kind} {in_flight}/{limit}",
                    format!("{:?}", g.breaker.state()),
                )
            }
            None => queue,
        }
    };
    let mut states = Vec::new();
    // B's timeline, and a line per second.
    for second in 0..seconds {
        let t = Duration::from_secs(second as u64);
        mode.store(mode_at(opts, t) as u8, Ordering::SeqCst);
        tokio::time::sleep_until((start + t + Duration::from_secs(1)).into()).await;
        states.push(state_now());
        if opts.verbose && second >= lag {
            line(
                second - lag,
                &samples.lock().unwrap(),
                &states[second - lag],
            );
        }
    }
    mode.store(0, Ordering::SeqCst);
    for l in load {
        let _ = l.await;
    }
    if opts.verbose {
        for (second, state) in states.iter().enumerate().skip(seconds.saturating_sub(lag)) {
            line(second, &samples.lock().unwrap(), state);
        }
    }
    let s = samples.lock().unwrap().clone();
    let transitions = transitions.lock().unwrap().clone();
    PhaseReport {
        protected,
        local: (0..seconds).map(|i| summarize(&s, i, true)).collect(),
        b: (0..seconds).map(|i| summarize(&s, i, false)).collect(),
        transitions,
    }
}

fn ms(d: Duration) -> String {
    palisade::error::HumanDuration(d).to_string()
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

pub fn print_summary(
    opts: &Options,
    unprotected: &PhaseReport,
    protected: &PhaseReport,
) -> Verdict {
    println!();
    println!("| phase | /local success | /local worst second | /local worst p99 | /b answered | fallbacks |");
    println!("|---|---|---|---|---|---|");
    for r in [unprotected, protected] {
        let (at, worst) = r.worst_local_second();
        println!(
            "| {} | {} | {} at t={at}s | {} | {} | {} |",
            if r.protected {
                "protected"
            } else {
                "unprotected"
            },
            pct(pooled(&r.local, 0..r.local.len()).success_rate()),
            pct(worst),
            ms(r.worst_local_p99()),
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
    let verdict = verdict(opts, unprotected, protected);
    println!("{}", verdict.text);
    verdict
}

/// The command line (clap): bad flags and values are errors, exit code 2.
#[derive(clap::Parser, Debug)]
#[command(
    name = "cascade",
    about = "A slow dependency takes down its caller; then palisade prevents it.",
    after_help = "Everything runs on 127.0.0.1 and stops by itself."
)]
struct Cli {
    /// Length of each of the two phases, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=600))]
    phase: u64,
    /// When B turns slow in each phase, in seconds.
    #[arg(long, default_value_t = 5)]
    slow_at: u64,
    /// How long B stays slow, in seconds.
    #[arg(long, default_value_t = 10)]
    slow_for: u64,
    /// How long B then fails with 503s, in seconds.
    #[arg(long, default_value_t = 5)]
    fail_for: u64,
    /// How long B takes per request while slow, in milliseconds.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    slow_ms: u64,
    /// Requests per second to each of A's routes.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rate: u32,
    /// A's workers: requests it serves at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    workers: u32,
    /// Requests that may wait for a worker; beyond, A answers 503.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    queue: u32,
    /// The clients' deadline per attempt, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    client_timeout_ms: u64,
    /// How many times a client retries a failed request.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=5))]
    client_retries: u32,
    /// No line per second, only the summary and the verdict.
    #[arg(long)]
    quiet: bool,
    /// Also draw both phases on one time axis into this SVG file.
    #[arg(long, value_name = "FILE.svg", value_parser = svg_path)]
    plot: Option<std::path::PathBuf>,
    /// Protect with an adaptive concurrency limit (it finds B's capacity
    /// from B's latency) in place of the fixed bulkhead of 4.
    #[arg(long)]
    adaptive: bool,
}

fn svg_path(value: &str) -> Result<std::path::PathBuf, String> {
    if value.starts_with('-') {
        return Err(format!("`{value}` looks like a flag, not a file name"));
    }
    if !value.ends_with(".svg") {
        return Err(format!("`{value}`: the picture is SVG, name it FILE.svg"));
    }
    Ok(value.into())
}

impl Cli {
    fn options(self) -> Result<Options, String> {
        if self.slow_at + self.slow_for + self.fail_for >= self.phase {
            return Err(format!(
                "--slow-at {} + --slow-for {} + --fail-for {} must end before the phase (--phase {}), so B recovers in it",
                self.slow_at, self.slow_for, self.fail_for, self.phase
            ));
        }
        if self.slow_for == 0 {
            return Err("--slow-for must be at least 1 second".to_string());
        }
        Ok(Options {
            phase: Duration::from_secs(self.phase),
            slow_at: Duration::from_secs(self.slow_at),
            slow_for: Duration::from_secs(self.slow_for),
            fail_for: Duration::from_secs(self.fail_for),
            slow_response: Duration::from_millis(self.slow_ms),
            rate: self.rate,
            workers: self.workers as usize,
            queue: self.queue as usize,
            client_timeout: Duration::from_millis(self.client_timeout_ms),
            client_retries: self.client_retries,
            verbose: !self.quiet,
            plot: self.plot,
            adaptive: self.adaptive,
            ..Options::default()
        })
    }
}

/// The options of a command line, or clap's error (exit code 2).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, clap::Error> {
    use clap::{CommandFactory, Parser};
    let cli = Cli::try_parse_from(args)?;
    cli.options()
        .map_err(|message| Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() {
    let opts = parse(std::env::args()).unwrap_or_else(|e| e.exit());
    println!(
        "Clients → A ({} workers, a queue of {}) → B, {} requests/s to each of A's routes, \
         each with a {} ms deadline and {} retry; B is slow ({} ms) from {}s to {}s, then fails with 503s until {}s.\n",
        opts.workers,
        opts.queue,
        opts.rate,
        opts.client_timeout.as_millis(),
        opts.client_retries,
        opts.slow_response.as_millis(),
        opts.slow_at.as_secs(),
        (opts.slow_at + opts.slow_for).as_secs(),
        opts.recovered_at().as_secs(),
    );
    println!("Phase 1: A calls B unprotected.");
    let unprotected = phase(&opts, false).await;
    let limit = if opts.adaptive {
        "adaptive concurrency limit"
    } else {
        "bulkhead"
    };
    println!("\nPhase 2: A calls B through a palisade pipeline (timeout, retry with budget, breaker, {limit}) and a fallback.");
    let protected = phase(&opts, true).await;
    print_summary(&opts, &unprotected, &protected);
    if let Some(file) = &opts.plot {
        match plot(file, &opts, &unprotected, &protected) {
            Ok(()) => println!("\nWrote {}", file.display()),
            Err(e) => {
                eprintln!("\nCould not write {}: {e}", file.display());
                std::process::exit(1);
            }
        }
    }
}

/// Both phases on one time axis: p99 latency per route (top, log scale),
/// success rate per route (bottom). Shaded in both: B's own trouble (slow,
/// failing) and, in a strip along the top, the protected breaker's open
/// and half-open spans, drawn from its transition log.
pub fn plot(
    file: &std::path::Path,
    opts: &Options,
    unprotected: &PhaseReport,
    protected: &PhaseReport,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let seconds = unprotected.local.len().max(protected.local.len()) as f64;
    let root = SVGBackend::new(file, (1100, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(400);
    let slowest = [unprotected, protected]
        .iter()
        .flat_map(|r| r.local.iter().chain(r.b.iter()))
        .map(|s| s.p99.as_secs_f64() * 1000.0)
        .fold(10.0, f64::max);
    let slow_color = RGBColor(255, 200, 0).mix(0.18);
    let failing_color = RGBColor(120, 120, 120).mix(0.18);
    let open_color = RGBColor(220, 0, 0).mix(0.55);
    let half_open_color = RGBColor(255, 140, 0).mix(0.75);
    let b_slow = (
        opts.slow_at.as_secs_f64(),
        (opts.slow_at + opts.slow_for).as_secs_f64(),
    );
    let b_failing = (b_slow.1, opts.recovered_at().as_secs_f64());
    // Open and half-open spans from the transition log: exact times, and at
    // least 0.15 s wide so a short half-open still shows.
    let mut spans: Vec<(f64, f64, State)> = Vec::new();
    let mut current: Option<(f64, State)> = None;
    for (t, _, to) in &protected.transitions {
        let t = t.as_secs_f64();
        if let Some((from, state)) = current.take() {
            spans.push((from, t.max(from + 0.15), state));
        }
        if matches!(to, State::Open | State::HalfOpen) {
            current = Some((t, *to));
        }
    }
    if let Some((from, state)) = current {
        spans.push((from, seconds.max(from + 0.15), state));
    }
    // Lines drawn widest first, so lines on top of each other (every route
    // at 100 %) still show each colour.
    let lines = [
        (unprotected, true, "unprotected /local", RED, 7),
        (unprotected, false, "unprotected /b", MAGENTA, 5),
        (protected, false, "protected /b", CYAN, 4),
        (protected, true, "protected /local", BLUE, 2),
    ];

    let shade = |area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
                 caption: &str,
                 y: std::ops::Range<f64>,
                 log: bool,
                 value: &dyn Fn(&Second) -> f64,
                 legend: bool|
     -> Result<(), Box<dyn std::error::Error>> {
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(caption, ("sans-serif", 19))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(65);
        let x = 0f64..seconds;
        macro_rules! draw {
            ($chart:expr, $y0:expr, $y1:expr, $strip:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc("seconds into the phase")
                    .x_label_formatter(&|v| format!("{v:.0}"))
                    .y_label_formatter(&|v| format!("{v:.0}"))
                    .draw()?;
                let (y0, y1, strip) = ($y0, $y1, $strip);
                for ((from, to), color, name) in [
                    (b_slow, slow_color, "B slow"),
                    (b_failing, failing_color, "B failing (503)"),
                ] {
                    let series = chart.draw_series(std::iter::once(Rectangle::new(
                        [(from, y0), (to, y1)],
                        color.filled(),
                    )))?;
                    if legend {
                        series.label(name).legend(move |(x, y)| {
                            Rectangle::new([(x, y - 6), (x + 20, y + 6)], color.filled())
                        });
                    }
                }
                for (state, color, name) in [
                    (State::Open, open_color, "breaker open (protected)"),
                    (
                        State::HalfOpen,
                        half_open_color,
                        "breaker half-open (protected)",
                    ),
                ] {
                    let series =
                        chart.draw_series(spans.iter().filter(|(_, _, s)| *s == state).map(
                            |(from, to, _)| {
                                Rectangle::new([(*from, strip), (*to, y1)], color.filled())
                            },
                        ))?;
                    if legend {
                        series.label(name).legend(move |(x, y)| {
                            Rectangle::new([(x, y - 6), (x + 20, y + 6)], color.filled())
                        });
                    }
                }
                for (report, local, name, color, width) in &lines {
                    let route = if *local { &report.local } else { &report.b };
                    let points: Vec<(f64, f64)> = route
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (i as f64 + 0.5, value(s).clamp(y0, y1)))
                        .collect();
                    let series =
                        chart.draw_series(LineSeries::new(points, color.stroke_width(*width)))?;
                    if legend {
                        series.label(*name).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                        });
                    }
                }
                if legend {
                    chart
                        .configure_series_labels()
                        .position(SeriesLabelPosition::UpperRight)
                        .background_style(WHITE.mix(0.9))
                        .border_style(BLACK)
                        .draw()?;
                }
            }};
        }
        if log {
            let chart = builder.build_cartesian_2d(x, (y.start..y.end).log_scale())?;
            // The strip: the top tenth of the panel, in log terms.
            let strip = y.end / (y.end / y.start).powf(0.1);
            draw!(chart, y.start, y.end, strip);
        } else {
            let chart = builder.build_cartesian_2d(x, y.clone())?;
            let strip = y.end - (y.end - y.start) * 0.1;
            draw!(chart, y.start, y.end, strip);
        }
        Ok(())
    };
    shade(
        &top,
        "p99 latency per route, ms (log scale)",
        1.0..slowest * 2.0,
        true,
        &|s| (s.p99.as_secs_f64() * 1000.0).max(1.0),
        true,
    )?;
    shade(
        &bottom,
        "success rate per route, % (what the clients saw, retries included)",
        -5.0..118.0,
        false,
        &|s| s.success_rate() * 100.0,
        false,
    )?;
    root.present()?;
    Ok(())
}
