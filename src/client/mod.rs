//! Outbound clients in one call: a pipeline per downstream host, made
//! from configuration on first use, picked by each request's authority,
//! reconfigured live (feature `client`).
//!
//! [`Clients`] holds one [`HostPipeline`] per host (`host:port`), in a
//! bounded [`Registry`]: the first request to a host makes its pipeline
//! from [`Config::pipeline`] (the configuration's entry for `host:port`,
//! else for `host`, else `pipelines.defaults`, each merged over
//! `defaults` field by field). [`ClientLayer`] puts it under any tower
//! HTTP client (hyper-util's `Client`, a tonic `Channel`, reqwest through a
//! `service_fn`); [`Clients::call`] wraps a future such as reqwest's
//! `send()`. The HTTP and gRPC presets judge and retry
//! ([`HttpFailures`], the default, or [`GrpcFailures`]): a 503 or
//! `UNAVAILABLE` is a failure, `Retry-After` and `grpc-retry-pushback-ms`
//! set the retry's wait, and every guard holds what it holds until the
//! response body ends (see [`palisade::http`](crate::http)).
//!
//! What is retried: a request is sent again only if its method is
//! idempotent (`GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT`, `DELETE`), unless
//! the host's configuration says `retry_non_idempotent = true`, and only
//! if it can be sent again: by default the layer re-sends a clone of the
//! request ([`CloneRequest`]: its body must be `Clone`, as `String`,
//! `Bytes` or `http_body_util::Full` are); a body that cannot be copied (a
//! stream, a tonic channel's) is sent once with
//! [`ClientLayer::send_once`], every other guard applying, or rebuilt for
//! each attempt by a closure through [`Clients::call`]. A tonic channel's
//! requests carry no authority (the channel adds it): name their host with
//! [`ClientLayer::host`] (`examples/grpc.rs` does both).
//!
//! One request may carry [`CallOptions`] in its extensions: its own
//! deadline, or guards it skips, without another pipeline.
//!
//! [`Clients::apply`] applies a new [`Config`] to the running hosts and
//! keeps their state: breaker windows and states, bulkhead places held and
//! queued, retry budgets; timeouts and retries switch for calls that start
//! after the change. With feature `reload`, [`Clients::watch`] applies a
//! file whenever it changes: how a Kubernetes ConfigMap, a Consul template
//! or any control plane that writes a file reaches every instance of a
//! fleet.
//!
//! # Examples
//!
//! ```
//! use palisade::client::{ClientLayer, Clients};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = serde_json::from_str(r#"{ "pipelines": {
//!     "defaults": { "timeout": "2s", "retry": { "max_attempts": 3 }, "circuit_breaker": {} },
//!     "pricing": { "bulkhead": { "max_concurrent": 8 } }
//! } }"#)?;
//! let clients = Clients::builder(config).build()?;
//! let client = ServiceBuilder::new()
//!     .layer(ClientLayer::new(clients.clone()))
//!     .service(service_fn(|req: http::Request<String>| async move {
//!         // Here the real client (hyper-util, tonic, reqwest).
//!         let body = http_body_util::Full::new(bytes::Bytes::from(format!("price of {}", req.uri().path())));
//!         Ok::<_, std::io::Error>(http::Response::new(body))
//!     }));
//! let response = client.oneshot(http::Request::get("http://pricing/tea").body(String::new())?).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(clients.hosts(), ["pricing:80"]);
//! # Ok(())
//! # }
//! ```

mod host;
mod limit;
#[cfg(feature = "reload")]
mod reload;
mod service;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Uri};
use parking_lot::RwLock;

use crate::config::{check, Config};
use crate::config_error::ConfigError;
use crate::http::{GrpcFailures, HttpFailures};
use crate::registry::Registry;

pub use host::HostPipeline;
pub use limit::HostLimit;
#[cfg(feature = "reload")]
pub use reload::{ConfigWatcher, ReloadEvent};
pub use service::{
    CallOptions, ClientBody, ClientFuture, ClientLayer, ClientService, CloneRequest, Failed,
    FallbackFn, Resend, SendOnce,
};

use host::Host;

/// Guards a call may skip (see [`CallOptions`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Skip {
    pub(crate) retry: bool,
    pub(crate) circuit_breaker: bool,
    pub(crate) limit: bool,
    pub(crate) timeouts: bool,
}

impl Skip {
    pub(crate) const RETRY: Self = Self {
        retry: true,
        circuit_breaker: false,
        limit: false,
        timeouts: false,
    };
}

/// Per-host pipelines from configuration, made on first use, reconfigured
/// live. Cheap to clone: clones share the hosts. See the
/// [module docs](self).
pub struct Clients<K = HttpFailures> {
    shared: Arc<Shared<K>>,
}

struct Shared<K> {
    /// The configuration in force and its generation (counting `apply`s).
    config: Arc<RwLock<(u64, Arc<Config>)>>,
    hosts: Registry<Arc<Host<K>>>,
    classifier: K,
    fallback: Option<Arc<FallbackFn>>,
}

impl<K> Clone for Clients<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K> fmt::Debug for Clients<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clients")
            .field("hosts", &self.shared.hosts)
            .finish_non_exhaustive()
    }
}

/// Builds [`Clients`].
#[must_use]
pub struct ClientsBuilder<K> {
    config: Config,
    classifier: K,
    max_hosts: usize,
    idle_timeout: Option<Duration>,
    fallback: Option<Arc<FallbackFn>>,
}

impl<K> fmt::Debug for ClientsBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientsBuilder")
            .field("max_hosts", &self.max_hosts)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl Clients<HttpFailures> {
    /// A builder of HTTP clients configured by `config` (its `pipelines`).
    pub fn builder(config: Config) -> ClientsBuilder<HttpFailures> {
        ClientsBuilder {
            config,
            classifier: HttpFailures::new(),
            max_hosts: 1024,
            idle_timeout: None,
            fallback: None,
        }
    }
}

impl<K> ClientsBuilder<K> {
    /// Judge and retry with `classifier` rather than [`HttpFailures`].
    pub fn classifier<J>(self, classifier: J) -> ClientsBuilder<J> {
        ClientsBuilder {
            config: self.config,
            classifier,
            max_hosts: self.max_hosts,
            idle_timeout: self.idle_timeout,
            fallback: self.fallback,
        }
    }

    /// gRPC: judge and retry with [`GrpcFailures`].
    pub fn grpc(self) -> ClientsBuilder<GrpcFailures> {
        self.classifier(GrpcFailures::new())
    }

    /// The most hosts held at once (default 1024); when full, the least
    /// recently used host's pipeline makes room.
    pub fn max_hosts(mut self, max: usize) -> Self {
        self.max_hosts = max;
        self
    }

    /// Forget a host's pipeline when it has not been used for this long
    /// (checked when a new host's pipeline is made). Default: only for room.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// What a host whose configuration says `fallback = true` answers when
    /// its call fails (an error, or a final failure response such as a
    /// 503 after the retries): `handler` gets what failed and returns the
    /// response to serve, or `None` to let the failure through.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::client::Clients;
    ///
    /// let config = serde_json::from_str(r#"{ "pipelines": { "pricing": { "fallback": true } } }"#).unwrap();
    /// let clients = Clients::builder(config)
    ///     .fallback(|failed| {
    ///         (failed.key().starts_with("pricing:")).then(|| http::Response::new(bytes::Bytes::from("list price")))
    ///     })
    ///     .build()?;
    /// # let _ = clients;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn fallback(
        mut self,
        handler: impl Fn(&Failed<'_>) -> Option<http::Response<bytes::Bytes>> + Send + Sync + 'static,
    ) -> Self {
        self.fallback = Some(Arc::new(handler));
        self
    }
}

impl<K: Clone + Send + Sync + 'static> ClientsBuilder<K> {
    /// Checks the whole configuration ([`check`]) and builds the clients
    /// (no host's pipeline is made before its first call).
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] of the configuration, naming its key path
    /// (a `fallback = true` with no [`fallback`](Self::fallback) handler
    /// is one), or one naming `max_entries` or `idle_timeout`.
    pub fn build(self) -> Result<Clients<K>, ConfigError> {
        check_for_clients(&self.config, self.fallback.is_some())?;
        let config = Arc::new(RwLock::new((0, Arc::new(self.config))));
        let classifier = self.classifier.clone();
        let source = Arc::clone(&config);
        let mut hosts = Registry::builder(move |key: &str| {
            let (generation, config) = source.read().clone();
            let from = config_key(&config, key);
            Host::new(key, from, generation, &config.pipeline(from), &classifier).map(Arc::new)
        })
        .max_entries(self.max_hosts);
        if let Some(idle) = self.idle_timeout {
            hosts = hosts.idle_timeout(idle);
        }
        #[cfg(feature = "tokio")]
        let hosts = hosts.clock(crate::clock::TokioClock::new());
        Ok(Clients {
            shared: Arc::new(Shared {
                config,
                hosts: hosts.build()?,
                classifier: self.classifier,
                fallback: self.fallback,
            }),
        })
    }
}

/// [`check`], and a `fallback = true` with no handler to serve it is
/// refused by its key path rather than ignored.
fn check_for_clients(config: &Config, has_fallback: bool) -> Result<(), ConfigError> {
    check(config)?;
    if has_fallback {
        return Ok(());
    }
    match config.pipelines.iter().find(|(_, c)| c.fallback == Some(true)) {
        Some((key, _)) => Err(ConfigError::new(
            "fallback",
            true,
            "is set but the clients have no fallback handler: give one with `ClientsBuilder::fallback`",
        )
        .at(format!("pipelines.{key}.fallback"), None)),
        None => Ok(()),
    }
}

/// The configuration key whose settings `key` (`host:port`) takes: `key`
/// itself, else its host, else `defaults`.
fn config_key<'a>(config: &Config, key: &'a str) -> &'a str {
    if config.pipelines.contains_key(key) {
        return key;
    }
    let host = key.rsplit_once(':').map_or(key, |(host, _)| host);
    if !host.is_empty() && config.pipelines.contains_key(host) {
        return host;
    }
    Config::DEFAULTS
}

/// The registry key of a request to `uri`: `host:port` (lower-case; the
/// port from the scheme when the URI has none: 80 for `http`, 443 for
/// `https`), or `""` for a URI without a host, which takes the defaults.
///
/// # Examples
///
/// ```
/// use palisade::client::key_of;
///
/// assert_eq!(key_of(&"http://Pricing.internal/tea".parse().unwrap()), "pricing.internal:80");
/// assert_eq!(key_of(&"https://pricing:8443/".parse().unwrap()), "pricing:8443");
/// assert_eq!(key_of(&"/relative".parse().unwrap()), "");
/// ```
pub fn key_of(uri: &Uri) -> String {
    let Some(host) = uri.host() else {
        return String::new();
    };
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") | Some("grpcs") => 443,
        _ => 80,
    });
    format!("{}:{port}", host.to_ascii_lowercase())
}

/// True for the methods HTTP calls idempotent (RFC 9110, 9.2.2).
pub(crate) fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

impl<K: Clone + Send + Sync + 'static> Clients<K> {
    /// The host `key`'s guards, made now if it has none.
    pub(crate) fn host(&self, key: &str) -> Result<Arc<Host<K>>, ConfigError> {
        self.shared.hosts.get(key)
    }

    /// The keys of the hosts held now, sorted.
    pub fn hosts(&self) -> Vec<String> {
        self.shared
            .hosts
            .entries()
            .into_iter()
            .map(|(key, _)| key.to_string())
            .collect()
    }

    /// The pipeline a call to host `key` (`host:port`, see [`key_of`])
    /// starting now runs through, made now if the host has none: its
    /// breaker, bulkhead and retry, for metrics and admin endpoints.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of the host's configuration (none once
    /// [`build`](ClientsBuilder::build) and [`apply`](Self::apply) have
    /// checked it).
    pub fn pipeline(&self, key: &str) -> Result<Arc<HostPipeline<K>>, ConfigError> {
        let host = self.host(key)?;
        Ok(Arc::clone(&self.current(&host)?.pipeline))
    }

    /// Publishes every host's breaker and limit counts to the `metrics`
    /// recorder (feature `metrics`; the gauges and counters an instance's
    /// `metrics()` publishes): call it before a scrape, as a Prometheus
    /// exporter's handler does, rather than each instance's.
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        for (_, host) in self.shared.hosts.entries() {
            let current = host.current();
            if let Some(breaker) = current.pipeline.circuit_breaker() {
                let _ = breaker.metrics();
            }
            if let Some(bulkhead) = current.pipeline.bulkhead() {
                let _ = bulkhead.metrics();
            }
            if let Some(adaptive) = current.pipeline.adaptive_limit() {
                let _ = adaptive.metrics();
            }
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.shared.config.read().1)
    }

    /// What a call to `host` starting now runs through: brought up to the
    /// configuration in force first if an `apply` ran since the host took
    /// its settings (a host made while `apply` ran may have read the
    /// configuration it replaced).
    pub(crate) fn current(&self, host: &Host<K>) -> Result<Arc<host::Current<K>>, ConfigError> {
        let current = host.current();
        let (generation, config) = {
            let config = self.shared.config.read();
            if config.0 == current.generation {
                return Ok(current);
            }
            config.clone()
        };
        self.refresh(host, generation, &config)?;
        Ok(host.current())
    }

    /// Brings `host` to `config`, of `generation`.
    fn refresh(&self, host: &Host<K>, generation: u64, config: &Config) -> Result<(), ConfigError> {
        let from = config_key(config, host.key());
        host.update(
            from,
            generation,
            &config.pipeline(from),
            &self.shared.classifier,
        )
    }

    /// Applies `config` to every host: checked as a whole first, so a bad
    /// configuration changes nothing. Each host held now takes its new
    /// settings in place (its breaker's window and state, its bulkhead's
    /// places and queue, its retry budget are kept; see below), and calls
    /// that start from now on run with the new timeouts and retries; calls
    /// in flight finish as they started. A host whose entry left the
    /// configuration takes the defaults, and leaves the registry when
    /// idle (with [`idle_timeout`](ClientsBuilder::idle_timeout)).
    ///
    /// A breaker whose window's shape changes (`count` to `time`, another
    /// size), a bulkhead whose queue settings change, or an adaptive limit
    /// whose algorithm or window changes, is replaced: its state cannot
    /// carry over. An adaptive limit otherwise keeps the limit it reached,
    /// brought within its new bounds.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] of `config`, naming its key path (as
    /// [`build`](ClientsBuilder::build) finds them).
    pub fn apply(&self, config: Config) -> Result<(), ConfigError> {
        check_for_clients(&config, self.shared.fallback.is_some())?;
        let config = Arc::new(config);
        // Hosts made after this line read the new configuration; a host
        // made before with the old one catches up on its next call.
        let generation = {
            let mut slot = self.shared.config.write();
            *slot = (slot.0 + 1, Arc::clone(&config));
            slot.0
        };
        for (_, host) in self.shared.hosts.entries() {
            self.refresh(&host, generation, &config)?;
        }
        Ok(())
    }
}
