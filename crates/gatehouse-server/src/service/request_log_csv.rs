//! The request log as CSV, for a spreadsheet: the rows `/api/v1/request-logs` would list with the same
//! filters, many pages at once. Cells are quoted as RFC 4180 has it, and text that a spreadsheet would run
//! as a formula is defused.

use gatehouse_core::token::Principal;
use gatehouse_store::RequestLogFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::audit::time_param;
use super::usage::{log_out, readable_identities, RequestLogOut};
use super::usage_filters::WhoFilter;
use crate::error::ApiError;
use crate::state::App;

/// The most rows one export holds; `limit`'s default.
pub const MAX_ROWS: u32 = 50_000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestLogCsvQuery {
    /// `<provider account>/<model>`, exactly.
    pub model: Option<String>,
    /// Only requests by this user (their email).
    pub user: Option<String>,
    /// Only requests by the team's current members and by its virtual accounts; a team you may read.
    pub team: Option<String>,
    /// Only requests made as this virtual account.
    pub virtual_account: Option<String>,
    /// Only the rows of this `x-request-id`.
    pub request_id: Option<String>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
    /// Only rows with an id below this one: where a previous export stopped.
    pub before_id: Option<i64>,
    /// At most this many rows, newest first; at most 50000, the default.
    pub limit: Option<u32>,
}

/// An export: the CSV text, and where the next one would start when rows were left out.
pub struct RequestLogCsv {
    pub body: String,
    /// Pass as `before_id` for the rest; `None` when the export holds every matching row.
    pub next_before_id: Option<i64>,
}

/// The columns, in order.
pub const HEADER: &[&str] = &[
    "id",
    "at",
    "subject",
    "virtual_account",
    "token_id",
    "model",
    "route",
    "status",
    "latency_us",
    "upstream_latency_us",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "refused_by",
    "guardrails",
    "request_id",
    "request_bytes",
    "response_bytes",
    "prompt",
    "completion",
];

/// The filtered request log as CSV, newest first, reading the store a page at a time.
pub async fn export(app: &App, p: &Principal, q: RequestLogCsvQuery) -> Result<RequestLogCsv, ApiError> {
    let limit = q.limit.unwrap_or(MAX_ROWS);
    if limit == 0 || limit > MAX_ROWS {
        return Err(ApiError::invalid("limit", format!("must be 1 to {MAX_ROWS}")));
    }
    let who = WhoFilter { user: q.user, team: q.team, virtual_account: q.virtual_account };
    let mut filter = RequestLogFilter {
        subjects: who.subjects(app, p)?,
        identities: readable_identities(app, p),
        model: q.model,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        request_id: q.request_id,
        before_id: q.before_id,
        limit: RequestLogFilter::MAX_LIMIT,
    };
    let mut body = line(HEADER.iter().map(|h| (*h).to_owned()));
    let mut left = limit;
    let mut last = None;
    loop {
        filter.limit = left.min(RequestLogFilter::MAX_LIMIT);
        let rows = app.store.request_logs(&filter).await?;
        let full = rows.len() == filter.limit as usize;
        for (id, l) in rows {
            body.push_str(&line(cells(&log_out(id, l))));
            last = Some(id);
        }
        left -= filter.limit.min(left);
        if !full || left == 0 {
            let next_before_id = if full { last } else { None };
            return Ok(RequestLogCsv { body, next_before_id });
        }
        filter.before_id = last;
    }
}

fn cells(r: &RequestLogOut) -> Vec<String> {
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let size = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    let guardrails = r
        .guardrails
        .iter()
        .map(|v| format!("{}/{} {} ({}) on {}: {} x{}", v.config, v.rule, v.check, v.kind, v.hook, v.outcome, v.count))
        .collect::<Vec<_>>()
        .join("; ");
    let at = r.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    vec![
        r.id.to_string(),
        at,
        text(&r.subject),
        text(r.virtual_account.as_deref().unwrap_or("")),
        text(&r.token_id),
        text(&r.model),
        text(&r.route),
        r.status.to_string(),
        r.latency_us.to_string(),
        num(r.upstream_latency_us),
        num(r.input_tokens),
        num(r.output_tokens),
        r.cost_usd.map(|c| c.to_string()).unwrap_or_default(),
        text(r.refused_by.as_deref().unwrap_or("")),
        text(&guardrails),
        text(r.request_id.as_deref().unwrap_or("")),
        size(r.request_bytes),
        size(r.response_bytes),
        text(r.prompt.as_deref().unwrap_or("")),
        text(r.completion.as_deref().unwrap_or("")),
    ]
}

/// Text from a caller (a name, a prompt) that a spreadsheet would take for a formula gets a leading `'`,
/// which spreadsheets show as text. Numbers are written by us and never start so.
pub fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// One CSV record, CRLF-terminated; a cell with a comma, quote or line break is quoted, quotes doubled.
pub fn line(cells: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> = cells
        .into_iter()
        .map(|c| if c.contains([',', '"', '\r', '\n']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c })
        .collect();
    format!("{}\r\n", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(
            line(["a".into(), "b,c".into(), "say \"hi\"".into(), "x\ny".into()]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"\r\n"
        );
        assert_eq!(text("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(text("+1"), "'+1");
        assert_eq!(text("-1"), "'-1");
        assert_eq!(text("@cmd"), "'@cmd");
        assert_eq!(text("plain"), "plain");
        assert_eq!(line([text("=1,2")]), "\"'=1,2\"\r\n");
    }
}
