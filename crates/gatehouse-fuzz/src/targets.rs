use std::sync::OnceLock;

use gatehouse_core::{BuiltinRole, Change, Email, IdentityId, Snapshot, Subject, User};
use gatehouse_providers::anthropic::{
    self, AnthropicStreamToChat, ChatStreamToAnthropic, MessagesRequest, MessagesResponse,
};
use gatehouse_providers::bedrock::{self, ConverseStreamToChat, EventStreamDecoder};
use gatehouse_providers::openai::{
    self, ChatChunk, ChatRequest, ChatResponse, CompletionRequest, EmbeddingRequest, SseDecoder,
};
use gatehouse_server::crypto::SecretKey;
use gatehouse_server::extract::parse_json;
use time::OffsetDateTime;

const NOW: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);

/// Splits `data` into a chunk size (its first byte) and the rest, so stream decoders are also fed in pieces.
fn split_size(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&n, rest)) => (usize::from(n).max(1), rest),
        None => (1, data),
    }
}

struct World {
    snapshot: Snapshot,
    caller: Subject,
    key: SecretKey,
}

/// Built-in roles and one admin, as a fresh server after bootstrap has them.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let mut snapshot = Snapshot::default();
        for role in BuiltinRole::ALL {
            snapshot.apply(&Change::PutRole(role.default_role()));
        }
        let email = Email::new("admin@example.com").unwrap_or_else(|_| unreachable!("a valid address"));
        let user = User {
            email: email.clone(),
            display_name: "admin".into(),
            role: BuiltinRole::Admin.role_name(),
            active: true,
        };
        snapshot.apply(&Change::PutUser(user));
        let caller = Subject::User(email);
        snapshot.apply(&Change::AssignIdentity { subject: caller.clone(), id: IdentityId::from_bytes([7; 16]) });
        World { snapshot, caller, key: SecretKey::from_bytes([9; 32]) }
    })
}

/// `PUT /api/v1/apply` without storage: YAML or JSON manifests parsed, checked, and every document planned
/// and executed against a scratch snapshot as the admin.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(docs) = gatehouse_server::service::apply::parse(text) else { return };
    let w = world();
    let _ = gatehouse_server::service::apply::plan_all(&w.key, &w.snapshot, &w.caller, &docs, NOW);
}

/// The gateway's request bodies, parsed as the routes parse them and translated for every provider.
pub fn gateway_body(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    let chat = match kind % 4 {
        0 => parse_json::<ChatRequest>(body).ok(),
        1 => parse_json::<CompletionRequest>(body).ok().and_then(|c| openai::completion_request_to_chat(&c).ok()),
        2 => {
            let _ = parse_json::<EmbeddingRequest>(body);
            None
        }
        _ => parse_json::<MessagesRequest>(body)
            .ok()
            .and_then(|m| anthropic::messages_request_to_chat(&m, "claude-upstream").ok()),
    };
    if let Some(chat) = chat {
        let _ = anthropic::chat_request_to_anthropic(&chat, "claude-upstream");
        let _ = bedrock::chat_request_to_converse(&chat);
        let _ = serde_json::to_vec(&chat);
    }
}

/// An upstream's SSE answer: decoded in pieces, each event read as an Anthropic event (into OpenAI chunks)
/// and as an OpenAI chunk (into Anthropic events).
pub fn sse(data: &[u8]) {
    let (size, bytes) = split_size(data);
    let mut decoder = SseDecoder::new();
    let mut from_anthropic = AnthropicStreamToChat::new("m", 0, true);
    let mut to_anthropic = ChatStreamToAnthropic::new("m");
    let mut events = Vec::new();
    for piece in bytes.chunks(size) {
        events.extend(decoder.feed(piece));
    }
    events.extend(decoder.finish());
    for event in &events {
        let _ = from_anthropic.push_sse(event);
        let _ = to_anthropic.push_sse(event);
        let _ = event.json::<ChatChunk>().map(|c| openai::chat_chunk_to_completion(&c));
    }
    let _ = from_anthropic.finish();
    let _ = to_anthropic.finish();
}

/// Bedrock's ConverseStream answer: event-stream frames decoded in pieces and translated into chunks.
/// Every frame decoded must encode back to the bytes it came from.
pub fn eventstream(data: &[u8]) {
    let (size, bytes) = split_size(data);
    let mut decoder = EventStreamDecoder::new();
    let mut to_chat = ConverseStreamToChat::new("id", "m", 0, true);
    let mut consumed = 0usize;
    for piece in bytes.chunks(size) {
        let Ok(messages) = decoder.decode(piece) else { return };
        for m in messages {
            let framed = m.encode().unwrap_or_else(|e| panic!("a decoded frame does not encode: {e}"));
            assert_eq!(framed, bytes[consumed..consumed + framed.len()], "re-encoding changed the frame");
            consumed += framed.len();
            let _ = to_chat.push_message(&m);
        }
    }
    let _ = decoder.finish();
    let _ = to_chat.finish();
}

/// The Anthropic translation both ways: a Messages answer into a chat answer and back, and a chat answer
/// into a Messages answer.
pub fn anthropic(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    if kind % 2 == 0 {
        let Ok(resp) = serde_json::from_slice::<MessagesResponse>(body) else { return };
        let chat = anthropic::anthropic_response_to_chat(&resp, "m", 0);
        let _ = anthropic::chat_response_to_messages(&chat, "m");
    } else {
        let Ok(resp) = serde_json::from_slice::<ChatResponse>(body) else { return };
        if let Ok(messages) = anthropic::chat_response_to_messages(&resp, "m") {
            let _ = anthropic::anthropic_response_to_chat(&messages, "m", 0);
        }
        let _ = openai::chat_response_to_completion(&resp);
    }
}

/// A presented bearer token: split and looked up.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = gatehouse_core::token::parse(text);
    let _ = world().snapshot.authenticate(text, NOW);
}

/// An MCP client's JSON-RPC body, and the fields the relay reads from each message.
pub fn jsonrpc(data: &[u8]) {
    use gatehouse_server::mcp::jsonrpc;
    let Ok(body) = jsonrpc::parse(data) else { return };
    for m in &body.messages {
        let _ = (jsonrpc::method(m), jsonrpc::is_request(m), jsonrpc::is_response(m));
        let _ = (jsonrpc::id_key(m), jsonrpc::tool_name(m), jsonrpc::id_of(m));
    }
}
