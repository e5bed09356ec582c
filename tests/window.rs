//! Behaviour tests for the health windows: a model-based comparison with a
//! naive reference, and multi-threaded totals.
#![cfg(not(palisade_loom))]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use palisade::window::{CountWindow, HybridWindow, Outcome, Snapshot, TimeWindow};
use proptest::prelude::*;

/// The naive reference: every call with its time, kept forever.
#[derive(Default)]
struct Reference {
    calls: VecDeque<(u64, Outcome)>,
}

impl Reference {
    fn count(&self, n: usize) -> Snapshot {
        Self::tally(self.calls.iter().rev().take(n))
    }

    fn time(&self, now: u64, width: u64, buckets: u64) -> Snapshot {
        let newest = now / width;
        Self::tally(self.calls.iter().filter(|(t, _)| {
            let e = t / width;
            e <= newest && e + buckets > newest
        }))
    }

    fn hybrid(&self, n: usize, now: u64, width: u64, buckets: u64) -> Snapshot {
        let newest = now / width;
        Self::tally(
            self.calls
                .iter()
                .rev()
                .take(n)
                .filter(|(t, _)| t / width + buckets > newest),
        )
    }

    fn tally<'a>(it: impl Iterator<Item = &'a (u64, Outcome)>) -> Snapshot {
        let (mut c, mut f, mut s) = (0, 0, 0);
        for (_, o) in it {
            c += 1;
            f += u64::from(o.is_failure());
            s += u64::from(o.is_slow());
        }
        Snapshot::new(c, f, s)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Record(Outcome),
    Advance(u64),
    Reset,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Success),
        2 => Just(Outcome::Failure),
        1 => Just(Outcome::SlowSuccess),
        1 => Just(Outcome::SlowFailure),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            12 => outcome().prop_map(Op::Record),
            // Small steps, steps around a bucket, and long idle gaps.
            3 => (0u64..30).prop_map(Op::Advance),
            2 => (0u64..2_000).prop_map(Op::Advance),
            1 => (0u64..1u64 << 40).prop_map(Op::Advance),
            1 => Just(Op::Reset),
        ],
        0..400,
    )
}

/// Runs `ops` on a window (through `record`, `reset`, `snapshot`) and on
/// the reference, comparing the snapshot with `expected` after every step.
fn against_reference(
    ops: Vec<Op>,
    start: u64,
    record: impl Fn(u64, Outcome),
    reset: impl Fn(),
    snapshot: impl Fn(u64) -> Snapshot,
    expected: impl Fn(&Reference, u64) -> Snapshot,
) -> Result<(), TestCaseError> {
    let mut reference = Reference::default();
    let mut now = start;
    for op in ops {
        match op {
            Op::Record(o) => {
                record(now, o);
                reference.calls.push_back((now, o));
            }
            Op::Advance(by) => now += by,
            Op::Reset => {
                reset();
                reference.calls.clear();
            }
        }
        prop_assert_eq!(snapshot(now), expected(&reference, now));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn count_window_matches_reference(size in 1u32..40, ops in ops()) {
        let window = CountWindow::new(size).unwrap();
        against_reference(
            ops,
            0,
            |_, o| window.record(o),
            || window.reset(),
            |_| window.snapshot(),
            |r, _| r.count(size as usize),
        )?;
    }

    #[test]
    fn time_window_matches_reference(
        width in 1u64..500,
        buckets in 1u32..12,
        start in 0u64..1u64 << 50,
        ops in ops(),
    ) {
        let window = TimeWindow::with_stripes(
            Duration::from_nanos(width * u64::from(buckets)), buckets, 4,
        ).unwrap();
        against_reference(
            ops,
            start,
            |now, o| window.record(now, o),
            || window.reset(),
            |now| window.snapshot(now),
            |r, now| r.time(now, width, u64::from(buckets)),
        )?;
    }

    #[test]
    fn hybrid_window_matches_reference(
        size in 1u32..30,
        width in 1u64..200,
        buckets in 1u32..8,
        ops in ops(),
    ) {
        let window = HybridWindow::new(
            size, Duration::from_nanos(width * u64::from(buckets)), buckets,
        ).unwrap();
        against_reference(
            ops,
            0,
            |now, o| window.record(now, o),
            || window.reset(),
            |now| window.snapshot(now),
            |r, now| r.hybrid(size as usize, now, width, u64::from(buckets)),
        )?;
    }
}

const THREADS: u64 = 4;
const PER_THREAD: u64 = 20_000;

/// The known mix: thread `t`, record `i`.
fn mixed(t: u64, i: u64) -> Outcome {
    match (t + i) % 10 {
        0..=5 => Outcome::Success,
        6 | 7 => Outcome::Failure,
        8 => Outcome::SlowSuccess,
        _ => Outcome::SlowFailure,
    }
}

/// Runs `THREADS` recorders and one reader that checks every snapshot it
/// takes stays within what was recorded and, while nothing slides out,
/// never goes backwards.
fn hammer(record: impl Fn(u64, u64) + Sync, read: impl Fn() -> Snapshot + Sync, grows: bool) {
    let start = Barrier::new(THREADS as usize + 1);
    let done = AtomicBool::new(false);
    let all = exact_totals();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            start.wait();
            let mut last = Snapshot::default();
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) || reads == 0 {
                let snap = read();
                // failures <= calls holds by construction (`Snapshot` clamps);
                // what a torn read could do is inflate counts past what was
                // ever recorded, or (while nothing slides out) go backwards.
                assert!(
                    snap.calls() <= all.calls()
                        && snap.failures() <= all.failures()
                        && snap.slow_calls() <= all.slow_calls(),
                    "{snap:?} exceeds everything recorded, {all:?}"
                );
                if grows {
                    assert!(snap.calls() >= last.calls(), "{snap:?} after {last:?}");
                    assert!(
                        snap.failures() >= last.failures(),
                        "{snap:?} after {last:?}"
                    );
                    assert!(
                        snap.slow_calls() >= last.slow_calls(),
                        "{snap:?} after {last:?}"
                    );
                }
                last = snap;
                reads += 1;
            }
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (record, start) = (&record, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..PER_THREAD {
                        record(t, i);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        reader.join().unwrap();
    });
}

fn exact_totals() -> Snapshot {
    let (mut c, mut f, mut s) = (0, 0, 0);
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            let o = mixed(t, i);
            c += 1;
            f += u64::from(o.is_failure());
            s += u64::from(o.is_slow());
        }
    }
    Snapshot::new(c, f, s)
}

#[test]
fn count_window_concurrent_totals_equal_the_ring() {
    // Small ring: constant overwriting, the counts must match a recount.
    let window = CountWindow::new(64).unwrap();
    hammer(
        |t, i| window.record(mixed(t, i)),
        || window.snapshot(),
        false,
    );
    let snap = window.snapshot();
    assert_eq!(snap.calls(), 64);
    assert_eq!(snap, window.recount());

    // Ring larger than all records: nothing slides, totals are exact.
    let window = CountWindow::new((THREADS * PER_THREAD) as u32).unwrap();
    hammer(
        |t, i| window.record(mixed(t, i)),
        || window.snapshot(),
        true,
    );
    assert_eq!(window.snapshot(), exact_totals());
}

#[test]
fn time_window_concurrent_totals_are_exact() {
    // Two stripes for four threads: stripes are shared, so buckets are
    // claimed and rotated concurrently. Time moves through the first ring
    // only, so nothing slides out and every record must be counted.
    let window = TimeWindow::with_stripes(Duration::from_micros(80), 8, 2).unwrap();
    let now = |i: u64| i * 80_000 / PER_THREAD; // 0..80 µs across the run
    hammer(
        |t, i| window.record(now(i), mixed(t, i)),
        || window.snapshot(79_999),
        true,
    );
    assert_eq!(window.snapshot(79_999), exact_totals());
}

#[test]
fn time_window_concurrent_rotation_keeps_consistency() {
    // Time runs over many rings: buckets are claimed concurrently (four
    // threads share two stripes) and reset under the reader's feet. The
    // writers move from one 10 µs bucket to the next together (a barrier
    // every 10 records), so no writer lags a whole ring behind another: a
    // record that old may be counted in the bucket's newer epoch if it races
    // the reuse (documented on `TimeWindow`), which would make the totals
    // below inexact by design.
    let window = TimeWindow::with_stripes(Duration::from_micros(40), 4, 2).unwrap();
    let now = |i: u64| i * 1_000;
    let step = Barrier::new(THREADS as usize);
    hammer(
        |t, i| {
            if i % 10 == 0 {
                step.wait();
            }
            window.record(now(i), mixed(t, i))
        },
        || window.snapshot(now(PER_THREAD / 2)),
        false,
    );
    // The last window holds exactly the last 4 buckets' records.
    let last = now(PER_THREAD - 1);
    let expected = (0..THREADS)
        .flat_map(|t| (PER_THREAD - 40..PER_THREAD).map(move |i| mixed(t, i)))
        .fold(Snapshot::default(), |s, o| {
            Snapshot::new(
                s.calls() + 1,
                s.failures() + u64::from(o.is_failure()),
                s.slow_calls() + u64::from(o.is_slow()),
            )
        });
    assert_eq!(window.snapshot(last), expected);
}

#[test]
fn windows_are_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CountWindow>();
    assert_send_sync::<TimeWindow>();
    assert_send_sync::<HybridWindow>();
    let window = Arc::new(CountWindow::new(10).unwrap());
    let w = Arc::clone(&window);
    std::thread::spawn(move || w.record(Outcome::Failure))
        .join()
        .unwrap();
    assert_eq!(window.snapshot().failures(), 1);
}
