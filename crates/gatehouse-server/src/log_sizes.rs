//! Sizes for the request log. A whole answer's size is its body's length. A streamed answer's bytes are
//! counted as they leave; its call is dropped inside the stream, before the last bytes are counted, so the
//! call's entry is parked here and logged, with the final count, once the body itself is dropped (sent to
//! the end, or left by the client).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use futures_util::StreamExt;
use gatehouse_store::RequestLog;
use serde_json::Value;

use crate::state::App;

/// An answer's size: known when it was built whole, or counted as a stream leaves.
pub enum AnswerBytes {
    Known(Option<u64>),
    Streamed(Arc<StreamedBytes>),
}

impl AnswerBytes {
    pub fn known(&self) -> Option<u64> {
        match self {
            AnswerBytes::Known(n) => *n,
            AnswerBytes::Streamed(_) => None,
        }
    }
}

/// A streamed answer's count, and the entry waiting for it.
pub struct StreamedBytes {
    app: App,
    sent: AtomicU64,
    entry: Mutex<Option<RequestLog>>,
}

impl StreamedBytes {
    pub fn new(app: &App) -> Arc<StreamedBytes> {
        Arc::new(StreamedBytes { app: app.clone(), sent: AtomicU64::new(0), entry: Mutex::new(None) })
    }

    /// The call's entry, logged when the body is dropped.
    pub fn park(&self, entry: RequestLog) {
        if let Ok(mut e) = self.entry.lock() {
            *e = Some(entry);
        }
    }
}

impl Drop for StreamedBytes {
    fn drop(&mut self) {
        let entry = self.entry.get_mut().ok().and_then(Option::take);
        if let Some(mut e) = entry {
            e.response_bytes = Some(*self.sent.get_mut());
            self.app.log_request(e);
        }
    }
}

/// `resp` with its body's bytes counted into `counter` as they leave.
pub fn counted(resp: Response, counter: Arc<StreamedBytes>) -> Response {
    let (parts, body) = resp.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        if let Ok(c) = &chunk {
            counter.sent.fetch_add(c.len() as u64, Ordering::Relaxed);
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// The length of `v` as compact JSON, without writing it out.
pub fn json_len(v: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_is_the_compact_text_length() {
        let v = serde_json::json!({"a": [1, "é", null], "b": {"c": true}});
        assert_eq!(json_len(&v), v.to_string().len() as u64);
    }
}
