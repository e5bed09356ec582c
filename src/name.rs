//! Instance names, interned once per distinct name for the life of the
//! process.
//!
//! A rejection carries the name of the guard that rejected it. Interning
//! makes that a copied pointer: a rejection costs no reference count, and
//! the error is `Copy` and `'static`. The cost is that each distinct name
//! stays in memory once, like the label sets a `metrics` recorder keeps;
//! names are meant to be a bounded set (one per dependency), not one per
//! request.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// An interned name: one thin pointer.
#[derive(Clone, Copy)]
pub(crate) struct Name(&'static String);

impl Name {
    /// The one copy of `name`, made on first use.
    pub(crate) fn intern(name: &str) -> Self {
        static NAMES: OnceLock<Mutex<HashMap<&'static str, &'static String>>> = OnceLock::new();
        let mut names = NAMES.get_or_init(Default::default).lock();
        if let Some(&interned) = names.get(name) {
            return Self(interned);
        }
        let interned: &'static String = Box::leak(Box::new(name.to_owned()));
        names.insert(interned.as_str(), interned);
        Self(interned)
    }

    /// The name as a string slice.
    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        // Interned: equal names are one allocation.
        std::ptr::eq(self.0, other.0)
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
    fn one_copy_per_distinct_name() {
        let a = Name::intern("inventory");
        let b = Name::intern(&String::from("inventory"));
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(a, b);
        assert_ne!(a, Name::intern("billing"));
        assert_eq!(&*a, "inventory");
    }
}
