//! Reading the API's response headers: `Retry-After` and the rate-limit pair.
//!
//! A missing or garbled header is `None`, never an error: these headers are advice, and a
//! response must not fail because of them.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, RETRY_AFTER};

use crate::RateLimit;

pub(crate) const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub(crate) const RATE_LIMIT_REMAINING: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining");

/// The longest wait a `Retry-After` can ask for; anything longer is taken as this. A day is
/// far past any sensible retry, and it keeps `Duration` arithmetic away from overflow.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// `Retry-After` as seconds (`2`, `1.5`) or as an HTTP date, measured from `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        // `f64` parsing also takes "inf", "NaN", "-1" and "+5": none of them starts with a
        // digit, as a count of seconds does. A count too long for a float (400 digits) is
        // still a count, and is held to the cap.
        let digits = value.starts_with(|c: char| c.is_ascii_digit())
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+'));
        if !digits {
            return None;
        }
        return Some(Duration::from_secs_f64(
            seconds.min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    // A date in the past means "now".
    let wait = date.duration_since(now).unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// `X-RateLimit-Limit` and `X-RateLimit-Remaining`, when both are readable.
pub(crate) fn rate_limit(headers: &HeaderMap) -> Option<RateLimit> {
    let limit = count(headers, &RATE_LIMIT_LIMIT)?;
    let remaining = count(headers, &RATE_LIMIT_REMAINING)?;
    Some(RateLimit::new(limit, remaining))
}

/// A header holding a non-negative count. The spec types these as `number`, so `5.0` is read
/// as 5; fractions, negatives and text are unreadable.
fn count(headers: &HeaderMap, name: &HeaderName) -> Option<u32> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    if let Ok(count) = value.parse::<u32>() {
        return Some(count);
    }
    let number = value.parse::<f64>().ok()?;
    let whole = number.is_finite() && number >= 0.0 && number.fract() == 0.0;
    // `as` saturates, so an absurdly large count becomes `u32::MAX` rather than wrapping.
    whole.then_some(number as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert((*name).clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_reads_integer_and_decimal_seconds() {
        let now = SystemTime::now();
        let read = |v| retry_after(&headers(&[(&RETRY_AFTER, v)]), now);
        assert_eq!(read("2"), Some(Duration::from_secs(2)));
        assert_eq!(read(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(read("0"), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_reads_http_dates_relative_to_now() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let read = |v| retry_after(&headers(&[(&RETRY_AFTER, v)]), now);
        assert_eq!(
            read("Sun, 06 Nov 1994 08:50:07 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(read("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
    }

    #[test]
    fn garbled_retry_after_is_none() {
        let now = SystemTime::now();
        for garbage in [
            "soon", "-1", "-0.5", "NaN", "nan", "inf", "+inf", "-inf", "infinity", "", "1e400x",
            "+5", ".5",
        ] {
            assert_eq!(
                retry_after(&headers(&[(&RETRY_AFTER, garbage)]), now),
                None,
                "{garbage:?}"
            );
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn huge_retry_after_is_capped() {
        let digits = format!("1{}", "0".repeat(400));
        for huge in ["1e300", "1e400", "86401", &digits] {
            let read = retry_after(&headers(&[(&RETRY_AFTER, huge)]), SystemTime::now());
            assert_eq!(read, Some(MAX_RETRY_AFTER), "{huge}");
        }
    }

    #[test]
    fn rate_limit_needs_both_headers_readable() {
        let both = headers(&[(&RATE_LIMIT_LIMIT, "10"), (&RATE_LIMIT_REMAINING, "5.0")]);
        assert_eq!(rate_limit(&both), Some(RateLimit::new(10, 5)));
        let one = headers(&[(&RATE_LIMIT_LIMIT, "10")]);
        assert_eq!(rate_limit(&one), None);
        for garbage in ["-1", "2.5", "lots", "NaN"] {
            let bad = headers(&[(&RATE_LIMIT_LIMIT, "10"), (&RATE_LIMIT_REMAINING, garbage)]);
            assert_eq!(rate_limit(&bad), None, "{garbage:?}");
        }
    }
}
