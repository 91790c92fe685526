//! The native `/v1/messages` route served by a non-Anthropic upstream: an Anthropic request as an OpenAI
//! chat request, and the OpenAI answer back as an Anthropic message.

use serde_json::{Map, Value};

use super::types::{
    stop_reason, ContentBlock, ImageSource, MessageContent, MessagesRequest, MessagesResponse, Role, ToolChoice,
    ToolResultContent, Usage,
};
use crate::openai::{
    self, finish_reason, ChatMessage, ChatRequest, ChatResponse, ContentPart, StreamOptions, ToolCall,
};
use crate::turns::parse_arguments;
use crate::{TokenUsage, TranslateError};

/// Builds the OpenAI chat request for `upstream_model`. A streamed request asks for the usage chunk,
/// because an Anthropic stream must end with token counts.
pub fn messages_request_to_chat(req: &MessagesRequest, upstream_model: &str) -> Result<ChatRequest, TranslateError> {
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        let text = system.text();
        if !text.is_empty() {
            messages.push(ChatMessage::system(text));
        }
    }
    for (i, msg) in req.messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        match (&msg.role, &msg.content) {
            (Role::User, MessageContent::Text(s)) => messages.push(ChatMessage::user(s.clone())),
            (Role::Assistant, MessageContent::Text(s)) => messages.push(ChatMessage::assistant(s.clone())),
            (Role::User, MessageContent::Blocks(blocks)) => user_blocks(blocks, &at, &mut messages)?,
            (Role::Assistant, MessageContent::Blocks(blocks)) => messages.push(assistant_blocks(blocks, &at)?),
        }
    }
    let tools = req
        .tools
        .as_ref()
        .map(|tools| {
            tools
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let schema = t.input_schema.clone().ok_or_else(|| {
                        TranslateError::invalid(
                            format!("tools[{i}]"),
                            "Anthropic server tools can only run on Anthropic models",
                        )
                    })?;
                    Ok(openai::Tool::function(t.name.clone(), t.description.clone(), schema))
                })
                .collect::<Result<Vec<_>, TranslateError>>()
        })
        .transpose()?;
    let mut extra = Map::new();
    let tool_choice = req.tool_choice.as_ref().map(|c| {
        let (choice, no_parallel) = match c {
            ToolChoice::Auto { disable_parallel_tool_use } => {
                (openai::ToolChoice::Mode("auto".into()), disable_parallel_tool_use)
            }
            ToolChoice::Any { disable_parallel_tool_use } => {
                (openai::ToolChoice::Mode("required".into()), disable_parallel_tool_use)
            }
            ToolChoice::Tool { name, disable_parallel_tool_use } => {
                (openai::ToolChoice::named(name), disable_parallel_tool_use)
            }
            ToolChoice::None => (openai::ToolChoice::Mode("none".into()), &None),
        };
        if *no_parallel == Some(true) {
            extra.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
        choice
    });
    let stream = req.is_stream();
    Ok(ChatRequest {
        model: upstream_model.to_string(),
        messages,
        max_tokens: Some(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop_sequences.clone().filter(|s| !s.is_empty()).map(openai::Stop::Many),
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions { include_usage: Some(true), extra: Map::new() }),
        tools,
        tool_choice,
        user: req.metadata.as_ref().and_then(|m| m.get("user_id")).and_then(Value::as_str).map(str::to_owned),
        extra,
        ..ChatRequest::default()
    })
}

/// A user turn: tool results become `tool` messages (in place, so they follow the assistant's calls as
/// OpenAI requires), the rest one user message.
fn user_blocks(blocks: &[ContentBlock], at: &str, out: &mut Vec<ChatMessage>) -> Result<(), TranslateError> {
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        match block {
            ContentBlock::Text { text, .. } => parts.push(ContentPart::text(text.clone())),
            ContentBlock::Image { source, .. } => {
                parts.push(ContentPart::image_url(image_url(source, &format!("{at}.content[{j}]"))?))
            }
            ContentBlock::ToolResult { tool_use_id, content, is_error, .. } => {
                flush_user(&mut parts, out);
                let text = content.as_ref().map(ToolResultContent::text).unwrap_or_default();
                // OpenAI has no error flag on tool results; without this the model would take the error
                // text for a normal answer.
                let text = if *is_error == Some(true) { format!("Error: {text}") } else { text };
                out.push(ChatMessage::tool(tool_use_id.clone(), text));
            }
            other => return Err(unsupported(other, &format!("{at}.content[{j}]"))),
        }
    }
    flush_user(&mut parts, out);
    Ok(())
}

fn flush_user(parts: &mut Vec<ContentPart>, out: &mut Vec<ChatMessage>) {
    if parts.is_empty() {
        return;
    }
    let parts = std::mem::take(parts);
    let content = if parts.iter().all(|p| p.kind == "text") {
        openai::MessageContent::Text(parts.iter().filter_map(|p| p.text.as_deref()).collect::<Vec<_>>().join("\n"))
    } else {
        openai::MessageContent::Parts(parts)
    };
    out.push(ChatMessage { content: Some(content), ..ChatMessage::user("") });
}

fn assistant_blocks(blocks: &[ContentBlock], at: &str) -> Result<ChatMessage, TranslateError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        match block {
            ContentBlock::Text { text: t, .. } => text.push_str(t),
            ContentBlock::ToolUse { id, name, input, .. } => {
                calls.push(ToolCall::function(id.clone(), name.clone(), input.to_string()))
            }
            // Earlier reasoning is Anthropic-signed and meaningless to another model.
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
            other => return Err(unsupported(other, &format!("{at}.content[{j}]"))),
        }
    }
    let content = if text.is_empty() && !calls.is_empty() { None } else { Some(openai::MessageContent::Text(text)) };
    Ok(ChatMessage { content, tool_calls: (!calls.is_empty()).then_some(calls), ..ChatMessage::assistant("") })
}

fn image_url(source: &ImageSource, at: &str) -> Result<String, TranslateError> {
    match source {
        ImageSource::Base64 { media_type, data } => Ok(format!("data:{media_type};base64,{data}")),
        ImageSource::Url { url } => Ok(url.clone()),
        ImageSource::Other(_) => {
            Err(TranslateError::invalid(format!("{at}.source"), "this image source cannot be sent to this model"))
        }
    }
}

fn unsupported(block: &ContentBlock, at: &str) -> TranslateError {
    if let Some(k) = block.malformed_type() {
        return TranslateError::invalid(at, format!("not a valid {k} block"));
    }
    let kind = serde_json::to_value(block).ok().and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
    match kind.as_deref() {
        Some(k) => TranslateError::invalid(at, format!("{k} blocks cannot be sent to this model")),
        None => TranslateError::invalid(at, "blocks without a type cannot be sent to this model"),
    }
}

/// Maps OpenAI's `finish_reason` onto Anthropic's `stop_reason`.
pub fn stop_reason_from_finish_reason(finish: &str) -> &'static str {
    match finish {
        finish_reason::LENGTH => stop_reason::MAX_TOKENS,
        finish_reason::TOOL_CALLS | finish_reason::FUNCTION_CALL => stop_reason::TOOL_USE,
        finish_reason::CONTENT_FILTER => stop_reason::REFUSAL,
        _ => stop_reason::END_TURN,
    }
}

/// The Anthropic message for an OpenAI answer. `model` is the name reported to the client.
pub fn chat_response_to_messages(resp: &ChatResponse, model: &str) -> Result<MessagesResponse, TranslateError> {
    let choice = resp.choices.first().ok_or_else(|| TranslateError::malformed("the response has no choices"))?;
    let mut content = Vec::new();
    let text = choice.message.text();
    if !text.is_empty() {
        content.push(ContentBlock::text(text));
    }
    for (j, call) in choice.message.tool_calls.iter().flatten().enumerate() {
        let input = parse_arguments(&call.function.arguments).map_err(|m| {
            TranslateError::malformed(format!("choices[0].message.tool_calls[{j}].function.arguments: {m}"))
        })?;
        content.push(ContentBlock::tool_use(call.id.clone(), call.function.name.clone(), input));
    }
    let usage = resp.usage.as_ref().map(TokenUsage::from).unwrap_or_default();
    Ok(MessagesResponse {
        id: resp.id.clone(),
        kind: "message".into(),
        role: Role::Assistant,
        content,
        model: model.to_string(),
        stop_reason: Some(
            stop_reason_from_finish_reason(choice.finish_reason.as_deref().unwrap_or("stop")).to_string(),
        ),
        stop_sequence: None,
        usage: anthropic_usage(&usage),
    })
}

/// Anthropic counts cached prompt tokens apart from `input_tokens`; see [`TokenUsage`].
pub(crate) fn anthropic_usage(u: &TokenUsage) -> Usage {
    let cached = u.cache_read_input_tokens.saturating_add(u.cache_write_input_tokens);
    Usage {
        input_tokens: u.input_tokens.saturating_sub(cached),
        output_tokens: u.output_tokens,
        cache_creation_input_tokens: (u.cache_write_input_tokens > 0).then_some(u.cache_write_input_tokens),
        cache_read_input_tokens: (u.cache_read_input_tokens > 0).then_some(u.cache_read_input_tokens),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::{chat_request_to_anthropic, Message};
    use serde_json::json;

    fn messages_request(body: Value) -> MessagesRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_tool_conversation_becomes_openai_messages() {
        let req = messages_request(json!({
            "model": "openai-main/gpt-4o", "max_tokens": 512, "stream": true,
            "system": "Be terse.",
            "metadata": {"user_id": "u-7"},
            "stop_sequences": ["###"],
            "temperature": 0.3,
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "t", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "And tomorrow?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
                ]}
            ]
        }));
        let chat = messages_request_to_chat(&req, "gpt-4o").unwrap();
        assert_eq!(
            serde_json::to_value(&chat).unwrap(),
            json!({
                "model": "gpt-4o",
                "max_tokens": 512,
                "temperature": 0.3,
                "stop": ["###"],
                "stream": true,
                "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}}],
                "tool_choice": "required",
                "parallel_tool_calls": false,
                "user": "u-7",
                "messages": [
                    {"role": "system", "content": "Be terse."},
                    {"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": "Checking.", "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "And tomorrow?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                    ]}
                ]
            })
        );
    }

    #[test]
    fn round_trip_through_both_directions_keeps_the_conversation() {
        let req = messages_request(json!({
            "model": "m", "max_tokens": 100,
            "system": "S",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Q"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "R"}]}
            ]
        }));
        let chat = messages_request_to_chat(&req, "m").unwrap();
        let back = chat_request_to_anthropic(&chat, "m").unwrap();
        assert_eq!(back.system.as_ref().unwrap().text(), "S");
        assert_eq!(back.max_tokens, 100);
        let expected: Vec<Message> = req.messages.clone();
        assert_eq!(back.messages, expected);
    }

    #[test]
    fn error_results_and_unsupported_blocks() {
        let req = messages_request(json!({"model": "m", "max_tokens": 1, "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "boom", "is_error": true}]}
        ]}));
        assert_eq!(messages_request_to_chat(&req, "m").unwrap().messages[0].text(), "Error: boom");

        let req = messages_request(json!({"model": "m", "max_tokens": 1, "messages": [
            {"role": "user", "content": [{"type": "document", "source": {"type": "text", "data": "x"}}]}
        ]}));
        let err = messages_request_to_chat(&req, "m").unwrap_err();
        assert_eq!(err.to_string(), "messages[0].content[0]: document blocks cannot be sent to this model");

        let req = messages_request(json!({"model": "m", "max_tokens": 1, "messages": [
            {"role": "user", "content": [{"type": "tool_use", "name": "no id"}]}
        ]}));
        let err = messages_request_to_chat(&req, "m").unwrap_err();
        assert_eq!(err.to_string(), "messages[0].content[0]: not a valid tool_use block");

        let req =
            messages_request(json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}]}));
        assert_eq!(messages_request_to_chat(&req, "m").unwrap_err().field(), Some("tools[0]"));
    }

    #[test]
    fn openai_answers_become_anthropic_messages() {
        let resp: ChatResponse = serde_json::from_value(json!({
            "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Let me look.",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"q\":\"x\"}"}}]}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57, "prompt_tokens_details": {"cached_tokens": 20}}
        }))
        .unwrap();
        let msg = chat_response_to_messages(&resp, "openai-main/gpt-4o").unwrap();
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({
                "id": "chatcmpl-9", "type": "message", "role": "assistant", "model": "openai-main/gpt-4o",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "call_1", "name": "f", "input": {"q": "x"}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 30, "output_tokens": 7, "cache_read_input_tokens": 20}
            })
        );
        assert_eq!(TokenUsage::from(&msg.usage), TokenUsage::from(resp.usage.as_ref().unwrap()));
    }

    #[test]
    fn bad_answers_are_malformed() {
        let no_choices: ChatResponse = serde_json::from_value(json!({"id": "x", "model": "m", "choices": []})).unwrap();
        assert!(matches!(chat_response_to_messages(&no_choices, "m"), Err(TranslateError::Malformed(_))));
        let bad_args: ChatResponse = serde_json::from_value(json!({"id": "x", "model": "m", "choices": [{"index": 0,
            "message": {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}]}}]}))
        .unwrap();
        assert!(matches!(chat_response_to_messages(&bad_args, "m"), Err(TranslateError::Malformed(_))));
    }

    #[test]
    fn finish_reasons_map() {
        for (finish, stop) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("function_call", "tool_use"),
            ("content_filter", "refusal"),
            ("other", "end_turn"),
        ] {
            assert_eq!(stop_reason_from_finish_reason(finish), stop);
        }
    }
}
