//! Chat Completions (`POST /v1/chat/completions`) request, response and streaming chunk bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::TokenUsage;

/// The request body. Fields the gateway does not interpret are kept in `extra`, so an OpenAI-compatible
/// upstream still receives them (`response_format`, `seed`, `logit_bias`, `parallel_tool_calls`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether a streamed answer must end with a usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options.as_ref().and_then(|o| o.include_usage) == Some(true)
    }

    /// Asks for a streamed answer's usage (`stream_options.include_usage`), keeping any other option.
    pub fn ask_stream_usage(&mut self) {
        self.stream_options.get_or_insert_with(StreamOptions::default).include_usage = Some(true);
    }

    /// The output cap, whichever of the two spellings the client used; the newer one wins.
    pub fn output_limit(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// `parallel_tool_calls` lives in `extra` because only tool-capable upstreams care about it.
    pub fn parallel_tool_calls(&self) -> Option<bool> {
        self.extra.get("parallel_tool_calls").and_then(Value::as_bool)
    }
}

/// `stop`: one sequence or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// OpenAI's newer name for system instructions to reasoning models.
    Developer,
    User,
    Assistant,
    Tool,
    /// The deprecated predecessor of `tool`; parsed so the error can say what is unsupported.
    Function,
}

/// One message. A struct rather than an enum per role, so that unknown fields (`refusal`, `audio`, ...)
/// survive a round trip through the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(MessageContent::Text(content.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { tool_call_id: Some(tool_call_id.into()), ..Self::new(Role::Tool, content) }
    }

    /// The text of the message, parts joined; non-text parts are skipped.
    pub fn text(&self) -> String {
        self.content.as_ref().map(MessageContent::text).unwrap_or_default()
    }
}

/// `content`: a plain string or an array of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    pub fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Parts(parts) => parts.iter().filter_map(|p| p.text.as_deref()).collect::<Vec<_>>().join(""),
        }
    }
}

/// A content part. `image_url` (and any part type the gateway does not know) is carried as opaque JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContentPart {
    pub fn text(text: impl Into<String>) -> Self {
        Self { kind: "text".into(), text: Some(text.into()), image_url: None, extra: Map::new() }
    }

    pub fn image_url(url: impl Into<String>) -> Self {
        let image_url = Value::Object(Map::from_iter([("url".to_string(), Value::String(url.into()))]));
        Self { kind: "image_url".into(), text: None, image_url: Some(image_url), extra: Map::new() }
    }

    /// The URL of an `image_url` part, which OpenAI nests as `{"url": ...}`.
    pub fn image_url_str(&self) -> Option<&str> {
        match self.image_url.as_ref()? {
            Value::String(s) => Some(s),
            Value::Object(o) => o.get("url").and_then(Value::as_str),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDefinition>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Tool {
    pub fn function(name: impl Into<String>, description: Option<String>, parameters: Value) -> Self {
        Self {
            kind: "function".into(),
            function: Some(FunctionDefinition {
                name: name.into(),
                description,
                parameters: Some(parameters),
                strict: None,
            }),
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: `"none"`, `"auto"`, `"required"`, or one named function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named(NamedToolChoice),
}

impl ToolChoice {
    pub fn named(name: impl Into<String>) -> Self {
        Self::Named(NamedToolChoice { kind: "function".into(), function: FunctionName { name: name.into() } })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionName {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

impl ToolCall {
    pub fn function(id: impl Into<String>, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind: function_kind(),
            function: FunctionCall { name: name.into(), arguments: arguments.into() },
        }
    }
}

fn function_kind() -> String {
    "function".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model produced it; it is not guaranteed to parse.
    #[serde(default)]
    pub arguments: String,
}

/// The non-streamed response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    #[serde(default = "chat_completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn chat_completion_object() -> String {
    "chat.completion".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ChatMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Finish reasons OpenAI documents; other providers' stop reasons are mapped onto these.
pub mod finish_reason {
    pub const STOP: &str = "stop";
    pub const LENGTH: &str = "length";
    pub const TOOL_CALLS: &str = "tool_calls";
    pub const CONTENT_FILTER: &str = "content_filter";
    pub const FUNCTION_CALL: &str = "function_call";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            extra: Map::new(),
        }
    }

    /// `prompt_tokens_details.cached_tokens`, when the upstream reports it.
    pub fn cached_tokens(&self) -> u64 {
        self.extra
            .get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }
}

impl From<&Usage> for TokenUsage {
    fn from(u: &Usage) -> Self {
        TokenUsage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cache_read_input_tokens: u.cached_tokens(),
            cache_write_input_tokens: 0,
        }
    }
}

impl From<&TokenUsage> for Usage {
    fn from(u: &TokenUsage) -> Self {
        let mut usage = Usage::new(u.input_tokens, u.output_tokens);
        if u.cache_read_input_tokens > 0 {
            let details = serde_json::json!({ "cached_tokens": u.cache_read_input_tokens });
            usage.extra.insert("prompt_tokens_details".into(), details);
        }
        usage
    }
}

/// One `chat.completion.chunk` of a streamed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    pub id: String,
    #[serde(default = "chat_chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn chat_chunk_object() -> String {
    "chat.completion.chunk".into()
}

impl ChatChunk {
    /// A chunk with one choice at index 0.
    pub fn with_delta(id: &str, model: &str, created: i64, delta: Delta, finish_reason: Option<String>) -> Self {
        Self {
            id: id.to_string(),
            object: chat_chunk_object(),
            created,
            model: model.to_string(),
            choices: vec![ChunkChoice { index: 0, delta, finish_reason, extra: Map::new() }],
            usage: None,
            extra: Map::new(),
        }
    }

    /// The final chunk of a stream asked for with `include_usage`: no choices, only usage.
    pub fn usage_only(id: &str, model: &str, created: i64, usage: Usage) -> Self {
        Self {
            id: id.to_string(),
            object: chat_chunk_object(),
            created,
            model: model.to_string(),
            choices: Vec::new(),
            usage: Some(usage),
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    /// Serialized as `null` until the last chunk, as OpenAI does; some clients look for the key.
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    pub fn role(role: Role) -> Self {
        Self { role: Some(role), content: Some(String::new()), ..Self::default() }
    }

    pub fn content(text: impl Into<String>) -> Self {
        Self { content: Some(text.into()), ..Self::default() }
    }

    pub fn tool_call(call: ToolCallDelta) -> Self {
        Self { tool_calls: Some(vec![call]), ..Self::default() }
    }
}

/// A fragment of one tool call; `index` says which call of the message it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

impl ToolCallDelta {
    /// The first fragment of a call: its id and name, with empty arguments.
    pub fn start(index: u32, id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            index,
            id: Some(id.into()),
            kind: Some(function_kind()),
            function: Some(FunctionCallDelta { name: Some(name.into()), arguments: Some(String::new()) }),
        }
    }

    pub fn arguments(index: u32, fragment: impl Into<String>) -> Self {
        Self {
            index,
            id: None,
            kind: None,
            function: Some(FunctionCallDelta { name: None, arguments: Some(fragment.into()) }),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn asking_for_stream_usage_keeps_the_other_stream_options() {
        let mut req: ChatRequest = serde_json::from_value(json!({
            "model": "m", "messages": [], "stream": true,
            "stream_options": {"include_usage": false, "continuous_usage_stats": true}
        }))
        .unwrap();
        assert!(!req.wants_stream_usage());
        req.ask_stream_usage();
        assert!(req.wants_stream_usage());
        assert_eq!(
            serde_json::to_value(&req).unwrap()["stream_options"],
            json!({"include_usage": true, "continuous_usage_stats": true})
        );
        let mut bare = ChatRequest::default();
        bare.ask_stream_usage();
        assert_eq!(serde_json::to_value(&bare).unwrap()["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn parses_a_full_request_and_keeps_unknown_fields() {
        let body = json!({
            "model": "openai-main/gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
            ],
            "max_tokens": 100,
            "temperature": 0.2,
            "top_p": 0.9,
            "n": 1,
            "stop": ["END", "STOP"],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "user": "u-1",
            "seed": 7,
            "response_format": {"type": "json_object"},
            "parallel_tool_calls": false
        });
        let req: ChatRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(req.messages.len(), 4);
        assert!(req.is_stream());
        assert!(req.wants_stream_usage());
        assert_eq!(req.output_limit(), Some(100));
        assert_eq!(req.stop.as_ref().unwrap().to_vec(), vec!["END", "STOP"]);
        assert_eq!(req.tool_choice, Some(ToolChoice::named("look")));
        assert_eq!(req.extra.get("seed"), Some(&json!(7)));
        assert_eq!(req.parallel_tool_calls(), Some(false));
        let MessageContent::Parts(parts) = req.messages[1].content.as_ref().unwrap() else { panic!("parts") };
        assert_eq!(parts[1].image_url_str(), Some("https://example.com/a.png"));
        assert_eq!(parts[1].image_url.as_ref().unwrap()["detail"], "low");
        assert_eq!(req.messages[2].tool_calls.as_ref().unwrap()[0].function.arguments, "{\"x\":1}");
        // The upstream sees exactly what the client sent.
        assert_eq!(serde_json::to_value(&req).unwrap(), strip_nulls(body));
    }

    fn strip_nulls(mut v: Value) -> Value {
        if let Value::Object(o) = &mut v {
            o.retain(|_, v| !v.is_null());
            for v in o.values_mut() {
                *v = strip_nulls(v.take());
            }
        } else if let Value::Array(a) = &mut v {
            for v in a.iter_mut() {
                *v = strip_nulls(v.take());
            }
        }
        v
    }

    #[test]
    fn stop_may_be_a_single_string_and_choice_a_mode() {
        let req: ChatRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": "\n", "tool_choice": "required",
            "max_completion_tokens": 5, "max_tokens": 9
        }))
        .unwrap();
        assert_eq!(req.stop, Some(Stop::One("\n".into())));
        assert_eq!(req.tool_choice, Some(ToolChoice::Mode("required".into())));
        assert_eq!(req.output_limit(), Some(5));
        assert!(!req.is_stream());
    }

    #[test]
    fn unknown_role_is_rejected() {
        let err = serde_json::from_value::<ChatRequest>(json!({"model": "m", "messages": [{"role": "robot"}]}));
        assert!(err.is_err());
    }

    #[test]
    fn parses_a_response_with_tool_calls_and_usage() {
        let resp: ChatResponse = serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
                "role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
            }}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25,
                      "prompt_tokens_details": {"cached_tokens": 8}},
            "system_fingerprint": "fp_1"
        }))
        .unwrap();
        assert_eq!(resp.choices[0].finish_reason.as_deref(), Some(finish_reason::TOOL_CALLS));
        let usage = TokenUsage::from(resp.usage.as_ref().unwrap());
        assert_eq!(
            usage,
            TokenUsage { input_tokens: 20, output_tokens: 5, cache_read_input_tokens: 8, cache_write_input_tokens: 0 }
        );
        assert_eq!(resp.extra.get("system_fingerprint"), Some(&json!("fp_1")));
        let back = Usage::from(&usage);
        assert_eq!(back.cached_tokens(), 8);
        assert_eq!(back.total_tokens, 25);
    }

    #[test]
    fn chunks_serialize_like_openai() {
        let chunk = ChatChunk::with_delta("c1", "m", 1, Delta::role(Role::Assistant), None);
        assert_eq!(
            serde_json::to_value(&chunk).unwrap(),
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]})
        );
        let usage = ChatChunk::usage_only("c1", "m", 1, Usage::new(3, 4));
        assert_eq!(
            serde_json::to_value(&usage).unwrap(),
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
        );
        let call = ChatChunk::with_delta("c1", "m", 1, Delta::tool_call(ToolCallDelta::start(0, "call_1", "f")), None);
        assert_eq!(
            serde_json::to_value(&call).unwrap()["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                   "function": {"name": "f", "arguments": ""}}]})
        );
    }

    #[test]
    fn parses_upstream_chunks_with_null_usage() {
        let chunk: ChatChunk = serde_json::from_value(json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "usage": null,
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "function": {"arguments": "{\"a"}}]},
                         "finish_reason": null, "logprobs": null}]
        }))
        .unwrap();
        assert_eq!(chunk.usage, None);
        let call = &chunk.choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call, &ToolCallDelta::arguments(1, "{\"a"));
    }

    #[test]
    fn message_text_joins_text_parts() {
        let msg = ChatMessage {
            content: Some(MessageContent::Parts(vec![
                ContentPart::text("a"),
                ContentPart::image_url("data:image/png;base64,AA=="),
                ContentPart::text("b"),
            ])),
            ..ChatMessage::user("")
        };
        assert_eq!(msg.text(), "ab");
        assert_eq!(ChatMessage::tool("id", "x").tool_call_id.as_deref(), Some("id"));
    }
}
