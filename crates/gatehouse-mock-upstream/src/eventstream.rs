//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`) that Bedrock's
//! ConverseStream answers in.
//!
//! A message is: total length (u32 BE, the whole message), headers length (u32 BE), CRC32 of those 8
//! bytes, the headers, the payload, and a CRC32 of everything before it. A header is a 1-byte name length,
//! the name, a value type byte and the value; only strings (type 7, u16 BE length) are written here, as
//! Bedrock itself does for `:event-type`, `:content-type` and `:message-type`.

/// The header value type byte for a UTF-8 string.
pub const HEADER_TYPE_STRING: u8 = 7;

/// Bytes of framing around headers and payload: prelude (8), prelude CRC (4), message CRC (4).
pub const OVERHEAD: usize = 16;

/// Encodes one message with string-valued headers.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut hdr = Vec::with_capacity(64);
    for (name, value) in headers {
        // Names are short constants and values short strings; the casts cannot truncate in practice.
        hdr.push(name.len() as u8);
        hdr.extend_from_slice(name.as_bytes());
        hdr.push(HEADER_TYPE_STRING);
        hdr.extend_from_slice(&(value.len() as u16).to_be_bytes());
        hdr.extend_from_slice(value.as_bytes());
    }
    let total = OVERHEAD + hdr.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(hdr.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// Encodes one Bedrock stream event: `:event-type` is the event name, the payload its JSON.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_message(
        &[(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")],
        payload,
    )
}
