//! [`ConfigError`], the error of every builder: a leaf module, so that the
//! core (clock, window) and every primitive can name it without importing
//! the flat error and the primitives it is made of.

use std::fmt;

/// A builder or constructor was given a value it cannot use.
///
/// It names the field and the value, and says why.
///
/// # Examples
///
/// ```
/// use palisade::window::CountWindow;
///
/// let err = CountWindow::new(0).unwrap_err();
/// assert_eq!(err.field(), "window_size");
/// assert_eq!(err.value(), "0");
/// assert!(err.to_string().contains("window_size"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}` = {value}: {reason}")]
pub struct ConfigError {
    field: &'static str,
    value: String,
    reason: &'static str,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, value: impl fmt::Debug, reason: &'static str) -> Self {
        Self {
            field,
            value: format!("{value:?}"),
            reason,
        }
    }

    /// The name of the field (the builder setter) that was rejected.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value, as written by `Debug`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}
