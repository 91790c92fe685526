//! The request log of the gateway. Every call is logged once, off the hot path (`AppState::log_request`
//! only queues): whole answers when the handler returns, streams when their body ends or the client leaves,
//! with the usage the stream reported.

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_core::token::Principal;
use gatehouse_core::Subject;
use gatehouse_providers::anthropic::{BlockDelta, MessagesResponse, StreamEvent};
use gatehouse_providers::openai::{ChatResponse, CompletionResponse, EmbeddingResponse};
use gatehouse_store::RequestLog;

use super::stream::Item;
use crate::log_fields::BodyBuffer;
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
    /// The request and answer bodies, only when the operator stores them (redacted and bounded on the
    /// way into the log).
    pub prompt: Option<String>,
    pub completion: Option<String>,
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

fn entry(app: &App, p: &Principal, route: &str, model: String, at: time::OffsetDateTime) -> RequestLog {
    RequestLog {
        at,
        subject: p.subject.to_string(),
        // Taken when the request arrives: a stream logged later still belongs to whoever made it.
        subject_id: app.snapshot().identity(&p.subject).map(|id| id.to_string()),
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

/// A token count as stored; an upstream's absurd count saturates rather than wrapping negative.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
    let mut resp = next.run(req).await;
    let Some(p) = principal else { return resp };
    if route == "other" {
        return resp;
    }
    if resp.extensions().get::<Outcome>().is_some_and(|o| o.streaming) {
        return resp;
    }
    let outcome = resp.extensions_mut().remove::<Outcome>().unwrap_or_default();
    let mut e = entry(&app, &p, route, outcome.model, at);
    e.status = resp.status().as_u16();
    e.latency_us = micros(started.elapsed());
    e.upstream_latency_us = outcome.upstream.map(micros);
    e.input_tokens = outcome.tokens.map(|t| count(t.0));
    e.output_tokens = outcome.tokens.map(|t| count(t.1));
    e.prompt = outcome.prompt;
    e.completion = outcome.completion;
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
    prompt: Option<String>,
    /// The answer as it streams, when the operator stores bodies.
    sent: Option<BodyBuffer>,
}

impl StreamLog {
    pub fn new(
        app: &App,
        p: &Principal,
        route: &'static str,
        model: &str,
        started: Instant,
        prompt: Option<String>,
    ) -> StreamLog {
        let e = entry(app, p, route, model.to_owned(), app.now());
        let sent = app.config.log_bodies.then(BodyBuffer::default);
        StreamLog { app: app.clone(), entry: Some(e), started, input: None, output: None, failed: false, prompt, sent }
    }

    /// The text and tool-call arguments the items carry, joined: a stored completion is the answer as
    /// assembled, so that redaction sees a credential whole even when the upstream sent it in pieces.
    fn keep(&mut self, items: &[Item]) {
        let Some(b) = &mut self.sent else { return };
        for item in items {
            match item {
                Item::Chat(c) => {
                    for choice in &c.choices {
                        b.push(choice.delta.content.as_deref().unwrap_or(""));
                        for call in choice.delta.tool_calls.iter().flatten() {
                            if let Some(f) = &call.function {
                                b.push(f.name.as_deref().unwrap_or(""));
                                b.push(f.arguments.as_deref().unwrap_or(""));
                            }
                        }
                    }
                }
                Item::Completion(c) => c.choices.iter().for_each(|choice| b.push(&choice.text)),
                Item::Anthropic(StreamEvent::ContentBlockDelta { delta, .. }) => match delta {
                    BlockDelta::TextDelta { text } => b.push(text),
                    BlockDelta::InputJsonDelta { partial_json } => b.push(partial_json),
                    BlockDelta::ThinkingDelta { thinking } => b.push(thinking),
                    BlockDelta::SignatureDelta { .. } | BlockDelta::Other(_) => {}
                },
                Item::Anthropic(_) => {}
            }
        }
    }

    /// Picks the usage (and, when bodies are stored, the answer) out of the items as they pass.
    pub fn see(&mut self, items: &[Item]) {
        self.keep(items);
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
            e.input_tokens = self.input.map(count);
            e.output_tokens = self.output.map(count);
            e.prompt = self.prompt.take();
            e.completion = self.sent.take().map(BodyBuffer::into_text);
            self.app.log_request(e);
        }
    }
}
