//! With the `tracing` feature, transitions, rejections and retries are
//! `tracing` events (target `palisade`).
#![cfg(feature = "tracing")]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::retry::{Backoff, Retry};
use palisade::timer::ManualTimer;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Keeps every event's fields as `name=value` text.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "palisade" {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[test]
fn transitions_rejections_and_retries_are_events() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&seen)));
    tracing::subscriber::with_default(subscriber, || {
        let breaker = CircuitBreaker::builder().name("payments").build().unwrap();
        breaker.transition_to(State::ForcedOpen);
        let _ = breaker.call_sync(|| Ok::<_, ()>(()));
        let bulkhead = Bulkhead::builder()
            .name("pool")
            .max_concurrent(1)
            .build()
            .unwrap();
        let _held = bulkhead.try_acquire().unwrap();
        let _ = bulkhead.try_acquire();
        let retry = Retry::builder()
            .name("again")
            .max_attempts(2)
            .backoff(Backoff::constant(Duration::ZERO))
            .timer(ManualTimer::new())
            .build()
            .unwrap();
        let _ = futures::executor::block_on(retry.call(|| async { Err::<(), _>("x") }));
    });
    let seen = seen.lock().unwrap();
    let has = |needle: &[&str]| seen.iter().any(|e| needle.iter().all(|n| e.contains(n)));
    assert!(
        has(&[
            "breaker=\"payments\"",
            "to=ForcedOpen",
            "circuit breaker transition"
        ]),
        "{seen:?}"
    );
    assert!(
        has(&[
            "breaker=\"payments\"",
            "state=ForcedOpen",
            "rejected a call"
        ]),
        "{seen:?}"
    );
    assert!(has(&["bulkhead=\"pool\"", "reason=Full"]), "{seen:?}");
    assert!(
        has(&["retry=\"again\"", "attempt=1", "retrying"]),
        "{seen:?}"
    );
    assert!(
        has(&["retry=\"again\"", "reason=Attempts", "gave up"]),
        "{seen:?}"
    );
}
