//! Output guardrails on a streamed answer, as it flows: an adapter over the upstream's item stream that
//! sends each choice's text only once the checks have seen enough of what follows it.
//!
//! Per choice (a chat or completion choice index, each of a chat choice's tool calls' arguments, or an
//! Anthropic content block: text, thinking or a tool's input JSON) the text since the last release is held; each new piece is added and the checks say how much of the held text could still be
//! the start of a finding (the last word, a trailing run of digit groups, an unfinished private key block,
//! the longest keyword, 256 bytes for a pattern). What lies before that is checked, redacted and sent; the
//! rest waits for the next piece, or for the choice's end. So a secret split across chunks is found whole,
//! and nothing of it is sent first. A block ends the stream with an error event in the route's shape.
//!
//! The cost to the first token: the first word is sent once the next piece shows where it ends (for
//! OpenAI-shaped streams, one token later), plus the checks' own time, a few microseconds per piece.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use gatehouse_providers::anthropic::{BlockDelta, ContentBlock, StreamEvent};
use gatehouse_providers::openai::{ChatChunk, ChunkChoice, CompletionChoice, CompletionResponse, Delta, ToolCallDelta};

use super::stream::{ChunkStream, Item};
use crate::error::ApiError;
use crate::guardrails::{Guard, Held};

/// Which item shape the stream carries, and the last item of it (the template of a synthesized one).
enum Shape {
    Unknown,
    Chat(Box<ChatChunk>),
    Completion(Box<CompletionResponse>),
    Anthropic,
}

/// What is held: a choice (or content block) and its part: 0 for the text, `1 + i` for a chat choice's
/// `i`-th tool call's arguments.
type Key = (u32, u32);

/// What an Anthropic content block streams, so that what is released late goes out as the right delta.
#[derive(Clone, Copy)]
enum Block {
    Text,
    Thinking,
    Json,
}

struct Scanner {
    guard: Arc<Guard>,
    held: BTreeMap<Key, Held>,
    shape: Shape,
    blocks: BTreeMap<u32, Block>,
}

enum State {
    Running(ChunkStream, Box<Scanner>),
    Done,
}

/// `chunks` with `guard`'s output checks applied as they pass.
pub fn scan(chunks: ChunkStream, guard: Arc<Guard>) -> ChunkStream {
    let scanner = Box::new(Scanner { guard, held: BTreeMap::new(), shape: Shape::Unknown, blocks: BTreeMap::new() });
    Box::pin(stream::unfold(State::Running(chunks, scanner), |state| async move {
        let State::Running(mut chunks, mut sc) = state else { return None };
        match chunks.next().await {
            Some(Ok(items)) => match sc.items(items).await {
                Ok(out) => Some((Ok(out), State::Running(chunks, sc))),
                Err(e) => Some((Err(e), State::Done)),
            },
            // What is held was not yet checked whole; it is dropped with the stream.
            Some(Err(e)) => Some((Err(e), State::Done)),
            None => match sc.finish().await {
                Ok(out) if out.is_empty() => None,
                Ok(out) => Some((Ok(out), State::Done)),
                Err(e) => Some((Err(e), State::Done)),
            },
        }
    }))
}

impl Scanner {
    async fn advance(&mut self, key: Key, incoming: &str, last: bool) -> Result<String, ApiError> {
        let held = self.held.entry(key).or_default();
        let out = self.guard.advance(held, incoming, last).await;
        if last {
            self.held.remove(&key);
        }
        out
    }

    async fn items(&mut self, items: Vec<Item>) -> Result<Vec<Item>, ApiError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Item::Chat(c) => {
                    if let Some(c) = self.chat(c).await? {
                        out.push(Item::Chat(c));
                    }
                }
                Item::Completion(c) => {
                    if let Some(c) = self.completion(c).await? {
                        out.push(Item::Completion(c));
                    }
                }
                Item::Anthropic(e) => self.anthropic(e, &mut out).await?,
            }
        }
        Ok(out)
    }

    /// A chat chunk with each choice's content replaced by what may be sent; `None` when nothing is left
    /// to send (its text is held, and it carried nothing else).
    async fn chat(&mut self, mut c: ChatChunk) -> Result<Option<ChatChunk>, ApiError> {
        let mut keep = c.usage.is_some() || c.choices.is_empty();
        for ch in &mut c.choices {
            // Log probabilities would spell out the tokens a redaction removed.
            ch.extra.remove("logprobs");
            let finished = ch.finish_reason.is_some();
            let incoming = ch.delta.content.take();
            if incoming.is_some() || finished {
                let text = self.advance((ch.index, 0), incoming.as_deref().unwrap_or_default(), finished).await?;
                if incoming.is_some() || !text.is_empty() {
                    ch.delta.content = Some(text);
                }
            }
            // Tool calls' arguments, each held on its own, as text.
            for call in ch.delta.tool_calls.iter_mut().flatten() {
                let Some(f) = &mut call.function else { continue };
                let Some(piece) = f.arguments.take() else { continue };
                f.arguments = Some(self.advance((ch.index, 1 + call.index), &piece, false).await?);
            }
            if finished {
                let calls: Vec<Key> = self.held.range((ch.index, 1)..=(ch.index, u32::MAX)).map(|(k, _)| *k).collect();
                for key in calls {
                    let text = self.advance(key, "", true).await?;
                    if !text.is_empty() {
                        ch.delta
                            .tool_calls
                            .get_or_insert_with(Vec::new)
                            .push(ToolCallDelta::arguments(key.1 - 1, text));
                    }
                }
            }
            let d = &ch.delta;
            keep |= d.content.as_ref().is_some_and(|t| !t.is_empty())
                || d.role.is_some()
                || d.tool_calls.is_some()
                || !d.extra.is_empty()
                || finished;
        }
        let mut template = c.clone();
        template.choices.clear();
        template.usage = None;
        self.shape = Shape::Chat(Box::new(template));
        Ok(keep.then_some(c))
    }

    async fn completion(&mut self, mut c: CompletionResponse) -> Result<Option<CompletionResponse>, ApiError> {
        let mut keep = c.usage.is_some() || c.choices.is_empty();
        for ch in &mut c.choices {
            ch.logprobs = None;
            let finished = ch.finish_reason.is_some();
            ch.text = self.advance((ch.index, 0), &std::mem::take(&mut ch.text), finished).await?;
            keep |= !ch.text.is_empty() || finished;
        }
        let mut template = c.clone();
        template.choices.clear();
        template.usage = None;
        self.shape = Shape::Completion(Box::new(template));
        Ok(keep.then_some(c))
    }

    async fn anthropic(&mut self, e: StreamEvent, out: &mut Vec<Item>) -> Result<(), ApiError> {
        self.shape = Shape::Anthropic;
        match e {
            StreamEvent::ContentBlockStart {
                index,
                content_block: ContentBlock::Text { text, cache_control, citations },
            } => {
                self.blocks.insert(index, Block::Text);
                let text = self.advance((index, 0), &text, false).await?;
                let content_block = ContentBlock::Text { text, cache_control, citations };
                out.push(Item::Anthropic(StreamEvent::ContentBlockStart { index, content_block }));
            }
            StreamEvent::ContentBlockStart { index, content_block: ContentBlock::Thinking { thinking, signature } } => {
                self.blocks.insert(index, Block::Thinking);
                let thinking = self.advance((index, 0), &thinking, false).await?;
                let content_block = ContentBlock::Thinking { thinking, signature };
                out.push(Item::Anthropic(StreamEvent::ContentBlockStart { index, content_block }));
            }
            StreamEvent::ContentBlockDelta { index, delta: d @ BlockDelta::TextDelta { .. } }
            | StreamEvent::ContentBlockDelta { index, delta: d @ BlockDelta::ThinkingDelta { .. } }
            | StreamEvent::ContentBlockDelta { index, delta: d @ BlockDelta::InputJsonDelta { .. } } => {
                let (kind, piece) = match d {
                    BlockDelta::TextDelta { text } => (Block::Text, text),
                    BlockDelta::ThinkingDelta { thinking } => (Block::Thinking, thinking),
                    BlockDelta::InputJsonDelta { partial_json } => (Block::Json, partial_json),
                    BlockDelta::SignatureDelta { .. } | BlockDelta::Other(_) => (Block::Text, String::new()),
                };
                self.blocks.insert(index, kind);
                let text = self.advance((index, 0), &piece, false).await?;
                if !text.is_empty() {
                    out.push(delta(index, kind, text));
                }
            }
            StreamEvent::ContentBlockDelta { index, delta: d @ BlockDelta::SignatureDelta { .. } } => {
                // The thinking it signs goes out first, whole.
                self.release(index, out).await?;
                out.push(Item::Anthropic(StreamEvent::ContentBlockDelta { index, delta: d }));
            }
            StreamEvent::ContentBlockStop { index } => {
                self.release(index, out).await?;
                out.push(Item::Anthropic(StreamEvent::ContentBlockStop { index }));
            }
            e @ (StreamEvent::MessageDelta { .. } | StreamEvent::MessageStop) => {
                out.extend(self.finish().await?);
                out.push(Item::Anthropic(e));
            }
            e @ (StreamEvent::MessageStart { .. }
            | StreamEvent::ContentBlockStart { .. }
            | StreamEvent::ContentBlockDelta { .. }
            | StreamEvent::Ping
            | StreamEvent::Error { .. }
            | StreamEvent::Other(_)) => out.push(Item::Anthropic(e)),
        }
        Ok(())
    }

    /// The end of a content block: what it still holds, checked and sent.
    async fn release(&mut self, index: u32, out: &mut Vec<Item>) -> Result<(), ApiError> {
        if self.held.contains_key(&(index, 0)) {
            let text = self.advance((index, 0), "", true).await?;
            if !text.is_empty() {
                out.push(delta(index, self.kind(index), text));
            }
        }
        Ok(())
    }

    fn kind(&self, index: u32) -> Block {
        self.blocks.get(&index).copied().unwrap_or(Block::Text)
    }

    /// The end of the stream: what is still held, checked whole and sent in synthesized items.
    async fn finish(&mut self) -> Result<Vec<Item>, ApiError> {
        let keys: Vec<Key> = self.held.keys().copied().collect();
        let mut out = Vec::new();
        for key in keys {
            let text = self.advance(key, "", true).await?;
            if text.is_empty() {
                continue;
            }
            match &self.shape {
                Shape::Chat(t) => {
                    let mut c = (**t).clone();
                    let delta = match key.1 {
                        0 => Delta::content(text),
                        n => {
                            Delta { tool_calls: Some(vec![ToolCallDelta::arguments(n - 1, text)]), ..Delta::default() }
                        }
                    };
                    c.choices =
                        vec![ChunkChoice { index: key.0, delta, finish_reason: None, extra: Default::default() }];
                    out.push(Item::Chat(c));
                }
                Shape::Completion(t) => {
                    let mut c = (**t).clone();
                    c.choices = vec![CompletionChoice { text, index: key.0, logprobs: None, finish_reason: None }];
                    out.push(Item::Completion(c));
                }
                Shape::Anthropic => out.push(delta(key.0, self.kind(key.0), text)),
                Shape::Unknown => {}
            }
        }
        Ok(out)
    }
}

fn delta(index: u32, kind: Block, text: String) -> Item {
    let delta = match kind {
        Block::Text => BlockDelta::TextDelta { text },
        Block::Thinking => BlockDelta::ThinkingDelta { thinking: text },
        Block::Json => BlockDelta::InputJsonDelta { partial_json: text },
    };
    Item::Anthropic(StreamEvent::ContentBlockDelta { index, delta })
}
