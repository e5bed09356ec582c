//! Division and remainder by a divisor fixed at construction, by
//! multiplication instead of a `div`: [`Reciprocal`] divides any `u64`
//! (Granlund and Montgomery's round-up method with the add step), so that
//! turning `now` into a bucket epoch costs a multiply and two shifts;
//! [`FastMod`] takes the remainder of a number below 2^32 in two
//! multiplies (a count window's slot).

/// A precomputed reciprocal of a divisor `d >= 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reciprocal {
    divisor: u64,
    magic: u64,
    shift: u32,
}

impl Reciprocal {
    /// The reciprocal of `divisor`, which must be at least 1 (checked by the
    /// callers' `ConfigError`s; 0 is mapped to 1 here rather than panic).
    pub(crate) fn new(divisor: u64) -> Self {
        let divisor = divisor.max(1);
        if divisor == 1 {
            return Self {
                divisor,
                magic: 0,
                shift: 0,
            };
        }
        // l = ceil(log2(d)), 1..=64; m = floor(2^64 * (2^l - d) / d) + 1 < 2^64.
        let l = 64 - (divisor - 1).leading_zeros();
        let two_l = 1u128 << l;
        let magic = (((two_l - u128::from(divisor)) << 64) / u128::from(divisor) + 1) as u64;
        Self {
            divisor,
            magic,
            shift: l - 1,
        }
    }

    /// The divisor.
    pub(crate) fn divisor(&self) -> u64 {
        self.divisor
    }

    /// `n / divisor`, exactly, for every `n`.
    #[inline]
    pub(crate) fn divide(&self, n: u64) -> u64 {
        if self.divisor == 1 {
            return n;
        }
        let hi = ((u128::from(self.magic) * u128::from(n)) >> 64) as u64;
        (((n - hi) >> 1) + hi) >> self.shift
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        for d in [
            1u64,
            2,
            3,
            7,
            10,
            1 << 32,
            (1 << 63) - 1,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX,
        ] {
            let r = Reciprocal::new(d);
            for n in [
                0u64,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u64::MAX - 1,
                u64::MAX,
                1 << 63,
            ] {
                assert_eq!(r.divide(n), n / d, "{n} / {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_hardware_division(d in 1u64.., n: u64) {
            prop_assert_eq!(Reciprocal::new(d).divide(n), n / d);
        }

        #[test]
        fn matches_for_small_divisors(d in 1u64..100_000, n: u64) {
            prop_assert_eq!(Reciprocal::new(d).divide(n), n / d);
        }
    }
}

/// `n % d` for `n` below [`FastMod::LIMIT`] and a divisor `1 <= d < 2^32`
/// fixed at construction, by Lemire's direct remainder: two multiplies,
/// no shift, no `div` ("Faster Remainder by Direct Computation",
/// Lemire, Kaser and Kurz, 2019; exact for every 32-bit `n` and `d`).
/// The count window keeps its tickets below the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastMod {
    divisor: u64,
    /// `ceil(2^64 / d)` (0 for `d = 1`, whose remainder is always 0).
    magic: u64,
}

impl FastMod {
    /// The numerators this is exact for: every `n < LIMIT`.
    pub(crate) const LIMIT: u64 = 1 << 32;

    /// The remainder by `divisor`, which must be in `1..2^32` (0 is
    /// mapped to 1 rather than panic; the callers' `ConfigError`s keep
    /// divisors far below 2^32).
    pub(crate) fn new(divisor: u32) -> Self {
        let divisor = u64::from(divisor.max(1));
        Self {
            divisor,
            magic: (u64::MAX / divisor).wrapping_add(1),
        }
    }

    /// `n % divisor`, for `n < LIMIT`.
    #[inline(always)]
    pub(crate) fn rem(&self, n: u64) -> u64 {
        debug_assert!(n < Self::LIMIT);
        let low = self.magic.wrapping_mul(n);
        ((u128::from(low) * u128::from(self.divisor)) >> 64) as u64
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod fast_mod_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        for d in [1u32, 2, 3, 7, 10, 100, 1 << 20, (1 << 31) + 1, u32::MAX] {
            let m = FastMod::new(d);
            let d64 = u64::from(d);
            for n in [
                0,
                1,
                d64 - 1,
                d64,
                d64 + 1,
                FastMod::LIMIT - 1,
                FastMod::LIMIT / 2,
            ] {
                if n >= FastMod::LIMIT {
                    continue;
                }
                assert_eq!(m.rem(n), n % d64, "{n} % {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_hardware_remainder(d in 1u32.., n in 0..FastMod::LIMIT) {
            prop_assert_eq!(FastMod::new(d).rem(n), n % u64::from(d));
        }

        #[test]
        fn matches_for_window_sizes(d in 1u32..=(1 << 20), n in 0..FastMod::LIMIT) {
            prop_assert_eq!(FastMod::new(d).rem(n), n % u64::from(d));
        }
    }
}
