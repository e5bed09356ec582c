//! Outbound clients in one call: real servers on 127.0.0.1 (one slow, one
//! failing), hyper-util and reqwest clients built with `ClientLayer` from
//! a TOML text. Hosts are isolated, `Retry-After` sets the retry's wait,
//! the fallback serves a final failure, and a configuration applied while
//! calls run keeps every guard's state.
#![cfg(feature = "client")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use palisade::client::{CallOptions, ClientLayer, Clients};
use palisade::config::Config;
use palisade::Error;
use tokio::sync::Notify;
use tower::{Layer, Service, ServiceExt};

const CONFIG: &str = r#"
[pipelines.defaults]
timeout = "5s"
retry = { max_attempts = 3, backoff = { constant = "1ms" }, max_hint = "40ms" }
circuit_breaker = { failure_rate_threshold = 0.5, window = { count = 10 }, minimum_calls = 4, open_duration = "1m" }
bulkhead = { max_concurrent = 8 }

[pipelines."127.0.0.1"]
bulkhead = { max_concurrent = 2 }
"#;

/// A server answering by path: `/hang` waits for `release`, `/fail` is a
/// 503 with `retry-after: 1`, `/flaky` fails its first request so, `/ok`
/// and anything else 200 with the path as body. Counts requests.
struct Server {
    addr: SocketAddr,
    served: Arc<AtomicU32>,
    release: Arc<Notify>,
}

impl Server {
    /// Waits (a millisecond at a time) until it has served `n` requests.
    async fn reached(&self, n: u32) {
        while self.served.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

async fn server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU32::new(0));
    let release = Arc::new(Notify::new());
    let (count, gate) = (Arc::clone(&served), Arc::clone(&release));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (count, gate) = (Arc::clone(&count), Arc::clone(&gate));
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let gate = Arc::clone(&gate);
                async move {
                    let path = req.uri().path().to_owned();
                    let mut res = Response::new(Full::new(Bytes::from(path.clone())));
                    match path.as_str() {
                        "/hang" => gate.notified().await,
                        "/fail" => *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE,
                        "/flaky" if n == 0 => *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE,
                        _ => {}
                    }
                    if res.status() == StatusCode::SERVICE_UNAVAILABLE {
                        res.headers_mut()
                            .insert("retry-after", "1".parse().unwrap());
                    }
                    Ok::<_, Infallible>(res)
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server {
        addr,
        served,
        release,
    }
}

fn config(text: &str) -> Config {
    toml::from_str(text).unwrap()
}

/// Clients from [`CONFIG`] and `extra` settings for `addr`'s host.
fn clients_for(
    addr: SocketAddr,
    extra: &str,
) -> palisade::client::ClientsBuilder<palisade::http::HttpFailures> {
    Clients::builder(config(&format!(
        "{CONFIG}\n[pipelines.\"127.0.0.1:{}\"]\n{extra}\n",
        addr.port()
    )))
}

/// The bulkhead limit of host `key`.
fn bulkhead_limit(clients: &Clients, key: &str) -> u32 {
    clients
        .pipeline(key)
        .unwrap()
        .bulkhead()
        .unwrap()
        .metrics()
        .limit
}

fn hyper_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The key of a server's host (`127.0.0.1:port`).
fn key(addr: SocketAddr) -> String {
    format!("127.0.0.1:{}", addr.port())
}

async fn text<B: http_body::Body>(response: Response<B>) -> String
where
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn each_host_gets_its_own_pipeline_made_from_its_entry_over_the_defaults() {
    let (a, b) = (server().await, server().await);
    let clients = clients_for(b.addr, "bulkhead = { max_concurrent = 5 }")
        .build()
        .unwrap();
    let mut client = ClientLayer::new(clients.clone()).layer(hyper_client());
    for (addr, path) in [(a.addr, "/ok"), (b.addr, "/ok")] {
        let response = client
            .ready()
            .await
            .unwrap()
            .call(get(addr, path))
            .await
            .unwrap();
        assert_eq!(text(response).await, "/ok");
    }
    let mut hosts = vec![key(a.addr), key(b.addr)];
    hosts.sort();
    assert_eq!(clients.hosts(), hosts);
    // a: the host entry "127.0.0.1"; b: its own "127.0.0.1:port".
    let limit = |addr| {
        clients
            .pipeline(&key(addr))
            .unwrap()
            .bulkhead()
            .unwrap()
            .metrics()
            .limit
    };
    assert_eq!((limit(a.addr), limit(b.addr)), (2, 5));
    let breaker = clients.pipeline(&key(a.addr)).unwrap();
    let breaker = breaker.circuit_breaker().unwrap();
    assert_eq!(breaker.settings().minimum_calls, 4, "from the defaults");
    assert_eq!(breaker.name(), key(a.addr));
}

#[tokio::test]
async fn a_failing_host_opens_its_own_breaker_and_a_slow_host_fills_its_own_bulkhead() {
    let (failing, slow) = (server().await, server().await);
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let client = ClientLayer::new(clients.clone()).layer(hyper_client());

    // A call of three failed attempts; the next call's first attempt is
    // the 4th failure (`minimum_calls`): the breaker opens and stops its
    // retries.
    let response = client
        .clone()
        .oneshot(get(failing.addr, "/fail"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    drop(response); // the last attempt is recorded when its body ends
    let err = client
        .clone()
        .oneshot(get(failing.addr, "/fail"))
        .await
        .unwrap_err();
    assert!(err.is_circuit_open(), "{err}");
    assert_eq!(
        failing.served.load(Ordering::SeqCst),
        4,
        "opened at the 4th failure"
    );
    let err = client
        .clone()
        .oneshot(get(failing.addr, "/ok"))
        .await
        .unwrap_err();
    assert!(err.is_circuit_open(), "{err}");
    assert_eq!(failing.served.load(Ordering::SeqCst), 4);

    // The slow host: two calls hang, the third is refused at once.
    let hung: Vec<_> = (0..2)
        .map(|_| tokio::spawn(client.clone().oneshot(get(slow.addr, "/hang"))))
        .collect();
    slow.reached(2).await;
    let err = client
        .clone()
        .oneshot(get(slow.addr, "/ok"))
        .await
        .unwrap_err();
    assert!(err.is_bulkhead_full(), "{err}");
    // Neither touched the other: the slow host's breaker is closed and saw
    // no failure.
    let slow_pipeline = clients.pipeline(&key(slow.addr)).unwrap();
    assert_eq!(
        slow_pipeline
            .circuit_breaker()
            .unwrap()
            .snapshot()
            .failures(),
        0
    );
    slow.release.notify_waiters();
    for call in hung {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
}

#[tokio::test]
async fn retry_after_sets_the_wait_and_a_post_is_not_retried() {
    let flaky = server().await;
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let client = ClientLayer::new(clients).layer(hyper_client());

    // `retry-after: 1`, capped by `max_hint = "40ms"`; the backoff is 1 ms.
    let started = Instant::now();
    let response = client
        .clone()
        .oneshot(get(flaky.addr, "/flaky"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(flaky.served.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "{:?}",
        started.elapsed()
    );

    let post = |path| {
        Request::post(format!("http://{}{path}", flaky.addr))
            .body(Full::new(Bytes::from("order")))
            .unwrap()
    };
    let response = client.clone().oneshot(post("/fail")).await.unwrap();
    assert_eq!(response.status(), 503, "a POST is sent once");
    assert_eq!(flaky.served.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_post_is_retried_when_the_host_says_so() {
    let failing = server().await;
    let clients = clients_for(failing.addr, "retry_non_idempotent = true")
        .build()
        .unwrap();
    let client = ClientLayer::new(clients).layer(hyper_client());
    let post = Request::post(format!("http://{}/fail", failing.addr))
        .body(Full::new(Bytes::from("order")))
        .unwrap();
    assert_eq!(client.oneshot(post).await.unwrap().status(), 503);
    assert_eq!(failing.served.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_fallback_answers_a_final_failure_unless_the_call_opts_out() {
    let failing = server().await;
    let clients = clients_for(
        failing.addr,
        "fallback = true\nretry = { max_attempts = 1 }",
    )
    .fallback(|failed| {
        let why = match failed.status() {
            Some(status) => status.to_string(),
            None => format!("{:?}", failed.kind()),
        };
        Some(Response::new(Bytes::from(format!("list price ({why})"))))
    })
    .build()
    .unwrap();
    let client = ClientLayer::new(clients).layer(hyper_client());

    let response = client
        .clone()
        .oneshot(get(failing.addr, "/fail"))
        .await
        .unwrap();
    assert!(response.body().is_fallback());
    assert_eq!(text(response).await, "list price (503 Service Unavailable)");

    let mut request = get(failing.addr, "/fail");
    request
        .extensions_mut()
        .insert(CallOptions::new().no_fallback());
    let response = client.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(!response.body().is_fallback());

    // A success is the dependency's answer.
    let response = client
        .clone()
        .oneshot(get(failing.addr, "/ok"))
        .await
        .unwrap();
    assert_eq!(text(response).await, "/ok");
}

#[tokio::test]
async fn a_call_may_carry_its_own_deadline() {
    let slow = server().await;
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let client = ClientLayer::new(clients).layer(hyper_client());
    let mut request = get(slow.addr, "/hang");
    request
        .extensions_mut()
        .insert(CallOptions::new().deadline(Duration::from_millis(30)));
    let started = Instant::now();
    let err = client.oneshot(request).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not the configured 5 s"
    );
}

/// reqwest as a tower service (its `Request` from `http::Request`), and
/// around `send()`.
#[tokio::test]
async fn reqwest_through_the_layer_and_around_send() {
    let flaky = server().await;
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let reqwest = reqwest::Client::new();
    let inner = tower::service_fn(move |req: Request<String>| {
        let client = reqwest.clone();
        async move {
            let response = client.execute(reqwest::Request::try_from(req)?).await?;
            Ok::<_, reqwest::Error>(http::Response::from(response))
        }
    });
    let client = ClientLayer::new(clients.clone()).layer(inner);
    let request = Request::get(format!("http://{}/flaky", flaky.addr))
        .body(String::new())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "retried once");
    assert_eq!(flaky.served.load(Ordering::SeqCst), 2);

    let client = reqwest::Client::new();
    let url = format!("http://{}/fail", flaky.addr);
    let uri: http::Uri = url.parse().unwrap();
    let response = clients
        .call(&http::Method::GET, &uri, None, move || {
            let send = client.get(&url).send();
            async move { send.await.map(http::Response::from) }
        })
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        503,
        "three attempts, the last one's answer"
    );
    assert_eq!(flaky.served.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_configuration_applied_while_calls_run_keeps_every_guards_state() {
    let (slow, failing) = (server().await, server().await);
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let client = ClientLayer::new(clients.clone()).layer(hyper_client());

    // Two calls hold the slow host's two places; one failure is recorded
    // on the failing host's breaker (one attempt: the call opts out of
    // retries).
    let hung: Vec<_> = (0..2)
        .map(|_| tokio::spawn(client.clone().oneshot(get(slow.addr, "/hang"))))
        .collect();
    slow.reached(2).await;
    let mut once = get(failing.addr, "/fail");
    once.extensions_mut().insert(CallOptions::new().no_retry());
    assert_eq!(client.clone().oneshot(once).await.unwrap().status(), 503);
    let slow_key = key(slow.addr);
    let breaker_before = clients.pipeline(&key(failing.addr)).unwrap();
    let breaker_before = breaker_before.circuit_breaker().unwrap().clone();

    // A broken configuration changes nothing, and says where it is wrong.
    let err = clients
        .apply(config(
            &CONFIG.replace("max_concurrent = 2", "max_concurrent = 0"),
        ))
        .unwrap_err();
    assert_eq!(
        err.path(),
        Some("pipelines.127.0.0.1.bulkhead.max_concurrent")
    );
    assert_eq!(bulkhead_limit(&clients, &slow_key), 2);

    // Three places now: a third call runs beside the two in flight.
    let three = CONFIG
        .replace("max_concurrent = 2", "max_concurrent = 3")
        .replace("minimum_calls = 4", "minimum_calls = 5");
    clients.apply(config(&three)).unwrap();
    let bulkhead = clients.pipeline(&slow_key).unwrap();
    let bulkhead = bulkhead.bulkhead().unwrap();
    assert_eq!(
        (bulkhead.metrics().limit, bulkhead.metrics().in_flight),
        (3, 2)
    );
    let third = tokio::spawn(client.clone().oneshot(get(slow.addr, "/hang")));
    slow.reached(3).await;
    // The breaker is the same, with its window: one failure, new settings.
    let after = clients.pipeline(&key(failing.addr)).unwrap();
    let breaker_after = after.circuit_breaker().unwrap();
    assert_eq!(breaker_after.snapshot().failures(), 1);
    assert_eq!(breaker_after.settings().minimum_calls, 5);
    assert_eq!(breaker_before.settings().minimum_calls, 5, "one instance");
    slow.release.notify_waiters();
    for call in hung.into_iter().chain([third]) {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(bulkhead.metrics().in_flight, 0);

    // The "127.0.0.1" entry removed: the host takes the defaults.
    let without = CONFIG.split("[pipelines.\"127.0.0.1\"]").next().unwrap();
    clients.apply(config(without)).unwrap();
    assert_eq!(bulkhead_limit(&clients, &slow_key), 8);
}

#[tokio::test(start_paused = true)]
async fn a_host_left_idle_leaves_the_registry() {
    let clients = Clients::builder(config(CONFIG))
        .idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    clients.pipeline("a:80").unwrap();
    tokio::time::advance(Duration::from_secs(61)).await;
    clients.pipeline("b:80").unwrap();
    assert_eq!(clients.hosts(), ["b:80"]);
}

#[test]
fn a_bad_configuration_is_refused_before_any_call_naming_where() {
    let err = Clients::builder(config("[pipelines.pricing.retry]\nmax_attempts = 0\n"))
        .build()
        .unwrap_err();
    assert_eq!(err.path(), Some("pipelines.pricing.retry.max_attempts"));
    let _: &dyn std::error::Error = &Error::<std::io::Error>::Misconfigured(err);
    // A fallback asked for, and none to serve: refused, not ignored.
    let err = Clients::builder(config("[pipelines.pricing]\nfallback = true\n"))
        .build()
        .unwrap_err();
    assert_eq!(err.path(), Some("pipelines.pricing.fallback"));
}

#[cfg(feature = "reload")]
#[tokio::test]
async fn a_file_changed_on_disk_is_applied_and_a_broken_one_is_reported_once() {
    use palisade::client::ReloadEvent;

    let dir = std::env::temp_dir().join(format!("palisade-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("palisade.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let key = "127.0.0.1:9";
    assert_eq!(
        clients
            .pipeline(key)
            .unwrap()
            .bulkhead()
            .unwrap()
            .metrics()
            .limit,
        2
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let watcher = clients
        .watch(
            &path,
            |text: &str| toml::from_str::<Config>(text),
            move |event| {
                let _ = tx.send(event.clone());
            },
        )
        .unwrap();
    let next = || rx.recv_timeout(Duration::from_secs(10)).expect("an event");

    std::fs::write(
        &path,
        CONFIG.replace("max_concurrent = 2", "max_concurrent = 6"),
    )
    .unwrap();
    assert!(matches!(next(), ReloadEvent::Applied { .. }));
    assert_eq!(
        clients
            .pipeline(key)
            .unwrap()
            .bulkhead()
            .unwrap()
            .metrics()
            .limit,
        6
    );

    std::fs::write(&path, "[pipelines.defaults]\ntimeout = \"soon\"\n").unwrap();
    let ReloadEvent::Rejected { error, .. } = next() else {
        panic!("a broken file is rejected")
    };
    assert!(error.contains("invalid duration \"soon\""), "{error}");
    // Reported once: reading the file (its own access events) or another
    // file of the directory changing does not reject the same text again.
    std::fs::write(dir.join("other.txt"), "unrelated").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        rx.try_recv().ok(),
        None,
        "the same broken file, reported again"
    );
    assert_eq!(
        clients
            .pipeline(key)
            .unwrap()
            .bulkhead()
            .unwrap()
            .metrics()
            .limit,
        6
    );
    drop(watcher);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each attempt is a `palisade.attempt` span with the host key, the
/// attempt number and the outcome.
#[cfg(feature = "tracing")]
#[tokio::test]
async fn each_attempt_is_a_span_with_the_host_the_number_and_the_outcome() {
    use std::fmt::Write as _;
    use std::sync::Mutex;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    struct Fields(String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
    }
    /// Keeps each `palisade.attempt` span's fields, as recorded, as text.
    struct Spans(Arc<Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::Id,
            _: Context<'_, S>,
        ) {
            if attrs.metadata().name() == "palisade.attempt" {
                let mut fields = Fields(String::new());
                attrs.record(&mut fields);
                self.0.lock().unwrap().push(fields.0);
            }
        }
        fn on_record(
            &self,
            _: &tracing::Id,
            values: &tracing::span::Record<'_>,
            _: Context<'_, S>,
        ) {
            let mut fields = Fields(String::new());
            values.record(&mut fields);
            if let Some(last) = self.0.lock().unwrap().last_mut() {
                last.push_str(&fields.0);
            }
        }
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(Spans(Arc::clone(&seen))),
    );
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let uri: http::Uri = "http://pricing:8080/tea".parse().unwrap();
    let response = clients
        .call(&http::Method::GET, &uri, None, move || {
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                let status = if n == 0 { 503 } else { 200 };
                let response = Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::new()));
                Ok::<_, std::io::Error>(response.unwrap())
            }
        })
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "pipeline.instance=pricing:8080 attempt.number=0 http.response.status_code=503 ",
            "pipeline.instance=pricing:8080 attempt.number=1 http.response.status_code=200 ",
        ]
    );
}

/// A body that cannot be copied (a stream, a tonic channel's): the layer
/// sends it once, under the host the layer names.
#[tokio::test]
async fn a_body_that_cannot_be_copied_is_sent_once_under_a_named_host() {
    use http_body_util::combinators::BoxBody;

    let flaky = server().await;
    let clients = Clients::builder(config(CONFIG)).build().unwrap();
    let hyper: Client<HttpConnector, BoxBody<Bytes, Infallible>> =
        Client::builder(TokioExecutor::new()).build_http();
    let client = ClientLayer::new(clients.clone())
        .host("inventory")
        .send_once()
        .layer(hyper);
    let request = Request::get(format!("http://{}/flaky", flaky.addr))
        .body(Full::new(Bytes::from("stock?")).boxed())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503, "not retried");
    assert_eq!(flaky.served.load(Ordering::SeqCst), 1);
    assert_eq!(clients.hosts(), ["inventory"]);
}

/// A host may let a failed response's `Retry-After` hold its breaker open
/// longer than its open duration (here 100 ms; the hint says 1 s).
#[tokio::test]
async fn a_retry_after_holds_the_hosts_breaker_open_when_configured() {
    let failing = server().await;
    let settings = "retry = { max_attempts = 1 }\n\
                    circuit_breaker = { open_duration = \"100ms\", minimum_calls = 1 }";
    let held = clients_for(
        failing.addr,
        &format!("{settings}\nhold_open_on_hint = \"20s\""),
    );
    let not_held = clients_for(failing.addr, settings);
    for (clients, longer) in [(held, true), (not_held, false)] {
        let client = ClientLayer::new(clients.build().unwrap()).layer(hyper_client());
        let response = client
            .clone()
            .oneshot(get(failing.addr, "/fail"))
            .await
            .unwrap();
        drop(response); // recorded at its body's end: the breaker opens
        let Err(Error::CircuitOpen(open)) = client.oneshot(get(failing.addr, "/ok")).await else {
            panic!("the breaker is open")
        };
        let wait = open.retry_after().unwrap();
        assert_eq!(wait > Duration::from_millis(500), longer, "{wait:?}");
    }
}

/// A host configured with an adaptive limit: its calls hold places in
/// it until their bodies end, and a new configuration moves its bounds
/// without replacing it.
#[tokio::test]
async fn a_host_may_have_an_adaptive_limit_reconfigured_in_place() {
    let ok = server().await;
    let settings = "adaptive_limit = { initial_limit = 10, max_limit = 40 }";
    let clients = clients_for(ok.addr, settings).build().unwrap();
    let client = ClientLayer::new(clients.clone()).layer(hyper_client());
    let response = client.clone().oneshot(get(ok.addr, "/ok")).await.unwrap();
    let pipeline = clients.pipeline(&key(ok.addr)).unwrap();
    assert!(
        pipeline.bulkhead().is_none(),
        "the adaptive limit replaced it"
    );
    let adaptive = pipeline.adaptive_limit().unwrap().clone();
    assert_eq!(
        (adaptive.limit(), adaptive.in_flight()),
        (10, 1),
        "held by the body"
    );
    assert_eq!(text(response).await, "/ok");
    assert_eq!(adaptive.in_flight(), 0);

    let text = format!(
        "{CONFIG}\n[pipelines.\"127.0.0.1:{}\"]\nadaptive_limit = {{ initial_limit = 4, max_limit = 5, min_limit = 2 }}\n",
        ok.addr.port()
    );
    clients.apply(config(&text)).unwrap();
    let after = clients.pipeline(&key(ok.addr)).unwrap();
    let after = after.adaptive_limit().unwrap();
    assert_eq!(after.bounds(), (2, 5));
    assert_eq!(adaptive.bounds(), (2, 5), "the same instance");
    assert_eq!(after.limit(), 5, "brought within the new ceiling");
}
