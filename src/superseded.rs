//! Telling a hedge's losers from abandoned calls.
//!
//! A hedge drops the attempts it no longer needs inside [`dropping_losers`];
//! a guard that sees a call dropped before it ended asks
//! [`losers_dropping`], and does not count a loser as abandoned: a hedge
//! that lost a race says nothing about the dependency. The mark lives on
//! the thread for the length of the drop, which runs there synchronously,
//! so any guard inside a loser sees it, however deep.

use std::cell::Cell;

thread_local! {
    static LOSERS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `drop_them` (which drops a hedge's losing attempts) with the mark
/// set; the mark is restored after, also when a drop panics.
pub(crate) fn dropping_losers<R>(drop_them: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOSERS.with(|mark| mark.set(self.0));
        }
    }
    let _restore = Restore(LOSERS.with(|mark| mark.replace(true)));
    drop_them()
}

/// True while a hedge drops its losing attempts on this thread.
pub(crate) fn losers_dropping() -> bool {
    LOSERS.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_set_only_inside_and_restored_after_a_panic() {
        assert!(!losers_dropping());
        assert!(dropping_losers(losers_dropping));
        assert!(dropping_losers(|| dropping_losers(losers_dropping)));
        assert!(!losers_dropping());
        let unwound = std::panic::catch_unwind(|| dropping_losers(|| panic!("a loser's drop")));
        assert!(unwound.is_err());
        assert!(!losers_dropping());
    }
}
