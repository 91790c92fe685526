//! Response bodies: event streams that pace, cut and notice being dropped, and plain JSON.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use serde_json::Value;
use tokio::time::Sleep;

use crate::controls::Controls;
use crate::{Counter, Shared};

/// Counts a request as cancelled if its handler is dropped during the first-byte delay, which is how hyper
/// reports that the client went away before any header was sent.
pub(crate) struct PendingGuard<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl<'a> PendingGuard<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        PendingGuard { shared, armed: true }
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.bump(Counter::CancelledRequests);
        }
    }
}

/// Lives inside a streaming body; if the body is dropped before it finished or was cut on purpose, the
/// consumer went away, and tests assert exactly that to prove a client cancel reached the upstream.
struct StreamGuard {
    shared: Arc<Shared>,
    open: bool,
}

impl StreamGuard {
    fn finish(&mut self, outcome: Counter) {
        if self.open {
            self.open = false;
            self.shared.bump(outcome);
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.open {
            self.shared.bump(Counter::CancelledStreams);
        }
    }
}

struct EventBody {
    frames: VecDeque<Bytes>,
    sent: usize,
    cut_after: Option<usize>,
    gap: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    guard: Option<StreamGuard>,
    done: bool,
}

impl Stream for EventBody {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let at_cut = this.cut_after.is_some_and(|n| this.sent >= n);
        if !at_cut && this.frames.is_empty() {
            this.done = true;
            if let Some(g) = this.guard.as_mut() {
                g.finish(Counter::CompletedStreams);
            }
            return Poll::Ready(None);
        }
        // hyper writes ready frames into its buffer and flushes only once the body is pending; an error
        // before that flush would lose the headers and the events that should precede the cut, so the cut
        // waits at least a moment too.
        let wait = if at_cut { this.gap.max(Duration::from_millis(1)) } else { this.gap };
        if (this.sent > 0 || at_cut) && !wait.is_zero() {
            let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(wait)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        if at_cut {
            this.done = true;
            if let Some(g) = this.guard.as_mut() {
                g.finish(Counter::CutStreams);
            }
            // An error from the body makes hyper abort the connection without the final empty chunk, which
            // is what a dying upstream looks like to the gateway.
            return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "mock upstream cut"))));
        }
        match this.frames.pop_front() {
            Some(frame) => {
                this.sent += 1;
                Poll::Ready(Some(Ok(frame)))
            }
            None => Poll::Ready(None),
        }
    }
}

/// A streaming response of pre-built frames, paced and cut as the controls say.
pub(crate) fn stream_response(
    shared: &Arc<Shared>,
    content_type: &'static str,
    frames: Vec<Bytes>,
    controls: &Controls,
) -> Response {
    // Under a cut the terminating event is never sent, however large N is.
    let cut_after = controls.cut_after.map(|n| n.min(frames.len().saturating_sub(1)));
    let body = EventBody {
        frames: frames.into(),
        sent: 0,
        cut_after,
        gap: Duration::from_millis(controls.chunk_delay_ms),
        sleep: None,
        guard: Some(StreamGuard { shared: shared.clone(), open: true }),
        done: false,
    };
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// A JSON response; under a cut, the headers and the first N bytes, then a dropped connection.
pub(crate) fn json_response(value: Value, controls: &Controls) -> Response {
    json_bytes_response(serde_json::to_vec(&value).unwrap_or_default(), controls)
}

/// Like [`json_response`] for a body serialised already (the typed fast path).
pub(crate) fn json_bytes_response(json: Vec<u8>, controls: &Controls) -> Response {
    let bytes = Bytes::from(json);
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    let Some(n) = controls.cut_after else { return (content_type, bytes).into_response() };
    let keep = n.min(bytes.len().saturating_sub(1));
    let body = EventBody {
        frames: VecDeque::from([bytes.slice(..keep)]),
        sent: 0,
        cut_after: Some(1),
        gap: Duration::ZERO,
        sleep: None,
        guard: None,
        done: false,
    };
    (content_type, Body::from_stream(body)).into_response()
}

pub(crate) fn sse_data(v: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Serialising a Value cannot fail.
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

pub(crate) fn sse_event(name: &str, v: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
