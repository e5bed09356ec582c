//! A counter tagged with the window generation it belongs to.
//!
//! Every count a window keeps (calls, failures, slow calls; per bucket in a
//! time window) is one `u64`: `tag:24 | count:40`. The tag is the low bits
//! of the generation. A record changes a count only by a compare-and-swap
//! that checks the tag, so a recorder of an earlier generation can never
//! add to a later one, whatever the interleaving: that is what makes a
//! fresh generation fresh. A recorder whose generation is newer than the
//! word's restarts the word (lazy reset); one whose generation is older is
//! told so and gives up.
//!
//! Tags compare by serial-number arithmetic: a recorder would have to stall
//! between its generation check and its compare-and-swap while 2^23 state
//! changes happen for a tag to alias.

use crate::sync::{AtomicU64, Ordering};

const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;
const HALF_TAGS: u64 = 1 << (63 - COUNT_BITS);

#[inline]
fn tag(generation: u64) -> u64 {
    generation & TAG_MASK
}

#[inline]
fn pack(tag: u64, count: u64) -> u64 {
    tag << COUNT_BITS | (count & COUNT_MASK)
}

/// True if tag `a` is later than tag `b`.
#[inline]
fn later(a: u64, b: u64) -> bool {
    let d = a.wrapping_sub(b) & TAG_MASK;
    d != 0 && d < HALF_TAGS
}

/// One generation-tagged count. The count is a 40-bit two's-complement
/// value, so a transiently negative sum (a removal applied before the
/// matching addition) reads back correctly.
#[derive(Debug, Default)]
pub(crate) struct Tagged(AtomicU64);

impl Tagged {
    /// Zero in `generation`. The caller publishes the generation (Release)
    /// after restarting its counts. A read-modify-write, so it is ordered
    /// after every compare-and-swap it replaces.
    #[inline]
    pub(crate) fn restart(&self, generation: u64) {
        self.0.swap(pack(tag(generation), 0), Ordering::AcqRel);
    }

    /// Writes `count` in `generation` (a bucket being published).
    #[inline]
    pub(crate) fn set(&self, generation: u64, count: u64) {
        self.0
            .store(pack(tag(generation), count), Ordering::Release);
    }

    /// Adds `delta` if the word is of `generation` (restarting it at `delta`
    /// if it is of an earlier one). False if the word belongs to a later
    /// generation: the caller's record is stale and is dropped.
    #[inline]
    pub(crate) fn add(&self, generation: u64, delta: i64) -> bool {
        let mine = tag(generation);
        // Relaxed: the CAS below validates whatever we read.
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let theirs = current >> COUNT_BITS;
            let next = if theirs == mine {
                pack(mine, current.wrapping_add(delta as u64))
            } else if later(mine, theirs) {
                pack(mine, delta as u64)
            } else {
                return false;
            };
            // Release: a reader that sees this count also sees the counts
            // the same record changed before it (calls before failures).
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// The count in `generation`: 0 if the word holds another generation.
    #[inline]
    pub(crate) fn read(&self, generation: u64) -> i64 {
        // Acquire: pairs with `add`'s Release (see there).
        let word = self.0.load(Ordering::Acquire);
        if word >> COUNT_BITS != tag(generation) {
            return 0;
        }
        // Sign-extend the 40-bit count.
        ((word << (64 - COUNT_BITS)) as i64) >> (64 - COUNT_BITS)
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_only_in_their_generation() {
        let t = Tagged::default();
        t.restart(5);
        assert!(t.add(5, 3));
        assert!(t.add(5, -4));
        assert_eq!(t.read(5), -1, "transiently negative reads back");
        assert!(t.add(5, 2));
        assert_eq!(t.read(5), 1);
        assert_eq!(t.read(6), 0);
        assert!(!t.add(4, 1), "an earlier generation is refused");
        assert!(t.add(6, 7), "a later one restarts the word");
        assert_eq!((t.read(6), t.read(5)), (7, 0));
    }

    #[test]
    fn tags_order_across_the_wrap() {
        let t = Tagged::default();
        t.restart(TAG_MASK);
        assert!(t.add(TAG_MASK + 1, 1), "tag 0 follows the last tag");
        assert!(!t.add(TAG_MASK, 1));
    }
}
