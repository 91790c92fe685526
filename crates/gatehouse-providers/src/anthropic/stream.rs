//! Anthropic stream events as OpenAI chat chunks.

use std::collections::HashMap;

use super::response::finish_reason_from_stop_reason;
use super::types::{BlockDelta, ContentBlock, StreamEvent, Usage};
use crate::openai::{self, finish_reason, ChatChunk, Delta, Role, SseEvent, ToolCallDelta};
use crate::{TokenUsage, TranslateError};

/// Turns the events of one streamed Anthropic message into OpenAI chunks: a role chunk first, then text
/// and tool-call deltas, a chunk carrying `finish_reason`, and, when the client asked with
/// `stream_options.include_usage`, a last chunk with only usage.
#[derive(Debug)]
pub struct AnthropicStreamToChat {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    started: bool,
    /// Anthropic numbers content blocks of every kind; OpenAI numbers tool calls only.
    tool_index_by_block: HashMap<u32, u32>,
    usage: Usage,
    finish_sent: bool,
    done: bool,
}

impl AnthropicStreamToChat {
    /// `model` is the name reported to the client, `created` the Unix time stamped on every chunk.
    pub fn new(model: impl Into<String>, created: i64, include_usage: bool) -> Self {
        Self {
            id: String::new(),
            model: model.into(),
            created,
            include_usage,
            started: false,
            tool_index_by_block: HashMap::new(),
            usage: Usage::default(),
            finish_sent: false,
            done: false,
        }
    }

    /// Convenience for an event straight from the [`openai::SseDecoder`].
    pub fn push_sse(&mut self, event: &SseEvent) -> Result<Vec<ChatChunk>, TranslateError> {
        self.push(&event.json::<StreamEvent>()?)
    }

    pub fn push(&mut self, event: &StreamEvent) -> Result<Vec<ChatChunk>, TranslateError> {
        if let Some(kind) = event.malformed_type() {
            return Err(TranslateError::malformed(format!("a {kind} event that does not match its documented shape")));
        }
        let mut out = Vec::new();
        match event {
            StreamEvent::MessageStart { message } => {
                self.id = message.id.clone();
                self.usage = message.usage.clone();
                self.start(&mut out);
            }
            StreamEvent::ContentBlockStart { index, content_block } => {
                self.start(&mut out);
                match content_block {
                    ContentBlock::Text { text, .. } if !text.is_empty() => out.push(self.chunk(Delta::content(text))),
                    ContentBlock::ToolUse { id, name, .. } => {
                        let tool_index = self.tool_index_by_block.len() as u32;
                        self.tool_index_by_block.insert(*index, tool_index);
                        out.push(self.chunk(Delta::tool_call(ToolCallDelta::start(tool_index, id, name))));
                    }
                    _ => {}
                }
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                self.start(&mut out);
                match delta {
                    BlockDelta::TextDelta { text } => out.push(self.chunk(Delta::content(text))),
                    BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                        if let Some(&tool_index) = self.tool_index_by_block.get(index) {
                            out.push(self.chunk(Delta::tool_call(ToolCallDelta::arguments(tool_index, partial_json))));
                        }
                    }
                    _ => {}
                }
            }
            StreamEvent::MessageDelta { delta, usage } => {
                self.usage.output_tokens = usage.output_tokens;
                if let Some(n) = usage.input_tokens {
                    self.usage.input_tokens = n;
                }
                if let Some(n) = usage.cache_read_input_tokens {
                    self.usage.cache_read_input_tokens = Some(n);
                }
                if let Some(n) = usage.cache_creation_input_tokens {
                    self.usage.cache_creation_input_tokens = Some(n);
                }
                if let Some(stop) = &delta.stop_reason {
                    self.start(&mut out);
                    out.push(self.finish_chunk(finish_reason_from_stop_reason(stop)));
                }
            }
            StreamEvent::MessageStop => out.extend(self.finish()),
            StreamEvent::Error { error } => return Err(TranslateError::upstream(&error.kind, &error.message)),
            StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping | StreamEvent::Other(_) => {}
        }
        Ok(out)
    }

    /// Closes the stream: the finish chunk if no `stop_reason` came, then the usage chunk if asked for.
    /// Called by `message_stop`; calling it again returns nothing.
    pub fn finish(&mut self) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.start(&mut out);
        if !self.finish_sent {
            out.push(self.finish_chunk(finish_reason::STOP));
        }
        if self.include_usage {
            out.push(ChatChunk::usage_only(&self.id, &self.model, self.created, openai::Usage::from(&self.usage())));
        }
        out
    }

    pub fn usage(&self) -> TokenUsage {
        TokenUsage::from(&self.usage)
    }

    pub fn is_finished(&self) -> bool {
        self.done
    }

    fn start(&mut self, out: &mut Vec<ChatChunk>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(Delta::role(Role::Assistant)));
        }
    }

    fn finish_chunk(&mut self, reason: &str) -> ChatChunk {
        self.finish_sent = true;
        ChatChunk::with_delta(&self.id, &self.model, self.created, Delta::default(), Some(reason.to_string()))
    }

    fn chunk(&self, delta: Delta) -> ChatChunk {
        ChatChunk::with_delta(&self.id, &self.model, self.created, delta, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::{FunctionCallDelta, SseDecoder};
    use serde_json::json;

    /// A tool-use stream in the shape of Anthropic's streaming documentation.
    const TOOL_STREAM: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_014p7gG3wDgGV9EUtLvnow3U\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2},\"content\":[],\"stop_reason\":null}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\n",
        "data: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\", checking.\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\":\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"San Francisco, CA\\\"}\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );

    fn run(stream: &str, include_usage: bool) -> (Vec<ChatChunk>, AnthropicStreamToChat) {
        let mut dec = SseDecoder::new();
        let mut conv = AnthropicStreamToChat::new("anthropic-main/claude", 42, include_usage);
        let mut chunks = Vec::new();
        // Odd-sized reads, as a network would deliver them.
        for piece in stream.as_bytes().chunks(17) {
            for ev in dec.feed(piece) {
                chunks.extend(conv.push_sse(&ev).unwrap());
            }
        }
        (chunks, conv)
    }

    #[test]
    fn tool_use_stream_becomes_openai_chunks() {
        let (chunks, conv) = run(TOOL_STREAM, true);
        let deltas: Vec<serde_json::Value> = chunks.iter().map(|c| serde_json::to_value(c).unwrap()).collect();
        assert!(chunks
            .iter()
            .all(|c| c.id == "msg_014p7gG3wDgGV9EUtLvnow3U" && c.model == "anthropic-main/claude" && c.created == 42));
        assert_eq!(deltas[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
        assert_eq!(deltas[1]["choices"][0]["delta"], json!({"content": "Okay"}));
        assert_eq!(deltas[2]["choices"][0]["delta"], json!({"content": ", checking."}));
        assert_eq!(
            deltas[3]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                                   "function": {"name": "get_weather", "arguments": ""}}]})
        );
        assert_eq!(
            deltas[4]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\":"}}]})
        );
        assert_eq!(
            deltas[5]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": " \"San Francisco, CA\"}"}}]})
        );
        assert_eq!(deltas[6]["choices"][0], json!({"index": 0, "delta": {}, "finish_reason": "tool_calls"}));
        assert_eq!(deltas[7]["choices"], json!([]));
        assert_eq!(deltas[7]["usage"], json!({"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}));
        assert_eq!(chunks.len(), 8);
        assert!(conv.is_finished());
        assert_eq!(conv.usage(), TokenUsage::new(472, 89));

        // The argument fragments add up to the tool input.
        let args: String = chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .filter_map(|c| c.delta.tool_calls.as_ref())
            .flatten()
            .filter_map(|t| t.function.as_ref().and_then(|f: &FunctionCallDelta| f.arguments.clone()))
            .collect();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&args).unwrap(), json!({"location": "San Francisco, CA"}));
    }

    #[test]
    fn without_include_usage_there_is_no_usage_chunk() {
        let (chunks, conv) = run(TOOL_STREAM, false);
        assert_eq!(chunks.len(), 7);
        assert!(chunks.iter().all(|c| c.usage.is_none()));
        assert_eq!(conv.usage().output_tokens, 89);
    }

    #[test]
    fn second_tool_gets_the_next_openai_index() {
        let events = [
            json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": [], "model": "c", "usage": {"input_tokens": 1, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "a", "name": "f", "input": {}}}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "thinking", "thinking": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "b", "name": "g", "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 9, "input_tokens": 3}}),
            json!({"type": "message_stop"}),
        ];
        let mut conv = AnthropicStreamToChat::new("m", 0, true);
        let chunks: Vec<ChatChunk> =
            events.into_iter().flat_map(|e| conv.push(&serde_json::from_value(e).unwrap()).unwrap()).collect();
        let calls: Vec<&ToolCallDelta> =
            chunks.iter().filter_map(|c| c.choices.first()?.delta.tool_calls.as_ref()).flatten().collect();
        assert_eq!(
            calls,
            vec![
                &ToolCallDelta::start(0, "a", "f"),
                &ToolCallDelta::start(1, "b", "g"),
                &ToolCallDelta::arguments(1, "{}")
            ]
        );
        assert_eq!(chunks[chunks.len() - 2].choices[0].finish_reason.as_deref(), Some("length"));
        assert_eq!(conv.usage(), TokenUsage::new(3, 9));
        assert!(conv.finish().is_empty(), "finish after message_stop adds nothing");
    }

    #[test]
    fn error_events_become_upstream_errors() {
        let mut conv = AnthropicStreamToChat::new("m", 0, false);
        let ev = serde_json::from_value(
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        )
        .unwrap();
        assert_eq!(conv.push(&ev).unwrap_err(), TranslateError::upstream("overloaded_error", "Overloaded"));
    }

    #[test]
    fn malformed_known_events_are_errors_and_unknown_ones_are_skipped() {
        let mut conv = AnthropicStreamToChat::new("m", 0, false);
        for bad in [
            json!({"type": "content_block_delta", "index": "zero"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "name": "f"}}),
        ] {
            let ev = serde_json::from_value(bad.clone()).unwrap();
            assert!(matches!(conv.push(&ev), Err(TranslateError::Malformed(_))), "{bad}");
        }
        let future_delta =
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}});
        assert!(conv.push(&serde_json::from_value(future_delta).unwrap()).is_ok());
        let new_kind = serde_json::from_value(json!({"type": "message_annotation", "x": 1})).unwrap();
        assert!(conv.push(&new_kind).unwrap().is_empty());
    }

    #[test]
    fn a_cut_stream_is_closed_by_finish() {
        let mut conv = AnthropicStreamToChat::new("m", 0, true);
        let ev = serde_json::from_value(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}),
        )
        .unwrap();
        let first = conv.push(&ev).unwrap();
        assert_eq!(first.len(), 2, "role chunk, then the text");
        let last = conv.finish();
        assert_eq!(last[0].choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(last[1].usage.is_some());
    }
}
