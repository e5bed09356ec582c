//! Behaviour tests of fallback: a value, a closure and an async closure,
//! for every error or the errors a predicate picks, and the tower form.

use futures::executor::block_on;
use palisade::bulkhead::Bulkhead;
use palisade::fallback::Fallback;
use palisade::Error;

#[test]
fn a_value_for_every_error() {
    let fallback = Fallback::value(0u32);
    assert_eq!(
        block_on(fallback.call(|| async { Err::<u32, _>("boom") })),
        Ok(0)
    );
    assert_eq!(
        block_on(fallback.call(|| async { Ok::<u32, &str>(7) })),
        Ok(7)
    );
}

#[test]
fn a_closure_given_the_error() {
    let fallback = Fallback::with(|e: &str| e.len());
    assert_eq!(block_on(fallback.call(|| async { Err("four") })), Ok(4));
}

#[test]
fn an_async_closure() {
    let fallback = Fallback::with_async(|e: String| async move { format!("cached after {e}") });
    assert_eq!(
        block_on(fallback.call(|| async { Err::<String, _>("timeout".to_string()) })),
        Ok("cached after timeout".to_string())
    );
}

/// Only rejections and timeouts get the fallback; the operation's own
/// errors pass through.
#[test]
fn by_predicate() {
    let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
    let fallback = Fallback::value("fallback")
        .when(|e: &Error<std::io::Error>| e.is_rejection() || e.is_timeout());
    let held = bulkhead.try_acquire().unwrap();
    let rejected = block_on(fallback.call(|| bulkhead.call(|| async { Ok("live") })));
    assert_eq!(rejected.unwrap(), "fallback");
    drop(held);
    let live = block_on(fallback.call(|| bulkhead.call(|| async { Ok("live") })));
    assert_eq!(live.unwrap(), "live");
    let failed = block_on(
        fallback.call(|| bulkhead.call(|| async { Err::<&str, _>(std::io::Error::other("boom")) })),
    );
    assert_eq!(failed.unwrap_err().operation().unwrap().to_string(), "boom");
}

#[cfg(feature = "tower")]
#[test]
fn as_a_tower_layer() {
    use palisade::fallback::FallbackLayer;
    use tower::{Layer, ServiceExt};

    let svc = FallbackLayer::new(
        Fallback::with_async(|e: std::io::Error| async move { format!("default ({e})") })
            .when(|e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut),
    )
    .layer(tower::service_fn(|kind: std::io::ErrorKind| async move {
        Err::<String, _>(std::io::Error::new(kind, "down"))
    }));
    assert_eq!(
        block_on(svc.clone().oneshot(std::io::ErrorKind::TimedOut)).unwrap(),
        "default (down)"
    );
    assert!(block_on(svc.oneshot(std::io::ErrorKind::Other)).is_err());
}
