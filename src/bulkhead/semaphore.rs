//! The semaphore behind [`Bulkhead`](super::Bulkhead): lock-free when a
//! place is free, a FIFO queue under a lock when callers wait.
//!
//! One word holds the calls in flight (low 32 bits) and a `WAITING` flag,
//! set exactly while the queue holds a waiter. Admission without waiters is
//! one compare-and-swap; release is one `fetch_sub`. While the flag is set,
//! no caller takes a place without the lock, so a freed place goes to the
//! oldest waiter (FIFO, no barging): a release that sees the flag takes the
//! lock and hands free places to waiters in order.
//!
//! The limit is a separate word, changed live: shrinking never revokes a
//! running call (calls in flight may exceed the limit until they end);
//! growing hands the new places to waiters at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use crate::sync::{AtomicU64, Mutex, Ordering};

const IN_FLIGHT: u64 = u32::MAX as u64;
const WAITING: u64 = 1 << 32;

/// A queued caller: granted a place under the queue lock, woken after.
#[derive(Debug)]
pub(crate) struct Waiter {
    state: Mutex<WaiterState>,
}

#[derive(Debug, Default)]
struct WaiterState {
    granted: bool,
    waker: Option<Waker>,
}

impl Waiter {
    fn new() -> Self {
        Self {
            state: Mutex::new(WaiterState::default()),
        }
    }

    /// True once granted; otherwise remembers `waker` to be woken when it
    /// is.
    pub(crate) fn granted_or_register(&self, waker: &Waker) -> bool {
        let mut state = self.state.lock();
        if !state.granted {
            match &mut state.waker {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
        state.granted
    }

    fn grant(&self) -> Option<Waker> {
        let mut state = self.state.lock();
        state.granted = true;
        state.waker.take()
    }
}

/// What a caller that may wait got.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A place, now.
    Admitted,
    /// In the queue; wait for [`Waiter::granted_or_register`].
    Queued(Arc<Waiter>),
    /// The queue is full (or the bulkhead never queues).
    Full,
}

/// What a waiter that gives up holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    /// It left the queue holding nothing.
    Queue,
    /// It had been granted a place just before: it holds it now.
    Granted,
}

#[derive(Debug)]
pub(crate) struct Semaphore {
    state: AtomicU64,
    limit: AtomicU64,
    /// Waiters, oldest first; `WAITING` is set exactly while it is not
    /// empty. Also serialises resizes.
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// `queue.len()`, readable without the lock.
    waiting: AtomicU64,
}

impl Semaphore {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            state: AtomicU64::new(0),
            limit: AtomicU64::new(u64::from(limit)),
            queue: Mutex::new(VecDeque::new()),
            waiting: AtomicU64::new(0),
        }
    }

    /// Takes a place if one is free and nobody waits; never waits, never
    /// locks.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // Acquire on success: a permit orders what its holder does after
        // the previous holder's release, as any semaphore.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Relaxed: a resize racing the call may be seen or not.
            if state & WAITING != 0 || state & IN_FLIGHT >= self.limit.load(Ordering::Relaxed) {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Takes a place, or queues behind the waiters if `max_waiters` allows
    /// (0: never queue).
    pub(crate) fn acquire_or_queue(&self, max_waiters: u32) -> Entry {
        if self.try_acquire() {
            return Entry::Admitted;
        }
        if max_waiters == 0 {
            return Entry::Full;
        }
        let mut queue = self.queue.lock();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if queue.is_empty() && state & IN_FLIGHT < self.limit.load(Ordering::Relaxed) {
                match self.state.compare_exchange_weak(
                    state,
                    state + 1,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Entry::Admitted,
                    Err(actual) => {
                        state = actual;
                        continue;
                    }
                }
            }
            if queue.len() >= max_waiters as usize {
                return Entry::Full;
            }
            // The flag by a swap from the state just judged full: a release
            // that ran since makes it fail (and we look again); one that runs
            // after sees the flag and comes for the lock, which we hold until
            // the waiter is queued. Resizes take the lock too.
            match self.state.compare_exchange_weak(
                state,
                state | WAITING,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        let waiter = Arc::new(Waiter::new());
        queue.push_back(Arc::clone(&waiter));
        // Keeps `waiting` exact (and would grant the waiter at once had a
        // place freed, which the swap above rules out).
        let wake = self.drain(&mut queue);
        drop(queue);
        wake_all(wake);
        Entry::Queued(waiter)
    }

    /// Gives a place back.
    #[inline]
    pub(crate) fn release(&self) {
        // Release: see `try_acquire`.
        let before = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(before & IN_FLIGHT > 0, "released more than acquired");
        if before & WAITING != 0 {
            self.hand_over();
        }
    }

    /// Gives free places to waiters, oldest first.
    #[cold]
    fn hand_over(&self) {
        let mut queue = self.queue.lock();
        let wake = self.drain(&mut queue);
        drop(queue);
        wake_all(wake);
    }

    /// Under the queue lock: grants free places to waiters in order and
    /// clears `WAITING` if the queue empties. Returns whom to wake (after
    /// the lock is let go).
    fn drain(&self, queue: &mut VecDeque<Arc<Waiter>>) -> Vec<Waker> {
        let mut wake = Vec::new();
        while !queue.is_empty() {
            // Only this lock's holder takes places while `WAITING` is set;
            // releases may still free them concurrently.
            let state = self.state.load(Ordering::Acquire);
            if state & IN_FLIGHT >= self.limit.load(Ordering::Relaxed) {
                break;
            }
            if self
                .state
                .compare_exchange(state, state + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let waiter = queue.pop_front().expect("not empty");
            wake.extend(waiter.grant());
        }
        if queue.is_empty() {
            self.state.fetch_and(!WAITING, Ordering::AcqRel);
        }
        // Relaxed: a reading for metrics.
        self.waiting.store(queue.len() as u64, Ordering::Relaxed);
        wake
    }

    /// A waiter gives up (dropped, or its maximum wait passed).
    pub(crate) fn leave(&self, waiter: &Arc<Waiter>) -> Left {
        let mut queue = self.queue.lock();
        let Some(at) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) else {
            // Not queued any more: `drain` granted it a place.
            return Left::Granted;
        };
        queue.remove(at);
        // Its leaving may let the next one in (a place freed by a shrink
        // that this waiter could not take cannot be taken by the next
        // either, but keep the flag exact).
        let wake = self.drain(&mut queue);
        drop(queue);
        wake_all(wake);
        Left::Queue
    }

    /// Sets the limit; growing it hands the new places to waiters.
    pub(crate) fn resize(&self, limit: u32) {
        let mut queue = self.queue.lock();
        self.limit.store(u64::from(limit), Ordering::Relaxed);
        let wake = self.drain(&mut queue);
        drop(queue);
        wake_all(wake);
    }

    pub(crate) fn in_flight(&self) -> u32 {
        (self.state.load(Ordering::Relaxed) & IN_FLIGHT) as u32
    }

    pub(crate) fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed) as u32
    }

    pub(crate) fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed) as u32
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;

    fn granted(w: &Waiter) -> bool {
        w.granted_or_register(Waker::noop())
    }

    #[test]
    fn fifo_hand_over_and_no_barging() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let Entry::Queued(a) = s.acquire_or_queue(2) else {
            panic!()
        };
        let Entry::Queued(b) = s.acquire_or_queue(2) else {
            panic!()
        };
        assert!(matches!(s.acquire_or_queue(2), Entry::Full));
        s.release();
        assert!(granted(&a) && !granted(&b));
        assert!(!s.try_acquire(), "a waiter is queued: no barging");
        s.release();
        assert!(granted(&b));
        s.release();
        assert_eq!((s.in_flight(), s.waiting()), (0, 0));
        assert!(s.try_acquire(), "queue empty again: the fast path is back");
    }

    #[test]
    fn resize_never_revokes_and_grows_into_waiters() {
        let s = Semaphore::new(2);
        assert!(s.try_acquire() && s.try_acquire());
        s.resize(1);
        assert_eq!(s.in_flight(), 2);
        let Entry::Queued(w) = s.acquire_or_queue(1) else {
            panic!()
        };
        s.release();
        assert!(!granted(&w), "still at the limit of 1");
        s.resize(3);
        assert!(granted(&w));
        assert_eq!(s.in_flight(), 2);
    }

    #[test]
    fn leaving_the_queue_holds_nothing_unless_granted() {
        let s = Semaphore::new(1);
        assert!(s.try_acquire());
        let Entry::Queued(w) = s.acquire_or_queue(1) else {
            panic!()
        };
        assert_eq!(s.leave(&w), Left::Queue);
        assert_eq!(s.waiting(), 0);
        let Entry::Queued(w) = s.acquire_or_queue(1) else {
            panic!()
        };
        s.release();
        assert_eq!(s.leave(&w), Left::Granted);
        assert_eq!(s.in_flight(), 1);
    }
}
