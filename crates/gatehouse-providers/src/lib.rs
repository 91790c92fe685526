//! Upstream providers for the Gatehouse gateway.
//!
//! A pure library: serde types for each upstream's wire format and translations to and from the OpenAI
//! shape, so the gateway can call any upstream and answer in OpenAI's (or Anthropic's) shape. There is no
//! HTTP client, no async and no I/O here; callers feed bytes in and get values out, which keeps every
//! translation testable on recorded payloads.
//!
//! | module | what it covers |
//! |---|---|
//! | [`openai`] | chat completions, completions, embeddings, streaming chunks, SSE decoding and encoding |
//! | [`anthropic`] | Messages API, both directions, including streaming |
//! | [`bedrock`] | Converse / ConverseStream, the binary event-stream framing, URL paths |
//! | [`sigv4`] | AWS Signature Version 4 request signing |
//! | [`azure`] | Azure OpenAI deployment URLs and the `api-key` header |
//!
//! How a route reaches each kind of upstream (`→` is "then"):
//!
//! | client route | upstream | request | answer | stream |
//! |---|---|---|---|---|
//! | `/v1/chat/completions` | OpenAI-compatible, Azure | [`openai::ChatRequest`] as is, model replaced | [`openai::ChatResponse`] | [`openai::SseDecoder`] → [`openai::ChatChunk`] |
//! | | Anthropic | [`anthropic::chat_request_to_anthropic`] | [`anthropic::anthropic_response_to_chat`] | [`openai::SseDecoder`] → [`anthropic::AnthropicStreamToChat`] |
//! | | Bedrock | [`bedrock::chat_request_to_converse`], signed with [`sigv4::sign`] | [`bedrock::converse_response_to_chat`] | [`bedrock::EventStreamDecoder`] → [`bedrock::ConverseStreamToChat`] |
//! | `/v1/messages` | Anthropic | [`anthropic::MessagesRequest`] as is | as is | as is |
//! | | any other | [`anthropic::messages_request_to_chat`] → the chat row above | → [`anthropic::chat_response_to_messages`] | → [`anthropic::ChatStreamToAnthropic`] |
//! | `/v1/completions` | chat-only | [`openai::completion_request_to_chat`] → the chat row | → [`openai::chat_response_to_completion`] | → [`openai::chat_chunk_to_completion`] |
//!
//! Every answer's token counts convert into one [`TokenUsage`] for logs, limits and budgets.

pub mod anthropic;
pub mod azure;
pub mod bedrock;
mod encoding;
mod error;
pub mod openai;
pub mod sigv4;
mod turns;
mod usage;

pub use error::TranslateError;
pub use usage::TokenUsage;
