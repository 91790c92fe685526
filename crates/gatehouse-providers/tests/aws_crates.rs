//! The hand-written SigV4 signer and event-stream codec against AWS's own crates (`aws-sigv4`,
//! `aws-smithy-eventstream`) on random inputs: same signatures, same frames, same decoded messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign as aws_sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_types::event_stream::{Header, HeaderValue as AwsValue, Message};
use gatehouse_providers::bedrock::{EventStreamDecoder, EventStreamMessage, HeaderValue};
use gatehouse_providers::sigv4;
use proptest::prelude::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn aws_signature(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    token: Option<&str>,
    secs: u64,
) -> String {
    let identity =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", SECRET, token.map(str::to_owned), None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("bedrock")
        .time(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let req = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    aws_sign(req, &params).unwrap().into_parts().1
}

fn ours(method: &str, url: &str, headers: &[(String, String)], body: &[u8], token: Option<&str>, secs: u64) -> String {
    let creds = sigv4::Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SECRET.into(),
        session_token: token.map(str::to_owned),
    };
    let time = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
    let req = sigv4::Request { method, url, headers, body };
    // aws-sigv4's default settings do not send x-amz-content-sha256.
    let options = sigv4::SignOptions { content_sha256_header: false };
    sigv4::sign_with(&req, &creds, "us-east-1", "bedrock", time, options).unwrap().signature
}

fn segment() -> impl Strategy<Value = String> {
    // Bedrock model ids carry `:` and `.`, and are sent percent-encoded.
    "[a-zA-Z0-9._~-]{1,12}(%3A[a-z0-9]{1,4})?"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sigv4_signatures_match_aws_sigv4(
        post in any::<bool>(),
        segments in proptest::collection::vec(segment(), 0..4),
        query in proptest::collection::vec(("[a-zA-Z0-9_-]{1,6}", "[a-zA-Z0-9_.~-]{0,6}"), 0..3),
        content_type in proptest::option::of("[a-z/+. -]{1,20}"),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        token in proptest::option::of("[A-Za-z0-9/+=]{8,40}"),
        secs in 1_000_000_000u64..2_000_000_000,
    ) {
        let method = if post { "POST" } else { "GET" };
        let mut url = format!("https://bedrock-runtime.us-east-1.amazonaws.com/{}", segments.join("/"));
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
        }
        let headers: Vec<(String, String)> =
            content_type.into_iter().map(|v| ("content-type".to_string(), v)).collect();
        let token = token.as_deref();
        prop_assert_eq!(
            ours(method, &url, &headers, &body, token, secs),
            aws_signature(method, &url, &headers, &body, token, secs),
            "{} {}", method, url
        );
    }
}

fn value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        any::<bool>().prop_map(HeaderValue::Bool),
        any::<i8>().prop_map(HeaderValue::Byte),
        any::<i16>().prop_map(HeaderValue::Short),
        any::<i32>().prop_map(HeaderValue::Int),
        any::<i64>().prop_map(HeaderValue::Long),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(HeaderValue::Bytes),
        "\\PC{0,12}".prop_map(HeaderValue::String),
        any::<i64>().prop_map(HeaderValue::Timestamp),
        any::<[u8; 16]>().prop_map(HeaderValue::Uuid),
    ]
}

fn to_aws(m: &EventStreamMessage) -> Message {
    let headers = m
        .headers
        .iter()
        .map(|(n, v)| {
            let v = match v {
                HeaderValue::Bool(b) => AwsValue::Bool(*b),
                HeaderValue::Byte(b) => AwsValue::Byte(*b),
                HeaderValue::Short(b) => AwsValue::Int16(*b),
                HeaderValue::Int(b) => AwsValue::Int32(*b),
                HeaderValue::Long(b) => AwsValue::Int64(*b),
                HeaderValue::Bytes(b) => AwsValue::ByteArray(bytes::Bytes::from(b.clone())),
                HeaderValue::String(s) => AwsValue::String(s.clone().into()),
                HeaderValue::Timestamp(ms) => AwsValue::Timestamp(aws_smithy_types::DateTime::from_millis(*ms)),
                HeaderValue::Uuid(u) => AwsValue::Uuid(u128::from_be_bytes(*u)),
            };
            Header::new(n.clone(), v)
        })
        .collect();
    Message::new_from_parts(headers, m.payload.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn event_stream_frames_match_aws_smithy_eventstream(
        headers in proptest::collection::vec(("[a-z:-]{1,16}", value()), 0..6),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        split in 1usize..40,
    ) {
        let ours = EventStreamMessage { headers, payload };
        let framed = ours.encode().unwrap();
        let mut theirs = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&to_aws(&ours), &mut theirs).unwrap();
        prop_assert_eq!(&framed, &theirs);

        let decoded = aws_smithy_eventstream::frame::read_message_from(bytes::Bytes::from(framed.clone())).unwrap();
        prop_assert_eq!(decoded, to_aws(&ours));
        let mut dec = EventStreamDecoder::new();
        let mut got = Vec::new();
        for piece in framed.chunks(split) {
            got.extend(dec.decode(piece).unwrap());
        }
        prop_assert_eq!(got, vec![ours]);
    }

    /// Corrupted frames: whenever AWS's decoder rejects a frame, so does ours (and the other way round).
    #[test]
    fn corrupted_frames_are_rejected_by_both(
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut framed = EventStreamMessage::event("contentBlockDelta", payload).encode().unwrap();
        let i = at.index(framed.len());
        framed[i] ^= flip;
        let aws_ok = aws_smithy_eventstream::frame::read_message_from(bytes::Bytes::from(framed.clone())).is_ok();
        let mut dec = EventStreamDecoder::new();
        let ours_ok = matches!(dec.decode(&framed), Ok(ref v) if v.len() == 1) && dec.finish().is_ok();
        prop_assert_eq!(ours_ok, aws_ok, "byte {} flipped by {:#x}", i, flip);
    }
}
