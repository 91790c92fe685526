//! Gateway usage over time: the requests of `/api/v1/usage`, summed per hour or day and per model or
//! subject, with their cost, for the console's charts.

use gatehouse_store::{UsageBucket, UsageGroup, UsageSeriesRow};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};

use gatehouse_core::token::Principal;

use super::audit::time_param;
use super::usage::{group_cost, usage_filter};
use super::usage_filters::WhoFilter;
use crate::error::ApiError;
use crate::state::App;

/// The most buckets one answer spans: a chart's worth (83 days of hours, 5 years of days).
pub const MAX_BUCKETS: i128 = 2_000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageSeriesQuery {
    /// `hour` (default) or `day`; buckets start at whole UTC hours or days.
    pub bucket: Option<String>,
    /// `model` (default) or `subject`.
    pub group_by: Option<String>,
    /// `<provider account>/<model>`, exactly.
    pub model: Option<String>,
    /// Only requests by this user (their email).
    pub user: Option<String>,
    /// Only requests by the team's current members and by its virtual accounts; a team you may read.
    pub team: Option<String>,
    /// Only requests made as this virtual account.
    pub virtual_account: Option<String>,
    /// RFC 3339; inclusive. Default: 24 hours (`hour`) or 30 days (`day`) before `until`.
    pub since: Option<String>,
    /// RFC 3339; exclusive. Default: the end of the current bucket.
    pub until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UsagePoint {
    /// The bucket's first instant, UTC.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: OffsetDateTime,
    /// The model (`<provider account>/<model>`) or the subject, as grouped.
    pub key: String,
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// US dollars, summed over the models: each request at the price in force when it ran; requests
    /// logged before costs were stored, at their model's current pricing. Null when none of the requests
    /// has a price.
    pub cost_usd: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageSeries {
    /// `hour` or `day`.
    pub bucket: &'static str,
    /// `model` or `subject`.
    pub group_by: &'static str,
    /// The window covered (inclusive), after defaults.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
    /// The end of the window (exclusive), after defaults.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub until: OffsetDateTime,
    /// Ordered by start, then key; buckets without requests are left out.
    pub series: Vec<UsagePoint>,
}

fn bucket_param(v: Option<&str>) -> Result<UsageBucket, ApiError> {
    match v {
        None | Some("hour") => Ok(UsageBucket::Hour),
        Some("day") => Ok(UsageBucket::Day),
        Some(other) => Err(ApiError::invalid("bucket", format!("{other:?} is not hour or day"))),
    }
}

fn group_param(v: Option<&str>) -> Result<UsageGroup, ApiError> {
    match v {
        None | Some("model") => Ok(UsageGroup::Model),
        Some("subject") => Ok(UsageGroup::Subject),
        Some(other) => Err(ApiError::invalid("group_by", format!("{other:?} is not model or subject"))),
    }
}

/// Which bucket `t` falls in, counted from the epoch (floor, also before 1970).
fn bucket_index(t: OffsetDateTime, bucket: UsageBucket) -> i128 {
    t.unix_timestamp_nanos().div_euclid(i128::from(bucket.seconds()) * 1_000_000_000)
}

/// The window after defaults: by default it ends with the bucket now is in, so the current (partial)
/// bucket is the last one shown, and spans a day of hours or a month of days.
fn window(
    bucket: UsageBucket,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let width = Duration::seconds(bucket.seconds());
    let until = match until {
        Some(u) => u,
        None => {
            let start = bucket_index(now, bucket) * width.whole_nanoseconds();
            OffsetDateTime::from_unix_timestamp_nanos(start).map_err(|e| ApiError::Internal(e.to_string()))? + width
        }
    };
    let since = since.unwrap_or(match bucket {
        UsageBucket::Hour => until - Duration::hours(24),
        UsageBucket::Day => until - Duration::days(30),
    });
    if since >= until {
        return Err(ApiError::invalid("since", "must be before until"));
    }
    let buckets = bucket_index(until - Duration::nanoseconds(1), bucket) - bucket_index(since, bucket) + 1;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::invalid(
            "since",
            format!(
                "the window spans {buckets} {} buckets; at most {MAX_BUCKETS} per answer: narrow since..until{}",
                bucket.as_str(),
                if bucket == UsageBucket::Hour { " or use bucket=day" } else { "" }
            ),
        ));
    }
    Ok((since, until))
}

/// Sums the store's per-model rows of each (bucket, key). Costs are worked out per model (stored ones, and
/// each model's own price for requests without one), so a subject's cost is right however many models it
/// used.
fn points(app: &App, rows: Vec<UsageSeriesRow>) -> Vec<UsagePoint> {
    let s = app.snapshot();
    let mut out: Vec<UsagePoint> = Vec::new();
    for r in rows {
        let cost = group_cost(&s, &r.model, r.cost_usd, r.uncosted_input_tokens, r.uncosted_output_tokens);
        match out.last_mut() {
            Some(p) if p.start == r.start && p.key == r.key => {
                p.requests += r.requests;
                p.errors += r.errors;
                p.input_tokens += r.input_tokens;
                p.output_tokens += r.output_tokens;
                p.cost_usd = match (p.cost_usd, cost) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
            }
            _ => out.push(UsagePoint {
                start: r.start,
                key: r.key,
                requests: r.requests,
                errors: r.errors,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cost_usd: cost,
            }),
        }
    }
    out
}

/// Gateway usage per hour or day and per model or subject, over the requests the caller may read (as
/// for `/api/v1/usage`: their own, those of the virtual accounts they may manage, all for admins).
pub async fn series(app: &App, p: &Principal, q: UsageSeriesQuery) -> Result<UsageSeries, ApiError> {
    let bucket = bucket_param(q.bucket.as_deref())?;
    let group = group_param(q.group_by.as_deref())?;
    let since = time_param("since", q.since.as_deref())?;
    let until = time_param("until", q.until.as_deref())?;
    let (since, until) = window(bucket, since, until, app.now())?;
    let who = WhoFilter { user: q.user, team: q.team, virtual_account: q.virtual_account };
    let filter = usage_filter(app, p, &who, q.model, Some(since), Some(until))?;
    let rows = app.store.usage_series(&filter, bucket, group).await?;
    Ok(UsageSeries { bucket: bucket.as_str(), group_by: group.as_str(), since, until, series: points(app, rows) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn default_windows_end_with_the_current_bucket() {
        let now = t(1_800_000_000 + 1_234);
        let (since, until) = window(UsageBucket::Hour, None, None, now).unwrap();
        assert_eq!((since, until), (t(1_800_000_000 + 3_600 - 86_400), t(1_800_000_000 + 3_600)));
        let (since, until) = window(UsageBucket::Day, None, None, now).unwrap();
        let day = 1_800_000_000 - 1_800_000_000 % 86_400;
        assert_eq!((since, until), (t(day + 86_400 - 30 * 86_400), t(day + 86_400)));
        let (since, _) = window(UsageBucket::Hour, None, Some(t(7_200)), now).unwrap();
        assert_eq!(since, t(7_200 - 86_400));
    }

    #[test]
    fn windows_are_limited_in_buckets() {
        let now = t(1_800_000_000);
        // 2,000 whole hours fit; one nanosecond more touches a 2,001st.
        let since = t(0);
        assert!(window(UsageBucket::Hour, Some(since), Some(t(2_000 * 3_600)), now).is_ok());
        let over = t(2_000 * 3_600) + Duration::nanoseconds(1);
        assert!(matches!(window(UsageBucket::Hour, Some(since), Some(over), now),
            Err(ApiError::Invalid(e)) if e.path.to_string() == "since"));
        assert!(window(UsageBucket::Day, Some(since), Some(over), now).is_ok());
        assert!(matches!(window(UsageBucket::Hour, Some(t(5)), Some(t(5)), now),
            Err(ApiError::Invalid(e)) if e.path.to_string() == "since"));
    }
}
