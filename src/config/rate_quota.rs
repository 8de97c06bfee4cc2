//! A rate limit's quota as an operator writes it: `600/1m` is 600 requests a minute, all of
//! them at once if they come at once, then one every 100 ms (docs/security.md "Rate limits").

use std::time::Duration;

/// `quota` units per `window`: at most `quota` in a burst, refilled at `quota / window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateQuota {
    quota: u32,
    window: Duration,
}

const SHAPE: &str = "a rate limit is written COUNT/WINDOW, such as 600/1m, or off";
const COUNT: &str = "the count of a rate limit must be a whole number from 1 to 1000000000";
const WINDOW: &str = "the window of a rate limit must be a duration from 1s to 1d, such as 1m";

impl RateQuota {
    const MAX_COUNT: u32 = 1_000_000_000;
    const MAX_WINDOW: Duration = Duration::from_secs(86_400);

    /// `COUNT/WINDOW` (`600/1m`, `50/15m`, `10/1s`); `None` for `off`, which switches the limit
    /// off.
    pub fn parse(text: &str) -> Result<Option<Self>, &'static str> {
        let text = text.trim();
        if text == "off" {
            return Ok(None);
        }
        let (count, window) = text.split_once('/').ok_or(SHAPE)?;
        let count = count.trim();
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) || count.len() > 10 {
            return Err(COUNT);
        }
        let quota: u32 = count.parse().map_err(|_| COUNT)?;
        if quota == 0 || quota > Self::MAX_COUNT {
            return Err(COUNT);
        }
        let window = humantime::parse_duration(window.trim()).map_err(|_| WINDOW)?;
        if window < Duration::from_secs(1) || window > Self::MAX_WINDOW {
            return Err(WINDOW);
        }
        Ok(Some(Self { quota, window }))
    }

    pub fn quota(&self) -> u32 {
        self.quota
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// The time one unit takes to come back (GCRA's emission interval), in microseconds.
    pub fn interval_micros(&self) -> u64 {
        (self.window.as_micros() as u64 / u64::from(self.quota)).max(1)
    }
}

impl std::fmt::Display for RateQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.quota, humantime::format_duration(self.window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_is_a_count_over_a_window() {
        let quota = RateQuota::parse("600/1m").unwrap().unwrap();
        assert_eq!((quota.quota(), quota.window()), (600, Duration::from_secs(60)));
        assert_eq!(quota.interval_micros(), 100_000);
        assert_eq!(RateQuota::parse(" 50/15m ").unwrap().unwrap().window(), Duration::from_secs(900));
        assert_eq!(RateQuota::parse("off"), Ok(None));
    }

    #[test]
    fn malformed_quotas_say_what_is_wrong() {
        assert_eq!(RateQuota::parse("600"), Err(SHAPE));
        assert_eq!(RateQuota::parse("0/1m"), Err(COUNT));
        assert_eq!(RateQuota::parse("-1/1m"), Err(COUNT));
        assert_eq!(RateQuota::parse("ten/1m"), Err(COUNT));
        assert_eq!(RateQuota::parse("10/0s"), Err(WINDOW));
        assert_eq!(RateQuota::parse("10/2d"), Err(WINDOW));
        assert_eq!(RateQuota::parse("10/soon"), Err(WINDOW));
    }
}
