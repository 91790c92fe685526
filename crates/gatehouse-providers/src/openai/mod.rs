//! The OpenAI API shapes the gateway speaks to clients, and to OpenAI-compatible upstreams as they are.

mod chat;
mod completions;
mod embeddings;
pub mod sse;

pub use chat::*;
pub use completions::*;
pub use embeddings::*;
pub use sse::{SseDecoder, SseEvent};
