//! OpenAI chat chunks as Anthropic stream events, for `/v1/messages` served by a non-Anthropic upstream.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::reverse::{anthropic_usage, stop_reason_from_finish_reason};
use super::types::{
    stop_reason, BlockDelta, ContentBlock, DeltaUsage, MessageDeltaBody, MessagesResponse, Role, StreamEvent, Usage,
};
use crate::openai::{ChatChunk, SseEvent};
use crate::{TokenUsage, TranslateError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Tool(u32),
}

/// Turns the chunks of one streamed OpenAI answer into the Anthropic event sequence: `message_start`,
/// each content block's start, deltas and stop, then `message_delta` with the stop reason and usage,
/// and `message_stop`.
///
/// OpenAI reports usage only in its last chunk (when asked with `include_usage`), so `message_start`
/// carries zero counts and `message_delta` the real ones, which Anthropic's own stream also allows.
#[derive(Debug)]
pub struct ChatStreamToAnthropic {
    model: String,
    started: bool,
    open: Option<Open>,
    next_block: u32,
    /// OpenAI tool-call index to Anthropic content-block index.
    tool_blocks: HashMap<u32, u32>,
    finish_reason: Option<String>,
    usage: TokenUsage,
    done: bool,
}

impl ChatStreamToAnthropic {
    /// `model` is the name reported to the client.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            started: false,
            open: None,
            next_block: 0,
            tool_blocks: HashMap::new(),
            finish_reason: None,
            usage: TokenUsage::default(),
            done: false,
        }
    }

    /// Convenience for an event straight from the SSE decoder; `[DONE]` closes the message.
    pub fn push_sse(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, TranslateError> {
        if event.is_done() {
            return Ok(self.finish());
        }
        Ok(self.push(&event.json::<ChatChunk>()?))
    }

    pub fn push(&mut self, chunk: &ChatChunk) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start(&chunk.id, &mut out);
        if let Some(usage) = &chunk.usage {
            self.usage = TokenUsage::from(usage);
        }
        // Only the first choice: an Anthropic message has one.
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else {
            return out;
        };
        if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
            let index = match self.open {
                Some(Open::Text(i)) => i,
                _ => self.open_block(ContentBlock::text(""), &mut out),
            };
            let delta = BlockDelta::TextDelta { text: text.to_string() };
            out.push(StreamEvent::ContentBlockDelta { index, delta });
        }
        for call in choice.delta.tool_calls.iter().flatten() {
            let index = match self.tool_blocks.get(&call.index) {
                Some(&i) => i,
                None => {
                    let function = call.function.as_ref();
                    let id = call.id.clone().unwrap_or_else(|| format!("toolu_{}", call.index));
                    let name = function.and_then(|f| f.name.clone()).unwrap_or_default();
                    let i = self.open_block(ContentBlock::tool_use(id, name, Value::Object(Map::new())), &mut out);
                    self.tool_blocks.insert(call.index, i);
                    i
                }
            };
            if let Some(args) = call.function.as_ref().and_then(|f| f.arguments.as_deref()).filter(|a| !a.is_empty()) {
                let delta = BlockDelta::InputJsonDelta { partial_json: args.to_string() };
                out.push(StreamEvent::ContentBlockDelta { index, delta });
            }
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
        out
    }

    /// Closes the message; call it at `[DONE]` or when the upstream stream ends. Calling it again
    /// returns nothing.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.start("", &mut out);
        self.close_block(&mut out);
        let stop = self.finish_reason.as_deref().map(stop_reason_from_finish_reason).unwrap_or(stop_reason::END_TURN);
        let usage = anthropic_usage(&self.usage);
        out.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody { stop_reason: Some(stop.to_string()), stop_sequence: None },
            usage: DeltaUsage {
                input_tokens: Some(usage.input_tokens),
                output_tokens: usage.output_tokens,
                cache_creation_input_tokens: usage.cache_creation_input_tokens,
                cache_read_input_tokens: usage.cache_read_input_tokens,
            },
        });
        out.push(StreamEvent::MessageStop);
        out
    }

    pub fn usage(&self) -> TokenUsage {
        self.usage
    }

    pub fn is_finished(&self) -> bool {
        self.done
    }

    fn start(&mut self, id: &str, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(StreamEvent::MessageStart {
            message: MessagesResponse {
                id: id.to_string(),
                kind: "message".into(),
                role: Role::Assistant,
                content: Vec::new(),
                model: self.model.clone(),
                stop_reason: None,
                stop_sequence: None,
                usage: Usage::default(),
            },
        });
    }

    fn open_block(&mut self, block: ContentBlock, out: &mut Vec<StreamEvent>) -> u32 {
        self.close_block(out);
        let index = self.next_block;
        self.next_block += 1;
        let is_tool = matches!(block, ContentBlock::ToolUse { .. });
        self.open = Some(if is_tool { Open::Tool(index) } else { Open::Text(index) });
        out.push(StreamEvent::ContentBlockStart { index, content_block: block });
        index
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(Open::Text(index) | Open::Tool(index)) = self.open.take() {
            out.push(StreamEvent::ContentBlockStop { index });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::SseDecoder;
    use serde_json::json;

    fn chunk(choices: Value, usage: Value) -> String {
        let body = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                          "choices": choices, "usage": usage});
        format!("data: {body}\n\n")
    }

    fn openai_stream() -> String {
        [
            chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]), Value::Null),
            chunk(json!([{"index": 0, "delta": {"content": "Let me "}, "finish_reason": null}]), Value::Null),
            chunk(json!([{"index": 0, "delta": {"content": "check."}, "finish_reason": null}]), Value::Null),
            chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}]}, "finish_reason": null}]), Value::Null),
            chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}, "finish_reason": null}]), Value::Null),
            chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}, "finish_reason": null}]), Value::Null),
            chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}}]}, "finish_reason": null}]), Value::Null),
            chunk(json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]), Value::Null),
            chunk(json!([]), json!({"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52})),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat()
    }

    #[test]
    fn openai_tool_stream_becomes_anthropic_events() {
        let mut dec = SseDecoder::new();
        let mut conv = ChatStreamToAnthropic::new("openai-main/gpt-4o");
        let mut events = Vec::new();
        for piece in openai_stream().as_bytes().chunks(23) {
            for ev in dec.feed(piece) {
                events.extend(conv.push_sse(&ev).unwrap());
            }
        }
        let got: Vec<Value> = events.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
        let expected = vec![
            json!({"type": "message_start", "message": {"id": "chatcmpl-1", "type": "message", "role": "assistant", "content": [],
                   "model": "openai-main/gpt-4o", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "check."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "call_b", "name": "time", "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
            json!({"type": "content_block_stop", "index": 2}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                   "usage": {"input_tokens": 40, "output_tokens": 12}}),
            json!({"type": "message_stop"}),
        ];
        assert_eq!(got, expected);
        assert_eq!(conv.usage(), TokenUsage::new(40, 12));
        assert!(conv.is_finished());
        assert!(conv.finish().is_empty());
    }

    #[test]
    fn a_stream_with_no_chunks_is_still_a_valid_message() {
        let mut conv = ChatStreamToAnthropic::new("m");
        let names: Vec<String> = conv.finish().iter().map(|e| e.event_name().to_string()).collect();
        assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
    }

    #[test]
    fn the_events_translate_back_to_the_same_openai_content() {
        let mut dec = SseDecoder::new();
        let mut to_anthropic = ChatStreamToAnthropic::new("m");
        let mut back = crate::anthropic::AnthropicStreamToChat::new("m", 1, true);
        let mut text = String::new();
        let mut args = String::new();
        let mut finish = None;
        for ev in dec.feed(openai_stream().as_bytes()) {
            for anth in to_anthropic.push_sse(&ev).unwrap() {
                // Through the wire format and back, as the gateway's client would see it.
                let reparsed: StreamEvent =
                    SseDecoder::new().feed(anth.to_sse().unwrap().as_bytes())[0].json().unwrap();
                for c in back.push(&reparsed).unwrap() {
                    for choice in &c.choices {
                        text.push_str(choice.delta.content.as_deref().unwrap_or(""));
                        for t in choice.delta.tool_calls.iter().flatten() {
                            if t.index == 0 {
                                args.push_str(t.function.as_ref().and_then(|f| f.arguments.as_deref()).unwrap_or(""));
                            }
                        }
                        finish = finish.or(choice.finish_reason.clone());
                    }
                }
            }
        }
        assert_eq!(text, "Let me check.");
        assert_eq!(args, "{\"city\":\"Paris\"}");
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        assert_eq!(back.usage(), TokenUsage::new(40, 12));
    }
}
