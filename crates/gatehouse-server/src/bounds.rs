//! What the server accepts of numbers and times a client chooses, checked before any arithmetic or storage:
//! a value out of range is a 400 naming its field, never a panic or a failed write.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::error::ApiError;

/// The earliest time a client may send. Both databases store times as 64-bit Unix nanoseconds (1677 to
/// 2262); the accepted range sits inside that with room for the arithmetic done on it (usage buckets,
/// windows of days), so no accepted time can fail to store or overflow.
pub const EARLIEST: OffsetDateTime = datetime!(1900-01-01 0:00 UTC);
/// The first time a client may no longer send (exclusive).
pub const END: OffsetDateTime = datetime!(2262-01-01 0:00 UTC);

/// `t` if it is storable, else a 400 naming `field`.
pub fn client_time(field: &str, t: OffsetDateTime) -> Result<OffsetDateTime, ApiError> {
    if t < EARLIEST || t >= END {
        return Err(ApiError::invalid(field, "must be a time from 1900-01-01 to 2261-12-31 (UTC)"));
    }
    Ok(t)
}

pub fn opt_client_time(field: &str, t: Option<OffsetDateTime>) -> Result<Option<OffsetDateTime>, ApiError> {
    t.map(|t| client_time(field, t)).transpose()
}

/// A number of seconds a client asked for, checked against `0..=max` before it becomes a `Duration`.
pub fn seconds(field: &str, secs: i64, max: Duration) -> Result<Duration, ApiError> {
    if secs < 0 || secs > max.whole_seconds() {
        return Err(ApiError::invalid(field, format!("must be between 0 and {}", max.whole_seconds())));
    }
    Ok(Duration::seconds(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_time_is_storable_with_room_to_spare() {
        for t in [EARLIEST, END - Duration::nanoseconds(1)] {
            assert!(client_time("t", t).is_ok());
            // A usage series reaches back 30 days (of day buckets: up to 2,000 of them before `until`) and
            // forward one bucket.
            for edge in [t - Duration::days(2_001), t + Duration::days(90)] {
                assert!(i64::try_from(edge.unix_timestamp_nanos()).is_ok(), "{edge}");
            }
        }
        assert!(client_time("t", END).is_err());
        assert!(client_time("t", EARLIEST - Duration::nanoseconds(1)).is_err());
    }

    #[test]
    fn seconds_are_bounded_before_any_arithmetic() {
        let max = Duration::days(365);
        assert!(seconds("g", 1 << 62, max).is_err());
        assert!(seconds("g", i64::MIN, max).is_err());
        assert!(seconds("g", -1, max).is_err());
        assert_eq!(seconds("g", 31_536_000, max).ok(), Some(max));
    }
}
