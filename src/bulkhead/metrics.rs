//! `metrics`-crate instruments for a bulkhead (feature `metrics`); the
//! names are in the module docs of [`bulkhead`](super), section "Metrics".
//! Handles are registered once, when the bulkhead is built.

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Unit,
};

use super::semaphore::Semaphore;
use crate::striped::Striped;

pub(crate) struct BulkheadMetrics {
    /// Indexed as `Inner::counts`: admitted, rejected full, rejected
    /// after waiting.
    counters: [Counter; 3],
    in_flight: Gauge,
    waiting: Gauge,
    limit: Gauge,
    wait: Histogram,
}

fn describe() {
    describe_counter!(
        "palisade_bulkhead_admitted_total",
        Unit::Count,
        "Calls a bulkhead gave a place."
    );
    describe_counter!(
        "palisade_bulkhead_rejected_total",
        Unit::Count,
        "Calls a bulkhead turned away, by reason."
    );
    describe_gauge!(
        "palisade_bulkhead_in_flight",
        "Calls holding a place in a bulkhead."
    );
    describe_gauge!("palisade_bulkhead_waiting", "Callers queued for a place.");
    describe_gauge!(
        "palisade_bulkhead_limit",
        "A bulkhead's limit of concurrent calls."
    );
    describe_histogram!(
        "palisade_bulkhead_wait_seconds",
        Unit::Seconds,
        "Time queued callers waited for a place."
    );
}

impl BulkheadMetrics {
    pub(crate) fn new(name: &str, sem: &Semaphore) -> Self {
        describe();
        let b = name.to_string();
        let metrics = Self {
            counters: [
                counter!("palisade_bulkhead_admitted_total", "bulkhead" => b.clone()),
                counter!("palisade_bulkhead_rejected_total", "bulkhead" => b.clone(), "reason" => "full"),
                counter!("palisade_bulkhead_rejected_total", "bulkhead" => b.clone(), "reason" => "wait_timed_out"),
            ],
            in_flight: gauge!("palisade_bulkhead_in_flight", "bulkhead" => b.clone()),
            waiting: gauge!("palisade_bulkhead_waiting", "bulkhead" => b.clone()),
            limit: gauge!("palisade_bulkhead_limit", "bulkhead" => b.clone()),
            wait: histogram!("palisade_bulkhead_wait_seconds", "bulkhead" => b),
        };
        metrics.gauges(sem);
        metrics
    }

    /// Publishes the counts' totals and the gauges.
    pub(crate) fn publish(&self, counts: &Striped<3>, sem: &Semaphore) {
        for (k, counter) in self.counters.iter().enumerate() {
            counter.absolute(counts.sum(k));
        }
        self.gauges(sem);
    }

    /// A caller joined or left the queue.
    pub(crate) fn queue(&self, sem: &Semaphore) {
        self.gauges(sem);
    }

    /// A queued caller got a place after `waited`.
    pub(crate) fn waited(&self, waited: Duration, sem: &Semaphore) {
        self.wait.record(waited.as_secs_f64());
        self.gauges(sem);
    }

    fn gauges(&self, sem: &Semaphore) {
        self.in_flight.set(f64::from(sem.in_flight()));
        self.waiting.set(f64::from(sem.waiting()));
        self.limit.set(f64::from(sem.limit()));
    }
}

/// `metrics`-crate instruments for a thread pool: jobs by outcome, queue
/// depth and busy workers. A pool job costs microseconds (a thread
/// hand-off), so these are updated as things happen.
pub(crate) struct PoolMetrics {
    completed: Counter,
    cancelled: Counter,
    rejected_full: Counter,
    rejected_shut_down: Counter,
    queued: Gauge,
    active: Gauge,
}

impl PoolMetrics {
    pub(crate) fn new(name: &str) -> Self {
        describe_counter!(
            "palisade_thread_pool_completed_total",
            Unit::Count,
            "Jobs a thread pool ran to the end (panicked ones included)."
        );
        describe_counter!(
            "palisade_thread_pool_cancelled_total",
            Unit::Count,
            "Jobs a thread pool dropped because their caller gave up first."
        );
        describe_counter!(
            "palisade_thread_pool_rejected_total",
            Unit::Count,
            "Jobs a thread pool turned away, by reason."
        );
        describe_gauge!("palisade_thread_pool_queued", "Jobs waiting for a worker.");
        describe_gauge!("palisade_thread_pool_active", "Workers running a job.");
        let p = name.to_string();
        Self {
            completed: counter!("palisade_thread_pool_completed_total", "pool" => p.clone()),
            cancelled: counter!("palisade_thread_pool_cancelled_total", "pool" => p.clone()),
            rejected_full: counter!("palisade_thread_pool_rejected_total", "pool" => p.clone(), "reason" => "full"),
            rejected_shut_down: counter!("palisade_thread_pool_rejected_total", "pool" => p.clone(), "reason" => "shut_down"),
            queued: gauge!("palisade_thread_pool_queued", "pool" => p.clone()),
            active: gauge!("palisade_thread_pool_active", "pool" => p),
        }
    }

    pub(crate) fn rejected(&self, reason: super::Rejection) {
        match reason {
            super::Rejection::ShutDown => self.rejected_shut_down.increment(1),
            _ => self.rejected_full.increment(1),
        }
    }

    pub(crate) fn queued(&self, depth: usize) {
        self.queued.set(depth as f64);
    }

    pub(crate) fn started(&self) {
        self.active.increment(1.0);
    }

    /// A worker is free again: after a job that `ran` to its end, or one
    /// cancelled.
    pub(crate) fn finished(&self, ran: bool) {
        self.active.decrement(1.0);
        if ran {
            self.completed.increment(1);
        } else {
            self.cancelled.increment(1);
        }
    }
}
