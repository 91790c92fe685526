//! W3C trace context (`traceparent`, `tracestate`) from the client to the upstreams, and OTLP/HTTP export.
//!
//! Without export, a request's `traceparent` goes upstream as it came, and none is made up. With export
//! (`GATEHOUSE_OTLP_ENDPOINT`), each gateway call is a span (a child of the incoming parent, or the root of
//! a new trace) and each upstream attempt a child of it, whose id is the parent the upstream sees.
//!
//! The context lives in a task-local for the request's task: the upstream transport reads it without the
//! handlers passing it along, and nothing is shared between requests.

use std::cell::RefCell;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Tracer};

use crate::state::App;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// OTLP export: the provider (which owns the batching thread) and its tracer.
pub struct Export {
    provider: SdkTracerProvider,
    tracer: Tracer,
}

impl Export {
    /// Spans batched and posted as OTLP/HTTP protobuf to `<endpoint>/v1/traces` (unless the endpoint names
    /// that path already) every `interval`.
    pub fn new(endpoint: &str, interval: Duration) -> Result<Export, String> {
        use opentelemetry_otlp::{Protocol, WithExportConfig};
        let endpoint = endpoint.trim_end_matches('/');
        let url = if endpoint.ends_with("/v1/traces") { endpoint.to_owned() } else { format!("{endpoint}/v1/traces") };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .build()
            .map_err(|e| format!("cannot set up OTLP export: {e}"))?;
        let batch = BatchConfigBuilder::default().with_scheduled_delay(interval).build();
        let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batch).build();
        let resource = opentelemetry_sdk::Resource::builder().with_service_name("gatehouse").build();
        let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
        let tracer = provider.tracer("gatehouse");
        Ok(Export { provider, tracer })
    }

    /// Sends what is batched and stops the exporter's thread (at shutdown).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "OTLP export did not shut down cleanly");
        }
    }
}

/// A parsed `traceparent`: version 00, or a later version read as 00 (as the W3C spec asks).
pub fn parse_traceparent(v: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let b = v.as_bytes();
    if b.len() < 55 || (b.len() > 55 && (v.starts_with("00") || b[55] != b'-')) {
        return None;
    }
    let lower_hex = |s: &str| s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    let (version, trace, parent, flags) = (v.get(0..2)?, v.get(3..35)?, v.get(36..52)?, v.get(53..55)?);
    if [2, 35, 52].iter().any(|i| b[*i] != b'-') || version == "ff" {
        return None;
    }
    if ![version, trace, parent, flags].iter().all(|s| lower_hex(s)) {
        return None;
    }
    let trace = TraceId::from_hex(trace).ok()?;
    let parent = SpanId::from_hex(parent).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace == TraceId::INVALID || parent == SpanId::INVALID {
        return None;
    }
    Some((trace, parent, TraceFlags::new(flags & 1)))
}

pub fn format_traceparent(sc: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8())
}

/// The trace context of one request.
pub struct Context {
    /// What upstream requests name as their parent: the incoming one, or the innermost open span of ours.
    parent: Option<SpanContext>,
    /// The incoming `tracestate`, passed on as it came (when it parses).
    state: Option<HeaderValue>,
    tracer: Option<Tracer>,
}

tokio::task_local! {
    static CURRENT: RefCell<Context>;
}

impl Context {
    /// The request's context: `None` (no task-local at all) when it carries no `traceparent` and nothing is
    /// exported, which is the common case and costs nothing.
    pub fn incoming(app: &App, headers: &HeaderMap) -> Option<Context> {
        let parsed = headers.get(TRACEPARENT).and_then(|v| v.to_str().ok()).and_then(parse_traceparent);
        let tracer = app.trace_export.as_ref().map(|e| e.tracer.clone());
        if parsed.is_none() && tracer.is_none() {
            return None;
        }
        let state_header = headers.get(TRACESTATE).filter(|_| parsed.is_some());
        let state =
            state_header.and_then(|v| v.to_str().ok()).and_then(|s| TraceState::from_str(s).ok()).unwrap_or_default();
        let parent = parsed.map(|(t, s, f)| SpanContext::new(t, s, f, true, state));
        Some(Context { parent, state: state_header.cloned(), tracer })
    }
}

/// Runs `fut` (the rest of the request) in `context`.
pub async fn scope<F: Future>(context: Context, fut: F) -> F::Output {
    CURRENT.scope(RefCell::new(context), fut).await
}

/// A span of ours, ended (and exported) when dropped.
pub struct Span {
    span: opentelemetry_sdk::trace::Span,
    /// The parent to restore when this span's part of the request is over.
    previous: Option<SpanContext>,
}

impl Span {
    pub fn attribute(&mut self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        self.span.set_attribute(KeyValue::new(key, value));
    }

    /// An HTTP status: recorded, and 5xx (or 499, the client leaving) marks the span as failed.
    pub fn status(&mut self, status: u16) {
        self.attribute("http.response.status_code", i64::from(status));
        if status >= 500 {
            self.span.set_status(Status::error(format!("status {status}")));
        }
    }

    /// Ends this span's part of the request: later upstream requests are children of what was current before.
    pub fn leave(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| c.borrow_mut().parent = previous);
    }
}

/// Starts a span named `name` as a child of the request's current parent and makes it the parent of what
/// follows (until `leave`). `None` unless spans are exported and the task serves a request.
pub fn start(name: &'static str, kind: SpanKind) -> Option<Span> {
    CURRENT
        .try_with(|c| {
            let mut c = c.borrow_mut();
            let tracer = c.tracer.clone()?;
            let parent = match &c.parent {
                Some(p) => opentelemetry::Context::new().with_remote_span_context(p.clone()),
                None => opentelemetry::Context::new(),
            };
            let span = tracer.span_builder(name).with_kind(kind).start_with_context(&tracer, &parent);
            let previous = c.parent.replace(span.span_context().clone());
            Some(Span { span, previous })
        })
        .ok()
        .flatten()
}

/// `traceparent` and `tracestate` for an upstream request of the current task, if it has a context.
pub fn outgoing() -> Option<(HeaderValue, Option<HeaderValue>)> {
    CURRENT
        .try_with(|c| {
            let c = c.borrow();
            let parent = c.parent.as_ref()?;
            let v = HeaderValue::from_str(&format_traceparent(parent)).ok()?;
            Some((v, c.state.clone()))
        })
        .ok()
        .flatten()
}

/// An upstream request with the current trace context.
pub fn propagate(rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match outgoing() {
        Some((parent, Some(state))) => rb.header(TRACEPARENT, parent).header(TRACESTATE, state),
        Some((parent, None)) => rb.header(TRACEPARENT, parent),
        None => rb,
    }
}

/// The trace id of the request's context, as hex (for tests and logs).
pub fn current_trace_id() -> Option<String> {
    CURRENT.try_with(|c| c.borrow().parent.as_ref().map(|p| p.trace_id().to_string())).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_w3c_examples() {
        let (t, s, f) = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
        assert!(f.is_sampled());
        let sc = SpanContext::new(t, s, f, true, TraceState::default());
        assert_eq!(format_traceparent(&sc), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        // A later version with more fields is read as version 00.
        assert!(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra").is_some());
    }

    #[test]
    fn refuses_malformed_ones() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }
}
