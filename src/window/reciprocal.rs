//! Division of `u64` by a divisor fixed at construction, by multiplication
//! (Granlund and Montgomery's round-up method with the add step), so that
//! turning `now` into a bucket epoch costs a multiply and two shifts instead
//! of a 64-bit `div`.

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
