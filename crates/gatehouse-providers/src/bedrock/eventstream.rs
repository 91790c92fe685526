//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`) that ConverseStream
//! answers in.
//!
//! Each message is: total length (u32), headers length (u32), CRC-32 of those 8 bytes, the headers, the
//! payload, and a CRC-32 of everything before it. All integers are big-endian. A header is a 1-byte name
//! length, the name, a 1-byte value type and the value.

use super::crc32::crc32;

/// Smallest message: prelude (8) + prelude CRC (4) + message CRC (4).
const OVERHEAD: usize = 16;
/// AWS caps a message at 16 MiB; anything larger means the stream is corrupt, not that it is big.
const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    #[error("event stream: prelude checksum mismatch (computed {computed:#010x}, sent {sent:#010x})")]
    PreludeCrc { computed: u32, sent: u32 },
    #[error("event stream: message checksum mismatch (computed {computed:#010x}, sent {sent:#010x})")]
    MessageCrc { computed: u32, sent: u32 },
    #[error("event stream: invalid message length {total} (headers {headers})")]
    Length { total: usize, headers: usize },
    #[error("event stream: malformed headers: {0}")]
    Header(String),
    #[error("event stream: the stream ended inside a message ({0} bytes left over)")]
    Truncated(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl HeaderValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventStreamMessage {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl EventStreamMessage {
    /// An `event` message with a JSON payload, as Bedrock sends them.
    pub fn event(event_type: &str, payload: Vec<u8>) -> Self {
        Self {
            headers: vec![
                (":event-type".into(), HeaderValue::String(event_type.into())),
                (":content-type".into(), HeaderValue::String("application/json".into())),
                (":message-type".into(), HeaderValue::String("event".into())),
            ],
            payload,
        }
    }

    /// An `exception` message, as Bedrock sends a mid-stream error.
    pub fn exception(exception_type: &str, message: &str) -> Self {
        let payload = serde_json::json!({ "message": message }).to_string().into_bytes();
        Self {
            headers: vec![
                (":exception-type".into(), HeaderValue::String(exception_type.into())),
                (":content-type".into(), HeaderValue::String("application/json".into())),
                (":message-type".into(), HeaderValue::String("exception".into())),
            ],
            payload,
        }
    }

    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(HeaderValue::as_str)
    }

    /// `event`, `exception` or `error`.
    pub fn message_type(&self) -> Option<&str> {
        self.header_str(":message-type")
    }

    pub fn event_type(&self) -> Option<&str> {
        self.header_str(":event-type")
    }

    pub fn exception_type(&self) -> Option<&str> {
        self.header_str(":exception-type")
    }

    /// Frames the message. Fails only if a header name or value is longer than the format can say.
    pub fn encode(&self) -> Result<Vec<u8>, EventStreamError> {
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let name_len =
                u8::try_from(name.len()).map_err(|_| EventStreamError::Header(format!("name too long: {name}")))?;
            headers.push(name_len);
            headers.extend_from_slice(name.as_bytes());
            encode_value(value, &mut headers)?;
        }
        let total = OVERHEAD + headers.len() + self.payload.len();
        if total > MAX_MESSAGE_LEN {
            return Err(EventStreamError::Length { total, headers: headers.len() });
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32(&out).to_be_bytes());
        out.extend_from_slice(&headers);
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&crc32(&out).to_be_bytes());
        Ok(out)
    }
}

fn encode_value(value: &HeaderValue, out: &mut Vec<u8>) -> Result<(), EventStreamError> {
    let sized = |bytes: &[u8], out: &mut Vec<u8>| {
        let len = u16::try_from(bytes.len()).map_err(|_| EventStreamError::Header("value too long".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    };
    match value {
        HeaderValue::Bool(true) => out.push(0),
        HeaderValue::Bool(false) => out.push(1),
        HeaderValue::Byte(v) => {
            out.push(2);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Short(v) => {
            out.push(3);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Int(v) => {
            out.push(4);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Long(v) => {
            out.push(5);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Bytes(v) => {
            out.push(6);
            sized(v, out)?;
        }
        HeaderValue::String(v) => {
            out.push(7);
            sized(v.as_bytes(), out)?;
        }
        HeaderValue::Timestamp(v) => {
            out.push(8);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Uuid(v) => {
            out.push(9);
            out.extend_from_slice(v);
        }
    }
    Ok(())
}

/// Decodes messages from bytes fed in arbitrary pieces. Both checksums are verified; after an error the
/// stream cannot be resynchronised and should be abandoned.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    buf: Vec<u8>,
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, or `None` until more bytes arrive.
    pub fn next_message(&mut self) -> Result<Option<EventStreamMessage>, EventStreamError> {
        if self.buf.len() < 12 {
            return Ok(None);
        }
        let total = be_u32(&self.buf[0..4]) as usize;
        let headers_len = be_u32(&self.buf[4..8]) as usize;
        // Checked before trusting the lengths, so a corrupt prelude cannot make us wait for 4 GiB.
        let computed = crc32(&self.buf[0..8]);
        let sent = be_u32(&self.buf[8..12]);
        if computed != sent {
            return Err(EventStreamError::PreludeCrc { computed, sent });
        }
        if !(OVERHEAD..=MAX_MESSAGE_LEN).contains(&total) || headers_len > total - OVERHEAD {
            return Err(EventStreamError::Length { total, headers: headers_len });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..total).collect();
        let computed = crc32(&frame[..total - 4]);
        let sent = be_u32(&frame[total - 4..]);
        if computed != sent {
            return Err(EventStreamError::MessageCrc { computed, sent });
        }
        let headers = decode_headers(&frame[12..12 + headers_len])?;
        let payload = frame[12 + headers_len..total - 4].to_vec();
        Ok(Some(EventStreamMessage { headers, payload }))
    }

    /// Feeds bytes and returns every message they complete.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Vec<EventStreamMessage>, EventStreamError> {
        self.feed(bytes);
        let mut out = Vec::new();
        while let Some(m) = self.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    /// Ends the stream; bytes left over mean it was cut inside a message.
    pub fn finish(&self) -> Result<(), EventStreamError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(EventStreamError::Truncated(self.buf.len()))
        }
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn decode_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, EventStreamError> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], EventStreamError> {
        if b.len() < n {
            return Err(EventStreamError::Header("a header runs past the headers section".into()));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn array<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], EventStreamError> {
        let mut out = [0u8; N];
        out.copy_from_slice(take(b, N)?);
        Ok(out)
    }
    fn sized<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], EventStreamError> {
        let len = u16::from_be_bytes(array(b)?) as usize;
        take(b, len)
    }
    let mut headers = Vec::new();
    while !b.is_empty() {
        let name_len = take(&mut b, 1)?[0] as usize;
        let name = std::str::from_utf8(take(&mut b, name_len)?)
            .map_err(|_| EventStreamError::Header("a header name is not UTF-8".into()))?
            .to_string();
        let value = match take(&mut b, 1)?[0] {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(array(&mut b)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(array(&mut b)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(array(&mut b)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(array(&mut b)?)),
            6 => HeaderValue::Bytes(sized(&mut b)?.to_vec()),
            7 => HeaderValue::String(
                String::from_utf8(sized(&mut b)?.to_vec())
                    .map_err(|_| EventStreamError::Header(format!("the value of {name} is not UTF-8")))?,
            ),
            8 => HeaderValue::Timestamp(i64::from_be_bytes(array(&mut b)?)),
            9 => HeaderValue::Uuid(array(&mut b)?),
            t => return Err(EventStreamError::Header(format!("unknown value type {t} for {name}"))),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the tests of AWS's own C event-stream library (awslabs/aws-c-event-stream,
    // tests/message_deserializer_test.c).
    const EMPTY_MESSAGE: [u8; 16] =
        [0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff];
    const NO_HEADERS: [u8; 29] = [
        0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66, 0x6f, 0x6f, 0x27,
        0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36,
    ];
    fn one_header() -> Vec<u8> {
        let mut v = vec![0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C];
        v.extend_from_slice(b"content-type");
        v.extend_from_slice(&[0x07, 0x00, 0x10]);
        v.extend_from_slice(b"application/json");
        v.extend_from_slice(b"{'foo':'bar'}");
        v.extend_from_slice(&[0x8D, 0x9C, 0x08, 0xB1]);
        v
    }

    #[test]
    fn decodes_and_encodes_the_published_vectors() {
        let mut dec = EventStreamDecoder::new();
        let empty = dec.decode(&EMPTY_MESSAGE).unwrap();
        assert_eq!(empty, vec![EventStreamMessage::default()]);
        assert_eq!(empty[0].encode().unwrap(), EMPTY_MESSAGE);

        let plain = dec.decode(&NO_HEADERS).unwrap();
        assert_eq!(plain[0].payload, b"{'foo':'bar'}");
        assert_eq!(plain[0].encode().unwrap(), NO_HEADERS);

        let framed = one_header();
        let with_header = dec.decode(&framed).unwrap();
        assert_eq!(with_header[0].header_str("content-type"), Some("application/json"));
        assert_eq!(with_header[0].payload, b"{'foo':'bar'}");
        assert_eq!(with_header[0].encode().unwrap(), framed);
        dec.finish().unwrap();
    }

    fn all_header_types() -> EventStreamMessage {
        EventStreamMessage {
            headers: vec![
                ("t".into(), HeaderValue::Bool(true)),
                ("f".into(), HeaderValue::Bool(false)),
                ("byte".into(), HeaderValue::Byte(-3)),
                ("short".into(), HeaderValue::Short(-300)),
                ("int".into(), HeaderValue::Int(70_000)),
                ("long".into(), HeaderValue::Long(-5_000_000_000)),
                ("bytes".into(), HeaderValue::Bytes(vec![0, 1, 255])),
                ("string".into(), HeaderValue::String("h\u{e9}".into())),
                ("ts".into(), HeaderValue::Timestamp(1_700_000_000_000)),
                ("uuid".into(), HeaderValue::Uuid([7; 16])),
            ],
            payload: br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#.to_vec(),
        }
    }

    #[test]
    fn every_header_type_round_trips_through_any_split() {
        let msgs = [
            all_header_types(),
            EventStreamMessage::event("messageStop", b"{}".to_vec()),
            EventStreamMessage::exception("throttlingException", "slow down"),
        ];
        let mut stream = Vec::new();
        for m in &msgs {
            stream.extend(m.encode().unwrap());
        }
        for size in [1, 2, 3, 5, 11, 12, 13, 64, stream.len()] {
            let mut dec = EventStreamDecoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(size) {
                got.extend(dec.decode(piece).unwrap());
            }
            assert_eq!(got, msgs, "pieces of {size}");
            dec.finish().unwrap();
        }
        let exc = &msgs[2];
        assert_eq!((exc.message_type(), exc.exception_type()), (Some("exception"), Some("throttlingException")));
        assert_eq!(msgs[1].event_type(), Some("messageStop"));
    }

    #[test]
    fn a_corrupted_payload_fails_the_message_crc() {
        let mut framed = one_header();
        let payload_at = framed.len() - 6;
        framed[payload_at] ^= 0x20;
        let err = EventStreamDecoder::new().decode(&framed).unwrap_err();
        assert!(matches!(err, EventStreamError::MessageCrc { sent: 0x8D9C_08B1, .. }), "{err}");
    }

    #[test]
    fn a_corrupted_length_fails_the_prelude_crc_before_waiting_for_bytes() {
        let mut framed = NO_HEADERS.to_vec();
        framed[0] = 0x7f;
        let mut dec = EventStreamDecoder::new();
        dec.feed(&framed[..12]);
        assert!(matches!(dec.next_message(), Err(EventStreamError::PreludeCrc { .. })));
    }

    #[test]
    fn impossible_lengths_are_rejected() {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&20u32.to_be_bytes());
        prelude.extend_from_slice(&10u32.to_be_bytes());
        let crc = crc32(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let err = EventStreamDecoder::new().decode(&prelude).unwrap_err();
        assert_eq!(err, EventStreamError::Length { total: 20, headers: 10 });
    }

    #[test]
    fn headers_running_past_their_section_are_rejected() {
        let msg =
            EventStreamMessage { headers: vec![("abc".into(), HeaderValue::String("x".into()))], payload: vec![] };
        let mut framed = msg.encode().unwrap();
        // Claim a longer name than there is, then fix up the message CRC so only the header is wrong.
        framed[12] = 200;
        let n = framed.len();
        let crc = crc32(&framed[..n - 4]);
        framed[n - 4..].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(EventStreamDecoder::new().decode(&framed), Err(EventStreamError::Header(_))));
    }

    #[test]
    fn a_stream_cut_mid_message_is_truncated() {
        let mut dec = EventStreamDecoder::new();
        assert!(dec.decode(&NO_HEADERS[..20]).unwrap().is_empty());
        assert_eq!(dec.finish(), Err(EventStreamError::Truncated(20)));
    }

    #[test]
    fn oversized_values_cannot_be_encoded() {
        let long_name =
            EventStreamMessage { headers: vec![("x".repeat(256), HeaderValue::Bool(true))], payload: vec![] };
        assert!(long_name.encode().is_err());
        let long_value =
            EventStreamMessage { headers: vec![("x".into(), HeaderValue::Bytes(vec![0; 70_000]))], payload: vec![] };
        assert!(long_value.encode().is_err());
    }
}
