//! What the request log keeps of a streamed answer as it passes: the usage the stream reports and, when
//! the operator stores bodies, the answer as assembled. The entry itself is written by the call when it
//! is dropped (`call::Call`).

use std::time::Duration;

use gatehouse_providers::anthropic::{BlockDelta, StreamEvent};

use super::stream::Item;
use crate::log_fields::BodyBuffer;

/// Token counts as the upstream reported them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub input: Option<u64>,
    pub output: Option<u64>,
}

impl Usage {
    pub fn whole(tokens: Option<(u64, u64)>) -> Usage {
        Usage { input: tokens.map(|t| t.0), output: tokens.map(|t| t.1) }
    }

    /// Picks the usage out of stream items as they pass.
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

/// The text and tool-call arguments the items carry, joined: a stored completion is the answer as
/// assembled, so that redaction sees a credential whole even when the upstream sent it in pieces.
pub fn keep(b: &mut BodyBuffer, items: &[Item]) {
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

/// A token count as stored; an upstream's absurd count saturates rather than wrapping negative.
pub fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
