//! Guardrails on tool calls: the `gateway-guardrails-config` rules whose `when.mcp_servers` names the server
//! or the tool (and only those: rules without it check model calls) run their input checks on a
//! `tools/call`'s arguments before it leaves, and their output checks on its result before the client sees
//! it. Strategies, verdicts and the order rules apply in are the model gateway's ([`crate::guardrails`]).
//! A block is the gateway's JSON-RPC error, naming the rule and the check, never the text that tripped it.

use std::sync::Arc;

use gatehouse_core::limits::{Called, RequestFacts};
use serde_json::{json, Map, Value};

use super::limits::facts_of;
use super::log::ToolCall;
use super::{jsonrpc, Context};
use crate::error::ApiError;
use crate::guardrails::{Guard, Hook};

/// In JSON-RPC's range for the server's own errors; 40 as in HTTP's 400, which a blocked model call gets.
pub const GUARDRAIL_BLOCKED: i64 = -32040;

/// The input hook of the call `m` of `tool` (`behind`: the remote server and tool behind a virtual
/// server's): its arguments checked and, where a check redacts, rewritten in place. `Err` is the answer the
/// gateway gives instead; the call then never leaves.
pub async fn input(
    cx: &Context,
    call: &mut ToolCall,
    m: &mut Value,
    tool: &str,
    behind: Option<(&str, &str)>,
) -> Result<(), Value> {
    let table = &cx.view.guardrails;
    if table.is_empty() {
        return Ok(());
    }
    let id = jsonrpc::id_of(m);
    let (metadata, teams) = match facts_of(cx) {
        Ok(f) => f,
        Err(r) => {
            call.refused(r.status, None);
            return Err(r.answer(id));
        }
    };
    let facts = RequestFacts {
        subject: &cx.principal.subject,
        teams: &teams,
        call: Called::Tool { server: &cx.name, tool, behind },
        metadata: &metadata,
    };
    let rules = table.matching(&facts);
    if rules.is_empty() {
        return Ok(());
    }
    let http = crate::gateway::upstream::http(&cx.app);
    let guard = Arc::new(
        Guard::new(
            rules,
            http,
            crate::guardrails::Signer::of(&cx.app),
            format!("{}/{tool}", cx.name),
            cx.principal.subject.to_string(),
        )
        .observed(cx.app.metrics.clone()),
    );
    cx.controls.guarded(guard.clone());
    call.guarded(guard.clone());
    let mut texts = Vec::new();
    if let Some(args) = m.get_mut("params").and_then(|p| p.get_mut("arguments")) {
        strings(args, "user", &mut texts);
    }
    match guard.strings(Hook::Input, texts).await {
        Ok(()) => {
            call.arguments_sent(m);
            Ok(())
        }
        Err(e) => {
            call.refused(400, None);
            Err(blocked(id, &e))
        }
    }
}

/// The output hook on the answer `m` to a call: the text of its result (text parts, embedded resources'
/// text, structured content) checked and redacted in place, or the answer replaced by the gateway's error.
/// The call's log entry records the answer either way.
pub async fn output(call: &mut ToolCall, mut m: Value) -> Value {
    call.answered(&m);
    let Some(guard) = call.guard().filter(|g| g.checks_output()) else { return m };
    let id = jsonrpc::id_of(&m);
    let mut texts = Vec::new();
    if let Some(Value::Object(result)) = m.get_mut("result") {
        result_strings(result, &mut texts);
    }
    match guard.strings(Hook::Output, texts).await {
        Ok(()) => {
            call.answer_sent(&m);
            m
        }
        Err(e) => {
            let answer = blocked(id, &e);
            call.answer_sent(&answer);
            call.refused(400, None);
            answer
        }
    }
}

fn result_strings<'a>(result: &'a mut Map<String, Value>, out: &mut Vec<(&'static str, &'a mut String)>) {
    for (key, v) in result.iter_mut() {
        match (key.as_str(), v) {
            ("content", Value::Array(parts)) => {
                for part in parts {
                    let Value::Object(p) = part else { continue };
                    let kind = p.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
                    match kind.as_str() {
                        "text" => {
                            if let Some(Value::String(t)) = p.get_mut("text") {
                                out.push(("tool", t));
                            }
                        }
                        "resource" => {
                            if let Some(Value::String(t)) = p.get_mut("resource").and_then(|r| r.get_mut("text")) {
                                out.push(("tool", t));
                            }
                        }
                        // Images, audio, links: not text.
                        _ => {}
                    }
                }
            }
            // The same answer as data: checked too, or a redaction in the text would show here.
            ("structuredContent", v) => strings(v, "tool", out),
            _ => {}
        }
    }
}

/// Every string in `v` (object keys aside), in order.
fn strings<'a>(v: &'a mut Value, role: &'static str, out: &mut Vec<(&'static str, &'a mut String)>) {
    match v {
        Value::String(s) => out.push((role, s)),
        Value::Array(items) => items.iter_mut().for_each(|i| strings(i, role, out)),
        Value::Object(map) => map.values_mut().for_each(|i| strings(i, role, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The JSON-RPC error of a block: the rule, the check and what it found, never the text.
fn blocked(id: Value, e: &ApiError) -> Value {
    match e {
        ApiError::GuardrailBlocked(b) => json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": GUARDRAIL_BLOCKED, "message": b.to_string(),
            "data": {"code": "guardrail_blocked", "rule": b.rule_name(), "check": b.check, "at": b.path,
                     "hook": b.hook.as_str()}}}),
        other => {
            tracing::error!(error = %other, "a tool call's guardrails failed");
            jsonrpc::error(id, jsonrpc::INTERNAL_ERROR, "the gateway could not check this tool call", "internal_error")
        }
    }
}
