//! Crate-wide limits on settings, in a leaf module that every primitive may
//! import without importing another primitive.

use std::time::Duration;

use crate::config_error::ConfigError;

/// The longest duration any setting takes (a breaker's open duration,
/// backoff maximum, half-open maximum wait and slow-call duration; a
/// timeout; a retry's maximum elapsed time and hint; a bulkhead's maximum
/// wait; a registry's idle timeout): 7 days. Longer is a [`ConfigError`];
/// for a dependency that must stay off, use
/// [`State::ForcedOpen`](crate::circuit_breaker::State::ForcedOpen).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// `d`, if set, is more than zero and at most [`MAX_DURATION`].
pub(crate) fn check_duration(field: &'static str, d: Option<Duration>) -> Result<(), ConfigError> {
    match d {
        Some(d) if d.is_zero() || d > MAX_DURATION => Err(ConfigError::new(
            field,
            d,
            "must be more than zero and at most MAX_DURATION (7 days)",
        )),
        _ => Ok(()),
    }
}
