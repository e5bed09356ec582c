//! Configuration files: pipelines with defaults merged field by field,
//! errors that name where a value was written and show it as written, and
//! settings that mean something alone.
#![cfg(feature = "serde")]

use std::time::Duration;

use futures::FutureExt;
use palisade::config::{check, Config};
use palisade::timer::ManualTimer;

const TOML: &str = r#"
[pipelines.defaults]
timeout = "2s"
attempt_timeout = "500ms"
retry = { max_attempts = 3, max_delay = "1s", budget = { ratio = 0.2, min_per_second = 5 } }
circuit_breaker = { failure_rate_threshold = 0.5, window = { count = 50 }, minimum_calls = 10 }
bulkhead = { max_concurrent = 32 }

[pipelines.pricing]
retry = { max_attempts = 2 }
circuit_breaker = { open_duration = "10s" }
fallback = true
"#;

const JSON: &str = r#"{
  "pipelines": {
    "defaults": {
      "timeout": "2s",
      "attempt_timeout": "500ms",
      "retry": { "max_attempts": 3, "max_delay": "1s", "budget": { "ratio": 0.2, "min_per_second": 5 } },
      "circuit_breaker": { "failure_rate_threshold": 0.5, "window": { "count": 50 }, "minimum_calls": 10 },
      "bulkhead": { "max_concurrent": 32 }
    },
    "pricing": {
      "retry": { "max_attempts": 2 },
      "circuit_breaker": { "open_duration": "10s" },
      "fallback": true
    }
  }
}"#;

fn toml(text: &str) -> Config {
    toml::from_str(text).unwrap()
}

/// An error `check` finds in `text` (TOML), as displayed.
fn error_in(text: &str) -> String {
    check(&toml(text)).unwrap_err().to_string()
}

#[test]
fn toml_and_json_describe_the_same_pipelines() {
    let (from_toml, from_json) = (toml(TOML), serde_json::from_str::<Config>(JSON).unwrap());
    for key in ["pricing", "inventory", "defaults"] {
        assert_eq!(from_toml.pipeline(key), from_json.pipeline(key), "{key}");
    }
    assert_eq!(from_toml.pipeline_keys().collect::<Vec<_>>(), ["pricing"]);
    check(&from_toml).unwrap();
}

#[test]
fn a_key_overrides_the_defaults_field_by_field() {
    let config = toml(TOML);
    let pricing = config.pipeline("pricing");
    let retry = pricing.retry.clone().unwrap();
    assert_eq!(retry.max_attempts, Some(2), "its own");
    assert_eq!(
        retry.max_delay,
        Some(Duration::from_secs(1)),
        "the defaults'"
    );
    assert_eq!(
        retry.budget.unwrap().ratio,
        Some(0.2),
        "the defaults' budget"
    );
    let breaker = pricing.circuit_breaker.clone().unwrap();
    assert_eq!(breaker.open_duration, Some(Duration::from_secs(10)));
    assert_eq!(breaker.failure_rate_threshold, Some(0.5));
    assert_eq!(pricing.timeout, Some(Duration::from_secs(2)));
    assert_eq!(pricing.fallback, Some(true));
    // A key the file does not name gets the defaults.
    assert_eq!(config.pipeline("inventory"), config.pipeline("defaults"));
    assert_eq!(config.pipeline("inventory").fallback, None);
}

#[test]
fn an_error_names_the_key_path_and_the_value_as_written() {
    let err = check(&toml(
        "[pipelines.defaults]\ntimeout = \"2s\"\n[pipelines.pricing]\ntimeout = \"100000h\"\n",
    ))
    .unwrap_err();
    assert_eq!(err.path(), Some("pipelines.pricing.timeout"));
    assert_eq!(err.value(), "100000h");
    assert_eq!(
        err.to_string(),
        "invalid `pipelines.pricing.timeout` = 100000h: \
         must be more than zero and at most MAX_DURATION (7 days)"
    );
    let err = check(&toml("[pipelines.pricing.retry]\nmax_attempts = 100000\n")).unwrap_err();
    assert_eq!(err.path(), Some("pipelines.pricing.retry.max_attempts"));
    assert_eq!(err.value(), "100000");
}

/// Before: `invalid max_concurrent = 0`, with no host named.
#[test]
fn a_bad_override_names_its_key_and_a_bad_default_names_defaults() {
    let text = "[pipelines.defaults.bulkhead]\nmax_concurrent = 8\n\
                [pipelines.search.bulkhead]\nmax_concurrent = 0\n";
    assert_eq!(
        error_in(text),
        "invalid `pipelines.search.bulkhead.max_concurrent` = 0: \
         must be at least 1 and at most MAX_CONCURRENT (2^30)"
    );
    // The value search inherits is wrong in the defaults: named there.
    let text = "[pipelines.defaults.circuit_breaker]\nminimum_calls = 0\n\
                [pipelines.search.circuit_breaker]\nfailure_rate_threshold = 0.3\n";
    assert!(error_in(text)
        .starts_with("invalid `pipelines.defaults.circuit_breaker.minimum_calls` = 0"));
    let text = "[pipelines.defaults.retry]\nbudget = { ratio = 2000.0 }\n";
    assert!(error_in(text).starts_with("invalid `pipelines.defaults.retry.budget.ratio` = 2000"));
}

/// Before: `window = { count = 0 }` was reported as `window_size`.
#[test]
fn a_window_error_names_the_window_key() {
    let text = "[circuit_breakers.payments]\nwindow = { count = 0 }\n";
    assert_eq!(
        error_in(text),
        "invalid `circuit_breakers.payments.window.count` = 0: must be at least 1"
    );
    let text =
        "[circuit_breakers.payments]\nwindow = { time = { duration = \"10s\", buckets = 0 } }\n";
    assert!(
        error_in(text).starts_with("invalid `circuit_breakers.payments.window.time.buckets` = 0")
    );
    let text = "[pipelines.orders.circuit_breaker]\nwindow = { hybrid = { size = 0, duration = \"1m\", buckets = 6 } }\n";
    assert!(error_in(text)
        .starts_with("invalid `pipelines.orders.circuit_breaker.window.hybrid.size` = 0"));
}

/// Before: `max_waiters = 10` without `max_wait` blamed `max_wait`, a
/// field nobody wrote.
#[test]
fn max_waiters_without_max_wait_is_refused_by_its_own_name() {
    let text = "[bulkheads.search]\nmax_concurrent = 4\nmax_waiters = 10\n";
    assert_eq!(
        error_in(text),
        "invalid `bulkheads.search.max_waiters` = 10: \
         needs `max_wait`, how long each caller may wait for a place"
    );
    let text = "[bulkheads.search]\nmax_waiters = 0\nmax_wait = \"1s\"\n";
    assert!(error_in(text).starts_with("invalid `bulkheads.search.max_wait` = 1s"));
}

/// Before: `max_wait` without `max_waiters` was silently dropped (the
/// bulkhead failed fast).
#[test]
fn max_wait_alone_makes_a_queue_as_deep_as_the_bulkhead_is_wide() {
    let config = toml("[bulkheads.search]\nmax_concurrent = 1\nmax_wait = \"250ms\"\n");
    check(&config).unwrap();
    let timer = ManualTimer::new();
    let bulkhead = config.bulkheads["search"]
        .builder("search")
        .unwrap()
        .timer(timer.clone())
        .build()
        .unwrap();
    let _held = bulkhead.try_acquire().unwrap();
    let mut waiting = Box::pin(bulkhead.acquire());
    assert!(
        waiting.as_mut().now_or_never().is_none(),
        "queued, not refused"
    );
    assert_eq!(bulkhead.metrics().waiting, 1);
    let mut second = Box::pin(bulkhead.acquire());
    assert!(
        second.as_mut().now_or_never().unwrap().is_err(),
        "the queue holds max_concurrent (1) waiters"
    );
}

/// Before: a pool of 0 threads passed `check`.
#[test]
fn check_refuses_a_thread_pool_of_no_threads() {
    assert_eq!(
        error_in("[thread_pools.legacy]\nthreads = 0\n"),
        "invalid `thread_pools.legacy.threads` = 0: must be at least 1 and at most MAX_THREADS (1024)"
    );
}

#[test]
fn a_budget_is_either_a_ratio_or_in_flight_and_says_which_field_is_astray() {
    check(&toml(
        "[retries.a]\nbudget = { in_flight = 0.5, min = 2 }\n",
    ))
    .unwrap();
    check(&toml(
        "[retries.a]\nbudget = { ratio = 0.1, ttl = \"30s\" }\n",
    ))
    .unwrap();
    assert!(
        error_in("[retries.a]\nbudget = { in_flight = 0.5, ttl = \"30s\" }\n")
            .starts_with("invalid `retries.a.budget.ttl` = 30s: belongs to a `ratio` budget")
    );
    assert!(error_in("[retries.a]\nbudget = { ratio = 0.5, min = 2 }\n")
        .starts_with("invalid `retries.a.budget.min` = 2"));
    assert!(error_in("[retries.a]\nbudget = {}\n").contains("needs `ratio`"));
    assert!(
        error_in("[retries.a]\nbudget = { ratio = 0.1, in_flight = 0.5 }\n").contains("not both")
    );
}

#[test]
fn a_typo_in_a_pipeline_is_an_error_naming_the_field() {
    let err = toml::from_str::<Config>("[pipelines.pricing]\ntimeout_ms = 100\n").unwrap_err();
    assert!(
        err.to_string().contains("unknown field `timeout_ms`"),
        "{err}"
    );
}

#[test]
fn a_key_may_take_an_adaptive_limit_in_the_defaults_bulkheads_place_but_not_both() {
    let config = toml(
        "[pipelines.defaults]\nbulkhead = { max_concurrent = 8 }\n\
         [pipelines.search]\nadaptive_limit = { algorithm = \"aimd\", initial_limit = 10, max_limit = 50 }\n",
    );
    check(&config).unwrap();
    let search = config.pipeline("search");
    assert_eq!(search.bulkhead, None, "replaced");
    assert_eq!(search.adaptive_limit.unwrap().initial_limit, Some(10));
    assert!(config.pipeline("other").bulkhead.is_some());

    let err = error_in(
        "[pipelines.search]\nbulkhead = { max_concurrent = 8 }\nadaptive_limit = { max_limit = 50 }\n",
    );
    assert!(
        err.starts_with("invalid `pipelines.search.adaptive_limit`"),
        "{err}"
    );
    let err = error_in("[pipelines.search]\nadaptive_limit = { min_limit = 0 }\n");
    assert!(
        err.starts_with("invalid `pipelines.search.adaptive_limit.min_limit` = 0"),
        "{err}"
    );
}

#[test]
fn the_abandoned_call_policy_is_written_by_name_or_with_its_share() {
    use palisade::circuit_breaker::Abandoned;
    let policy = |written: &str| {
        toml(&format!(
            "[pipelines.pricing.circuit_breaker]\nabandoned = {written}\n"
        ))
        .pipeline("pricing")
        .circuit_breaker
        .unwrap()
        .abandoned
        .unwrap()
    };
    assert_eq!(policy("\"ignore\""), Abandoned::Ignore);
    assert_eq!(policy("\"failure\""), Abandoned::Failure);
    assert_eq!(
        policy("{ failure_above = 0.5 }"),
        Abandoned::FailureAbove(0.5)
    );
    assert_eq!(
        error_in("[pipelines.pricing.circuit_breaker]\nabandoned = { failure_above = 1.5 }\n"),
        "invalid `pipelines.pricing.circuit_breaker.abandoned.failure_above` = 1.5: \
         must be in (0, 1]"
    );
    let typo =
        toml::from_str::<Config>("[pipelines.pricing.circuit_breaker]\nabandoned = \"fail\"\n")
            .unwrap_err()
            .to_string();
    assert!(typo.contains("unknown variant `fail`"), "{typo}");
}

#[test]
fn a_half_open_ramp_is_written_as_its_stages_and_a_bad_one_is_named() {
    let config = toml(
        "[pipelines.pricing.circuit_breaker]\n\
         half_open_ramp = [0.01, 0.1, 0.5]\nhalf_open_stage_duration = \"2s\"\n",
    );
    let breaker = config.pipeline("pricing").circuit_breaker.unwrap();
    assert_eq!(breaker.half_open_ramp, Some(vec![0.01, 0.1, 0.5]));
    let built = breaker.builder("pricing").build().unwrap().settings();
    let ramp = built.half_open_ramp.unwrap();
    assert_eq!(ramp.stages, [0.01, 0.1, 0.5]);
    assert_eq!(ramp.stage_duration, Some(Duration::from_secs(2)));
    assert_eq!(
        error_in("[pipelines.pricing.circuit_breaker]\nhalf_open_ramp = [0.1, 2.0]\n"),
        "invalid `pipelines.pricing.circuit_breaker.half_open_ramp` = [0.1, 2.0]: \
         every stage's share must be in (0, 1]"
    );
    assert!(error_in(
        "[pipelines.pricing.circuit_breaker]\nhalf_open_ramp = [0.1]\n\
         half_open_stage_duration = \"0s\"\n"
    )
    .starts_with("invalid `pipelines.pricing.circuit_breaker.half_open_stage_duration` = 0"));
}
