//! Server-sent events, as OpenAI and Anthropic stream them: an incremental decoder and an encoder.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::TranslateError;

/// The last event of an OpenAI stream, already framed.
pub const DONE_FRAME: &str = "data: [DONE]\n\n";

/// One dispatched event. `data` is its `data:` lines joined with `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    pub id: Option<String>,
}

impl SseEvent {
    /// OpenAI's end-of-stream sentinel, which is not JSON.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, TranslateError> {
        serde_json::from_str(&self.data).map_err(|e| TranslateError::malformed(format!("event data: {e}")))
    }
}

/// Decodes an SSE byte stream fed in arbitrary pieces, following the WHATWG event-stream rules: lines
/// end in LF, CRLF or CR; a blank line dispatches; `:` starts a comment; one space after the colon is
/// dropped. Bytes are buffered until a whole line is present, so a UTF-8 character or a CRLF split
/// across two reads is still decoded correctly.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// The previous piece ended in CR: an LF starting the next one belongs to that line ending.
    pending_cr: bool,
    started: bool,
    event: Option<String>,
    data: Vec<String>,
    id: Option<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and returns every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut bytes = bytes;
        if self.pending_cr && !bytes.is_empty() {
            self.pending_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b != b'\n' && b != b'\r' {
                i += 1;
                continue;
            }
            let line = String::from_utf8_lossy(&self.buf[start..i]).into_owned();
            let mut next = i + 1;
            if b == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
            if let Some(event) = self.line(&line) {
                out.push(event);
            }
            start = next;
            i = next;
        }
        self.buf.drain(..start);
        out
    }

    /// Ends the stream. An event that was not closed by a blank line is still returned, because upstreams
    /// that close the connection right after their last `data:` line are common enough to tolerate.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let rest = std::mem::take(&mut self.buf);
        let mut last = None;
        if !rest.is_empty() {
            last = self.line(&String::from_utf8_lossy(&rest));
        }
        last.or_else(|| self.dispatch())
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        let line = if self.started {
            line
        } else {
            self.started = true;
            line.strip_prefix('\u{feff}').unwrap_or(line)
        };
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => self.data.push(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        Some(SseEvent { event, data, id: self.id.clone() })
    }
}

/// Frames one event. Data containing line breaks is split over several `data:` lines, which a decoder
/// joins back with `\n`.
pub fn encode_event(event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(name) = event {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Frames a value as JSON data.
pub fn encode_json<T: Serialize>(event: Option<&str>, value: &T) -> Result<String, serde_json::Error> {
    Ok(encode_event(event, &serde_json::to_string(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::ChatChunk;

    const STREAM: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n\
: keep-alive\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\u{e9}llo \u{1f600}\"},\"finish_reason\":null}]}\n\n\
data: [DONE]\n\n";

    fn decode_in_pieces(input: &[u8], sizes: &[usize]) -> Vec<SseEvent> {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        let mut rest = input;
        let mut k = 0;
        while !rest.is_empty() {
            let n = sizes[k % sizes.len()].clamp(1, rest.len());
            out.extend(dec.feed(&rest[..n]));
            rest = &rest[n..];
            k += 1;
        }
        out.extend(dec.finish());
        out
    }

    #[test]
    fn decodes_an_openai_stream_whole() {
        let events = decode_in_pieces(STREAM.as_bytes(), &[usize::MAX]);
        assert_eq!(events.len(), 3);
        let chunk: ChatChunk = events[1].json().unwrap();
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("h\u{e9}llo \u{1f600}"));
        assert!(events[2].is_done());
        assert!(!events[0].is_done());
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let whole = decode_in_pieces(STREAM.as_bytes(), &[usize::MAX]);
        // Every single split point, which cuts through the multi-byte characters and the blank lines.
        for cut in 1..STREAM.len() {
            assert_eq!(decode_in_pieces(STREAM.as_bytes(), &[cut, usize::MAX]), whole, "cut at {cut}");
        }
        for sizes in [&[1][..], &[2, 3], &[7, 1, 13], &[64]] {
            assert_eq!(decode_in_pieces(STREAM.as_bytes(), sizes), whole, "sizes {sizes:?}");
        }
    }

    #[test]
    fn crlf_and_cr_line_endings_split_anywhere() {
        let lf = "event: message_start\ndata: {\"a\":1}\n\nevent: ping\ndata: {}\n\n";
        let expected = decode_in_pieces(lf.as_bytes(), &[usize::MAX]);
        assert_eq!(expected.len(), 2);
        assert_eq!(expected[0].event.as_deref(), Some("message_start"));
        for input in [lf.replace('\n', "\r\n"), lf.replace('\n', "\r")] {
            for cut in 1..input.len() {
                assert_eq!(decode_in_pieces(input.as_bytes(), &[cut, usize::MAX]), expected, "{input:?} at {cut}");
            }
        }
    }

    #[test]
    fn multi_line_data_and_fields() {
        let events = decode_in_pieces(b"\xef\xbb\xbfid: 7\nevent: x\ndata:a\ndata: b\nretry: 10\nunknown\n\n", &[3]);
        assert_eq!(events, vec![SseEvent { event: Some("x".into()), data: "a\nb".into(), id: Some("7".into()) }]);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_event_names_reset() {
        let events = decode_in_pieces(b"event: lonely\n\ndata: x\n\n", &[usize::MAX]);
        assert_eq!(events, vec![SseEvent { event: None, data: "x".into(), id: None }]);
    }

    #[test]
    fn an_unterminated_last_event_is_returned_by_finish() {
        let mut dec = SseDecoder::new();
        assert!(dec.feed(b"data: [DONE]").is_empty());
        assert!(dec.finish().unwrap().is_done());
        let mut dec = SseDecoder::new();
        assert!(dec.feed(b"data: x\n").is_empty());
        assert_eq!(dec.finish().unwrap().data, "x");
        assert_eq!(SseDecoder::new().finish(), None);
    }

    #[test]
    fn bad_json_is_a_malformed_error() {
        let ev = SseEvent { data: "{nope".into(), ..SseEvent::default() };
        assert!(matches!(ev.json::<ChatChunk>(), Err(TranslateError::Malformed(_))));
    }

    #[test]
    fn encoder_output_decodes_back() {
        let framed = encode_event(Some("content_block_delta"), "line1\nline2\r\nline3");
        assert_eq!(framed, "event: content_block_delta\ndata: line1\ndata: line2\ndata: line3\n\n");
        let events = decode_in_pieces(framed.as_bytes(), &[5]);
        assert_eq!(events[0].data, "line1\nline2\nline3");
        assert_eq!(encode_json(None, &serde_json::json!({"a": 1})).unwrap(), "data: {\"a\":1}\n\n");
        assert!(decode_in_pieces(DONE_FRAME.as_bytes(), &[1])[0].is_done());
    }
}
