//! An Anthropic Messages response as an OpenAI chat completion.

use serde_json::Map;

use super::types::{stop_reason, ContentBlock, MessagesResponse};
use crate::openai::{self, finish_reason, ChatMessage, ChatResponse, Choice, MessageContent, Role, ToolCall};
use crate::TokenUsage;

/// Maps Anthropic's `stop_reason` onto OpenAI's `finish_reason`.
pub fn finish_reason_from_stop_reason(stop: &str) -> &'static str {
    match stop {
        stop_reason::MAX_TOKENS => finish_reason::LENGTH,
        stop_reason::TOOL_USE => finish_reason::TOOL_CALLS,
        stop_reason::REFUSAL => finish_reason::CONTENT_FILTER,
        // end_turn, stop_sequence, pause_turn and reasons added later all mean the model stopped normally.
        _ => finish_reason::STOP,
    }
}

/// The chat completion for `resp`. `model` is the name to report to the client (usually the gateway's
/// `<provider-account>/<model>`), `created` the Unix time of the answer.
pub fn anthropic_response_to_chat(resp: &MessagesResponse, model: &str, created: i64) -> ChatResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &resp.content {
        match block {
            ContentBlock::Text { text: t, .. } => text.push_str(t),
            ContentBlock::ToolUse { id, name, input, .. } => {
                tool_calls.push(ToolCall::function(id.clone(), name.clone(), input.to_string()));
            }
            // Thinking and server-tool blocks have no place in an OpenAI message.
            _ => {}
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() { None } else { Some(MessageContent::Text(text)) };
    let message = ChatMessage {
        role: Role::Assistant,
        content,
        name: None,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        tool_call_id: None,
        extra: Map::new(),
    };
    let finish = resp.stop_reason.as_deref().map(|s| finish_reason_from_stop_reason(s).to_string());
    ChatResponse {
        id: resp.id.clone(),
        object: "chat.completion".into(),
        created,
        model: model.to_string(),
        choices: vec![Choice { index: 0, message, finish_reason: finish, extra: Map::new() }],
        usage: Some(openai::Usage::from(&TokenUsage::from(&resp.usage))),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(body: serde_json::Value) -> MessagesResponse {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn text_answer() {
        let resp = response(json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": ", world"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 6}
        }));
        assert_eq!(
            serde_json::to_value(anthropic_response_to_chat(&resp, "anthropic-main/claude", 1700000000)).unwrap(),
            json!({
                "id": "msg_01", "object": "chat.completion", "created": 1700000000, "model": "anthropic-main/claude",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}
            })
        );
    }

    #[test]
    fn tool_use_answer() {
        let resp = response(json!({
            "id": "msg_02", "type": "message", "role": "assistant", "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "need weather", "signature": "s"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 30, "output_tokens": 20, "cache_read_input_tokens": 10}
        }));
        let chat = anthropic_response_to_chat(&resp, "m", 0);
        let choice = &chat.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(choice.message.content, None);
        assert_eq!(
            choice.message.tool_calls,
            Some(vec![ToolCall::function("toolu_1", "get_weather", r#"{"city":"Paris"}"#)])
        );
        let usage = chat.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (40, 20, 60));
        assert_eq!(usage.cached_tokens(), 10);
    }

    #[test]
    fn stop_reasons_map() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("pause_turn", "stop"),
            ("something_new", "stop"),
        ] {
            assert_eq!(finish_reason_from_stop_reason(stop), finish, "{stop}");
        }
    }
}
