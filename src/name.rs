//! Instance names: a `&'static str` as given, or one shared string per
//! instance, freed with the last instance (and the last error) using it.
//!
//! A rejection carries the name of the guard that rejected it. A name
//! written in the code (`.name("inventory")`) is a static string: copying
//! it costs nothing. A name made at run time (`.name(host.to_owned())`,
//! per host, route or tenant) is reference counted, so a registry that
//! churns through such names keeps bounded memory (they were interned for
//! the life of the process before). Its count is taken when an error is
//! made, and per call only by the tower timeout's and fallback's response
//! futures.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A guard's name.
#[derive(Clone)]
pub(crate) enum Name {
    /// Written in the code: never freed, free to copy.
    Static(&'static str),
    /// Made at run time: freed with its last holder.
    Shared(Arc<str>),
}

impl Name {
    /// A name for a new instance.
    pub(crate) fn new(name: Cow<'static, str>) -> Self {
        match name {
            Cow::Borrowed(name) => Self::Static(name),
            Cow::Owned(name) => Self::Shared(Arc::from(name)),
        }
    }

    /// The name as a string slice.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Static(name) => name,
            Self::Shared(name) => name,
        }
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn names_compare_by_their_text() {
        let a = Name::new("inventory".into());
        assert_eq!(a, a.clone());
        assert_eq!(a, Name::new(String::from("inventory").into()));
        assert_ne!(a, Name::new("billing".into()));
        assert_eq!(&*a, "inventory");
        assert!(matches!(a, Name::Static(_)));
        assert!(matches!(
            Name::new(String::from("x").into()),
            Name::Shared(_)
        ));
    }
}
