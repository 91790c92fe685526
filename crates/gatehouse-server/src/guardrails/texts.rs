//! The free text of a request and of a whole answer, as mutable strings: what guardrails read and
//! rewrite. Each unit is checked on its own (a finding never spans two messages); structure, tool
//! definitions, tool calls and images are not text and are left alone.

use gatehouse_providers::anthropic::{self, ContentBlock, SystemPrompt, ToolResultContent};
use gatehouse_providers::openai::{self, EmbeddingInput, MessageContent};
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
            ContentBlock::Text { text, .. } => out.push(TextRef { role, text }),
            ContentBlock::ToolResult { content: Some(c), .. } => match c {
                ToolResultContent::Text(text) => out.push(TextRef { role, text }),
                ToolResultContent::Blocks(inner) => blocks(role, inner, out),
            },
            ContentBlock::ToolResult { content: None, .. }
            | ContentBlock::Image { .. }
            | ContentBlock::ToolUse { .. }
            | ContentBlock::Thinking { .. }
            | ContentBlock::RedactedThinking { .. }
            | ContentBlock::Other(_) => {}
        }
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

/// Chat messages' text parts, the completions prompt, the embeddings input, `/v1/messages` system and
/// content (tool results included).
pub fn input(request: &mut Request) -> Vec<TextRef<'_>> {
    let mut out = Vec::new();
    match request {
        Request::Chat(r) => {
            for m in &mut r.messages {
                let role = chat_role(m.role);
                if let Some(c) = &mut m.content {
                    chat_content(role, c, &mut out);
                }
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
pub fn output(whole: &mut Whole) -> Vec<TextRef<'_>> {
    let mut out = Vec::new();
    match whole {
        Whole::Chat(r) => {
            for c in &mut r.choices {
                c.extra.remove("logprobs");
                if let Some(content) = &mut c.message.content {
                    chat_content("assistant", content, &mut out);
                }
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
