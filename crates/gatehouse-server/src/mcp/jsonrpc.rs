//! JSON-RPC 2.0 as MCP uses it: a POST body is one message or a batch of them; each is a request (method
//! and id), a notification (method, no id) or a response (id, result or error). Messages are kept as JSON
//! values and passed on as they came, apart from what the gateway itself must read or change.

use serde_json::{json, Value};

/// JSON-RPC's own error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// A POST body, parsed.
pub struct Body {
    pub messages: Vec<Value>,
    /// Sent as an array: answered as one.
    pub batch: bool,
}

/// Why a body is not JSON-RPC: answered with a JSON-RPC error whose id is null.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("an empty batch")]
    EmptyBatch,
    #[error("message {0} is not a JSON-RPC 2.0 message (an object with \"jsonrpc\": \"2.0\")")]
    NotJsonRpc(usize),
}

impl BodyError {
    pub fn code(&self) -> i64 {
        match self {
            BodyError::NotJson(_) => PARSE_ERROR,
            BodyError::EmptyBatch | BodyError::NotJsonRpc(_) => INVALID_REQUEST,
        }
    }
}

pub fn parse(bytes: &[u8]) -> Result<Body, BodyError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let (messages, batch) = match v {
        Value::Array(items) => (items, true),
        other => (vec![other], false),
    };
    if messages.is_empty() {
        return Err(BodyError::EmptyBatch);
    }
    for (i, m) in messages.iter().enumerate() {
        let ok = m.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
            && (m.get("method").is_some_and(Value::is_string) || m.get("id").is_some());
        if !ok {
            return Err(BodyError::NotJsonRpc(i));
        }
    }
    Ok(Body { messages, batch })
}

pub fn method(m: &Value) -> Option<&str> {
    m.get("method").and_then(Value::as_str)
}

/// A request (a method and an id), as opposed to a notification or a response.
pub fn is_request(m: &Value) -> bool {
    method(m).is_some() && m.get("id").is_some_and(|id| !id.is_null())
}

pub fn is_response(m: &Value) -> bool {
    method(m).is_none() && (m.get("result").is_some() || m.get("error").is_some())
}

/// The id as a key (its JSON text, so `1` and `"1"` differ as JSON-RPC says they do).
pub fn id_key(m: &Value) -> Option<String> {
    m.get("id").filter(|id| !id.is_null()).map(Value::to_string)
}

/// The tool a `tools/call` names.
pub fn tool_name(m: &Value) -> Option<&str> {
    m.get("params")?.get("name")?.as_str()
}

/// An error answer to the request `id`; `reason` is the gateway's stable code for it.
pub fn error(id: Value, code: i64, message: impl Into<String>, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into(), "data": {"code": reason}}})
}

pub fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The request's id, or null.
pub fn id_of(m: &Value) -> Value {
    m.get("id").cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bodies() {
        let b = parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert!(!b.batch && is_request(&b.messages[0]));
        let b = parse(
            br#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"a","result":{}}]"#,
        )
        .unwrap();
        assert!(b.batch && !is_request(&b.messages[0]) && is_response(&b.messages[1]));
        assert_eq!(id_key(&b.messages[1]).unwrap(), "\"a\"");
        assert_eq!(parse(b"{").err().unwrap().code(), PARSE_ERROR);
        assert_eq!(parse(b"[]").err().unwrap().code(), INVALID_REQUEST);
        assert_eq!(parse(br#"{"id":1,"method":"x"}"#).err().unwrap().code(), INVALID_REQUEST);
        assert_eq!(
            parse(br#"[1]"#).err().unwrap().to_string(),
            "message 0 is not a JSON-RPC 2.0 message (an object with \"jsonrpc\": \"2.0\")"
        );
    }
}
