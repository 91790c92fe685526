//! The free text of a request and of a whole answer, as mutable strings: what guardrails read and
//! rewrite. Each unit is checked on its own (a finding never spans two messages). Tool calls' arguments
//! (OpenAI's JSON text, Anthropic's `tool_use.input`) are read value by value: every string in them is a
//! text, so a redaction keeps the JSON valid; arguments that do not parse are one text as written.
//! Thinking blocks are text. Tool definitions, object keys and images are not, and are left alone.

use gatehouse_providers::anthropic::{self, ContentBlock, SystemPrompt, ToolResultContent};
use gatehouse_providers::openai::{self, ChatMessage, EmbeddingInput, MessageContent};
use serde_json::Value;

use crate::gateway::dispatch::{Request, Whole};

/// One text of a request or answer, with the role of the message it is in (for webhooks).
pub struct TextRef<'a> {
    pub role: &'static str,
    pub text: &'a mut String,
}

fn chat_role(r: openai::Role) -> &'static str {
    match r {
        openai::Role::System => "system",
        openai::Role::Developer => "developer",
        openai::Role::User => "user",
        openai::Role::Assistant => "assistant",
        openai::Role::Tool => "tool",
        openai::Role::Function => "function",
    }
}

fn chat_content<'a>(role: &'static str, c: &'a mut MessageContent, out: &mut Vec<TextRef<'a>>) {
    match c {
        MessageContent::Text(s) => out.push(TextRef { role, text: s }),
        MessageContent::Parts(parts) => {
            out.extend(parts.iter_mut().filter_map(|p| p.text.as_mut()).map(|text| TextRef { role, text }))
        }
    }
}

fn blocks<'a>(role: &'static str, list: &'a mut [ContentBlock], out: &mut Vec<TextRef<'a>>) {
    for b in list {
        match b {
            ContentBlock::Text { text, .. } | ContentBlock::Thinking { thinking: text, .. } => {
                out.push(TextRef { role, text })
            }
            ContentBlock::ToolResult { content: Some(c), .. } => match c {
                ToolResultContent::Text(text) => out.push(TextRef { role, text }),
                ToolResultContent::Blocks(inner) => blocks(role, inner, out),
            },
            ContentBlock::ToolUse { input, .. } => strings(role, input, out),
            ContentBlock::ToolResult { content: None, .. }
            | ContentBlock::Image { .. }
            | ContentBlock::RedactedThinking { .. }
            | ContentBlock::Other(_) => {}
        }
    }
}

/// Every string value in `v` (not the keys), in document order.
fn strings<'a>(role: &'static str, v: &'a mut Value, out: &mut Vec<TextRef<'a>>) {
    match v {
        Value::String(text) => out.push(TextRef { role, text }),
        Value::Array(items) => items.iter_mut().for_each(|i| strings(role, i, out)),
        Value::Object(map) => map.values_mut().for_each(|i| strings(role, i, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// OpenAI tool calls' arguments, parsed: the JSON text of each call in order (`None` where it does not
/// parse). Checks read the parsed values; `encode` writes back those that changed.
pub struct Arguments(Vec<Option<Value>>, Vec<Option<Value>>);

fn calls<'a>(messages: impl Iterator<Item = &'a mut ChatMessage>) -> impl Iterator<Item = &'a mut String> {
    messages.flat_map(|m| m.tool_calls.iter_mut().flatten().map(|c| &mut c.function.arguments))
}

impl Arguments {
    fn decode<'a>(list: impl Iterator<Item = &'a mut String>) -> Arguments {
        let parsed: Vec<Option<Value>> = list.map(|a| serde_json::from_str(a).ok()).collect();
        Arguments(parsed.clone(), parsed)
    }

    /// Pushes the texts of the `i`-th call: its parsed values, or its raw text.
    fn push<'a>(parsed: &mut std::slice::IterMut<'a, Option<Value>>, raw: &'a mut String, out: &mut Vec<TextRef<'a>>) {
        match parsed.next() {
            Some(Some(v)) => strings("assistant", v, out),
            Some(None) | None => out.push(TextRef { role: "assistant", text: raw }),
        }
    }

    fn encode<'a>(self, list: impl Iterator<Item = &'a mut String>) {
        for ((raw, now), before) in list.zip(self.0).zip(self.1) {
            if let Some(v) = now.filter(|v| Some(v) != before.as_ref()) {
                *raw = v.to_string();
            }
        }
    }

    /// The request's tool-call arguments, parsed.
    pub fn of_request(request: &mut Request) -> Arguments {
        match request {
            Request::Chat(r) => Arguments::decode(calls(r.messages.iter_mut())),
            Request::Completions(_) | Request::Embeddings(_) | Request::Messages(_) => Arguments(vec![], vec![]),
        }
    }

    /// Writes the arguments the checks changed back into the request.
    pub fn into_request(self, request: &mut Request) {
        match request {
            Request::Chat(r) => self.encode(calls(r.messages.iter_mut())),
            Request::Completions(_) | Request::Embeddings(_) | Request::Messages(_) => {}
        }
    }

    /// An answer's tool-call arguments, parsed.
    pub fn of_answer(whole: &mut Whole) -> Arguments {
        match whole {
            Whole::Chat(r) => Arguments::decode(calls(r.choices.iter_mut().map(|c| &mut c.message))),
            Whole::Completion(_) | Whole::Messages(_) | Whole::Embedding(_) => Arguments(vec![], vec![]),
        }
    }

    pub fn into_answer(self, whole: &mut Whole) {
        match whole {
            Whole::Chat(r) => self.encode(calls(r.choices.iter_mut().map(|c| &mut c.message))),
            Whole::Completion(_) | Whole::Messages(_) | Whole::Embedding(_) => {}
        }
    }
}

/// A chat message's text and its tool calls' arguments.
fn chat_message<'a>(
    m: &'a mut ChatMessage,
    parsed: &mut std::slice::IterMut<'a, Option<Value>>,
    out: &mut Vec<TextRef<'a>>,
) {
    let role = chat_role(m.role);
    if let Some(c) = &mut m.content {
        chat_content(role, c, out);
    }
    for call in m.tool_calls.iter_mut().flatten() {
        Arguments::push(parsed, &mut call.function.arguments, out);
    }
}

fn prompt<'a>(v: &'a mut Value, out: &mut Vec<TextRef<'a>>) {
    match v {
        Value::String(text) => out.push(TextRef { role: "user", text }),
        Value::Array(items) => {
            for item in items {
                if let Value::String(text) = item {
                    out.push(TextRef { role: "user", text });
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => {}
    }
}

/// Chat messages' text parts and tool calls' arguments, the completions prompt, the embeddings input,
/// `/v1/messages` system and content (tool uses, tool results and thinking included).
pub fn input<'a>(request: &'a mut Request, args: &'a mut Arguments) -> Vec<TextRef<'a>> {
    let mut out = Vec::new();
    let mut parsed = args.0.iter_mut();
    match request {
        Request::Chat(r) => {
            for m in &mut r.messages {
                chat_message(m, &mut parsed, &mut out);
            }
        }
        Request::Completions(r) => prompt(&mut r.prompt, &mut out),
        Request::Embeddings(r) => match &mut r.input {
            EmbeddingInput::One(text) => out.push(TextRef { role: "user", text }),
            EmbeddingInput::Many(list) => out.extend(list.iter_mut().map(|text| TextRef { role: "user", text })),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {}
        },
        Request::Messages(r) => {
            match &mut r.system {
                Some(SystemPrompt::Text(text)) => out.push(TextRef { role: "system", text }),
                Some(SystemPrompt::Blocks(list)) => blocks("system", list, &mut out),
                None => {}
            }
            for m in &mut r.messages {
                let role = match m.role {
                    anthropic::Role::User => "user",
                    anthropic::Role::Assistant => "assistant",
                };
                match &mut m.content {
                    anthropic::MessageContent::Text(text) => out.push(TextRef { role, text }),
                    anthropic::MessageContent::Blocks(list) => blocks(role, list, &mut out),
                }
            }
        }
    }
    out
}

/// The answer's text: each choice's message or text, or the text blocks of a Messages answer. Token log
/// probabilities would spell out what a redaction removed, so they are dropped from an answer whose
/// output is checked.
pub fn output<'a>(whole: &'a mut Whole, args: &'a mut Arguments) -> Vec<TextRef<'a>> {
    let mut out = Vec::new();
    let mut parsed = args.0.iter_mut();
    match whole {
        Whole::Chat(r) => {
            for c in &mut r.choices {
                c.extra.remove("logprobs");
                chat_message(&mut c.message, &mut parsed, &mut out);
            }
        }
        Whole::Completion(r) => {
            for c in &mut r.choices {
                c.logprobs = None;
                out.push(TextRef { role: "assistant", text: &mut c.text });
            }
        }
        Whole::Messages(r) => blocks("assistant", &mut r.content, &mut out),
        Whole::Embedding(_) => {}
    }
    out
}
