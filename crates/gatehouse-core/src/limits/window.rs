//! The time arithmetic of limits: sliding windows made of buckets, and UTC calendar periods.
//!
//! A sliding window of length `W` is kept as buckets of `W / BUCKETS` seconds. An admission at a time in
//! bucket `i` counts buckets `i - BUCKETS ..= i` (one more than `W` holds), so any stretch of `W` seconds,
//! wherever it starts, lies inside the buckets one admission counted: no window of `W` seconds ever admits
//! more than the limit. What is admitted stays counted for between `W` and `W + W / BUCKETS` seconds.

use time::{Date, Duration, OffsetDateTime, Time, Weekday};

/// Buckets per window: a request stays counted at most 1/12 of the window longer than the window.
pub const BUCKETS: i64 = 12;

/// How long a count lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    /// A sliding window of this many seconds (a minute, an hour or a day).
    Sliding(i64),
    /// A UTC calendar day, week (from Monday) or month.
    Day,
    Week,
    Month,
}

impl Period {
    /// Seconds per bucket of a sliding window; `None` for calendar periods.
    pub fn bucket_secs(self) -> Option<i64> {
        match self {
            Period::Sliding(w) => Some((w / BUCKETS).max(1)),
            Period::Day | Period::Week | Period::Month => None,
        }
    }

    /// The slot `now` falls in: a bucket number for a sliding window, the start of the period (Unix
    /// seconds) for a calendar one. Counts in different slots are different counts.
    pub fn slot(self, now: OffsetDateTime) -> i64 {
        let t = now.unix_timestamp();
        match self.bucket_secs() {
            Some(b) => t.div_euclid(b),
            None => self.start(now).unix_timestamp(),
        }
    }

    /// The oldest slot an admission in `slot` still counts, for a sliding window; the slot itself otherwise.
    pub fn oldest_counted(self, slot: i64) -> i64 {
        match self {
            Period::Sliding(_) => slot - BUCKETS,
            Period::Day | Period::Week | Period::Month => slot,
        }
    }

    /// When what was counted in `slot` stops counting (Unix seconds).
    pub fn expires(self, slot: i64) -> i64 {
        match self.bucket_secs() {
            Some(b) => (slot + BUCKETS + 1) * b,
            None => match OffsetDateTime::from_unix_timestamp(slot) {
                Ok(start) => self.end(start).unix_timestamp(),
                Err(_) => slot,
            },
        }
    }

    /// The start of the calendar period `now` is in (for a sliding window: the start of its bucket).
    pub fn start(self, now: OffsetDateTime) -> OffsetDateTime {
        let now = now.to_offset(time::UtcOffset::UTC);
        let midnight = |d: Date| d.with_time(Time::MIDNIGHT).assume_utc();
        match self {
            Period::Sliding(_) => {
                let b = self.bucket_secs().unwrap_or(1);
                let t = now.unix_timestamp().div_euclid(b) * b;
                OffsetDateTime::from_unix_timestamp(t).unwrap_or(now)
            }
            Period::Day => midnight(now.date()),
            Period::Week => {
                let back = i64::from(now.weekday().number_days_from_monday());
                midnight(now.date()) - Duration::days(back)
            }
            Period::Month => {
                let first = Date::from_calendar_date(now.year(), now.month(), 1).unwrap_or(now.date());
                midnight(first)
            }
        }
    }

    /// The end of the calendar period that starts at `start` (exclusive).
    pub fn end(self, start: OffsetDateTime) -> OffsetDateTime {
        match self {
            Period::Sliding(_) => start + Duration::seconds(self.bucket_secs().unwrap_or(1)),
            Period::Day => start + Duration::days(1),
            Period::Week => start + Duration::weeks(1),
            Period::Month => {
                let d = start.date();
                let (y, m) = match d.month() {
                    time::Month::December => (d.year() + 1, time::Month::January),
                    other => (d.year(), other.next()),
                };
                Date::from_calendar_date(y, m, 1).map(|d| d.with_time(Time::MIDNIGHT).assume_utc()).unwrap_or(start)
            }
        }
    }

    /// The window's length for headers and documentation: seconds for sliding windows, the name otherwise.
    pub fn describe(self) -> String {
        match self {
            Period::Sliding(60) => "minute".into(),
            Period::Sliding(3600) => "hour".into(),
            Period::Sliding(86400) => "day".into(),
            Period::Sliding(s) => format!("{s}s"),
            Period::Day => "UTC day".into(),
            Period::Week => "UTC week (from Monday)".into(),
            Period::Month => "UTC month".into(),
        }
    }
}

/// Keeps the compiler honest about the week's start.
pub const WEEK_STARTS: Weekday = Weekday::Monday;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn calendar_periods_start_on_utc_boundaries_and_weeks_on_monday() {
        let now = datetime!(2026-12-06 13:45:10 UTC); // a Sunday
        assert_eq!(Period::Day.start(now), datetime!(2026-12-06 0:00 UTC));
        assert_eq!(Period::Week.start(now), datetime!(2026-11-30 0:00 UTC));
        assert_eq!(Period::Week.start(now).weekday(), WEEK_STARTS);
        assert_eq!(Period::Month.start(now), datetime!(2026-12-01 0:00 UTC));
        assert_eq!(Period::Month.end(Period::Month.start(now)), datetime!(2027-01-01 0:00 UTC));
        assert_eq!(Period::Week.end(Period::Week.start(now)), datetime!(2026-12-07 0:00 UTC));
        let other_zone = datetime!(2026-12-07 01:00 +03:00); // still Sunday in UTC
        assert_eq!(Period::Day.start(other_zone), datetime!(2026-12-06 0:00 UTC));
    }

    #[test]
    fn a_sliding_minute_has_five_second_buckets_and_counts_thirteen_of_them() {
        let p = Period::Sliding(60);
        assert_eq!(p.bucket_secs(), Some(5));
        let now = datetime!(2026-12-06 13:45:12 UTC);
        let slot = p.slot(now);
        assert_eq!(slot * 5, datetime!(2026-12-06 13:45:10 UTC).unix_timestamp());
        assert_eq!(p.oldest_counted(slot), slot - 12);
        // Counted in 13:45:10-15, it stops counting at 13:46:15: between 60 and 65 s after admission.
        assert_eq!(p.expires(slot), datetime!(2026-12-06 13:46:15 UTC).unix_timestamp());
    }

    #[test]
    fn a_calendar_slot_expires_at_the_period_end() {
        let now = datetime!(2026-02-14 08:00 UTC);
        let slot = Period::Month.slot(now);
        assert_eq!(Period::Month.expires(slot), datetime!(2026-03-01 0:00 UTC).unix_timestamp());
    }
}
