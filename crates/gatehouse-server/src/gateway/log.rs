//! The request log of the gateway. Every call is logged once, off the hot path (`AppState::log_request`
//! only queues): whole answers when the handler returns, streams when their body ends or the client leaves,
//! with the usage the stream reported.

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_core::token::Principal;
use gatehouse_core::Subject;
use gatehouse_providers::anthropic::{MessagesResponse, StreamEvent};
use gatehouse_providers::openai::{ChatResponse, CompletionResponse, EmbeddingResponse};
use gatehouse_store::RequestLog;

use super::stream::Item;
use crate::state::App;

/// What a handler learned, attached to its response for the middleware.
#[derive(Clone, Default)]
pub struct Outcome {
    /// `<account>/<model>` as the client asked for it.
    pub model: String,
    pub upstream: Option<Duration>,
    pub tokens: Option<(u64, u64)>,
    /// The body logs itself when it ends: the middleware must not.
    pub streaming: bool,
}

/// Token counts of a whole answer.
pub trait Tokens {
    fn tokens(&self) -> Option<(u64, u64)>;
}

impl Tokens for ChatResponse {
    fn tokens(&self) -> Option<(u64, u64)> {
        self.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens))
    }
}

impl Tokens for CompletionResponse {
    fn tokens(&self) -> Option<(u64, u64)> {
        self.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens))
    }
}

impl Tokens for EmbeddingResponse {
    fn tokens(&self) -> Option<(u64, u64)> {
        Some((self.usage.prompt_tokens, 0))
    }
}

impl Tokens for MessagesResponse {
    fn tokens(&self) -> Option<(u64, u64)> {
        Some((self.usage.input_tokens, self.usage.output_tokens))
    }
}

fn route_of(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "chat",
        "/v1/completions" => "completions",
        "/v1/embeddings" => "embeddings",
        "/v1/messages" => "messages",
        _ => "other",
    }
}

fn entry(p: &Principal, route: &str, model: String, at: time::OffsetDateTime) -> RequestLog {
    RequestLog {
        at,
        subject: p.subject.to_string(),
        token_id: p.token_id.to_string(),
        virtual_account: match &p.subject {
            Subject::VirtualAccount(v) => Some(v.to_string()),
            _ => None,
        },
        model,
        route: route.to_owned(),
        status: 0,
        latency_us: 0,
        upstream_latency_us: None,
        input_tokens: None,
        output_tokens: None,
        request_id: crate::request_id::current().map(|r| r.to_string()),
        prompt: None,
        completion: None,
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Logs every gateway call whose response is whole (streams log themselves, see `StreamLog`).
pub async fn middleware(app: axum::extract::State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = app.now();
    let principal = req.extensions().get::<Principal>().cloned();
    let route = route_of(req.uri().path());
    let resp = next.run(req).await;
    let Some(p) = principal else { return resp };
    if route == "other" {
        return resp;
    }
    let outcome = resp.extensions().get::<Outcome>().cloned().unwrap_or_default();
    if outcome.streaming {
        return resp;
    }
    let mut e = entry(&p, route, outcome.model, at);
    e.status = resp.status().as_u16();
    e.latency_us = micros(started.elapsed());
    e.upstream_latency_us = outcome.upstream.map(micros);
    e.input_tokens = outcome.tokens.map(|t| t.0 as i64);
    e.output_tokens = outcome.tokens.map(|t| t.1 as i64);
    app.log_request(e);
    resp
}

/// The log entry of a stream, written when the body is dropped: at its end, or when the client leaves.
pub struct StreamLog {
    app: App,
    entry: Option<RequestLog>,
    started: Instant,
    input: Option<u64>,
    output: Option<u64>,
    pub failed: bool,
}

impl StreamLog {
    pub fn new(app: &App, p: &Principal, route: &'static str, model: &str, started: Instant) -> StreamLog {
        let e = entry(p, route, model.to_owned(), app.now());
        StreamLog { app: app.clone(), entry: Some(e), started, input: None, output: None, failed: false }
    }

    /// Picks the usage out of the items as they pass.
    pub fn see(&mut self, items: &[Item]) {
        for item in items {
            match item {
                Item::Chat(c) => {
                    if let Some(u) = &c.usage {
                        self.input = Some(u.prompt_tokens);
                        self.output = Some(u.completion_tokens);
                    }
                }
                Item::Completion(c) => {
                    if let Some(u) = &c.usage {
                        self.input = Some(u.prompt_tokens);
                        self.output = Some(u.completion_tokens);
                    }
                }
                Item::Anthropic(StreamEvent::MessageStart { message }) => {
                    self.input = Some(message.usage.input_tokens);
                }
                Item::Anthropic(StreamEvent::MessageDelta { usage, .. }) => {
                    self.output = Some(usage.output_tokens);
                    if let Some(i) = usage.input_tokens {
                        self.input = Some(i);
                    }
                }
                Item::Anthropic(_) => {}
            }
        }
    }
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        if let Some(mut e) = self.entry.take() {
            // 200 went out with the headers; a stream that broke off is recorded as the gateway's 502.
            e.status = if self.failed { 502 } else { 200 };
            e.latency_us = micros(self.started.elapsed());
            e.input_tokens = self.input.map(|t| t as i64);
            e.output_tokens = self.output.map(|t| t as i64);
            self.app.log_request(e);
        }
    }
}
