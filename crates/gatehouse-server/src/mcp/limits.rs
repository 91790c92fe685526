//! Rate limits on `tools/call`: the rate-limiting rules whose `when.mcp_servers` names the server or the tool
//! (and only those: rules without it count model calls). A call over a limit is answered by the gateway as
//! a JSON-RPC error inside the HTTP 200 and never reaches the upstream: every MCP client hands a JSON-RPC
//! error to the caller of that one request, where an HTTP 429 is a transport failure to most clients and
//! would fail every message of a batch. See docs/mcp.md, "Rate limits".

use std::collections::BTreeMap;

use gatehouse_core::limits::{Called, Estimate, RequestFacts};
use gatehouse_core::Subject;
use serde_json::{json, Value};

use super::{jsonrpc, Context};
use crate::error::ApiError;
use crate::limits::Outcome;

/// In JSON-RPC's range for the server's own errors (-32000 to -32099); 29 as in HTTP's 429.
pub const RATE_LIMITED: i64 = -32029;
/// The counters could not be reached and the gateway fails closed.
pub const LIMITS_UNAVAILABLE: i64 = -32003;

/// A tool call the gateway answered itself, because of its limits.
#[derive(Debug)]
pub struct Refused {
    /// What the request log records: 429 over a limit, 400 for bad metadata, 503 counters unreachable.
    pub status: u16,
    /// `<config>/<rule>` of the limit that refused it.
    pub rule: Option<String>,
    code: i64,
    message: String,
    data: Value,
}

impl Refused {
    /// The JSON-RPC error answering the call `id`.
    pub fn answer(&self, id: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": self.code, "message": self.message, "data": self.data}})
    }
}

/// Charges a call of `tool` on the server the caller named (`cx.name`) against the limits that match it;
/// `behind` is the remote server and tool behind a virtual server's tool. A tool call counts as one request
/// whatever its outcome, so it settles at once: nothing is left to correct when it ends.
pub async fn admit(cx: &Context, tool: &str, behind: Option<(&str, &str)>) -> Result<(), Refused> {
    let limits = &cx.view.limits;
    if limits.is_empty() {
        return Ok(());
    }
    let (metadata, teams) = facts_of(cx).map_err(|r| *r)?;
    let facts = RequestFacts {
        subject: &cx.principal.subject,
        teams: &teams,
        call: Called::Tool { server: &cx.name, tool, behind },
        metadata: &metadata,
    };
    let charges = limits.charges(&facts);
    if charges.is_empty() {
        return Ok(());
    }
    let app = &cx.app;
    let e = match app.limiter.admit(app.now(), charges, Estimate::default(), None).await {
        Ok(admission) => {
            cx.controls.limited(admission.headers(app.now()));
            let settled = app.limiter.settle(app.now(), admission, Outcome::Nothing).await;
            crate::limits::after_settle(app, settled).await;
            return Ok(());
        }
        Err(e) => e,
    };
    if let ApiError::OverLimit(o) = &e {
        cx.controls.exceeded(o);
        return Err(Refused {
            status: 429,
            rule: Some(o.rule.clone()),
            code: RATE_LIMITED,
            message: o.to_string(),
            data: json!({"code": o.code(), "rule": o.rule, "limit": o.limit, "used": o.used,
                         "retry_after": o.retry_after}),
        });
    }
    if let ApiError::LimitsUnavailable(_) = &e {
        // The counters' own error stays in the server's log: it may name where they live.
        return Err(Refused {
            status: 503,
            rule: None,
            code: LIMITS_UNAVAILABLE,
            message: "the rate limits on this tool cannot be checked now; try again later".into(),
            data: json!({"code": "limits_unavailable"}),
        });
    }
    tracing::error!(error = %e, "checking a tool call's rate limits failed");
    Err(Refused {
        status: 500,
        rule: None,
        code: jsonrpc::INTERNAL_ERROR,
        message: "the gateway could not check the rate limits on this tool".into(),
        data: json!({"code": "internal_error"}),
    })
}

/// A tool call's metadata pairs and the caller's teams.
pub type CallFacts = (BTreeMap<String, String>, Vec<String>);

/// What a tool call is matched on besides its server and tool: the request's metadata and the caller's
/// teams. Malformed metadata refuses the call (only asked when some rule could apply).
pub fn facts_of(cx: &Context) -> Result<CallFacts, Box<Refused>> {
    let metadata = crate::gateway::metadata::parse(&cx.headers).map_err(|e| {
        Box::new(Refused {
            status: 400,
            rule: None,
            code: jsonrpc::INVALID_REQUEST,
            message: e.to_string(),
            data: json!({"code": "invalid_metadata"}),
        })
    })?;
    let teams: Vec<String> = match &cx.principal.subject {
        Subject::User(e) => cx
            .view
            .snapshot
            .user(e.as_str())
            .map(|u| u.member_of.iter().map(|t| t.to_string()).collect())
            .unwrap_or_default(),
        Subject::Team(_) | Subject::VirtualAccount(_) => Vec::new(),
    };
    Ok((metadata, teams))
}
