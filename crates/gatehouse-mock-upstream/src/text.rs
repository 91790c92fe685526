//! Deterministic content: the echoed reply, word-count usage, tool calls and embedding vectors.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// Longest slice of the user's text echoed back, in characters.
pub(crate) const ECHO_CHARS: usize = 200;

pub(crate) fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Words in every `text` or `content` string under `v`. The three providers nest message text differently
/// (`content` strings, `{"type":"text","text":..}` parts, Bedrock's `{"text":..}` blocks, tool results), and
/// this walk counts all of them the same way.
pub(crate) fn prompt_words(v: &Value) -> u64 {
    match v {
        Value::String(s) => words(s),
        Value::Array(items) => items.iter().map(prompt_words).sum(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("text" | "content", Value::String(s)) => words(s),
                (_, Value::Array(_) | Value::Object(_)) => prompt_words(v),
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// The plain text of one message: a string `content`, or its text parts joined by spaces. Tool results are
/// not text, so a tool-result turn does not look like a new user question.
pub(crate) fn message_text(msg: &Value) -> String {
    match msg.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let texts: Vec<&str> = parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect();
            texts.join(" ")
        }
        _ => String::new(),
    }
}

fn role(msg: &Value) -> Option<&str> {
    msg.get("role").and_then(Value::as_str)
}

/// The text of the last message whose role is `user`.
pub(crate) fn last_user_text(messages: &[Value]) -> String {
    messages.iter().rev().find(|m| role(m) == Some("user")).map(message_text).unwrap_or_default()
}

fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub(crate) struct Reply {
    pub text: String,
    pub tokens: u64,
    /// Cut short by the request's max-tokens limit.
    pub truncated: bool,
}

/// `mock reply to: <text>`, optionally forced to `exact_words` words and capped at `max_tokens` words.
pub(crate) fn reply(user_text: &str, exact_words: Option<usize>, max_tokens: Option<u64>) -> Reply {
    let mut text = format!("mock reply to: {}", truncate_chars(user_text.trim(), ECHO_CHARS));
    text.truncate(text.trim_end().len());
    if let Some(n) = exact_words {
        let mut w: Vec<&str> = text.split_whitespace().take(n).collect();
        w.resize(n, "lorem");
        text = w.join(" ");
    }
    let mut truncated = false;
    if let Some(max) = max_tokens {
        if words(&text) > max {
            let w: Vec<&str> = text.split_whitespace().take(usize::try_from(max).unwrap_or(usize::MAX)).collect();
            text = w.join(" ");
            truncated = true;
        }
    }
    Reply { tokens: words(&text), text, truncated }
}

/// Splits text into stream deltas, one per word, each carrying the whitespace before it, so the deltas
/// concatenate to exactly the text.
pub(crate) fn deltas(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() && prev_word && i > start {
            out.push(&text[start..i]);
            start = i;
        }
        prev_word = !c.is_whitespace();
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The stream deltas of `text`: one word each, or, with `max_chars`, pieces of at most that many
/// characters (so that a word arrives split across events).
pub(crate) fn stream_deltas(text: &str, max_chars: Option<usize>) -> Vec<&str> {
    let Some(n) = max_chars else { return deltas(text) };
    let mut out = Vec::new();
    let mut start = 0;
    for (count, (i, _)) in text.char_indices().enumerate() {
        if count > 0 && count % n == 0 {
            out.push(&text[start..i]);
            start = i;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Splits a JSON argument string into short fragments, as providers stream tool arguments.
pub(crate) fn fragments(s: &str, max_bytes: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + max_bytes).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(&s[start..end]);
        start = end;
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    /// The model must call a tool, this one if named.
    Forced(Option<String>),
}

pub(crate) struct ToolDef<'a> {
    pub name: &'a str,
    pub schema: Option<&'a Value>,
}

pub(crate) struct ToolCall {
    pub name: String,
    pub arguments: Value,
    /// `arguments` serialised, as OpenAI and the stream deltas carry it.
    pub arguments_json: String,
    pub tokens: u64,
}

/// A tool call when the request offers tools and either forces one or ends with a user turn that mentions
/// the weather; tool-translation tests rely on this trigger.
pub(crate) fn decide_tool(tools: &[ToolDef<'_>], choice: &ToolChoice, messages: &[Value]) -> Option<ToolCall> {
    if tools.is_empty() {
        return None;
    }
    let tool = match choice {
        ToolChoice::None => return None,
        ToolChoice::Forced(name) => {
            name.as_deref().and_then(|n| tools.iter().find(|t| t.name == n)).unwrap_or(&tools[0])
        }
        ToolChoice::Auto => {
            let last = messages.last()?;
            if role(last) != Some("user") || !message_text(last).to_lowercase().contains("weather") {
                return None;
            }
            &tools[0]
        }
    };
    let arguments = arguments_for(tool.schema);
    let arguments_json = serde_json::to_string(&arguments).unwrap_or_else(|_| "{}".to_owned());
    Some(ToolCall { name: tool.name.to_owned(), tokens: words(&arguments_json).max(1), arguments, arguments_json })
}

/// Arguments that fit the tool's JSON schema well enough for a translation test: each property gets a
/// plain value of its type (`"Paris"` for location-like strings).
fn arguments_for(schema: Option<&Value>) -> Value {
    let mut out = Map::new();
    if let Some(Value::Object(props)) = schema.and_then(|s| s.get("properties")) {
        for (name, prop) in props {
            let first_enum = prop.get("enum").and_then(Value::as_array).and_then(|e| e.first()).cloned();
            let v = match (first_enum, prop.get("type").and_then(Value::as_str)) {
                (Some(v), _) => v,
                (None, Some("number" | "integer")) => json!(1),
                (None, Some("boolean")) => json!(true),
                (None, Some("array")) => json!([]),
                (None, Some("object")) => json!({}),
                (None, Some("null")) => Value::Null,
                _ if name.contains("location") || name.contains("city") => json!("Paris"),
                _ => json!("mock"),
            };
            out.insert(name.clone(), v);
        }
    }
    Value::Object(out)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub(crate) fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// A unit-length vector determined by `input` alone: equal inputs give equal vectors, and different inputs
/// practically never do.
pub(crate) fn embedding(input: &str, dims: usize) -> Vec<f32> {
    let mut state = fnv1a(input.as_bytes());
    let raw: Vec<f64> = (0..dims)
        .map(|_| {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    raw.iter().map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 }).collect()
}

/// Standard base64 with padding, for `encoding_format: "base64"` embeddings (the OpenAI Python SDK asks
/// for them by default).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let idx = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, ix) in idx.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(A[*ix as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_concatenate() {
        let t = "mock reply to:  hello\nworld ";
        assert_eq!(deltas(t).concat(), t);
        assert_eq!(deltas("a b c"), vec!["a", " b", " c"]);
        assert!(deltas("").is_empty());
        assert_eq!(stream_deltas("abcdé fgh", Some(3)), vec!["abc", "dé ", "fgh"]);
        assert_eq!(stream_deltas("a b", None), vec!["a", " b"]);
    }

    #[test]
    fn reply_shapes() {
        let r = reply("hello there", None, None);
        assert_eq!((r.text.as_str(), r.tokens, r.truncated), ("mock reply to: hello there", 5, false));
        assert_eq!(reply("hi", Some(6), None).text, "mock reply to: hi lorem lorem");
        assert_eq!(reply("hi", Some(2), None).text, "mock reply");
        let r = reply("a b c d", None, Some(3));
        assert_eq!((r.text.as_str(), r.truncated), ("mock reply to:", true));
        let long = "é".repeat(500);
        assert_eq!(reply(&long, None, None).text.chars().count(), "mock reply to: ".len() + ECHO_CHARS);
    }

    #[test]
    fn base64_known() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn embeddings_are_unit_and_deterministic() {
        let a = embedding("x", 8);
        assert_eq!(a, embedding("x", 8));
        assert_ne!(a, embedding("y", 8));
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
    }

    #[test]
    fn prompt_word_walk() {
        let msgs = json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "one two"}, {"type": "image_url", "image_url": {"url": "x y"}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "three"}]}}]}
        ]);
        assert_eq!(prompt_words(&msgs), 5);
    }
}
