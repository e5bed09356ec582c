//! The one seedable random source: SplitMix64 (Steele, Lea and Flood,
//! "Fast splittable pseudorandom number generators", 2014), for jitter in
//! the breaker's open backoff and in retry delays; and the seed used when
//! none is given.

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output mix of a state.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The next value of a generator held in `state`.
#[inline]
pub(crate) fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GAMMA);
    mix(*state)
}

/// The next value of a generator shared between threads: the add is the
/// only shared write, so concurrent draws stay distinct (lock-free).
#[inline]
pub(crate) fn next_shared(state: &AtomicU64) -> u64 {
    mix(state
        .fetch_add(GAMMA, Ordering::Relaxed)
        .wrapping_add(GAMMA))
}

/// A value uniform in `[0, 1)` from a `u64`.
#[inline]
pub(crate) fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A seed that differs between processes and instances (from std's
/// randomly keyed hasher).
pub(crate) fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference sequence of SplitMix64 from seed 0 (as in the Java
    /// and C reference implementations).
    #[test]
    fn the_reference_sequence() {
        let mut state = 0;
        assert_eq!(next(&mut state), 0xe220_a839_7b1d_cdaf);
        assert_eq!(next(&mut state), 0x6e78_9e6a_a1b9_65f4);
        let shared = AtomicU64::new(0);
        assert_eq!(next_shared(&shared), 0xe220_a839_7b1d_cdaf);
        assert!(unit_interval(u64::MAX) < 1.0);
    }

    #[test]
    fn draws_stay_in_the_unit_interval() {
        let mut state = 1;
        for _ in 0..10_000 {
            let x = unit_interval(next(&mut state));
            assert!((0.0..1.0).contains(&x));
        }
    }
}
