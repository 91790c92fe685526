//! Upstream faults on demand, for the gateway's fault tests and the soak: `garbage-N` answers N bytes that
//! are neither JSON nor events, `endless-N` answers N-byte pieces forever, `huge-N` answers one well-formed
//! JSON object (one line, so also one stream event) of N bytes. Resets (`cut-N`), stalls (`drip-Nms`) and
//! slow first bytes (`slow-Nms`) are the existing controls.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_core::Stream;

use crate::controls::Controls;

/// The same piece, forever; TCP back-pressure paces it.
struct Endless(Bytes);

impl Stream for Endless {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(Some(Ok(self.0.clone())))
    }
}

/// Deterministic bytes that are not UTF-8, JSON or SSE framing (no newline, high bytes mixed in).
fn garbage(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match (x & 0xFF) as u8 {
                b'\n' | b'\r' => 0xFF,
                b => b | 0x80,
            }
        })
        .collect()
}

/// A 200 of `body`, typed as a whole JSON answer whatever was asked: a streaming client meets the fault
/// where it expected events.
fn ok(body: Body) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The faulty answer the controls ask for, if any.
pub(crate) fn response(c: &Controls) -> Option<Response> {
    if let Some(n) = c.endless {
        return Some(ok(Body::from_stream(Endless(Bytes::from(vec![b'a'; n])))));
    }
    if let Some(n) = c.garbage {
        return Some(ok(Body::from(garbage(n))));
    }
    if let Some(n) = c.huge {
        let head = br#"{"id":"huge","pad":""#;
        let mut body = Vec::with_capacity(n.max(head.len() + 2));
        body.extend_from_slice(head);
        body.resize(n.saturating_sub(2).max(head.len()), b'a');
        body.extend_from_slice(b"\"}");
        return Some(ok(Body::from(body)));
    }
    None
}
