//! Streaming: upstream bytes decoded into items chunk by chunk, and items encoded as server-sent events for
//! the client. The response body owns the upstream response, so a client that goes away drops the
//! upstream connection with it.

use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use gatehouse_providers::anthropic::{AnthropicStreamToChat, ChatStreamToAnthropic, StreamEvent};
use gatehouse_providers::bedrock::{ConverseStreamToChat, EventStreamDecoder};
use gatehouse_providers::openai::{self, ChatChunk, CompletionResponse, SseDecoder};
use gatehouse_providers::TranslateError;

use super::upstream::translate_error;
use crate::error::ApiError;

/// One decoded piece of an upstream stream.
pub enum Item {
    Chat(ChatChunk),
    /// From an OpenAI-shaped `/completions` upstream.
    Completion(CompletionResponse),
    /// From an Anthropic upstream called natively on `/v1/messages`.
    Anthropic(StreamEvent),
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Vec<Item>, ApiError>> + Send>>;

pub enum Decoder {
    OpenAi { sse: SseDecoder, model: String, completions: bool },
    Anthropic { sse: SseDecoder, conv: AnthropicStreamToChat },
    AnthropicNative { sse: SseDecoder, model: String },
    Bedrock { frames: EventStreamDecoder, conv: ConverseStreamToChat },
}

impl Decoder {
    /// OpenAI's chunks (or, with `completions`, legacy completion chunks), renamed to the client's model.
    pub fn openai(model: &str, completions: bool) -> Self {
        Decoder::OpenAi { sse: SseDecoder::new(), model: model.to_owned(), completions }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Item>, TranslateError> {
        let mut out = Vec::new();
        match self {
            Decoder::OpenAi { sse, model, completions } => {
                for ev in sse.feed(bytes) {
                    if ev.is_done() {
                        continue;
                    }
                    // OpenAI reports a failure mid-stream as an event with an `error` object and no chunk.
                    if ev.data.starts_with("{\"error\"") {
                        let v: serde_json::Value = ev.json()?;
                        let message = v["error"]["message"].as_str().unwrap_or("unknown error");
                        let kind = v["error"]["type"].as_str().unwrap_or("error");
                        return Err(TranslateError::upstream(kind, message));
                    }
                    if *completions {
                        let mut c: CompletionResponse = ev.json()?;
                        model.clone_into(&mut c.model);
                        out.push(Item::Completion(c));
                    } else {
                        let mut c: ChatChunk = ev.json()?;
                        model.clone_into(&mut c.model);
                        out.push(Item::Chat(c));
                    }
                }
            }
            Decoder::Anthropic { sse, conv } => {
                for ev in sse.feed(bytes) {
                    out.extend(conv.push_sse(&ev)?.into_iter().map(Item::Chat));
                }
            }
            Decoder::AnthropicNative { sse, model } => {
                for ev in sse.feed(bytes) {
                    let mut e: StreamEvent = ev.json()?;
                    if let StreamEvent::MessageStart { message } = &mut e {
                        model.clone_into(&mut message.model);
                    }
                    out.push(Item::Anthropic(e));
                }
            }
            Decoder::Bedrock { frames, conv } => {
                for m in frames.decode(bytes).map_err(TranslateError::malformed)? {
                    out.extend(conv.push_message(&m)?.into_iter().map(Item::Chat));
                }
            }
        }
        Ok(out)
    }

    fn finish(&mut self) -> Vec<Item> {
        match self {
            Decoder::OpenAi { .. } | Decoder::AnthropicNative { .. } => Vec::new(),
            Decoder::Anthropic { conv, .. } => conv.finish().into_iter().map(Item::Chat).collect(),
            Decoder::Bedrock { conv, .. } => conv.finish().into_iter().map(Item::Chat).collect(),
        }
    }
}

/// The upstream body as a stream of decoded items; ends after the first error.
/// A stream may run as long as it keeps coming: it is bounded by the idle time between chunks (the
/// first-byte timeout), not by a total.
pub fn chunks(app: &crate::state::App, resp: reqwest::Response, decoder: Decoder) -> ChunkStream {
    let idle = app.config.upstream_first_byte_timeout;
    let max = app.config.max_upstream_body;
    // Bytes received since the last decoded item: one event (or one line) that never ends would otherwise
    // be buffered without bound.
    // Whether anything was decoded yet: an answer that ends without a single item was not an answer
    // (garbage, or an empty body), and must not look like a finished empty one.
    let state = Some((resp, decoder, 0usize, false));
    Box::pin(stream::unfold(state, move |state| async move {
        let (mut resp, mut decoder, pending, seen) = state?;
        let next = match tokio::time::timeout(idle, resp.chunk()).await {
            Ok(r) => r,
            Err(_) => {
                let e = ApiError::GatewayTimeout("the upstream provider's stream stalled".into());
                return Some((Err(e), None));
            }
        };
        match next {
            Ok(Some(bytes)) => match decoder.feed(&bytes) {
                Ok(items) => {
                    let pending = if items.is_empty() { pending + bytes.len() } else { 0 };
                    if pending > max {
                        let e = ApiError::BadGateway(format!("an upstream stream event exceeds {max} bytes"));
                        return Some((Err(e), None));
                    }
                    let seen = seen || !items.is_empty();
                    Some((Ok(items), Some((resp, decoder, pending, seen))))
                }
                Err(e) => Some((Err(translate_error(e)), None)),
            },
            Ok(None) => {
                // Checked before `finish`, which for translated streams makes up a closing chunk of its own.
                if !seen {
                    let e = ApiError::BadGateway("the upstream stream ended without a single event".into());
                    return Some((Err(e), None));
                }
                Some((Ok(decoder.finish()), None))
            }
            Err(e) => {
                let e = e.without_url();
                let err = if e.is_timeout() {
                    ApiError::GatewayTimeout(format!("the upstream provider timed out mid-stream: {e}"))
                } else {
                    ApiError::BadGateway(format!("the upstream stream failed: {e}"))
                };
                Some((Err(err), None))
            }
        }
    }))
}

/// Whether the client sees a stream's usage. The gateway always asks upstreams for it, because limits
/// and budgets settle with it and the request log records it; a client that did not ask for it
/// (`stream_options.include_usage`) gets the stream as OpenAI would send it to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientUsage {
    Shown,
    Hidden,
}

impl ClientUsage {
    pub fn asked(include_usage: bool) -> ClientUsage {
        if include_usage {
            ClientUsage::Shown
        } else {
            ClientUsage::Hidden
        }
    }
}

/// How items become the client's server-sent events.
pub enum Encoder {
    /// `chat.completion.chunk`s, then `[DONE]`.
    Chat(ClientUsage),
    /// Legacy `text_completion` chunks, then `[DONE]`.
    Completion(ClientUsage),
    /// Anthropic's Messages events (which always carry usage); chat chunks are translated by `conv`.
    Anthropic(Option<Box<ChatStreamToAnthropic>>),
}

/// Takes the usage off a chunk the client did not ask it on; `false` when nothing is left to send (the
/// usage-only last chunk).
fn hide_usage<C>(usage: &mut Option<openai::Usage>, choices: &[C]) -> bool {
    usage.take().is_none() || !choices.is_empty()
}

impl Encoder {
    fn items(&mut self, items: Vec<Item>, out: &mut String) {
        for item in items {
            let encoded = match (&mut *self, item) {
                (Encoder::Chat(shown), Item::Chat(mut c)) => {
                    if *shown == ClientUsage::Hidden && !hide_usage(&mut c.usage, &c.choices) {
                        continue;
                    }
                    openai::sse::encode_json(None, &c)
                }
                (Encoder::Completion(shown), Item::Chat(mut c)) => {
                    if *shown == ClientUsage::Hidden && !hide_usage(&mut c.usage, &c.choices) {
                        continue;
                    }
                    openai::sse::encode_json(None, &openai::chat_chunk_to_completion(&c))
                }
                (Encoder::Completion(shown), Item::Completion(mut c)) => {
                    if *shown == ClientUsage::Hidden && !hide_usage(&mut c.usage, &c.choices) {
                        continue;
                    }
                    openai::sse::encode_json(None, &c)
                }
                (Encoder::Anthropic(_), Item::Anthropic(e)) => e.to_sse(),
                (Encoder::Anthropic(Some(conv)), Item::Chat(c)) => {
                    for e in conv.push(&c) {
                        push_ok(out, e.to_sse());
                    }
                    continue;
                }
                // The decoder and encoder are chosen together; other pairs do not occur.
                (Encoder::Chat(_), Item::Completion(_) | Item::Anthropic(_))
                | (Encoder::Completion(_), Item::Anthropic(_))
                | (Encoder::Anthropic(None), Item::Chat(_))
                | (Encoder::Anthropic(_), Item::Completion(_)) => continue,
            };
            push_ok(out, encoded);
        }
    }

    fn end(&mut self) -> String {
        match self {
            Encoder::Chat(_) | Encoder::Completion(_) => "data: [DONE]\n\n".to_owned(),
            Encoder::Anthropic(Some(conv)) => {
                let mut out = String::new();
                for e in conv.finish() {
                    push_ok(&mut out, e.to_sse());
                }
                out
            }
            Encoder::Anthropic(None) => String::new(),
        }
    }

    fn error(&self, e: &ApiError) -> String {
        let message = e.to_string();
        match self {
            Encoder::Anthropic(_) => {
                let ev = StreamEvent::Error {
                    error: gatehouse_providers::anthropic::ErrorBody { kind: "api_error".into(), message },
                };
                ev.to_sse().unwrap_or_default()
            }
            Encoder::Chat(_) | Encoder::Completion(_) => {
                let body = serde_json::json!({"error": {"message": message, "type": e.parts().1, "code": e.code()}});
                openai::sse::encode_json(None, &body).unwrap_or_default()
            }
        }
    }
}

fn push_ok(out: &mut String, encoded: Result<String, serde_json::Error>) {
    // Our own values always serialize; a failure would only drop that one event.
    if let Ok(s) = encoded {
        out.push_str(&s);
    }
}

/// The client's `text/event-stream` response. An upstream failure mid-stream becomes an error event, and
/// the stream then ends without the end marker, so the client can tell it apart from a finished answer.
/// The call lives in the body's state, so it is logged when the stream ends or the client goes away.
pub fn sse_response(chunks: ChunkStream, encoder: Encoder, call: super::call::Call) -> Response {
    let body = stream::unfold(Some((chunks, encoder, call)), |state| async move {
        let (mut chunks, mut encoder, mut call) = state?;
        let (bytes, next) = match chunks.next().await {
            Some(Ok(items)) => {
                call.see(&items);
                let mut out = String::new();
                encoder.items(items, &mut out);
                (out, Some((chunks, encoder, call)))
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "upstream stream failed");
                call.failed();
                (encoder.error(&e), None)
            }
            None => (encoder.end(), None),
        };
        Some((Ok::<Bytes, std::convert::Infallible>(Bytes::from(bytes)), next))
    });
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(body))
        .into_response()
}
