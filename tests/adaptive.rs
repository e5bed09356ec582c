//! The adaptive concurrency limit against a simulated dependency: a
//! queueing model with `capacity` servers and a 10 ms service time. Up to
//! `capacity` calls in flight each take the service time; past it they
//! share the servers, so each takes `service × in_flight / capacity`
//! (Little's law at saturation). Every step, as many of 500 waiting
//! callers as the limit lets in start at once, and each completes after
//! its latency (±10 % seeded jitter) on a manual clock. Run with
//! `--nocapture` to see the limit's trajectory.

use std::future::Future;
use std::time::Duration;

use palisade::adaptive::{AdaptiveLimit, Aimd, Algorithm};
use palisade::clock::{Clock, ManualClock};
use palisade::pipeline::Pipeline;
use palisade::timer::ManualTimer;

const SERVICE_MICROS: f64 = 10_000.0;
const DEMAND: usize = 500;

/// The dependency and its clock, with a seeded jitter source.
struct Dependency {
    capacity: f64,
    clock: ManualClock,
    seed: u64,
    /// Latencies over this are timeouts (drops); `None`: no timeout.
    timeout_micros: Option<f64>,
}

impl Dependency {
    fn new(capacity: u32, clock: &ManualClock) -> Self {
        Self {
            capacity: f64::from(capacity),
            clock: clock.clone(),
            seed: 0x5EED,
            timeout_micros: None,
        }
    }

    /// A uniform draw in [0, 1) (SplitMix64).
    fn draw(&mut self) -> f64 {
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }

    /// One step: callers take places up to the limit, then each completes
    /// (or times out) after its latency. Returns the limit after the step.
    fn step(&mut self, limit: &AdaptiveLimit) -> u32 {
        let mut permits = Vec::new();
        while permits.len() < DEMAND {
            match limit.try_acquire() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let n = permits.len() as f64;
        let base = SERVICE_MICROS * (n / self.capacity).max(1.0);
        let mut ends: Vec<(f64, _)> = permits
            .into_iter()
            .map(|p| (base * (0.9 + 0.2 * self.draw()), p))
            .collect();
        ends.sort_by(|a, b| a.0.total_cmp(&b.0));
        let start = self.clock.now_nanos();
        for (micros, permit) in ends {
            let dropped = self.timeout_micros.is_some_and(|t| micros > t);
            let micros = self.timeout_micros.map_or(micros, |t| micros.min(t));
            self.clock.set_nanos(start + (micros * 1000.0) as u64);
            if dropped {
                permit.dropped();
            } else {
                permit.success();
            }
        }
        limit.limit()
    }

    /// `steps` steps; the limits after each, but for the steps that end
    /// probing the baseline at half the limit (at most one step in five).
    fn run(&mut self, limit: &AdaptiveLimit, steps: usize) -> Vec<u32> {
        let mut probing = 0;
        let limits: Vec<u32> = (0..steps)
            .filter_map(|_| {
                let l = self.step(limit);
                let probe = limit.metrics().probing;
                probing += usize::from(probe);
                (!probe).then_some(l)
            })
            .collect();
        assert!(probing * 5 <= steps, "{probing} of {steps} steps probing");
        limits
    }
}

fn within(limit: u32, target: u32, tolerance: f64) -> bool {
    (f64::from(limit) - f64::from(target)).abs() <= f64::from(target) * tolerance
}

/// Runs `steps` steps and checks that the limit gets within 25 % of
/// `capacity` in at most `within_steps` steps and stays there.
fn settles(
    dep: &mut Dependency,
    limit: &AdaptiveLimit,
    (label, steps): (&str, usize),
    capacity: u32,
    within_steps: usize,
) {
    let trajectory = dep.run(limit, steps);
    show(label, &trajectory);
    let first = trajectory
        .iter()
        .position(|&l| within(l, capacity, 0.25))
        .unwrap_or_else(|| panic!("{label}: never within 25 %: {trajectory:?}"));
    assert!(first <= within_steps, "{label}: only after {first} steps");
    assert!(
        trajectory[first..]
            .iter()
            .all(|&l| within(l, capacity, 0.25)),
        "{label}: left the band: {trajectory:?}"
    );
}

fn show(label: &str, trajectory: &[u32]) {
    let every: Vec<String> = trajectory.iter().step_by(5).map(u32::to_string).collect();
    println!("{label}: {}", every.join(" "));
}

#[test]
fn the_gradient_limit_finds_the_knee_follows_it_down_and_back_up() {
    let clock = ManualClock::new();
    let limit = AdaptiveLimit::builder()
        .name("dep")
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut dep = Dependency::new(50, &clock);

    // From 20, the limit climbs to the knee (50) and settles there.
    settles(&mut dep, &limit, ("capacity 50", 150), 50, 80);
    // The dependency loses half its capacity: the limit follows it down.
    dep.capacity = 25.0;
    settles(&mut dep, &limit, ("capacity 25", 100), 25, 40);
    // It comes back: so does the limit (the baseline was never lost).
    dep.capacity = 50.0;
    settles(&mut dep, &limit, ("capacity 50 again", 150), 50, 80);
}

#[test]
fn under_sustained_overload_the_gradient_limit_does_not_creep_up() {
    let clock = ManualClock::new();
    let limit = AdaptiveLimit::builder()
        .clock(clock.clone())
        .initial_limit(200)
        .build()
        .unwrap();
    let mut dep = Dependency::new(40, &clock);
    // 500 callers for 2000 steps: ten times the dependency's capacity.
    let trajectory = dep.run(&limit, 2000);
    show("overload, capacity 40", &trajectory[..200]);
    let late = &trajectory[200..];
    let max = *late.iter().max().unwrap();
    assert!(within(max, 40, 0.25), "crept up to {max}");
    let tail_mean = late.iter().map(|&l| f64::from(l)).sum::<f64>() / late.len() as f64;
    assert!((tail_mean - 40.0).abs() <= 10.0, "mean {tail_mean}");
}

#[test]
fn after_a_long_incident_the_baseline_recovers() {
    let clock = ManualClock::new();
    let limit = AdaptiveLimit::builder()
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut dep = Dependency::new(50, &clock);
    dep.run(&limit, 150);
    // A long incident: the dependency is slow for any load (its service
    // time triples: modelled as a third of the capacity and a longer floor).
    dep.capacity = 10.0;
    dep.run(&limit, 600);
    assert!(within(limit.limit(), 10, 0.3), "{}", limit.limit());
    dep.capacity = 50.0;
    let back = dep.run(&limit, 200);
    show("after the incident", &back);
    assert!(within(*back.last().unwrap(), 50, 0.25), "{back:?}");
}

#[test]
fn the_aimd_limit_backs_off_at_timeouts_and_stays_bounded() {
    let clock = ManualClock::new();
    let limit = AdaptiveLimit::builder()
        .clock(clock.clone())
        .algorithm(Algorithm::Aimd(Aimd::new()))
        .build()
        .unwrap();
    let mut dep = Dependency::new(50, &clock);
    // Calls taking more than 1.5 times the service time time out.
    dep.timeout_micros = Some(1.5 * SERVICE_MICROS);
    let trajectory = dep.run(&limit, 400);
    show("aimd, capacity 50, timeout 15 ms", &trajectory);
    let late = &trajectory[100..];
    // It hovers below where latency reaches the timeout (75 in flight).
    assert!(late.iter().all(|&l| (45..=80).contains(&l)), "{late:?}");
    assert!(limit.metrics().drops > 0);
}

#[test]
fn the_limit_keeps_its_floor_and_ceiling_and_takes_new_ones_live() {
    let clock = ManualClock::new();
    let limit = AdaptiveLimit::builder()
        .clock(clock.clone())
        .min_limit(5)
        .max_limit(30)
        .build()
        .unwrap();
    let mut dep = Dependency::new(100, &clock);
    let high = dep.run(&limit, 200);
    assert!(high.iter().all(|&l| l <= 30));
    assert_eq!(high.last(), Some(&30));
    dep.capacity = 1.0;
    let low = dep.run(&limit, 200);
    assert!(low.iter().all(|&l| l >= 5));
    assert_eq!(low.last(), Some(&5));
    limit.set_bounds(8, 12).unwrap();
    assert_eq!(limit.limit(), 8);
    assert_eq!(limit.set_bounds(0, 12).unwrap_err().field(), "min_limit");
    assert_eq!(limit.set_bounds(9, 8).unwrap_err().field(), "max_limit");
}

#[test]
fn cancelled_and_rejected_calls_are_not_samples() {
    let clock = ManualClock::new();
    let limit = AdaptiveLimit::builder()
        .clock(clock.clone())
        .initial_limit(1)
        .window(1)
        .build()
        .unwrap();
    let permit = limit.try_acquire().unwrap();
    let full = limit.try_acquire().unwrap_err();
    assert_eq!(full.limit(), 1);
    assert_eq!(full.reason(), palisade::bulkhead::Rejection::AdaptiveLimit);
    clock.advance(Duration::from_secs(60));
    drop(permit); // cancelled: a minute-long call says nothing
    let metrics = limit.metrics();
    assert_eq!(
        (metrics.windows, metrics.rejections, metrics.in_flight),
        (0, 1, 0)
    );
    limit.try_acquire().unwrap().success();
    assert_eq!(limit.metrics().windows, 1);
}

#[test]
fn the_call_wrapper_samples_ok_and_drops_errors_and_panics() {
    let limit = AdaptiveLimit::builder().initial_limit(1).build().unwrap();
    let ok = futures::executor::block_on(limit.call(|| async { Ok::<_, ()>(1) }));
    assert_eq!(ok.unwrap(), 1);
    let err = futures::executor::block_on(limit.call(|| async { Err::<u8, _>("no") }));
    assert_eq!(err.unwrap_err().operation(), Some(&"no"));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(limit.call(|| async {
            if true {
                panic!("bug");
            }
            Ok::<u8, ()>(1)
        }))
    }));
    assert!(panicked.is_err());
    let metrics = limit.metrics();
    assert_eq!((metrics.in_flight, metrics.drops), (0, 2));
    // At the limit the operation is never made.
    let _held = limit.try_acquire().unwrap();
    let rejected = futures::executor::block_on(limit.call(|| async {
        unreachable!("not called at the limit");
        #[allow(unreachable_code)]
        Ok::<u8, ()>(0)
    }));
    assert!(rejected.unwrap_err().is_bulkhead_full());
}

#[test]
fn a_pipeline_holds_the_adaptive_limit_in_the_bulkheads_place() {
    let clock = ManualClock::new();
    let limit = AdaptiveLimit::builder()
        .clock(clock.clone())
        .initial_limit(1)
        .window(1)
        .build()
        .unwrap();
    let timer = ManualTimer::new();
    let pipeline = Pipeline::builder(timer.clone())
        .limiter(limit.clone())
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // A timed-out attempt is a drop, even with no breaker.
    let mut hung = Box::pin(pipeline.call(futures::future::pending::<Result<u8, ()>>));
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(hung.as_mut().poll(&mut cx).is_pending());
    assert_eq!(limit.in_flight(), 1);
    // Full: the next call is rejected by the limit.
    let full = futures::executor::block_on(pipeline.call(|| async { Ok::<u8, ()>(1) }));
    assert!(full.unwrap_err().is_bulkhead_full());
    timer.advance(Duration::from_secs(1));
    match hung.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(e)) => assert!(e.is_timeout()),
        other => panic!("{other:?}"),
    }
    let metrics = limit.metrics();
    assert_eq!(
        (metrics.in_flight, metrics.drops, metrics.windows),
        (0, 1, 1)
    );
    // A success is a sample.
    let ok = futures::executor::block_on(pipeline.call(|| async { Ok::<u8, ()>(1) }));
    assert_eq!(ok.unwrap(), 1);
    assert_eq!(limit.metrics().windows, 2);
}

#[cfg(feature = "tower")]
#[test]
fn the_tower_layer_rejects_from_the_response_future_at_the_limit() {
    use tower::{Service, ServiceBuilder, ServiceExt};
    let limit = AdaptiveLimit::builder().initial_limit(1).build().unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(palisade::adaptive::AdaptiveLimitLayer::new(limit.clone()))
        .service(tower::service_fn(|x: u8| async move { Ok::<_, ()>(x) }));
    futures::executor::block_on(async {
        let first = svc.ready().await.unwrap().call(1);
        assert_eq!(limit.in_flight(), 1);
        // At the limit: ready at once, and the call is rejected.
        let second = svc.ready().await.unwrap().call(2);
        assert!(second.await.unwrap_err().is_bulkhead_full());
        assert_eq!(first.await.unwrap(), 1);
        assert_eq!(limit.in_flight(), 0);
    });
}
