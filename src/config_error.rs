//! [`ConfigError`], the error of every builder: a leaf module, so that the
//! core (clock, window) and every primitive can name it without importing
//! the flat error and the primitives it is made of.

use std::fmt;

/// A builder, constructor or configuration file was given a value it
/// cannot use.
///
/// It names the field and the value, and says why. An error found in a
/// configuration (see `palisade::config`, feature `serde`) also names the
/// key path as written in the file (`pipelines.pricing.retry.max_attempts`)
/// and shows the value as it was written there.
///
/// # Examples
///
/// ```
/// use palisade::window::CountWindow;
///
/// let err = CountWindow::new(0).unwrap_err();
/// assert_eq!(err.field(), "window_size");
/// assert_eq!(err.value(), "0");
/// assert_eq!(err.path(), None);
/// assert!(err.to_string().contains("window_size"));
/// ```
///
/// One pointer wide (its details are boxed): the flat
/// [`Error`](crate::Error) carries it in a variant, and every guarded
/// call's result is as large as that enum's largest variant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{}` = {}: {}", self.detail.path.as_deref().unwrap_or(self.detail.field), self.detail.value, self.detail.reason)]
pub struct ConfigError {
    detail: Box<Detail>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Detail {
    field: &'static str,
    value: String,
    reason: &'static str,
    path: Option<Box<str>>,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, value: impl fmt::Debug, reason: &'static str) -> Self {
        Self {
            detail: Box::new(Detail {
                field,
                value: format!("{value:?}"),
                reason,
                path: None,
            }),
        }
    }

    /// This error, found at `path` in a configuration, where the value was
    /// written `written` (when known).
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn at(mut self, path: String, written: Option<String>) -> Self {
        self.detail.path = Some(path.into());
        if let Some(written) = written {
            self.detail.value = written;
        }
        self
    }

    /// This error, about a field a configuration calls `field`.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn renamed(mut self, field: &'static str) -> Self {
        self.detail.field = field;
        self
    }

    /// The name of the field (the builder setter) that was rejected.
    pub fn field(&self) -> &'static str {
        self.detail.field
    }

    /// The rejected value: as written in the configuration for an error
    /// found there, else as written by `Debug`.
    pub fn value(&self) -> &str {
        &self.detail.value
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &'static str {
        self.detail.reason
    }

    /// Where in a configuration the value was found
    /// (`pipelines.pricing.retry.max_attempts`), for an error found there.
    pub fn path(&self) -> Option<&str> {
        self.detail.path.as_deref()
    }
}
