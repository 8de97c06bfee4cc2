//! Time, injected: the resource-server verifier's clock (`idp_verify::clock`), so the provider
//! and a verifier in the same test move together. Production reads the system clock, tests
//! move a [`ManualClock`] to check expiry and key rotation without sleeping.
//!
//! Times are stored and signed as Unix seconds; people read and write them as RFC 3339
//! ([`rfc3339`], [`parse_time`]).

pub use idp_verify::clock::*;

/// `t` as RFC 3339 in UTC, whole seconds: `2026-12-01T09:30:00Z`.
pub fn rfc3339(t: UnixTime) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A point in time as an operator writes one: Unix seconds (`1764581400`), RFC 3339
/// (`2026-12-01T09:30:00Z`, `2026-12-01T10:30:00+01:00`, fractions of a second dropped), or a
/// duration before `now` (`15m`, `1h`, `7d`). `None` for anything else.
pub fn parse_time(text: &str, now: UnixTime) -> Option<UnixTime> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    if let Some(t) = parse_rfc3339(text) {
        return Some(t);
    }
    let ago = humantime::parse_duration(text).ok()?;
    Some(now - i64::try_from(ago.as_secs()).ok()?)
}

/// RFC 3339 `date-time` (§5.6): `T` or a space between date and time, `Z` or a numeric offset.
pub fn parse_rfc3339(text: &str) -> Option<UnixTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !text.is_ascii() {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &text[range];
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let separators_ok = bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let hours: i64 = rest[1..3].parse().ok()?;
            let minutes: i64 = rest[4..6].parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if rest.starts_with('-') {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let month_days = [31, if is_leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    // A leap second (:60) is read as the second after it.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_764_581_400), "2025-12-01T09:30:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3339_reads_back_what_it_prints_and_honours_offsets() {
        for t in [0, 951_782_400, 1_764_581_400, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(parse_rfc3339("2025-12-01T10:30:00+01:00"), Some(1_764_581_400));
        assert_eq!(parse_rfc3339("2025-12-01 09:30:00.123456Z"), Some(1_764_581_400));
        for bad in ["2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2025-12-01T09:30:00", "2025-12-01", "yesterday"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_time_is_seconds_rfc3339_or_a_duration_ago() {
        let now = 1_000_000;
        assert_eq!(parse_time("1764581400", now), Some(1_764_581_400));
        assert_eq!(parse_time("2025-12-01T09:30:00Z", now), Some(1_764_581_400));
        assert_eq!(parse_time("1h", now), Some(now - 3600));
        assert_eq!(parse_time("soon", now), None);
        assert_eq!(parse_time("", now), None);
    }
}
