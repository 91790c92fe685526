//! The request log summed per time bucket, in SQL: the log can hold millions of rows, and only the sums
//! need to leave the database.

use sqlx::{AnyPool, Row};

use super::codec::time_from_db;
use super::request_logs::{bind_all, conditions, persistent, SUMS};
use crate::{RequestLogFilter, StoreError, UsageBucket, UsageGroup, UsageSeriesRow};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

pub(crate) async fn read(
    pool: &AnyPool,
    filter: &RequestLogFilter,
    bucket: UsageBucket,
    group: UsageGroup,
) -> Result<Vec<UsageSeriesRow>, StoreError> {
    let Some((where_sql, params)) = conditions(filter)? else { return Ok(Vec::new()) };
    // `at` is Unix nanoseconds. Both databases truncate `%` towards zero, so `((at % w) + w) % w` is the
    // floor remainder, which keeps buckets right for times before 1970 too. The width is one of two
    // constants, written into the SQL rather than bound, so each statement stays one prepared text.
    let w = bucket.seconds() * NANOS_PER_SECOND;
    let key = match group {
        UsageGroup::Model => "model",
        UsageGroup::Subject => "subject",
    };
    let sql = format!(
        "SELECT at - ((at % {w}) + {w}) % {w} AS bucket_start, {key} AS group_key, model, {SUMS} \
         FROM request_logs{where_sql} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    );
    let rows = bind_all(sqlx::query(&sql).persistent(persistent(filter)), &params).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(UsageSeriesRow {
                start: time_from_db(r.try_get("bucket_start")?)?,
                key: r.try_get("group_key")?,
                model: r.try_get("model")?,
                requests: r.try_get("requests")?,
                errors: r.try_get("errors")?,
                input_tokens: r.try_get("input_tokens")?,
                output_tokens: r.try_get("output_tokens")?,
                cost_usd: r.try_get("cost_usd")?,
                uncosted_input_tokens: r.try_get("uncosted_input_tokens")?,
                uncosted_output_tokens: r.try_get("uncosted_output_tokens")?,
            })
        })
        .collect()
}
