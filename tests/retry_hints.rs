//! Remote retry hints (`Retry-After`, `grpc-retry-pushback-ms`) are bounded:
//! any value, however large or malformed, parses without a panic or an
//! overflow, and a far-future value is far, never "now".

use std::time::{Duration, UNIX_EPOCH};

use palisade::retry::hint::{grpc_retry_pushback, retry_after, Hint};
use proptest::prelude::*;

#[test]
fn a_far_future_retry_after_date_saturates_instead_of_reading_as_now() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // Wrapped to 0 ns in release and panicked in debug before.
    let far = retry_after("Sun, 06 Nov 584554051224 08:49:37 GMT", now).unwrap();
    assert!(far > Duration::from_secs(1_000_000_000_000), "{far:?}");
    let later = retry_after("Fri, 31 Dec 9999999999999999999 23:59:59 GMT", now);
    assert!(later.is_none() || later.unwrap() >= far, "{later:?}");
}

#[test]
fn retry_after_seconds_too_large_for_u64_saturate() {
    let now = UNIX_EPOCH;
    let huge = retry_after("99999999999999999999999", now).unwrap();
    assert_eq!(huge, Duration::from_secs(u64::MAX));
    assert_eq!(
        grpc_retry_pushback("99999999999999999999999"),
        Some(Hint::After(Duration::from_millis(u64::MAX)))
    );
    assert_eq!(
        grpc_retry_pushback("-99999999999999999999999"),
        Some(Hint::DoNotRetry)
    );
}

proptest! {
    #[test]
    fn any_text_parses_without_a_panic(value in ".{0,64}", now in 0u64..=u64::MAX) {
        let now = UNIX_EPOCH + Duration::from_secs(now / 2);
        let _ = retry_after(&value, now);
        let _ = grpc_retry_pushback(&value);
    }

    #[test]
    fn any_date_fields_parse_without_a_panic_and_later_years_are_not_sooner(
        year in 1970u64..=u64::MAX,
        day in 1u64..=31,
        month in 0usize..12,
        h in 0u64..24,
        m in 0u64..60,
        s in 0u64..61,
    ) {
        const MONTHS: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let date = |y: u64| format!("Mon, {day:02} {} {y} {h:02}:{m:02}:{s:02} GMT", MONTHS[month]);
        let now = UNIX_EPOCH;
        let this = retry_after(&date(year), now);
        prop_assert!(this.is_some());
        if let Some(next) = year.checked_add(1) {
            prop_assert!(retry_after(&date(next), now) >= this);
        }
    }

    #[test]
    fn any_digits_parse_as_saturated_numbers(digits in "[0-9]{1,40}") {
        let exact: Option<u64> = digits.parse().ok();
        let secs = retry_after(&digits, UNIX_EPOCH).unwrap();
        prop_assert_eq!(secs, Duration::from_secs(exact.unwrap_or(u64::MAX)));
    }
}
