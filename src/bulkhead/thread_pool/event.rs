//! Events of a thread pool.

use super::super::Rejection;

/// Something that happened in a [`ThreadPool`](super::ThreadPool).
pub type ThreadPoolEvent<'a> = crate::event::GuardEvent<'a, ThreadPoolEventKind>;

pub(crate) type ThreadPoolEventListener = crate::event::Listener<ThreadPoolEventKind>;

/// What happened in a thread pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadPoolEventKind {
    /// A job was accepted (it runs at once on an idle worker, or queues).
    Accepted,
    /// A job ran to its end on a worker (`panicked`: by panicking). A job
    /// cancelled while it ran reports nothing.
    Finished {
        /// The job panicked.
        panicked: bool,
    },
    /// A job was turned away.
    Rejected(Rejection),
}
