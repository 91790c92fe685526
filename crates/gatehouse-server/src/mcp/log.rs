//! Every `tools/call` in the request log: route `mcp`, model `<server>/<tool>` (the server and tool as the
//! caller named them), the caller, status, latency, the sizes of the call and of its answer. Like the model gateway's `Call`, an entry is written
//! once, when the call is dropped: answered, refused, failed, or left unanswered (499).

use std::sync::Arc;
use std::time::Instant;

use gatehouse_core::token::Principal;
use gatehouse_core::Subject;
use gatehouse_store::RequestLog;
use serde_json::Value;
use time::OffsetDateTime;

use crate::gateway::call::CLIENT_CLOSED;
use crate::gateway::log::micros;
use crate::guardrails::Guard;
use crate::log_sizes::json_len;
use crate::state::{App, Published};

pub const ROUTE: &str = "mcp";

pub struct ToolCall {
    app: App,
    view: Arc<Published>,
    principal: Principal,
    at: OffsetDateTime,
    started: Instant,
    upstream_started: Option<Instant>,
    upstream: Option<std::time::Duration>,
    request_id: Option<String>,
    model: String,
    status: Option<u16>,
    arguments: Option<String>,
    answer: Option<String>,
    /// `<config>/<rule>` of the rate limit that refused the call.
    refused_by: Option<String>,
    /// The call's JSON-RPC message and its answer, in bytes (as compact JSON).
    request_bytes: u64,
    response_bytes: Option<u64>,
    /// The guardrails that matched the call: a block names its rule in `refused_by`.
    guard: Option<Arc<Guard>>,
}

impl ToolCall {
    pub fn new(app: &App, view: &Arc<Published>, principal: &Principal, server: &str, message: &Value) -> ToolCall {
        let tool = super::jsonrpc::tool_name(message).unwrap_or("");
        let arguments =
            app.config.log_bodies.then(|| message.get("params").and_then(|p| p.get("arguments")).map(Value::to_string));
        ToolCall {
            app: app.clone(),
            view: view.clone(),
            principal: principal.clone(),
            at: app.now(),
            started: Instant::now(),
            upstream_started: None,
            upstream: None,
            request_id: crate::request_id::current().map(|r| r.to_string()),
            model: crate::log_fields::loggable_model(&format!("{server}/{tool}")),
            status: None,
            arguments: arguments.flatten(),
            answer: None,
            refused_by: None,
            request_bytes: json_len(message),
            response_bytes: None,
            guard: None,
        }
    }

    /// The call left for the upstream.
    pub fn sent(&mut self) {
        self.upstream_started = Some(Instant::now());
    }

    /// The answer came: 200 for a result (a tool's own `isError` is still an answer), 502 for an error the
    /// upstream gave.
    pub fn answered(&mut self, message: &Value) {
        self.upstream = self.upstream_started.map(|s| s.elapsed());
        self.status = Some(if message.get("error").is_some() { 502 } else { 200 });
        self.response_bytes = Some(json_len(message));
        if self.app.config.log_bodies {
            self.answer = message.get("result").or_else(|| message.get("error")).map(Value::to_string);
        }
    }

    /// The gateway's limits refused it (`status`), naming the rule that did when one did.
    pub fn refused(&mut self, status: u16, rule: Option<String>) {
        self.status = Some(status);
        self.refused_by = rule;
    }

    pub fn guarded(&mut self, guard: Arc<Guard>) {
        self.guard = Some(guard);
    }

    pub fn guard(&self) -> Option<Arc<Guard>> {
        self.guard.clone()
    }

    /// The call as it left, once guardrails rewrote its arguments: the log keeps what was sent upstream.
    pub fn arguments_sent(&mut self, message: &Value) {
        if self.app.config.log_bodies {
            self.arguments = message.get("params").and_then(|p| p.get("arguments")).map(Value::to_string);
        }
    }

    /// The answer as the client got it, once guardrails rewrote or replaced it.
    pub fn answer_sent(&mut self, message: &Value) {
        if self.app.config.log_bodies {
            self.answer = message.get("result").or_else(|| message.get("error")).map(Value::to_string);
        }
    }

    /// The gateway refused it (403) or it failed on the way (the failure's status).
    pub fn ended(&mut self, status: u16) {
        self.upstream = self.upstream_started.map(|s| s.elapsed());
        self.status = Some(status);
    }
}

impl Drop for ToolCall {
    fn drop(&mut self) {
        let p = &self.principal;
        let entry = RequestLog {
            at: self.at,
            subject: p.subject.to_string(),
            subject_id: self.view.snapshot.identity(&p.subject).map(|id| id.to_string()),
            token_id: p.token().map(|(id, _)| id.to_string()).unwrap_or_default(),
            virtual_account: match &p.subject {
                Subject::VirtualAccount(v) => Some(v.to_string()),
                Subject::User(_) | Subject::Team(_) => None,
            },
            model: std::mem::take(&mut self.model),
            route: ROUTE.to_owned(),
            status: self.status.unwrap_or(CLIENT_CLOSED),
            latency_us: micros(self.started.elapsed()),
            upstream_latency_us: self.upstream.map(micros),
            input_tokens: None,
            output_tokens: None,
            request_id: self.request_id.take(),
            prompt: self.arguments.take(),
            completion: self.answer.take(),
            // Tool calls have no price.
            cost_usd: None,
            refused_by: self.refused_by.take().or_else(|| {
                self.guard.as_ref().and_then(|g| crate::guardrails::lock(&g.verdicts()).blocked_by.clone())
            }),
            request_bytes: Some(self.request_bytes),
            response_bytes: self.response_bytes,
            guardrails: Vec::new(),
        };
        self.app.log_request(entry);
    }
}
