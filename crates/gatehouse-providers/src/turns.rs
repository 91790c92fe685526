//! OpenAI chat messages reshaped into strict user/assistant turns of typed blocks.
//!
//! Anthropic and Bedrock share the same constraints: system text lives outside the conversation, tool
//! results are blocks of a user turn, tool calls are blocks of an assistant turn, and two turns in a row
//! must not have the same role. Doing that reshaping once here keeps the two translations small.

use serde_json::Value;

use crate::openai::{ChatMessage, MessageContent, Role};
use crate::TranslateError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text(String),
    Image(Image),
    ToolUse { id: String, name: String, input: Value },
    ToolResult { tool_use_id: String, content: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Image {
    /// From a `data:` URL: the media type and the base64 text as sent.
    Base64 {
        media_type: String,
        data: String,
    },
    Url(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TurnRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Turn {
    pub role: TurnRole,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Conversation {
    pub system: Vec<String>,
    pub turns: Vec<Turn>,
}

/// `provider` only words the error messages.
pub(crate) fn from_chat_messages(messages: &[ChatMessage], provider: &str) -> Result<Conversation, TranslateError> {
    let mut conv = Conversation::default();
    for (i, msg) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        match msg.role {
            Role::System | Role::Developer => {
                let text = text_only(msg.content.as_ref(), &at)?;
                if !text.is_empty() {
                    conv.system.push(text);
                }
            }
            Role::User => {
                let blocks = content_blocks(msg.content.as_ref(), &at)?;
                push(&mut conv.turns, TurnRole::User, blocks);
            }
            Role::Assistant => {
                let mut blocks = content_blocks(msg.content.as_ref(), &at)?;
                for (j, call) in msg.tool_calls.iter().flatten().enumerate() {
                    let input = parse_arguments(&call.function.arguments)
                        .map_err(|m| TranslateError::invalid(format!("{at}.tool_calls[{j}].function.arguments"), m))?;
                    blocks.push(Block::ToolUse { id: call.id.clone(), name: call.function.name.clone(), input });
                }
                push(&mut conv.turns, TurnRole::Assistant, blocks);
            }
            Role::Tool => {
                let Some(id) = msg.tool_call_id.clone() else {
                    return Err(TranslateError::invalid(
                        format!("{at}.tool_call_id"),
                        "a tool message needs tool_call_id",
                    ));
                };
                let content = text_only(msg.content.as_ref(), &at)?;
                push(&mut conv.turns, TurnRole::User, vec![Block::ToolResult { tool_use_id: id, content }]);
            }
            Role::Function => {
                return Err(TranslateError::invalid(
                    format!("{at}.role"),
                    format!("the deprecated function role is not supported for {provider} models; use tool"),
                ));
            }
        }
    }
    if !conv.turns.iter().any(|t| t.role == TurnRole::User) {
        let article = if provider.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
        return Err(TranslateError::invalid(
            "messages",
            format!("{article} {provider} request needs at least one user message"),
        ));
    }
    Ok(conv)
}

/// Appends to the last turn when the role repeats, because both upstreams reject consecutive turns of the
/// same role, and drops empty turns, which both reject as well.
fn push(turns: &mut Vec<Turn>, role: TurnRole, blocks: Vec<Block>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.blocks.extend(blocks),
        _ => turns.push(Turn { role, blocks }),
    }
}

fn content_blocks(content: Option<&MessageContent>, at: &str) -> Result<Vec<Block>, TranslateError> {
    let mut blocks = Vec::new();
    match content {
        None => {}
        // Empty text blocks are rejected upstream; an empty string carries nothing anyway.
        Some(MessageContent::Text(s)) if s.is_empty() => {}
        Some(MessageContent::Text(s)) => blocks.push(Block::Text(s.clone())),
        Some(MessageContent::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                match part.kind.as_str() {
                    "text" => {
                        let text = part.text.clone().unwrap_or_default();
                        if !text.is_empty() {
                            blocks.push(Block::Text(text));
                        }
                    }
                    "image_url" => {
                        let url = part.image_url_str().ok_or_else(|| {
                            TranslateError::invalid(format!("{at}.content[{j}].image_url"), "needs a url")
                        })?;
                        blocks.push(Block::Image(parse_image_url(url)));
                    }
                    other => {
                        return Err(TranslateError::invalid(
                            format!("{at}.content[{j}].type"),
                            format!("content parts of type {other:?} are not supported for this model"),
                        ));
                    }
                }
            }
        }
    }
    Ok(blocks)
}

fn text_only(content: Option<&MessageContent>, at: &str) -> Result<String, TranslateError> {
    match content {
        None => Ok(String::new()),
        Some(MessageContent::Text(s)) => Ok(s.clone()),
        Some(MessageContent::Parts(parts)) => {
            if let Some(j) = parts.iter().position(|p| p.kind != "text") {
                return Err(TranslateError::invalid(format!("{at}.content[{j}]"), "only text parts are allowed here"));
            }
            Ok(parts.iter().filter_map(|p| p.text.as_deref()).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// Tool arguments as a JSON object; an empty string (some models send it for argument-less calls) is `{}`.
pub(crate) fn parse_arguments(arguments: &str) -> Result<Value, String> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("must be a JSON object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Splits `data:<media type>;base64,<data>`; anything else is a remote URL.
pub(crate) fn parse_image_url(url: &str) -> Image {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            if let Some(media_type) = meta.strip_suffix(";base64") {
                return Image::Base64 { media_type: media_type.to_string(), data: data.to_string() };
            }
        }
    }
    Image::Url(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::{ContentPart, ToolCall};

    fn assistant_calling(calls: Vec<ToolCall>) -> ChatMessage {
        ChatMessage { content: None, tool_calls: Some(calls), ..ChatMessage::assistant("") }
    }

    #[test]
    fn hoists_system_and_merges_roles() {
        let conv = from_chat_messages(
            &[
                ChatMessage::system("one"),
                ChatMessage::user("a"),
                ChatMessage::user("b"),
                ChatMessage { role: Role::Developer, ..ChatMessage::system("two") },
                ChatMessage::assistant("c"),
                ChatMessage::assistant(""),
            ],
            "Anthropic",
        )
        .unwrap();
        assert_eq!(conv.system, vec!["one", "two"]);
        assert_eq!(
            conv.turns,
            vec![
                Turn { role: TurnRole::User, blocks: vec![Block::Text("a".into()), Block::Text("b".into())] },
                Turn { role: TurnRole::Assistant, blocks: vec![Block::Text("c".into())] },
            ]
        );
    }

    #[test]
    fn tool_calls_and_results_become_blocks() {
        let conv = from_chat_messages(
            &[
                ChatMessage::user("weather?"),
                assistant_calling(vec![
                    ToolCall::function("call_1", "weather", r#"{"city":"Paris"}"#),
                    ToolCall::function("call_2", "time", ""),
                ]),
                ChatMessage::tool("call_1", "sunny"),
                ChatMessage::tool("call_2", "noon"),
                ChatMessage::user("thanks"),
            ],
            "Bedrock",
        )
        .unwrap();
        assert_eq!(conv.turns.len(), 3);
        assert_eq!(
            conv.turns[1].blocks[0],
            Block::ToolUse { id: "call_1".into(), name: "weather".into(), input: serde_json::json!({"city": "Paris"}) }
        );
        assert_eq!(
            conv.turns[1].blocks[1],
            Block::ToolUse { id: "call_2".into(), name: "time".into(), input: serde_json::json!({}) }
        );
        assert_eq!(
            conv.turns[2].blocks,
            vec![
                Block::ToolResult { tool_use_id: "call_1".into(), content: "sunny".into() },
                Block::ToolResult { tool_use_id: "call_2".into(), content: "noon".into() },
                Block::Text("thanks".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let no_user = from_chat_messages(&[ChatMessage::system("s")], "Anthropic").unwrap_err();
        assert_eq!(no_user.to_string(), "messages: an Anthropic request needs at least one user message");

        let bad_args = from_chat_messages(
            &[ChatMessage::user("x"), assistant_calling(vec![ToolCall::function("c", "f", "{oops")])],
            "Anthropic",
        )
        .unwrap_err();
        assert_eq!(bad_args.field(), Some("messages[1].tool_calls[0].function.arguments"));

        let array_args = from_chat_messages(
            &[ChatMessage::user("x"), assistant_calling(vec![ToolCall::function("c", "f", "[1]")])],
            "Anthropic",
        )
        .unwrap_err();
        assert!(array_args.to_string().ends_with("must be a JSON object"));

        let no_id = ChatMessage { tool_call_id: None, ..ChatMessage::tool("x", "y") };
        let err = from_chat_messages(&[ChatMessage::user("x"), no_id], "Anthropic").unwrap_err();
        assert_eq!(err.field(), Some("messages[1].tool_call_id"));

        let audio = ChatMessage {
            content: Some(MessageContent::Parts(vec![ContentPart {
                kind: "input_audio".into(),
                ..ContentPart::text("")
            }])),
            ..ChatMessage::user("")
        };
        assert_eq!(from_chat_messages(&[audio], "Anthropic").unwrap_err().field(), Some("messages[0].content[0].type"));

        let image_system = ChatMessage {
            content: Some(MessageContent::Parts(vec![ContentPart::image_url("https://x")])),
            ..ChatMessage::system("")
        };
        let err = from_chat_messages(&[image_system, ChatMessage::user("x")], "Anthropic").unwrap_err();
        assert_eq!(err.field(), Some("messages[0].content[0]"));
    }

    #[test]
    fn image_urls_are_split() {
        assert_eq!(
            parse_image_url("data:image/png;base64,iVBORw0KGgo="),
            Image::Base64 { media_type: "image/png".into(), data: "iVBORw0KGgo=".into() }
        );
        assert_eq!(parse_image_url("https://x/y.png"), Image::Url("https://x/y.png".into()));
        assert_eq!(parse_image_url("data:text/plain,hi"), Image::Url("data:text/plain,hi".into()));
    }
}
