//! Builds a thread pool and starts its workers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex};

use super::job::lock;
use super::worker::{Handle, Queue, Shared, Worker};
use super::ThreadPool;
use crate::config_error::ConfigError;
use crate::name::Name;

/// Builds a [`ThreadPool`]; every setter says its default.
#[must_use]
#[derive(Debug)]
pub struct ThreadPoolBuilder {
    pub(super) name: std::borrow::Cow<'static, str>,
    pub(super) threads: usize,
    pub(super) queue: usize,
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            threads: 10,
            queue: 0,
        }
    }
}

/// The most worker threads a pool may have.
pub const MAX_THREADS: usize = 1024;

impl ThreadPoolBuilder {
    /// The name used in errors and thread names. Default `"default"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Worker threads, in `1..=MAX_THREADS`. Default 10 (Hystrix's).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Jobs that may wait for a worker. Default 0 (Hystrix's): a job is
    /// taken only if a worker is idle.
    pub fn queue(mut self, capacity: usize) -> Self {
        self.queue = capacity;
        self
    }

    /// Checks the settings without starting anything (what
    /// [`build`](Self::build) checks before it starts the workers).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `threads` if it is 0 or above
    /// `MAX_THREADS`.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::bulkhead::ThreadPool;
    ///
    /// assert_eq!(ThreadPool::builder().threads(0).check().unwrap_err().field(), "threads");
    /// assert!(ThreadPool::builder().threads(4).check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(ConfigError::new(
                "threads",
                self.threads,
                "must be at least 1 and at most MAX_THREADS (1024)",
            ));
        }
        Ok(())
    }

    /// Checks the settings and starts the worker threads.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the bad field, or `threads` if the system
    /// could not start a thread (or a worker's runtime).
    pub fn build(self) -> Result<ThreadPool, ConfigError> {
        self.check()?;
        let name = Name::new(self.name.clone());
        let shared = Arc::new(Shared {
            name,
            threads: self.threads,
            queue_capacity: self.queue,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                idle: 0,
                live: 0,
                closed: false,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            active: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            listeners: crate::listeners::Listeners::new(),
            #[cfg(feature = "metrics")]
            metrics: super::super::metrics::PoolMetrics::new(&self.name),
        });
        let pool = ThreadPool {
            handle: Arc::new(Handle {
                shared: Arc::clone(&shared),
            }),
        };
        for i in 0..self.threads {
            let worker = Worker::new().map_err(|_| {
                ConfigError::new(
                    "threads",
                    self.threads,
                    "a worker's runtime could not start",
                )
            })?;
            let shared = Arc::clone(&shared);
            {
                let mut queue = lock(&shared.queue);
                queue.live += 1;
                queue.idle += 1;
            }
            let started = std::thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn({
                    let shared = Arc::clone(&shared);
                    move || shared.worker_loop(&worker)
                });
            if started.is_err() {
                let mut queue = lock(&shared.queue);
                queue.live -= 1;
                queue.idle -= 1;
                drop(queue);
                // Dropping `pool` closes the pool; started workers exit.
                return Err(ConfigError::new(
                    "threads",
                    self.threads,
                    "the system could not start that many threads",
                ));
            }
        }
        Ok(pool)
    }
}
