//! Event listeners every guard shares: an append-only list that the call
//! path walks without a lock or a reference count.
//!
//! Listeners are added, never removed. Each node is published once through
//! a `OnceLock`, so a reader walks the list with one acquire load per node;
//! appends are serialised by a mutex that readers never take.

use std::sync::OnceLock;

use crate::sync::Mutex;

/// A listener of events `E`.
pub(crate) type Listener<E> = Box<dyn Fn(&E) + Send + Sync>;

struct Node<E> {
    listener: Listener<E>,
    next: OnceLock<Box<Node<E>>>,
}

/// The listeners of one guard.
pub(crate) struct Listeners<E> {
    first: OnceLock<Box<Node<E>>>,
    adding: Mutex<()>,
}

impl<E> Listeners<E> {
    pub(crate) fn new() -> Self {
        Self {
            first: OnceLock::new(),
            adding: Mutex::new(()),
        }
    }

    /// Appends a listener. A call racing the registration may or may not
    /// reach it.
    pub(crate) fn add(&self, listener: Listener<E>) {
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

    /// Calls every listener with the event `make` builds; with none
    /// registered, one load and `make` is not called.
    #[inline]
    pub(crate) fn emit(&self, make: impl FnOnce() -> E) {
        if let Some(first) = self.first.get() {
            Self::dispatch(first, &make());
        }
    }

    #[inline]
    fn dispatch(first: &Node<E>, event: &E) {
        let mut node = first;
        loop {
            (node.listener)(event);
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

impl<E> std::fmt::Debug for Listeners<E> {
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

    #[test]
    fn every_listener_in_the_order_added() {
        let listeners = Listeners::<u32>::new();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        for id in 0..3 {
            let seen = Arc::clone(&seen);
            listeners.add(Box::new(move |e| seen.lock().unwrap().push((id, *e))));
        }
        listeners.emit(|| 7);
        assert_eq!(*seen.lock().unwrap(), vec![(0, 7), (1, 7), (2, 7)]);
        assert_eq!(listeners.len(), 3);
    }

    #[test]
    fn nothing_is_built_without_listeners() {
        let listeners = Listeners::<u32>::new();
        let built = AtomicUsize::new(0);
        listeners.emit(|| built.fetch_add(1, Ordering::Relaxed) as u32);
        assert_eq!(built.load(Ordering::Relaxed), 0);
    }
}
