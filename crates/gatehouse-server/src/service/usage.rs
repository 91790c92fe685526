//! The gateway's request log and the usage summed from it, each limited to what the caller may read: their
//! own requests, those of the virtual accounts they may manage, and everything for admins.

use gatehouse_core::resource::ResourceSpec;
use gatehouse_core::token::Principal;
use gatehouse_core::{Permission, Resource, ResourceKind, Snapshot, Subject};
use gatehouse_store::{RequestLog, RequestLogFilter};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::audit::time_param;
use super::can;
use super::usage_filters::WhoFilter;
use crate::error::ApiError;
use crate::state::App;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestLogQuery {
    /// `<provider account>/<model>`, exactly.
    pub model: Option<String>,
    /// Only requests by this user (their email).
    pub user: Option<String>,
    /// Only requests by the team's current members and by its virtual accounts; a team you may read.
    pub team: Option<String>,
    /// Only requests made as this virtual account.
    pub virtual_account: Option<String>,
    /// Only the rows of this `x-request-id`: a call's own row and its upstream attempts (route `<route>:attempt`).
    pub request_id: Option<String>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
    /// For the next page: the smallest `id` of the previous one.
    pub before_id: Option<i64>,
    /// At most 1000; default 100.
    pub limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// `<provider account>/<model>`, exactly.
    pub model: Option<String>,
    /// Only requests by this user (their email).
    pub user: Option<String>,
    /// Only requests by the team's current members and by its virtual accounts; a team you may read.
    pub team: Option<String>,
    /// Only requests made as this virtual account.
    pub virtual_account: Option<String>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RequestLogOut {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// `user:<email>` or `virtualaccount:<name>`.
    pub subject: String,
    pub token_id: String,
    pub virtual_account: Option<String>,
    /// `<provider account>/<model>`.
    pub model: String,
    /// `chat`, `completions`, `embeddings` or `messages`.
    pub route: String,
    /// The HTTP status the caller got.
    pub status: u16,
    pub latency_us: i64,
    pub upstream_latency_us: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// US dollars at the model's price when the call ran; null for a model without pricing or a call
    /// without reported usage.
    pub cost_usd: Option<f64>,
    /// `<config>/<rule>` of the rate limit or budget that refused the call.
    pub refused_by: Option<String>,
    pub request_id: Option<String>,
    /// Present only when the server stores bodies (`log_bodies`, off by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Present only when the server stores bodies (`log_bodies`, off by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
    /// The request's size in bytes (a model call's body, an MCP tool call's message); null when unknown.
    pub request_bytes: Option<u64>,
    /// The answer's size in bytes as sent (a stream's events); null when nothing was answered or unknown.
    pub response_bytes: Option<u64>,
    /// What each guardrail check that acted on the call did, in order; empty when none did.
    pub guardrails: Vec<GuardrailVerdictOut>,
}

/// What one guardrail check did to a call: never the text it found.
#[derive(Serialize, ToSchema)]
pub struct GuardrailVerdictOut {
    /// The guardrails config and its rule.
    pub config: String,
    pub rule: String,
    /// Where the check is in its rule: `input_guardrails[1]`.
    pub check: String,
    /// The check's manifest `type` (`pii`, `secrets`, `webhook`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `input` or `output`.
    pub hook: String,
    /// `blocked`, `redacted` (text changed, by a redaction or a webhook's rewrite), `flagged` (an `audit`
    /// check found something), `error_ignored` (the check failed; its strategy let the call through) or
    /// `error_blocked` (it failed and blocked the call).
    pub outcome: String,
    /// How many findings (a webhook's answer counts one); a stream's pieces add up.
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct RequestLogPage {
    /// Newest first.
    pub requests: Vec<RequestLogOut>,
    /// Pass as `before_id` for the next page; absent on the last one.
    pub next_before_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageOut {
    pub subject: String,
    pub model: String,
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub avg_latency_us: f64,
    /// US dollars: each request at the price in force when it ran; requests logged before costs were
    /// stored, at the model's current pricing. Null when none of the requests has a price.
    pub cost_usd: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    /// One row per (subject, model), ordered by subject then model.
    pub usage: Vec<UsageOut>,
}

/// The identities whose requests the caller may read; `None` for all (admins). Worked out from the
/// snapshot at each request, so a change of role or of team management applies at once. Identities, not
/// names: whoever takes a deleted user's or account's name later does not read its predecessor's requests.
pub fn readable_identities(app: &App, p: &Principal) -> Option<Vec<String>> {
    let s = app.snapshot();
    if matches!(&p.subject, Subject::User(e) if s.is_admin(e)) {
        return None;
    }
    let now = app.now();
    let own = s.identity(&p.subject);
    // Managing a virtual account includes taking its token and acting as it (docs/access-model.md, FAQ), so its
    // requests are no more private from its managers than their own.
    let managed = s
        .virtual_accounts()
        .filter(|v| can(&s, &p.subject, Permission::VirtualAccountManage, &Resource::virtual_account(&v.name), now))
        .filter_map(|v| s.identity(&Subject::VirtualAccount(v.name.clone())))
        .filter(|id| Some(*id) != own);
    Some(own.into_iter().chain(managed).map(|id| id.to_string()).collect())
}

/// Gateway requests the caller may read, newest first: their own, those of the virtual accounts they may
/// manage, all for admins. Prompt and completion appear only when the server stores them.
pub async fn request_logs(app: &App, p: &Principal, q: RequestLogQuery) -> Result<RequestLogPage, ApiError> {
    let limit = q.limit.unwrap_or(RequestLogFilter::DEFAULT_LIMIT);
    if limit == 0 || limit > RequestLogFilter::MAX_LIMIT {
        return Err(ApiError::invalid("limit", format!("must be 1 to {}", RequestLogFilter::MAX_LIMIT)));
    }
    let who = WhoFilter { user: q.user, team: q.team, virtual_account: q.virtual_account };
    let filter = RequestLogFilter {
        subjects: who.subjects(app, p)?,
        identities: readable_identities(app, p),
        model: q.model,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        request_id: q.request_id,
        before_id: q.before_id,
        limit,
    };
    let rows = app.store.request_logs(&filter).await?;
    let next_before_id = (rows.len() == limit as usize).then(|| rows.last().map(|(id, _)| *id)).flatten();
    let requests = rows.into_iter().map(|(id, l)| log_out(id, l)).collect();
    Ok(RequestLogPage { requests, next_before_id })
}

/// A stored row as the API shows it.
pub fn log_out(id: i64, l: RequestLog) -> RequestLogOut {
    RequestLogOut {
        id,
        at: l.at,
        subject: l.subject,
        token_id: l.token_id,
        virtual_account: l.virtual_account,
        model: l.model,
        route: l.route,
        status: l.status,
        latency_us: l.latency_us,
        upstream_latency_us: l.upstream_latency_us,
        input_tokens: l.input_tokens,
        output_tokens: l.output_tokens,
        cost_usd: l.cost_usd,
        refused_by: l.refused_by,
        request_id: l.request_id,
        prompt: l.prompt,
        completion: l.completion,
        request_bytes: l.request_bytes,
        response_bytes: l.response_bytes,
        guardrails: l
            .guardrails
            .into_iter()
            .map(|v| GuardrailVerdictOut {
                config: v.config,
                rule: v.rule,
                check: v.check,
                kind: v.kind,
                hook: v.hook,
                outcome: v.outcome,
                count: v.count,
            })
            .collect(),
    }
}

/// The requests a usage report covers: those the caller may read (as for the request log), narrowed to a
/// model and a window.
pub fn usage_filter(
    app: &App,
    p: &Principal,
    who: &WhoFilter,
    model: Option<String>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> Result<RequestLogFilter, ApiError> {
    Ok(RequestLogFilter {
        subjects: who.subjects(app, p)?,
        identities: readable_identities(app, p),
        model,
        since,
        until,
        ..RequestLogFilter::default()
    })
}

/// What these tokens of `model` (`<account>/<model>`) cost at its current pricing; `None` without one, and
/// for models since removed.
pub fn cost_usd(s: &Snapshot, model: &str, input_tokens: i64, output_tokens: i64) -> Option<f64> {
    let (account, name) = model.split_once('/')?;
    let record = s.resources().get(&Resource::new(ResourceKind::ProviderAccount, account))?;
    let ResourceSpec::ProviderAccount(spec) = &record.spec else { return None };
    Some(spec.model(name)?.pricing?.cost_usd(input_tokens, output_tokens))
}

/// What a group of requests to `model` cost: the costs stored with them (each at the price in force when
/// it ran), plus, for the requests stored without one, their tokens at the model's current pricing. A price
/// change thus leaves the cost of requests already logged alone. `None` when neither gives a price.
pub fn group_cost(
    s: &Snapshot,
    model: &str,
    stored: Option<f64>,
    uncosted_input_tokens: i64,
    uncosted_output_tokens: i64,
) -> Option<f64> {
    let estimate = cost_usd(s, model, uncosted_input_tokens, uncosted_output_tokens);
    match (stored, estimate) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Gateway usage per (subject, model) over the requests the caller may read (as for the request log).
pub async fn usage(app: &App, p: &Principal, q: UsageQuery) -> Result<UsageReport, ApiError> {
    let since = time_param("since", q.since.as_deref())?;
    let until = time_param("until", q.until.as_deref())?;
    let who = WhoFilter { user: q.user, team: q.team, virtual_account: q.virtual_account };
    let rows = app.store.usage_summary(&usage_filter(app, p, &who, q.model, since, until)?).await?;
    let s = app.snapshot();
    let usage = rows
        .into_iter()
        .map(|r| UsageOut {
            avg_latency_us: r.avg_latency_us(),
            cost_usd: group_cost(&s, &r.model, r.cost_usd, r.uncosted_input_tokens, r.uncosted_output_tokens),
            subject: r.subject,
            model: r.model,
            requests: r.requests,
            errors: r.errors,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
        })
        .collect();
    Ok(UsageReport { usage })
}
