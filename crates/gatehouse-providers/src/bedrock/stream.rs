//! ConverseStream events: to and from event-stream messages, and as OpenAI chat chunks.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::eventstream::EventStreamMessage;
use super::translate::finish_reason_from_stop_reason;
use super::types::{ContentBlockDelta, ContentBlockStart, ConverseStreamEvent, Usage};
use crate::openai::{self, finish_reason, ChatChunk, Delta, Role, ToolCallDelta};
use crate::{TokenUsage, TranslateError};

impl ConverseStreamEvent {
    /// Reads one event-stream message. `Ok(None)` is an event type this version does not know, which
    /// AWS may add at any time; an `exception` message is the upstream's error.
    pub fn from_message(msg: &EventStreamMessage) -> Result<Option<Self>, TranslateError> {
        match msg.message_type() {
            Some("event") | None => {}
            Some(_) => {
                let kind = msg.exception_type().or(msg.header_str(":error-code")).unwrap_or("exception");
                let message = serde_json::from_slice::<Value>(&msg.payload)
                    .ok()
                    .and_then(|v| v.get("message").or(v.get("Message")).and_then(Value::as_str).map(str::to_owned))
                    .or_else(|| msg.header_str(":error-message").map(str::to_owned))
                    .unwrap_or_else(|| String::from_utf8_lossy(&msg.payload).into_owned());
                return Err(TranslateError::upstream(kind, message));
            }
        }
        let Some(event_type) = msg.event_type() else {
            return Err(TranslateError::malformed("an event-stream message without :event-type"));
        };
        let payload: Value = serde_json::from_slice(&msg.payload)
            .map_err(|e| TranslateError::malformed(format!("{event_type} payload: {e}")))?;
        let union = Value::Object(Map::from_iter([(event_type.to_string(), payload)]));
        match serde_json::from_value::<ConverseStreamEvent>(union) {
            // serde keeps a known delta that does not match its shape as `Other`; it must not be dropped.
            Ok(ConverseStreamEvent::ContentBlockDelta(ev)) if matches!(&ev.delta, ContentBlockDelta::Other(v) if v.get("text").is_some() || v.get("toolUse").is_some()) => {
                Err(TranslateError::malformed(format!("{event_type} payload: not a valid text or toolUse delta")))
            }
            Ok(ev) => Ok(Some(ev)),
            Err(_) if !KNOWN_EVENTS.contains(&event_type) => Ok(None),
            Err(e) => Err(TranslateError::malformed(format!("{event_type} payload: {e}"))),
        }
    }

    /// The event as Bedrock frames it, for a mock upstream.
    pub fn to_message(&self) -> Result<EventStreamMessage, TranslateError> {
        let value = serde_json::to_value(self).map_err(TranslateError::malformed)?;
        let Value::Object(map) = value else {
            return Err(TranslateError::malformed("a stream event must serialize to an object"));
        };
        let Some((event_type, payload)) = map.into_iter().next() else {
            return Err(TranslateError::malformed("a stream event must have one member"));
        };
        let payload = serde_json::to_vec(&payload).map_err(TranslateError::malformed)?;
        Ok(EventStreamMessage::event(&event_type, payload))
    }
}

const KNOWN_EVENTS: [&str; 6] =
    ["messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"];

/// Turns ConverseStream events into OpenAI chunks: a role chunk, text and tool-call deltas, a chunk with
/// `finish_reason` at `messageStop`, and a usage-only chunk from the `metadata` event that follows it
/// when the client asked with `stream_options.include_usage`.
#[derive(Debug)]
pub struct ConverseStreamToChat {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    started: bool,
    tool_index_by_block: HashMap<u32, u32>,
    usage: Option<Usage>,
    finish_sent: bool,
    done: bool,
}

impl ConverseStreamToChat {
    /// ConverseStream has no response id, so the caller supplies the `id` stamped on every chunk.
    pub fn new(id: impl Into<String>, model: impl Into<String>, created: i64, include_usage: bool) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            created,
            include_usage,
            started: false,
            tool_index_by_block: HashMap::new(),
            usage: None,
            finish_sent: false,
            done: false,
        }
    }

    /// Convenience for a decoded event-stream message.
    pub fn push_message(&mut self, msg: &EventStreamMessage) -> Result<Vec<ChatChunk>, TranslateError> {
        Ok(match ConverseStreamEvent::from_message(msg)? {
            Some(ev) => self.push(&ev),
            None => Vec::new(),
        })
    }

    pub fn push(&mut self, event: &ConverseStreamEvent) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        match event {
            ConverseStreamEvent::MessageStart(_) => self.start(&mut out),
            ConverseStreamEvent::ContentBlockStart(ev) => {
                self.start(&mut out);
                if let ContentBlockStart::ToolUse(t) = &ev.start {
                    let index = self.tool_index_by_block.len() as u32;
                    self.tool_index_by_block.insert(ev.content_block_index, index);
                    out.push(self.chunk(Delta::tool_call(ToolCallDelta::start(index, &t.tool_use_id, &t.name))));
                }
            }
            ConverseStreamEvent::ContentBlockDelta(ev) => {
                self.start(&mut out);
                match &ev.delta {
                    ContentBlockDelta::Text(text) if !text.is_empty() => out.push(self.chunk(Delta::content(text))),
                    ContentBlockDelta::ToolUse(t) if !t.input.is_empty() => {
                        if let Some(&index) = self.tool_index_by_block.get(&ev.content_block_index) {
                            out.push(self.chunk(Delta::tool_call(ToolCallDelta::arguments(index, &t.input))));
                        }
                    }
                    _ => {}
                }
            }
            ConverseStreamEvent::ContentBlockStop(_) => {}
            ConverseStreamEvent::MessageStop(ev) => {
                self.start(&mut out);
                out.push(self.finish_chunk(finish_reason_from_stop_reason(&ev.stop_reason)));
            }
            ConverseStreamEvent::Metadata(ev) => {
                self.usage = Some(ev.usage.clone());
                out.extend(self.finish());
            }
        }
        out
    }

    /// Closes the stream if `metadata` never came. Calling it again returns nothing.
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
        self.usage.as_ref().map(TokenUsage::from).unwrap_or_default()
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
    use crate::bedrock::EventStreamDecoder;
    use serde_json::json;

    /// A ConverseStream answer that says a sentence and then calls a tool, framed as Bedrock frames it
    /// (including the `p` padding field Bedrock adds to payloads).
    fn bedrock_stream() -> Vec<u8> {
        let events = [
            ("messageStart", json!({"p": "abcdefgh", "role": "assistant"})),
            ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Let me "}, "p": "abcd"})),
            ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "check."}, "p": "ab"})),
            ("contentBlockStop", json!({"contentBlockIndex": 0, "p": "abcdefghijk"})),
            (
                "contentBlockStart",
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather"}}, "p": "a"}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\": "}}, "p": "ab"}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}, "p": "ab"}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 1, "p": "abc"})),
            ("messageStop", json!({"p": "abcdef", "stopReason": "tool_use"})),
            (
                "metadata",
                json!({"metrics": {"latencyMs": 812}, "p": "abc", "usage": {"inputTokens": 410, "outputTokens": 53, "totalTokens": 463}}),
            ),
        ];
        events
            .iter()
            .flat_map(|(t, p)| EventStreamMessage::event(t, serde_json::to_vec(p).unwrap()).encode().unwrap())
            .collect()
    }

    fn run(bytes: &[u8], piece: usize, include_usage: bool) -> (Vec<ChatChunk>, ConverseStreamToChat) {
        let mut dec = EventStreamDecoder::new();
        let mut conv = ConverseStreamToChat::new("chatcmpl-req1", "bedrock-main/claude", 7, include_usage);
        let mut out = Vec::new();
        for p in bytes.chunks(piece) {
            for msg in dec.decode(p).unwrap() {
                out.extend(conv.push_message(&msg).unwrap());
            }
        }
        dec.finish().unwrap();
        (out, conv)
    }

    #[test]
    fn converse_stream_becomes_openai_chunks() {
        let (chunks, conv) = run(&bedrock_stream(), 9, true);
        let deltas: Vec<Value> = chunks.iter().map(|c| serde_json::to_value(c).unwrap()).collect();
        assert_eq!(deltas[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
        assert_eq!(deltas[1]["choices"][0]["delta"], json!({"content": "Let me "}));
        assert_eq!(deltas[2]["choices"][0]["delta"], json!({"content": "check."}));
        assert_eq!(
            deltas[3]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "tooluse_abc", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
        );
        assert_eq!(
            deltas[4]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": "}}]})
        );
        assert_eq!(
            deltas[5]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]})
        );
        assert_eq!(deltas[6]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(deltas[7]["choices"], json!([]));
        assert_eq!(deltas[7]["usage"], json!({"prompt_tokens": 410, "completion_tokens": 53, "total_tokens": 463}));
        assert_eq!(deltas.len(), 8);
        assert!(deltas
            .iter()
            .all(|d| d["id"] == "chatcmpl-req1" && d["model"] == "bedrock-main/claude" && d["created"] == 7));
        assert_eq!(conv.usage(), TokenUsage::new(410, 53));
        assert!(conv.is_finished());
    }

    #[test]
    fn split_sizes_do_not_change_the_chunks() {
        let bytes = bedrock_stream();
        let (whole, _) = run(&bytes, bytes.len(), false);
        assert_eq!(whole.len(), 7);
        for piece in [1, 3, 16, 100] {
            assert_eq!(run(&bytes, piece, false).0, whole);
        }
    }

    #[test]
    fn exceptions_become_upstream_errors() {
        let msg =
            EventStreamMessage::exception("throttlingException", "Too many requests, please wait before trying again.");
        let err = ConverseStreamEvent::from_message(&msg).unwrap_err();
        assert_eq!(
            err,
            TranslateError::upstream("throttlingException", "Too many requests, please wait before trying again.")
        );
    }

    #[test]
    fn unknown_events_are_skipped_and_bad_known_ones_are_malformed() {
        let future = EventStreamMessage::event("somethingNew", b"{\"x\":1}".to_vec());
        assert_eq!(ConverseStreamEvent::from_message(&future).unwrap(), None);
        let bad = EventStreamMessage::event("messageStop", b"{\"noStopReason\":1}".to_vec());
        assert!(matches!(ConverseStreamEvent::from_message(&bad), Err(TranslateError::Malformed(_))));
        let bad_delta =
            EventStreamMessage::event("contentBlockDelta", br#"{"contentBlockIndex":0,"delta":{"text":5}}"#.to_vec());
        assert!(matches!(ConverseStreamEvent::from_message(&bad_delta), Err(TranslateError::Malformed(_))));
        let not_json = EventStreamMessage::event("messageStop", b"nope".to_vec());
        assert!(matches!(ConverseStreamEvent::from_message(&not_json), Err(TranslateError::Malformed(_))));
        let untyped = EventStreamMessage { headers: vec![], payload: b"{}".to_vec() };
        assert!(matches!(ConverseStreamEvent::from_message(&untyped), Err(TranslateError::Malformed(_))));
    }

    #[test]
    fn events_frame_and_parse_back() {
        let ev: ConverseStreamEvent =
            serde_json::from_value(json!({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "hi"}}}))
                .unwrap();
        let msg = ev.to_message().unwrap();
        assert_eq!(msg.event_type(), Some("contentBlockDelta"));
        assert_eq!(msg.payload, br#"{"contentBlockIndex":0,"delta":{"text":"hi"}}"#);
        let framed = msg.encode().unwrap();
        let back = EventStreamDecoder::new().decode(&framed).unwrap();
        assert_eq!(ConverseStreamEvent::from_message(&back[0]).unwrap(), Some(ev));
    }

    #[test]
    fn a_stream_without_metadata_is_closed_by_finish() {
        let mut conv = ConverseStreamToChat::new("id", "m", 0, true);
        let stop: ConverseStreamEvent =
            serde_json::from_value(json!({"messageStop": {"stopReason": "max_tokens"}})).unwrap();
        let chunks = conv.push(&stop);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].choices[0].finish_reason.as_deref(), Some("length"));
        let last = conv.finish();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].usage.as_ref().unwrap().total_tokens, 0);
        assert!(conv.finish().is_empty());
    }
}
