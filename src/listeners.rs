//! Event listeners every guard shares: an append-only list that the call
//! path walks without a lock or a reference count.
//!
//! Listeners are added, never removed. Each node is published once through
//! a `OnceLock`, so a reader walks the list with one acquire load per node;
//! appends are serialised by a mutex that readers never take.
//!
//! `L` is the listener's trait object, for example
//! `dyn for<'a> Fn(&CircuitBreakerEvent<'a>) + Send + Sync`: events borrow from the guard
//! (its name) for the length of the call, so they need no `'static` data.

use std::sync::OnceLock;

use crate::sync::Mutex;

struct Node<L: ?Sized> {
    listener: Box<L>,
    next: OnceLock<Box<Node<L>>>,
}

/// The listeners of one guard.
pub(crate) struct Listeners<L: ?Sized> {
    first: OnceLock<Box<Node<L>>>,
    adding: Mutex<()>,
}

impl<L: ?Sized> Listeners<L> {
    pub(crate) fn new() -> Self {
        Self {
            first: OnceLock::new(),
            adding: Mutex::new(()),
        }
    }

    /// Appends a listener. A call racing the registration may or may not
    /// reach it.
    pub(crate) fn add(&self, listener: Box<L>) {
        let _adding = self.adding.lock();
        let mut slot = &self.first;
        while let Some(node) = slot.get() {
            slot = &node.next;
        }
        let appended = slot
            .set(Box::new(Node {
                listener,
                next: OnceLock::new(),
            }))
            .is_ok();
        debug_assert!(appended, "appends are serialised");
    }

    /// Calls `call` with every listener, in the order added; with none
    /// registered, one load and `call` is not called (so the event it
    /// builds is never built).
    #[inline]
    pub(crate) fn emit(&self, call: impl Fn(&L)) {
        if let Some(first) = self.first.get() {
            Self::dispatch(first, &call);
        }
    }

    #[inline]
    fn dispatch(first: &Node<L>, call: &dyn Fn(&L)) {
        let mut node = first;
        loop {
            call(&node.listener);
            match node.next.get() {
                Some(next) => node = next,
                None => return,
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        std::iter::successors(self.first.get(), |node| node.next.get()).count()
    }
}

impl<L: ?Sized> std::fmt::Debug for Listeners<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::Listeners;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    type Listener = dyn Fn(&u32) + Send + Sync;

    #[test]
    fn every_listener_in_the_order_added() {
        let listeners = Listeners::<Listener>::new();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        for id in 0..3 {
            let seen = Arc::clone(&seen);
            listeners.add(Box::new(move |e: &u32| seen.lock().unwrap().push((id, *e))));
        }
        listeners.emit(|l| l(&7));
        assert_eq!(*seen.lock().unwrap(), vec![(0, 7), (1, 7), (2, 7)]);
        assert_eq!(listeners.len(), 3);
    }

    #[test]
    fn nothing_is_called_without_listeners() {
        let listeners = Listeners::<Listener>::new();
        let built = AtomicUsize::new(0);
        listeners.emit(|l| l(&(built.fetch_add(1, Ordering::Relaxed) as u32)));
        assert_eq!(built.load(Ordering::Relaxed), 0);
    }
}
