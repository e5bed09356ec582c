//! The cascade demo, shortened (about 15 s of real time: real HTTP servers
//! and clients on 127.0.0.1), and its claims checked.

#[path = "../cascade.rs"]
#[allow(dead_code, unreachable_pub)]
mod cascade;

use std::time::Duration;

use cascade::{phase, Options, DEGRADED_P99, HEALTHY_P99};
use palisade::circuit_breaker::State;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cascade_happens_unprotected_and_is_prevented_protected() {
    let opts = Options {
        phase: Duration::from_secs(7),
        slow_at: Duration::from_secs(1),
        slow_for: Duration::from_secs(3),
        fail_for: Duration::from_secs(1),
        slow_response: Duration::from_millis(2500),
        rate: 30,
        workers: 12,
        open_for: Duration::from_secs(1),
        verbose: true,
        plot: None,
    };
    let unprotected = phase(&opts, false).await;
    let protected = phase(&opts, true).await;
    cascade::print_summary(&unprotected, &protected);
    // The picture draws (into the target directory).
    let svg = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cascade.svg");
    cascade::plot(&svg, &unprotected, &protected).unwrap();
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("p99 latency per route"));

    // Unprotected: the route that never touches B degrades.
    assert!(
        unprotected.worst_local_p99() > DEGRADED_P99 || unprotected.worst_local_success() < 0.9,
        "no cascade: {:?}",
        unprotected.local
    );
    // Protected: it stays healthy the whole time...
    assert!(
        protected.worst_local_p99() <= HEALTHY_P99,
        "{:?}",
        protected.local
    );
    assert!(
        protected.worst_local_success() >= 0.99,
        "{:?}",
        protected.local
    );
    // ...the B route answers (from the fallback) instead of hanging...
    assert!(protected.b_answered() >= 0.95, "{:?}", protected.b);
    assert!(protected.fallbacks() > 0);
    // ...and the breaker opens, probes, and closes once B recovers.
    let to: Vec<State> = protected.transitions.iter().map(|(_, _, to)| *to).collect();
    assert!(to.contains(&State::Open), "{to:?}");
    assert!(to.contains(&State::HalfOpen), "{to:?}");
    assert_eq!(to.last(), Some(&State::Closed), "closed at the end: {to:?}");
}
