//! The gateway's request log: appended in batches by the server's background writer, read back with a
//! filter, and summed per (subject, model).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::codec::{corrupt, time_from_db, time_to_db};
use super::connect::Dialect;
use crate::{GuardrailVerdict, RequestLog, RequestLogFilter, StoreError, UsageRow};

const COLUMNS: &str = "at, subject, token_id, virtual_account, model, route, status, latency_us, \
                       upstream_latency_us, input_tokens, output_tokens, request_id, prompt, completion, subject_id, \
                       cost_usd, refused_by, request_bytes, response_bytes, guardrails";
const PER_ROW: usize = 20;

/// Rows per INSERT: full chunks share one prepared statement, and a chunk stays far below both databases'
/// limits on bound parameters (SQLite 32766, Postgres 65535).
const ROWS_PER_INSERT: usize = 64;

/// The VALUES list of an insert of `rows` rows.
fn values(dialect: Dialect, rows: usize) -> String {
    let row = |r: usize| {
        let params: Vec<String> = match dialect {
            // Anonymous parameters: SQLite looks up a numbered one's name by a linear scan, and the driver asks
            // for every parameter's name, which made binding a chunk quadratic in its number of parameters.
            Dialect::Sqlite => vec!["?".to_owned(); PER_ROW],
            Dialect::Postgres => (1..=PER_ROW).map(|c| format!("${}", r * PER_ROW + c)).collect(),
        };
        format!("({})", params.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// Inserts the logs in order inside the caller's transaction.
pub(crate) async fn insert(conn: &mut AnyConnection, dialect: Dialect, logs: &[RequestLog]) -> Result<(), StoreError> {
    for chunk in logs.chunks(ROWS_PER_INSERT) {
        let values = values(dialect, chunk.len());
        let sql = format!("INSERT INTO request_logs ({COLUMNS}) VALUES {values}");
        // A full chunk is the common statement and stays prepared; a short tail would crowd the cache with
        // one statement per length.
        let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_INSERT);
        for l in chunk {
            query = query
                .bind(time_to_db(l.at)?)
                .bind(l.subject.as_str())
                .bind(l.token_id.as_str())
                .bind(l.virtual_account.as_deref())
                .bind(l.model.as_str())
                .bind(l.route.as_str())
                .bind(i32::from(l.status))
                .bind(l.latency_us)
                .bind(l.upstream_latency_us)
                .bind(l.input_tokens)
                .bind(l.output_tokens)
                .bind(l.request_id.as_deref())
                .bind(l.prompt.as_deref())
                .bind(l.completion.as_deref())
                .bind(l.subject_id.as_deref())
                .bind(l.cost_usd)
                .bind(l.refused_by.as_deref())
                .bind(l.request_bytes.map(size_to_db))
                .bind(l.response_bytes.map(size_to_db))
                .bind(verdicts_to_db(&l.guardrails)?);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One bound condition of the filter.
pub(super) enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// The WHERE clause of `filter` (empty when it sets nothing) and its parameters, numbered from `$1`.
/// `None` when the filter can match nothing (an empty subject list).
pub(super) fn conditions(filter: &RequestLogFilter) -> Result<Option<(String, Vec<Param<'_>>)>, StoreError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Param<'_>> = Vec::new();
    // One parameter per entry: the lists are a caller's own subject plus the virtual accounts they manage,
    // well within both databases' limits on bound parameters for any realistic tenant.
    for (column, list) in [("subject", &filter.subjects), ("subject_id", &filter.identities)] {
        let Some(list) = list else { continue };
        if list.is_empty() {
            return Ok(None);
        }
        let first = params.len() + 1;
        let marks = (first..first + list.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        clauses.push(format!("{column} IN ({marks})"));
        params.extend(list.iter().map(|s| Param::Text(s)));
    }
    let mut simple: Vec<(&str, Param<'_>)> = Vec::new();
    if let Some(model) = &filter.model {
        simple.push(("model =", Param::Text(model)));
    }
    if let Some(since) = filter.since {
        simple.push(("at >=", Param::Int(time_to_db(since)?)));
    }
    if let Some(until) = filter.until {
        simple.push(("at <", Param::Int(time_to_db(until)?)));
    }
    if let Some(request_id) = &filter.request_id {
        simple.push(("request_id =", Param::Text(request_id)));
    }
    if let Some(before) = filter.before_id {
        simple.push(("id <", Param::Int(before)));
    }
    for (condition, param) in simple {
        clauses.push(format!("{condition} ${}", params.len() + 1));
        params.push(param);
    }
    let sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    Ok(Some((sql, params)))
}

pub(super) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &'q [Param<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for p in params {
        query = match p {
            Param::Text(s) => query.bind(*s),
            Param::Int(n) => query.bind(*n),
        };
    }
    query
}

/// Subject lists vary in length with every caller; only statements without one are worth keeping prepared.
pub(super) fn persistent(filter: &RequestLogFilter) -> bool {
    filter.subjects.is_none() && filter.identities.is_none()
}

pub(crate) async fn read(pool: &AnyPool, filter: &RequestLogFilter) -> Result<Vec<(i64, RequestLog)>, StoreError> {
    let limit = filter.limit.min(RequestLogFilter::MAX_LIMIT);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let Some((where_sql, params)) = conditions(filter)? else { return Ok(Vec::new()) };
    let sql = format!("SELECT id, {COLUMNS} FROM request_logs{where_sql} ORDER BY id DESC LIMIT ${}", params.len() + 1);
    let query = bind_all(sqlx::query(&sql).persistent(persistent(filter)), &params).bind(i64::from(limit));
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, row(r)?))).collect()
}

/// Sizes are u64 in Rust and signed 64-bit in both databases; no real size comes near the limit.
fn size_to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn size_from_db(n: Option<i64>) -> Result<Option<u64>, StoreError> {
    n.map(|n| u64::try_from(n).map_err(|_| corrupt(format!("request log size {n}")))).transpose()
}

/// A JSON list, or NULL when no guardrail acted (most rows), so the column costs nothing for them.
fn verdicts_to_db(v: &[GuardrailVerdict]) -> Result<Option<String>, StoreError> {
    if v.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(v).map(Some).map_err(|e| corrupt(format!("guardrail verdicts: {e}")))
}

fn verdicts_from_db(v: Option<String>) -> Result<Vec<GuardrailVerdict>, StoreError> {
    match v {
        None => Ok(Vec::new()),
        Some(s) => serde_json::from_str(&s).map_err(|e| corrupt(format!("request log guardrail verdicts: {e}"))),
    }
}

fn row(r: &AnyRow) -> Result<RequestLog, StoreError> {
    let status: i64 = r.try_get("status")?;
    Ok(RequestLog {
        at: time_from_db(r.try_get("at")?)?,
        subject: r.try_get("subject")?,
        subject_id: r.try_get("subject_id")?,
        token_id: r.try_get("token_id")?,
        virtual_account: r.try_get("virtual_account")?,
        model: r.try_get("model")?,
        route: r.try_get("route")?,
        status: u16::try_from(status).map_err(|_| corrupt(format!("request log status {status}")))?,
        latency_us: r.try_get("latency_us")?,
        upstream_latency_us: r.try_get("upstream_latency_us")?,
        input_tokens: r.try_get("input_tokens")?,
        output_tokens: r.try_get("output_tokens")?,
        request_id: r.try_get("request_id")?,
        prompt: r.try_get("prompt")?,
        completion: r.try_get("completion")?,
        cost_usd: r.try_get("cost_usd")?,
        refused_by: r.try_get("refused_by")?,
        request_bytes: size_from_db(r.try_get("request_bytes")?)?,
        response_bytes: size_from_db(r.try_get("response_bytes")?)?,
        guardrails: verdicts_from_db(r.try_get("guardrails")?)?,
    })
}

/// The sums shared by `usage` and the usage series. Every integer aggregate is cast to BIGINT: Postgres sums
/// BIGINT columns to NUMERIC, which the Any driver cannot decode. COALESCE because a group whose rows all
/// lack token counts sums to NULL; the cost stays NULL when no row has one, which is how a report tells
/// "unpriced" from "free".
///
/// Rows routed `<route>:attempt` record one upstream attempt of a routed call, beside the call's own row:
/// they are not requests of their own (and carry no tokens or cost).
pub(super) const SUMS: &str = "CAST(SUM(CASE WHEN route LIKE '%:attempt' THEN 0 ELSE 1 END) AS BIGINT) AS requests, \
     CAST(SUM(CASE WHEN status >= 400 AND route NOT LIKE '%:attempt' THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
     CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
     CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
     SUM(cost_usd) AS cost_usd, \
     CAST(COALESCE(SUM(CASE WHEN cost_usd IS NULL THEN input_tokens END), 0) AS BIGINT) AS uncosted_input_tokens, \
     CAST(COALESCE(SUM(CASE WHEN cost_usd IS NULL THEN output_tokens END), 0) AS BIGINT) AS uncosted_output_tokens";

pub(crate) async fn usage(pool: &AnyPool, filter: &RequestLogFilter) -> Result<Vec<UsageRow>, StoreError> {
    let Some((where_sql, params)) = conditions(filter)? else { return Ok(Vec::new()) };
    let sql = format!(
        "SELECT subject, model, {SUMS}, CAST(SUM(CASE WHEN route LIKE '%:attempt' THEN 0 ELSE latency_us END) AS BIGINT) AS total_latency_us \
         FROM request_logs{where_sql} GROUP BY subject, model ORDER BY subject, model"
    );
    let rows = bind_all(sqlx::query(&sql).persistent(persistent(filter)), &params).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(UsageRow {
                subject: r.try_get("subject")?,
                model: r.try_get("model")?,
                requests: r.try_get("requests")?,
                errors: r.try_get("errors")?,
                input_tokens: r.try_get("input_tokens")?,
                output_tokens: r.try_get("output_tokens")?,
                total_latency_us: r.try_get("total_latency_us")?,
                cost_usd: r.try_get("cost_usd")?,
                uncosted_input_tokens: r.try_get("uncosted_input_tokens")?,
                uncosted_output_tokens: r.try_get("uncosted_output_tokens")?,
            })
        })
        .collect()
}
