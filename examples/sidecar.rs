//! The service mesh's two halves, built on palisade: an L7 sidecar proxy
//! (the data plane) and a control plane that pushes its settings, over real
//! HTTP on 127.0.0.1, in one process that finishes by itself.
//!
//! Run: `cargo run -p palisade-examples --example sidecar --features metrics`
//! (`-- --pause 0s` for the quick run CI makes).
//!
//! The proxy stands in front of a service's outbound calls. It routes each
//! request on its `Host` header and on a header (`x-version: green` goes to
//! the canary) to one of two upstreams, `blue` and `green`, and sends it
//! through that upstream's palisade pipeline (breaker, bulkhead, timeouts,
//! retries), keyed by the upstream's name in one file: its routes, its
//! upstreams and, under `[palisade]`, palisade's own [`Config`]. The proxy
//! watches the file ([`Clients::watch`]) and applies each change live; a
//! change that does not parse or check changes nothing and is reported,
//! naming what was wrong.
//!
//! The control plane keeps the desired settings and writes the file (to a
//! temporary name, then renamed over it, as a Kubernetes ConfigMap update
//! does). The run: green fails and its breaker opens; push 1 tightens
//! blue's bulkhead and adds a route, and green's breaker is still open
//! after it; two bad pushes are refused and reported while the last good
//! settings stay in force; green recovers, and push 2 drains blue, so its
//! traffic fails over to green. Each step checks what the proxy did, over
//! HTTP; the run exits non-zero if a check fails. The proxy's `/metrics`
//! (feature `metrics`) is what the dashboard test scrapes.
//!
//! What a real mesh adds that this does not: mutual TLS between proxies
//! and the identities behind it; service discovery (upstreams here are
//! fixed addresses in the file, not endpoints watched in a registry);
//! traffic captured transparently (iptables) rather than sent to the proxy;
//! load balancing across many endpoints with outlier ejection; a proxy per
//! instance managed by the platform. What it shares: the file is the whole
//! interface, so any control plane that can write a file drives it: a
//! Kubernetes ConfigMap mounted as a volume, consul-template, a CI job,
//! or a person with an editor.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use bytes::Bytes;
use http::header::{HeaderName, HOST};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use palisade::circuit_breaker::State as BreakerState;
use palisade::client::{ClientLayer, Clients, ReloadEvent};
use palisade::config::Config;
use serde::Deserialize;
use tower::{Layer, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Renders the metrics the proxy serves at `/metrics`.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The run's pacing.
#[derive(Clone, Debug)]
pub struct Options {
    /// Between steps, so a reader (or a scraper) can follow.
    pub pause: Duration,
    /// Print each step and check.
    pub verbose: bool,
}

/// What the run found: each check, and whether it held.
#[derive(Debug, Default)]
pub struct Report {
    /// `(what was checked, held)`, in order.
    pub checks: Vec<(String, bool)>,
}

impl Report {
    /// Every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|(_, held)| *held)
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut options = Options {
        pause: Duration::from_secs(1),
        verbose: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--pause", Some(pause)) => options.pause = parse_duration(&pause)?,
            _ => return Err("usage: sidecar [--pause 1s]".into()),
        }
    }
    #[cfg(feature = "metrics")]
    let render: Option<Render> = {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
        Some(Arc::new(move || handle.render()))
    };
    #[cfg(not(feature = "metrics"))]
    let render: Option<Render> = None;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let report = run(&options, admin, render).await?;
    let held = report.checks.iter().filter(|(_, held)| *held).count();
    println!("\n{held} of {} checks held", report.checks.len());
    if report.passed() {
        Ok(())
    } else {
        Err("a check failed".into())
    }
}

fn parse_duration(text: &str) -> Result<Duration, BoxError> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(0));
    let number: u64 = number
        .parse()
        .map_err(|_| format!("bad duration `{text}`"))?;
    match unit {
        "s" => Ok(Duration::from_secs(number)),
        "ms" => Ok(Duration::from_millis(number)),
        _ => Err(format!("bad duration `{text}`: give it as `500ms` or `2s`").into()),
    }
}

// ---------------------------------------------------------------- the file

/// The proxy's file: routes, upstreams and palisade's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Tried in order; the first that matches takes the request.
    #[serde(default)]
    routes: Vec<Route>,
    upstreams: BTreeMap<String, Upstream>,
    /// A pipeline per upstream, under the upstream's name.
    #[serde(default)]
    palisade: Config,
}

/// Requests for `host` (and carrying `header`, if set) go to the first
/// upstream of `to` that is not drained.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    host: String,
    #[serde(default)]
    header: Option<HeaderMatch>,
    to: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderMatch {
    name: String,
    value: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Upstream {
    address: SocketAddr,
    /// Takes no new requests; those in flight finish.
    #[serde(default)]
    drained: bool,
}

/// The routing half of a file, checked.
#[derive(Debug)]
struct Table {
    routes: Vec<Route>,
    upstreams: BTreeMap<String, Upstream>,
}

/// Parses a file's text and checks its routes; palisade's part is checked
/// by [`Clients::apply`].
fn parse(text: &str) -> Result<(Table, Config), String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    for (i, route) in file.routes.iter().enumerate() {
        if route.to.is_empty() {
            return Err(format!("routes[{i}].to: names no upstream"));
        }
        if let Some(unknown) = route.to.iter().find(|u| !file.upstreams.contains_key(*u)) {
            return Err(format!("routes[{i}].to: no upstream is named `{unknown}`"));
        }
        if let Some(header) = &route.header {
            HeaderName::try_from(header.name.as_str()).map_err(|_| {
                format!(
                    "routes[{i}].header.name: `{}` is not a header name",
                    header.name
                )
            })?;
        }
    }
    let table = Table {
        routes: file.routes,
        upstreams: file.upstreams,
    };
    Ok((table, file.palisade))
}

/// Why no upstream takes a request.
enum Miss {
    NoRoute,
    AllDrained,
}

impl Table {
    /// The upstream for a request to `host` with `headers`.
    fn pick(&self, host: &str, headers: &HeaderMap) -> Result<(&str, &Upstream), Miss> {
        let route = self
            .routes
            .iter()
            .find(|r| {
                r.host == host
                    && r.header.as_ref().is_none_or(|h| {
                        headers
                            .get(h.name.as_str())
                            .is_some_and(|v| v == h.value.as_str())
                    })
            })
            .ok_or(Miss::NoRoute)?;
        route
            .to
            .iter()
            .filter_map(|name| Some((name.as_str(), self.upstreams.get(name)?)))
            .find(|(_, upstream)| !upstream.drained)
            .ok_or(Miss::AllDrained)
    }
}

// ---------------------------------------------------------------- the proxy

/// The data plane: the routes in force, palisade's clients, and an HTTP
/// client for the upstreams.
struct Proxy {
    table: RwLock<Arc<Table>>,
    clients: Clients,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// The headers that belong to one hop, never forwarded.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Proxy {
    /// Reads `file`, builds the clients, and starts applying every change
    /// of the file; `on_event` hears each change's fate.
    fn start(
        file: &Path,
        on_event: impl Fn(&ReloadEvent) + Send + 'static,
    ) -> Result<(Arc<Self>, palisade::client::ConfigWatcher), BoxError> {
        let (table, config) = parse(&std::fs::read_to_string(file)?)?;
        let proxy = Arc::new(Self {
            table: RwLock::new(Arc::new(table)),
            clients: Clients::builder(config).build()?,
            http: Client::builder(TokioExecutor::new()).build_http(),
        });
        // The routes of a file take effect when palisade's part of it does:
        // parsed here, held until the clients applied (or refused) the file.
        // The watcher parses and reports on one thread, in that order.
        let pending = Arc::new(Mutex::new(None));
        let parsed = Arc::clone(&pending);
        let applied = Arc::clone(&proxy);
        let watcher = proxy.clients.watch(
            file,
            move |text: &str| {
                let (table, config) = parse(text)?;
                *parsed.lock().unwrap() = Some(table);
                Ok::<_, String>(config)
            },
            move |event: &ReloadEvent| {
                let table = pending.lock().unwrap().take();
                if let (ReloadEvent::Applied { .. }, Some(table)) = (event, table) {
                    *applied.table.write().unwrap() = Arc::new(table);
                }
                on_event(event);
            },
        )?;
        Ok((proxy, watcher))
    }

    /// One request: routed, then sent through its upstream's pipeline.
    async fn forward(self: Arc<Self>, request: Request<Body>) -> Response<Body> {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or(h).to_owned())
            .unwrap_or_default();
        let table = Arc::clone(&self.table.read().unwrap());
        let (name, address) = match table.pick(&host, request.headers()) {
            Ok((name, upstream)) => (name.to_owned(), upstream.address),
            Err(Miss::NoRoute) => return answer(StatusCode::NOT_FOUND, "no-route", "no route"),
            Err(Miss::AllDrained) => {
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "drained",
                    "every upstream is drained",
                )
            }
        };
        let (parts, body) = request.into_parts();
        // Bodies are read whole (up to 1 MiB) so a retry can send them again.
        let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body",
                "body over 1 MiB or broken",
            );
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(mut outbound) = Request::builder()
            .method(parts.method)
            .uri(format!("http://{address}{path}"))
            .body(Full::new(body))
        else {
            return answer(StatusCode::BAD_REQUEST, "uri", "bad request target");
        };
        *outbound.headers_mut() = parts.headers;
        for header in HOP_BY_HOP {
            outbound.headers_mut().remove(header);
        }
        // The upstream's pipeline, by its name in the file.
        let client = ClientLayer::new(self.clients.clone())
            .host(name.as_str())
            .layer(self.http.clone());
        match client.oneshot(outbound).await {
            Ok(response) => {
                let mut response = response.map(Body::new);
                response.headers_mut().insert(
                    "x-upstream",
                    HeaderValue::from_str(&name).expect("a name from the routes"),
                );
                response
            }
            Err(e) => {
                use palisade::error::ErrorKind::*;
                let (status, kind) = match e.kind() {
                    CircuitOpen => (StatusCode::SERVICE_UNAVAILABLE, "circuit-open"),
                    BulkheadFull => (StatusCode::SERVICE_UNAVAILABLE, "bulkhead-full"),
                    RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate-limited"),
                    TimedOut => (StatusCode::GATEWAY_TIMEOUT, "timed-out"),
                    _ => (StatusCode::BAD_GATEWAY, "upstream"),
                };
                answer(status, kind, &e.to_string())
            }
        }
    }
}

/// The proxy's own answer: `x-palisade` says why.
fn answer(status: StatusCode, why: &'static str, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("x-palisade", HeaderValue::from_static(why));
    response
}

/// Serves the proxy on `listener` and its admin endpoints (`/metrics`,
/// `/routes`) on `admin`.
fn serve(
    proxy: &Arc<Proxy>,
    listener: tokio::net::TcpListener,
    admin: tokio::net::TcpListener,
    render: Option<Render>,
) {
    let app = axum::Router::new()
        .fallback(|State(proxy): State<Arc<Proxy>>, request| proxy.forward(request))
        .with_state(Arc::clone(proxy));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let routes = Arc::clone(proxy);
    let scraped = Arc::clone(proxy);
    let admin_app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                // Breaker states and limits are published as gauges on scrape.
                #[cfg(feature = "metrics")]
                scraped.clients.publish_metrics();
                #[cfg(not(feature = "metrics"))]
                let _ = &scraped; // no recorder to publish to
                std::future::ready(match &render {
                    Some(render) => render(),
                    None => "# built without feature `metrics`\n".to_owned(),
                })
            }),
        )
        .route(
            "/routes",
            axum::routing::get(move || {
                std::future::ready(format!("{:#?}\n", routes.table.read().unwrap()))
            }),
        );
    tokio::spawn(async move { axum::serve(admin, admin_app).await });
}

// ---------------------------------------------------------------- upstreams

/// An upstream service on 127.0.0.1: answers its name, after the delay an
/// `x-delay-ms` header asks for, or 503 while failing.
async fn upstream(name: &'static str) -> std::io::Result<(SocketAddr, Arc<AtomicBool>)> {
    let failing = Arc::new(AtomicBool::new(false));
    let fails = Arc::clone(&failing);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let failing = fails.load(Ordering::SeqCst);
        async move {
            let delay = headers
                .get("x-delay-ms")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if failing {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{name} is failing"),
                )
            } else {
                (StatusCode::OK, name.to_owned())
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((address, failing))
}

// ---------------------------------------------------------------- the control plane

/// The control plane's desired settings for the proxy.
#[derive(Clone, Debug)]
struct Desired {
    blue: SocketAddr,
    green: SocketAddr,
    /// Each breaker's open duration: longer than a pause between steps,
    /// so green's breaker is still open when push 1 lands.
    open_for: Duration,
    blue_limit: u32,
    blue_drained: bool,
    api_route: bool,
    /// A mistake a push may carry: a value palisade refuses.
    bad_threshold: bool,
    /// A mistake a push may carry: a route to an upstream that is not there.
    bad_route: bool,
}

impl Desired {
    /// The proxy's file for these settings.
    fn render(&self) -> String {
        let mut file = String::from(
            "# Written by the control plane; the sidecar applies each change.\n\
             [[routes]]\nhost = \"shop.local\"\nheader = { name = \"x-version\", value = \"green\" }\nto = [\"green\"]\n\n\
             [[routes]]\nhost = \"shop.local\"\nto = [\"blue\", \"green\"]\n\n",
        );
        if self.api_route {
            file += "[[routes]]\nhost = \"api.local\"\nto = [\"blue\"]\n\n";
        }
        if self.bad_route {
            file += "[[routes]]\nhost = \"admin.local\"\nto = [\"purple\"]\n\n";
        }
        file += &format!(
            "[upstreams.blue]\naddress = \"{}\"\ndrained = {}\n\n[upstreams.green]\naddress = \"{}\"\n\n",
            self.blue, self.blue_drained, self.green
        );
        file += &format!(
            "[palisade.pipelines.defaults]\n\
             timeout = \"2s\"\n\
             retry = {{ max_attempts = 2, backoff = {{ constant = \"10ms\" }} }}\n\
             circuit_breaker = {{ failure_rate_threshold = {}, window = {{ count = 10 }}, minimum_calls = 4, open_duration = \"{}ms\", half_open_trial_calls = 2 }}\n\
             bulkhead = {{ max_concurrent = 8 }}\n\n\
             [palisade.pipelines.blue]\n\
             bulkhead = {{ max_concurrent = {} }}\n",
            if self.bad_threshold { "1.5" } else { "0.5" },
            self.open_for.as_millis(),
            self.blue_limit
        );
        file
    }

    /// Pushes these settings: the file written aside, then renamed over
    /// the proxy's (a reader never sees half a file).
    fn push(&self, file: &Path) -> std::io::Result<()> {
        let aside = file.with_extension("toml.new");
        std::fs::write(&aside, self.render())?;
        std::fs::rename(&aside, file)
    }
}

// ---------------------------------------------------------------- the run

/// The next push's fate, as the proxy reports it (none within 10 s: `None`).
async fn fate(
    pushed: &mut tokio::sync::mpsc::UnboundedReceiver<ReloadEvent>,
) -> Option<ReloadEvent> {
    tokio::time::timeout(Duration::from_secs(10), pushed.recv())
        .await
        .ok()
        .flatten()
}

/// Requests through the proxy, as the service beside it sends them.
struct Caller {
    http: reqwest::Client,
    proxy: String,
}

/// What a request through the proxy came back with.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The upstream that answered, or why the proxy answered itself.
    by: String,
}

impl Caller {
    async fn get(&self, host: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.http.get(&self.proxy).header(HOST, host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match request.send().await {
            Ok(response) => {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let by = header("x-upstream")
                    .or_else(|| header("x-palisade"))
                    .unwrap_or_default();
                Answer {
                    status: response.status().as_u16(),
                    by,
                }
            }
            Err(e) => Answer {
                status: 0,
                by: e.to_string(),
            },
        }
    }
}

/// Runs the scenario: upstreams, proxy (admin endpoints on `admin`), and
/// the control plane's pushes, checking each step over HTTP.
pub async fn run(
    options: &Options,
    admin: tokio::net::TcpListener,
    render: Option<Render>,
) -> Result<Report, BoxError> {
    let say = |line: String| {
        if options.verbose {
            println!("{line}");
        }
    };
    let (blue, _) = upstream("blue").await?;
    let (green, green_failing) = upstream("green").await?;
    let dir = std::env::temp_dir().join(format!("palisade-sidecar-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file: PathBuf = dir.join("sidecar.toml");
    let mut desired = Desired {
        blue,
        green,
        open_for: options.pause + Duration::from_secs(1),
        blue_limit: 8,
        blue_drained: false,
        api_route: false,
        bad_threshold: false,
        bad_route: false,
    };
    desired.push(&file)?;

    let (events, mut pushed) = tokio::sync::mpsc::unbounded_channel();
    let (proxy, watcher) = Proxy::start(&file, move |event| {
        let _ = events.send(event.clone());
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let caller = Caller {
        http: reqwest::Client::new(),
        proxy: format!("http://{}/", listener.local_addr()?),
    };
    say(format!(
        "sidecar on {}, admin on http://{}/metrics, file {}",
        listener.local_addr()?,
        admin.local_addr()?,
        file.display()
    ));
    serve(&proxy, listener, admin, render);
    let breaker = |name: &str| {
        proxy
            .clients
            .pipeline(name)
            .ok()
            .and_then(|p| p.circuit_breaker().map(|b| b.state()))
    };
    let blue_limit = || {
        proxy
            .clients
            .pipeline("blue")
            .ok()
            .and_then(|p| p.bulkhead().map(|b| b.metrics().limit))
    };
    let mut report = Report::default();
    let mut check = |what: &str, held: bool, seen: String| {
        say(format!(
            "  {} {what}: {seen}",
            if held { "ok  " } else { "FAIL" }
        ));
        report.checks.push((what.to_owned(), held));
    };
    let slow = [("x-delay-ms", "300")];
    let three_slow = || futures::future::join_all((0..3).map(|_| caller.get("shop.local", &slow)));

    say("\n1. routes: on the host, and on a header".into());
    let a = caller.get("shop.local", &[]).await;
    check("shop.local goes to blue", a.by == "blue", format!("{a:?}"));
    let a = caller.get("shop.local", &[("x-version", "green")]).await;
    check(
        "x-version: green goes to green",
        a.by == "green",
        format!("{a:?}"),
    );
    let a = caller.get("api.local", &[]).await;
    check(
        "api.local has no route yet",
        a.status == 404,
        format!("{a:?}"),
    );
    let all = three_slow().await;
    check(
        "3 slow calls at once fit blue's 8 places",
        all.iter().all(|a| a.status == 200),
        format!("{:?}", all.iter().map(|a| a.status).collect::<Vec<_>>()),
    );
    tokio::time::sleep(options.pause).await;

    say("\n2. green fails: its breaker opens".into());
    green_failing.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(caller.get("shop.local", &[("x-version", "green")]).await.by);
    }
    check(
        "green's breaker opens and the proxy answers for it",
        breaker("green") == Some(BreakerState::Open)
            && answers.last().is_some_and(|b| b == "circuit-open"),
        format!("{:?}, answers {answers:?}", breaker("green")),
    );
    tokio::time::sleep(options.pause).await;

    say("\n3. push 1: blue's bulkhead 8 -> 1, route api.local -> blue".into());
    desired.blue_limit = 1;
    desired.api_route = true;
    desired.push(&file)?;
    let event = fate(&mut pushed).await;
    check(
        "push 1 applied",
        matches!(event, Some(ReloadEvent::Applied { .. })),
        format!("{event:?}"),
    );
    check(
        "green's breaker kept its state across the push",
        breaker("green") == Some(BreakerState::Open),
        format!("{:?}", breaker("green")),
    );
    let a = caller.get("api.local", &[]).await;
    check(
        "api.local now goes to blue",
        a.by == "blue",
        format!("{a:?}"),
    );
    let all = three_slow().await;
    let ok = all.iter().filter(|a| a.status == 200).count();
    let full = all.iter().filter(|a| a.by == "bulkhead-full").count();
    check(
        "3 slow calls at once: 1 through blue's 1 place, 2 refused",
        ok == 1 && full == 2,
        format!(
            "{:?}",
            all.iter()
                .map(|a| (a.status, a.by.as_str()))
                .collect::<Vec<_>>()
        ),
    );
    tokio::time::sleep(options.pause).await;

    say("\n4. two bad pushes: refused, reported, the last good settings kept".into());
    desired.bad_threshold = true;
    desired.push(&file)?;
    let event = fate(&mut pushed).await;
    check(
        "a failure rate of 1.5 is refused, naming its key",
        matches!(&event, Some(ReloadEvent::Rejected { error, .. })
            if error.contains("pipelines.defaults.circuit_breaker.failure_rate_threshold")),
        format!("{event:?}"),
    );
    desired.bad_threshold = false;
    desired.bad_route = true;
    desired.push(&file)?;
    let event = fate(&mut pushed).await;
    check(
        "a route to an unknown upstream is refused, naming it",
        matches!(&event, Some(ReloadEvent::Rejected { error, .. }) if error.contains("`purple`")),
        format!("{event:?}"),
    );
    let a = caller.get("api.local", &[]).await;
    check(
        "the last good settings stay in force",
        a.by == "blue" && blue_limit() == Some(1),
        format!("{a:?}, blue's limit {:?}", blue_limit()),
    );
    desired.bad_route = false;
    tokio::time::sleep(options.pause).await;

    say("\n5. green recovers; push 2 drains blue: shop.local fails over to green".into());
    green_failing.store(false, Ordering::SeqCst);
    // The breaker's open duration runs out; trial calls close it.
    tokio::time::sleep(desired.open_for + Duration::from_millis(100)).await;
    desired.blue_drained = true;
    desired.push(&file)?;
    let event = fate(&mut pushed).await;
    check(
        "push 2 applied",
        matches!(event, Some(ReloadEvent::Applied { .. })),
        format!("{event:?}"),
    );
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(caller.get("shop.local", &[]).await.by);
    }
    check(
        "blue drained: shop.local goes to green, whose breaker closed",
        answers.iter().all(|b| b == "green") && breaker("green") == Some(BreakerState::Closed),
        format!("{answers:?}, {:?}", breaker("green")),
    );
    tokio::time::sleep(options.pause).await;

    drop(watcher);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}
