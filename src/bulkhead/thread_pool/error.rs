//! What a caller of a thread pool gets instead of a result.

use super::super::BulkheadFull;
use crate::name::Name;

/// A job that panicked on the pool: its caller gets this (the worker thread
/// survives). It displays the panic's message; which pool it was is
/// [`pool`](JobPanicked::pool), and the error around it says it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobPanicked {
    pub(super) pool: Name,
    pub(super) message: String,
}

impl JobPanicked {
    /// The pool's name.
    pub fn pool(&self) -> &str {
        self.pool.as_str()
    }

    /// The panic's message, when it was a string.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a job submitted to a [`ThreadPool`](super::ThreadPool) gave no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The pool turned the job away: every worker busy and the queue full
    /// ([`Rejection::Full`](crate::bulkhead::Rejection::Full)), or the pool shut down before the job ran
    /// ([`Rejection::ShutDown`](crate::bulkhead::Rejection::ShutDown)).
    #[error("thread pool `{}` rejected the job", .0.name())]
    Rejected(#[source] BulkheadFull),
    /// The job panicked.
    #[error("the job panicked on thread pool `{}`", .0.pool())]
    Panicked(#[source] JobPanicked),
}

impl<E> From<PoolError> for crate::Error<E> {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Rejected(full) => Self::BulkheadFull(full),
            PoolError::Panicked(panicked) => Self::Panicked(panicked),
        }
    }
}

pub(super) fn panicked(pool: Name, panic: Box<dyn std::any::Any + Send>) -> PoolError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    PoolError::Panicked(JobPanicked { pool, message })
}
