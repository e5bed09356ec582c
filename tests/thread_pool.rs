//! Behaviour tests of the thread-pool bulkhead: results from blocking and
//! async jobs under any executor, queue-full rejection, cancellation,
//! panic isolation, shutdown with queued work, isolation of the caller's
//! runtime, and the caller's tracing span on the worker.
//!
//! Jobs that must stay busy block on a channel the test controls, so
//! nothing sleeps for real.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use palisade::bulkhead::{PoolError, Rejection, ThreadPool};

fn pool(threads: usize, queue: usize) -> ThreadPool {
    ThreadPool::builder()
        .name("pool")
        .threads(threads)
        .queue(queue)
        .build()
        .unwrap()
}

/// A job that blocks its worker until `release` is sent to.
fn blocker(pool: &ThreadPool) -> (palisade::bulkhead::PoolJob<()>, mpsc::Sender<()>) {
    let (release, wait) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let job = pool.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = wait.recv();
    });
    started
        .recv_timeout(Duration::from_secs(5))
        .expect("the blocker started");
    (job, release)
}

fn rejection(result: Result<impl std::fmt::Debug, PoolError>) -> Rejection {
    match result {
        Err(PoolError::Rejected(full)) => full.reason(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn blocking_and_async_jobs_return_their_results_under_any_executor() {
    let pool = pool(2, 4);
    assert_eq!(block_on(pool.spawn_blocking(|| 6 * 7)).unwrap(), 42);
    // The async job is made on the worker and need not be `Send`.
    let answer = block_on(pool.spawn(|| async {
        let not_send = std::rc::Rc::new(41);
        std::future::ready(()).await;
        *not_send + 1
    }));
    assert_eq!(answer.unwrap(), 42);
    let m = pool.metrics();
    assert_eq!((m.completed, m.rejected, m.threads), (2, 0, 2));
}

#[cfg(feature = "tokio")]
#[test]
fn async_jobs_run_on_the_workers_own_tokio_runtime() {
    let pool = pool(1, 0);
    // tokio timers need a tokio runtime: the worker has its own.
    let out = block_on(pool.spawn(|| async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        "slept on the pool"
    }));
    assert_eq!(out.unwrap(), "slept on the pool");
}

#[test]
fn a_full_pool_rejects_at_once() {
    let pool = pool(1, 1);
    let (running, release) = blocker(&pool);
    let queued = pool.spawn_blocking(|| 1);
    let rejected = block_on(pool.spawn_blocking(|| 2));
    assert_eq!(rejection(rejected), Rejection::Full);
    assert_eq!(pool.metrics().queued, 1);
    release.send(()).unwrap();
    block_on(running).unwrap();
    assert_eq!(block_on(queued).unwrap(), 1);
    assert_eq!(pool.metrics().rejected, 1);
}

#[test]
fn with_no_queue_a_job_is_taken_only_by_an_idle_worker() {
    let pool = pool(1, 0);
    let (running, release) = blocker(&pool);
    assert_eq!(
        rejection(block_on(pool.spawn_blocking(|| ()))),
        Rejection::Full
    );
    release.send(()).unwrap();
    block_on(running).unwrap();
    // The worker counts as idle before its result is handed over, so a
    // caller that submits on seeing a result is never turned away.
    for i in 0..100 {
        assert_eq!(block_on(pool.spawn_blocking(move || i)).unwrap(), i);
    }
}

#[test]
fn a_cancelled_queued_job_never_runs() {
    let pool = pool(1, 4);
    let (running, release) = blocker(&pool);
    let ran = Arc::new(AtomicUsize::new(0));
    let cancelled = {
        let ran = Arc::clone(&ran);
        pool.spawn_blocking(move || ran.fetch_add(1, Ordering::SeqCst))
    };
    drop(cancelled);
    let after = {
        let ran = Arc::clone(&ran);
        pool.spawn_blocking(move || ran.load(Ordering::SeqCst))
    };
    release.send(()).unwrap();
    block_on(running).unwrap();
    assert_eq!(block_on(after).unwrap(), 0, "the dropped job did not run");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_running_async_job_is_dropped_when_its_caller_gives_up() {
    struct Dropped(mpsc::Sender<()>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let pool = pool(1, 0);
    let (dropped_tx, dropped) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    let job = pool.spawn(move || async move {
        let _guard = Dropped(dropped_tx);
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    started.recv_timeout(Duration::from_secs(5)).unwrap();
    drop(job);
    dropped
        .recv_timeout(Duration::from_secs(5))
        .expect("the job's future was dropped on the worker");
    // The worker is free again.
    let mut free = false;
    for _ in 0..1000 {
        if let Ok(v) = block_on(pool.spawn_blocking(|| 7)) {
            assert_eq!(v, 7);
            free = true;
            break;
        }
        std::thread::yield_now();
    }
    assert!(free);
}

#[test]
fn a_panicking_job_is_an_error_and_the_worker_survives() {
    let pool = pool(1, 1);
    let err = block_on(pool.spawn_blocking(|| -> u32 { panic!("job exploded") })).unwrap_err();
    let PoolError::Panicked(panicked) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (panicked.pool(), panicked.message()),
        ("pool", "job exploded")
    );
    // One piece per error in the chain: the pool, then the panic.
    assert_eq!(err.to_string(), "the job panicked on thread pool `pool`");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(source, "job exploded");
    let err = block_on(pool.spawn(|| async { panic!("async job exploded") })).unwrap_err();
    assert!(matches!(err, PoolError::Panicked(_)));
    assert_eq!(
        block_on(pool.spawn_blocking(|| "still here")).unwrap(),
        "still here"
    );
    assert_eq!(pool.metrics().threads, 1);
    let flat: palisade::Error<std::io::Error> = err.into();
    assert!(matches!(flat, palisade::Error::Panicked(_)));
}

#[test]
fn shutdown_rejects_what_is_still_queued_at_the_deadline() {
    let pool = pool(1, 4);
    let (running, release) = blocker(&pool);
    let queued: Vec<_> = (0..2).map(|i| pool.spawn_blocking(move || i)).collect();
    let report = pool.shutdown(Duration::from_millis(20));
    assert!(!report.finished, "the blocker still runs");
    assert_eq!(report.cancelled, 2);
    for job in queued {
        assert_eq!(rejection(block_on(job)), Rejection::ShutDown);
    }
    assert_eq!(
        rejection(block_on(pool.spawn_blocking(|| ()))),
        Rejection::ShutDown,
        "a shut-down pool takes no more jobs"
    );
    // The running blocking job could not be interrupted; it finishes.
    release.send(()).unwrap();
    block_on(running).unwrap();
}

/// "Wait as long as it takes" (panicked on `Instant::now() + deadline`).
#[test]
fn shutdown_with_duration_max_waits_for_the_running_job_instead_of_panicking() {
    let pool = pool(1, 1);
    let (job, release) = blocker(&pool);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        release.send(()).unwrap();
    });
    let report = pool.shutdown(Duration::MAX);
    assert_eq!((report.finished, report.cancelled), (true, 0));
    block_on(job).unwrap();
    releaser.join().unwrap();
}

/// An unbounded-looking queue (overflowed `idle + queue` before and
/// rejected work while workers were idle, or panicked in debug builds).
#[test]
fn a_queue_of_usize_max_takes_work_while_workers_are_idle() {
    let pool = pool(2, usize::MAX);
    let jobs: Vec<_> = (0..8).map(|i| pool.spawn_blocking(move || i)).collect();
    let results: Vec<_> = jobs.into_iter().map(|j| block_on(j).unwrap()).collect();
    assert_eq!(results, (0..8).collect::<Vec<_>>());
    assert!(pool.shutdown(Duration::from_secs(5)).finished);
}

#[test]
fn shutdown_of_an_idle_pool_finishes_and_queued_jobs_run_first() {
    let pool = pool(2, 4);
    let jobs: Vec<_> = (0..4).map(|i| pool.spawn_blocking(move || i * 2)).collect();
    let report = pool.shutdown(Duration::from_secs(5));
    assert_eq!((report.finished, report.cancelled), (true, 0));
    let results: Vec<_> = jobs.into_iter().map(|j| block_on(j).unwrap()).collect();
    assert_eq!(results, vec![0, 2, 4, 6]);
    assert_eq!(pool.metrics().threads, 0);
}

#[test]
fn dropping_the_last_handle_lets_queued_jobs_finish() {
    let pool = pool(1, 4);
    let (running, release) = blocker(&pool);
    let queued = pool.spawn_blocking(|| "ran after the drop");
    drop(pool);
    release.send(()).unwrap();
    block_on(running).unwrap();
    assert_eq!(block_on(queued).unwrap(), "ran after the drop");
}

/// The isolation test: a job that blocks its worker does not delay
/// unrelated tasks on the caller's current-thread runtime.
#[tokio::test(flavor = "current_thread")]
async fn a_blocked_job_does_not_stall_the_callers_runtime() {
    let pool = pool(1, 0);
    let (release, wait) = mpsc::channel::<()>();
    let job = pool.spawn_blocking(move || {
        // Blocks until the unrelated task below has run.
        wait.recv().unwrap();
        "done"
    });
    let unrelated = tokio::spawn(async {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        "unrelated work finished"
    });
    // Had the job blocked this thread, the unrelated task could not run.
    assert_eq!(unrelated.await.unwrap(), "unrelated work finished");
    release.send(()).unwrap();
    assert_eq!(job.await.unwrap(), "done");
}

#[cfg(feature = "tracing")]
#[test]
fn the_callers_span_is_entered_around_the_job() {
    use tracing::subscriber::set_global_default;
    // One global subscriber (spans are seen from the worker threads too).
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        set_global_default(tracing_subscriber::registry()).unwrap();
    });
    let pool = pool(1, 1);
    let span = tracing::info_span!("checkout", order = 7);
    let expected = span.id();
    let (blocking, in_async) = span.in_scope(|| {
        (
            pool.spawn_blocking(|| tracing::Span::current().id()),
            pool.spawn(|| async { tracing::Span::current().id() }),
        )
    });
    assert!(expected.is_some());
    assert_eq!(block_on(blocking).unwrap(), expected);
    assert_eq!(block_on(in_async).unwrap(), expected);
}

#[test]
fn bad_settings_are_named() {
    let err = ThreadPool::builder().threads(0).build().unwrap_err();
    assert_eq!(err.field(), "threads");
    let err = ThreadPool::builder().threads(5000).build().unwrap_err();
    assert_eq!(err.field(), "threads");
}

#[cfg(feature = "tower")]
mod tower_service {
    use super::*;
    use palisade::bulkhead::ThreadPoolLayer;
    use tower::{ServiceBuilder, ServiceExt};

    fn on_worker(
        pool: ThreadPool,
    ) -> impl tower::Service<
        u32,
        Response = String,
        Error = palisade::Error<std::io::Error>,
        Future = impl std::future::Future<Output = Result<String, palisade::Error<std::io::Error>>>
                     + Send,
    > + Clone
           + Send {
        ServiceBuilder::new()
            .layer(ThreadPoolLayer::new(pool))
            .service(tower::service_fn(|req: u32| async move {
                if req == 0 {
                    return Err(std::io::Error::other("zero"));
                }
                if req == 13 {
                    panic!("unlucky");
                }
                Ok(std::thread::current().name().unwrap_or("?").to_owned())
            }))
    }

    #[test]
    fn calls_run_on_the_pool_and_errors_stay_flat() {
        let svc = on_worker(pool(1, 0));
        let thread = block_on(svc.clone().oneshot(1)).unwrap();
        assert_eq!(thread, "pool-0");
        let err = block_on(svc.clone().oneshot(0)).unwrap_err();
        assert_eq!(err.operation().unwrap().to_string(), "zero");
        let err = block_on(svc.clone().oneshot(13)).unwrap_err();
        assert!(matches!(err, palisade::Error::Panicked(_)), "{err:?}");
        assert_eq!(block_on(svc.oneshot(2)).unwrap(), "pool-0");
    }

    #[test]
    fn a_full_pool_rejects_from_the_response_future() {
        let pool = pool(1, 0);
        let (running, release) = blocker(&pool);
        let svc = on_worker(pool);
        // `ready` succeeds: the pool never fails poll_ready.
        let err = block_on(svc.oneshot(1)).unwrap_err();
        assert!(err.is_bulkhead_full(), "{err:?}");
        release.send(()).unwrap();
        block_on(running).unwrap();
    }

    /// A `Buffer`ed stack over the pool survives a full-then-free cycle.
    #[tokio::test]
    async fn a_buffered_stack_survives_full_then_free() {
        let pool = pool(1, 0);
        let svc = ServiceBuilder::new()
            .buffer(4)
            .service(on_worker(pool.clone()));
        let (running, release) = blocker(&pool);
        let err = svc.clone().oneshot(1).await.unwrap_err();
        assert!(
            palisade::BulkheadFull::find_in(err.as_ref()).is_some(),
            "{err}"
        );
        release.send(()).unwrap();
        running.await.unwrap();
        let mut ok = false;
        for _ in 0..1000 {
            if svc.clone().oneshot(1).await.is_ok() {
                ok = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(ok, "the stack is alive again once the pool frees");
    }
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_export_jobs_and_queue() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let pool = metrics::with_local_recorder(&recorder, || {
        ThreadPool::builder()
            .name("exported-pool")
            .threads(1)
            .build()
            .unwrap()
    });
    block_on(pool.spawn_blocking(|| ())).unwrap();
    let (running, release) = blocker(&pool);
    assert!(block_on(pool.spawn_blocking(|| ())).is_err());
    release.send(()).unwrap();
    block_on(running).unwrap();
    let snapshot = snapshotter.snapshot().into_vec();
    let get = |name: &str, label: Option<&str>| {
        let value = snapshot
            .iter()
            .find(|(key, ..)| {
                key.key().name() == name
                    && label.is_none_or(|v| key.key().labels().any(|l| l.value() == v))
            })
            .map(|(.., value)| value)
            .unwrap_or_else(|| panic!("no {name}"));
        format!("{value:?}")
    };
    assert_eq!(
        get("palisade_thread_pool_completed_total", None),
        format!("{:?}", DebugValue::Counter(2))
    );
    assert_eq!(
        get("palisade_thread_pool_rejected_total", Some("full")),
        format!("{:?}", DebugValue::Counter(1))
    );
    assert_eq!(
        get("palisade_thread_pool_active", None),
        format!("{:?}", DebugValue::Gauge(0.0.into()))
    );
}

#[test]
fn events_report_accepted_finished_and_rejected_jobs() {
    use palisade::bulkhead::ThreadPoolEventKind;
    let pool = pool(1, 0);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    pool.on_event(move |e| sink.lock().unwrap().push((e.name.to_string(), e.kind)));
    block_on(pool.spawn_blocking(|| ())).unwrap();
    let _ = block_on(pool.spawn_blocking(|| -> () { panic!("boom") }));
    let (running, release) = blocker(&pool);
    let _ = block_on(pool.spawn_blocking(|| ()));
    release.send(()).unwrap();
    block_on(running).unwrap();
    // Emitted on the thread where each happened: a job's `Finished` (on
    // the worker) may come before its `Accepted` (on the caller), so count.
    let seen_kinds: Vec<_> = seen.lock().unwrap().iter().map(|(_, k)| *k).collect();
    let count = |kind: ThreadPoolEventKind| seen_kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count(ThreadPoolEventKind::Accepted), 3, "{seen_kinds:?}");
    assert_eq!(count(ThreadPoolEventKind::Finished { panicked: false }), 2);
    assert_eq!(count(ThreadPoolEventKind::Finished { panicked: true }), 1);
    assert_eq!(count(ThreadPoolEventKind::Rejected(Rejection::Full)), 1);
    assert_eq!(seen_kinds.len(), 7);
    assert!(seen.lock().unwrap().iter().all(|(name, _)| *name == "pool"));
}

/// Panics when dropped, unless the thread is already unwinding.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("destructor exploded");
        }
    }
}

/// The job's answer, or `None` if none came within 5 s (a dead worker never
/// answers; this fails the test instead of hanging it).
fn answer<T: Send + 'static>(job: palisade::bulkhead::PoolJob<T>) -> Option<Result<T, PoolError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(block_on(job));
    });
    rx.recv_timeout(Duration::from_secs(5)).ok()
}

/// A one-thread pool still runs the next job and counts one live worker.
fn assert_worker_survived(pool: &ThreadPool) {
    let next = answer(pool.spawn_blocking(|| 7)).expect("the next job ran");
    assert_eq!(next.unwrap(), 7);
    let metrics = pool.metrics();
    assert_eq!((metrics.threads, metrics.active, metrics.queued), (1, 0, 0));
}

#[test]
fn a_cancelled_async_job_whose_future_panics_on_drop_leaves_the_worker_alive() {
    let pool = pool(1, 1);
    let (started_tx, started) = mpsc::channel();
    let job = pool.spawn(move || async move {
        let _bomb = PanicsOnDrop;
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    started.recv_timeout(Duration::from_secs(5)).unwrap();
    drop(job);
    assert_worker_survived(&pool);
}

#[test]
fn a_future_that_panics_in_poll_then_in_drop_is_one_panicked_answer() {
    struct PanicsTwice;
    impl std::future::Future for PanicsTwice {
        type Output = u32;
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<u32> {
            panic!("poll exploded")
        }
    }
    impl Drop for PanicsTwice {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("destructor exploded");
            }
        }
    }
    let pool = pool(1, 1);
    let err = answer(pool.spawn(|| PanicsTwice))
        .expect("the caller got an answer")
        .unwrap_err();
    let PoolError::Panicked(panicked) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(panicked.message(), "poll exploded");
    assert_worker_survived(&pool);
}

#[test]
fn a_future_that_panics_on_drop_after_its_output_is_a_panicked_job() {
    struct ReadyThenPanics;
    impl std::future::Future for ReadyThenPanics {
        type Output = u32;
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<u32> {
            std::task::Poll::Ready(5)
        }
    }
    impl Drop for ReadyThenPanics {
        fn drop(&mut self) {
            panic!("destructor exploded");
        }
    }
    let pool = pool(1, 1);
    let err = answer(pool.spawn(|| ReadyThenPanics))
        .expect("the caller got an answer")
        .unwrap_err();
    let PoolError::Panicked(panicked) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(panicked.message(), "destructor exploded");
    assert_worker_survived(&pool);
}

#[test]
fn a_cancelled_blocking_job_whose_result_panics_on_drop_leaves_the_worker_alive() {
    let pool = pool(1, 1);
    let (release, wait) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let job = pool.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = wait.recv();
        PanicsOnDrop
    });
    started.recv_timeout(Duration::from_secs(5)).unwrap();
    drop(job);
    release.send(()).unwrap();
    assert_worker_survived(&pool);
}

#[test]
fn a_queued_job_cancelled_with_a_closure_that_panics_on_drop_leaves_the_worker_alive() {
    let pool = pool(1, 2);
    let (running, release) = blocker(&pool);
    let bomb = PanicsOnDrop;
    let queued = pool.spawn_blocking(move || drop(bomb));
    drop(queued);
    release.send(()).unwrap();
    block_on(running).unwrap();
    assert_worker_survived(&pool);
}

#[test]
fn completed_counts_only_jobs_that_ran_and_cancelled_counts_the_others() {
    let pool = pool(1, 4);
    let (running, release) = blocker(&pool);
    drop(pool.spawn_blocking(|| ()));
    release.send(()).unwrap();
    block_on(running).unwrap();
    // The worker has dropped the cancelled job once the next one runs.
    answer(pool.spawn_blocking(|| ())).unwrap().unwrap();
    let metrics = pool.metrics();
    assert_eq!((metrics.completed, metrics.cancelled), (2, 1));
}

#[test]
fn a_panicking_event_listener_on_the_worker_is_a_panicked_answer_not_a_dead_worker() {
    use std::sync::atomic::AtomicBool;
    let pool = pool(1, 1);
    let armed = Arc::new(AtomicBool::new(true));
    let trigger = Arc::clone(&armed);
    pool.on_event(move |e| {
        if matches!(
            e.kind,
            palisade::bulkhead::ThreadPoolEventKind::Finished { .. }
        ) && trigger.swap(false, Ordering::SeqCst)
        {
            panic!("listener exploded");
        }
    });
    let err = answer(pool.spawn_blocking(|| 1))
        .expect("the caller got an answer")
        .unwrap_err();
    let PoolError::Panicked(panicked) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(panicked.message(), "listener exploded");
    assert_worker_survived(&pool);
    assert_eq!(pool.metrics().completed, 2);
}
