//! The one panic detector of guarded calls: the breaker's future, the
//! pipeline's and the HTTP layers' all record a failure with it when the
//! operation's own poll unwinds.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls `fut`; if that poll unwinds, calls `on_unwind` (and the unwind
/// goes on).
#[inline(always)]
pub(crate) fn poll_noting_unwind<F: Future>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
    on_unwind: impl FnMut(),
) -> Poll<F::Output> {
    run_noting_unwind(|| fut.poll(cx), on_unwind)
}

/// Runs `op`; if it unwinds, calls `on_unwind` (and the unwind goes on).
/// Nothing is done on the normal path: the guard is forgotten.
#[inline(always)]
pub(crate) fn run_noting_unwind<R>(op: impl FnOnce() -> R, on_unwind: impl FnMut()) -> R {
    struct OnUnwind<G: FnMut()>(G);

    impl<G: FnMut()> Drop for OnUnwind<G> {
        fn drop(&mut self) {
            (self.0)();
        }
    }

    let guard = OnUnwind(on_unwind);
    let out = op();
    std::mem::forget(guard);
    out
}

#[cfg(test)]
mod tests {
    use super::poll_noting_unwind;
    use std::cell::Cell;
    use std::task::{Context, Waker};

    #[test]
    fn noted_only_when_the_poll_unwinds() {
        let noted = Cell::new(0);
        let mut cx = Context::from_waker(Waker::noop());
        let mut ready = std::pin::pin!(async { 1 });
        assert!(
            poll_noting_unwind(ready.as_mut(), &mut cx, || noted.set(noted.get() + 1)).is_ready()
        );
        assert_eq!(noted.get(), 0);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut panics = std::pin::pin!(async {
                if true {
                    panic!("in the poll");
                }
            });
            let _ = poll_noting_unwind(panics.as_mut(), &mut cx, || noted.set(noted.get() + 1));
        }));
        assert!(unwound.is_err());
        assert_eq!(noted.get(), 1);
    }
}
