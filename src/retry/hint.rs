//! Delay hints from responses: HTTP `Retry-After` (seconds or an HTTP
//! date) and gRPC's `grpc-retry-pushback-ms`. Use them in a policy's
//! [`Decision::RetryAfter`](super::Decision::RetryAfter); with the `http`
//! feature, [`from_headers`] reads both from an `http::HeaderMap`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a response says about trying it again.
///
/// # Examples
///
/// ```
/// use palisade::retry::hint::{grpc_retry_pushback, Hint};
/// use std::time::Duration;
///
/// assert_eq!(grpc_retry_pushback("-1"), Some(Hint::DoNotRetry));
/// assert_eq!(grpc_retry_pushback("250").and_then(Hint::delay), Some(Duration::from_millis(250)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// Wait this long before the next try.
    After(Duration),
    /// Do not try again: a negative `grpc-retry-pushback-ms` (gRFC A6).
    DoNotRetry,
}

impl Hint {
    /// The delay, if the hint is one.
    pub fn delay(self) -> Option<Duration> {
        match self {
            Self::After(delay) => Some(delay),
            Self::DoNotRetry => None,
        }
    }
}

/// A `Retry-After` value: delay-seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, the IMF-fixdate form), relative to
/// `now`. A date in the past is a zero delay; anything else is `None`.
/// Values too large to represent saturate (about 584 billion years) and
/// never overflow: bound them with the retry's `max_hint`.
///
/// # Examples
///
/// ```
/// use palisade::retry::hint::retry_after;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_400); // 2015-10-21 07:26:40 UTC
/// assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(80)));
/// assert_eq!(retry_after("soon", now), None);
/// ```
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(saturating_digits(value)));
    }
    // Seconds since the epoch, saturated: a remote header may name any year.
    let at = Duration::from_secs(http_date(value)?);
    let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    Some(at.saturating_sub(now))
}

/// ASCII digits as a number, saturating at `u64::MAX` instead of failing
/// (a remote value is bounded later by the caller's `max_hint`).
fn saturating_digits(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    })
}

/// A `grpc-retry-pushback-ms` value: milliseconds to wait, or, negative,
/// "do not retry" (gRFC A6); `None` when malformed. Large values saturate.
///
/// # Examples
///
/// ```
/// use palisade::retry::hint::{grpc_retry_pushback, Hint};
/// use std::time::Duration;
///
/// assert_eq!(grpc_retry_pushback("250"), Some(Hint::After(Duration::from_millis(250))));
/// assert_eq!(grpc_retry_pushback("-1"), Some(Hint::DoNotRetry));
/// assert_eq!(grpc_retry_pushback("soon"), None);
/// ```
pub fn grpc_retry_pushback(value: &str) -> Option<Hint> {
    let value = value.trim();
    let (negative, digits) = match value.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, value),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if negative {
        Hint::DoNotRetry
    } else {
        Hint::After(Duration::from_millis(saturating_digits(digits)))
    })
}

/// Parses an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, into seconds
/// since the Unix epoch, saturating at `u64::MAX` for far-future years.
fn http_date(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let (h, m, s): (u64, u64, u64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(
        days.saturating_mul(86_400)
            .saturating_add(h * 3600 + m * 60 + s),
    )
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm), for `year >= 1970`; saturates at `u64::MAX` for years too
/// large to count in days.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400; // < 400: the arithmetic below cannot overflow
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.saturating_mul(146_097)
        .saturating_add(doe)
        .checked_sub(719_468)
}

/// The retry hint in response headers: `Retry-After` first, then
/// `grpc-retry-pushback-ms` (feature `http`).
///
/// # Examples
///
/// ```
/// use palisade::retry::hint::{from_headers, Hint};
/// use std::time::{Duration, SystemTime};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("retry-after", "3".parse().unwrap());
/// assert_eq!(from_headers(&headers, SystemTime::now()), Some(Hint::After(Duration::from_secs(3))));
/// ```
#[cfg(feature = "http")]
pub fn from_headers(headers: &http::HeaderMap, now: SystemTime) -> Option<Hint> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("retry-after")
        .and_then(|v| retry_after(v, now))
        .map(Hint::After)
        .or_else(|| text("grpc-retry-pushback-ms").and_then(grpc_retry_pushback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let at = http_date;
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(at("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(at("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951_825_600));
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(at("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(at("06 Nov 1994"), None);
    }

    #[test]
    fn past_dates_are_zero() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
    }
}
