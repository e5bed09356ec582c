//! [`GuardEvent`]: what every guard's listeners receive.

/// Something that happened in a guard: which one (its name, borrowed for
/// the listener's call: `to_string()` it to keep it) and what (`K`, the
/// guard's kind of event). Each guard names its own:
/// [`CircuitBreakerEvent`](crate::circuit_breaker::CircuitBreakerEvent),
/// [`BulkheadEvent`](crate::bulkhead::BulkheadEvent),
/// [`ThreadPoolEvent`](crate::bulkhead::ThreadPoolEvent),
/// [`RetryEvent`](crate::retry::RetryEvent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardEvent<'a, K> {
    /// The guard's name.
    pub name: &'a str,
    /// What happened.
    pub kind: K,
}

/// A listener of a guard's events of kind `K`.
pub(crate) type Listener<K> = dyn for<'a> Fn(&GuardEvent<'a, K>) + Send + Sync;
