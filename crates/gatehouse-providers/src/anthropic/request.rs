//! An OpenAI chat request as an Anthropic Messages request.

use serde_json::{json, Value};

use super::types::{
    ContentBlock, ImageSource, Message, MessageContent, MessagesRequest, Role, SystemPrompt, Tool, ToolChoice,
    DEFAULT_MAX_TOKENS,
};
use crate::openai::{self, ChatRequest};
use crate::turns::{self, Block, Image, TurnRole};
use crate::TranslateError;

/// Builds the Anthropic request for `upstream_model_id`.
///
/// System and developer messages are hoisted into `system`, tool results become `tool_result` blocks of a
/// user turn, tool calls `tool_use` blocks, and consecutive turns of one role are merged. `max_tokens`
/// defaults to [`DEFAULT_MAX_TOKENS`]; `temperature` is clamped to Anthropic's 0..=1.
pub fn chat_request_to_anthropic(
    req: &ChatRequest,
    upstream_model_id: &str,
) -> Result<MessagesRequest, TranslateError> {
    if req.n.is_some_and(|n| n != 1) {
        return Err(TranslateError::invalid("n", "Anthropic models return one choice; n must be 1"));
    }
    let conv = turns::from_chat_messages(&req.messages, "Anthropic")?;
    let messages = conv
        .turns
        .into_iter()
        .map(|turn| Message {
            role: match turn.role {
                TurnRole::User => Role::User,
                TurnRole::Assistant => Role::Assistant,
            },
            content: MessageContent::Blocks(turn.blocks.into_iter().map(block).collect()),
        })
        .collect();
    let system = match conv.system.len() {
        0 => None,
        1 => conv.system.into_iter().next().map(SystemPrompt::Text),
        _ => Some(SystemPrompt::Blocks(conv.system.into_iter().map(ContentBlock::text).collect())),
    };
    let tools =
        req.tools.as_ref().map(|tools| tools.iter().enumerate().map(|(i, t)| tool(i, t)).collect()).transpose()?;
    let mut tool_choice = req.tool_choice.as_ref().map(tool_choice).transpose()?;
    if req.parallel_tool_calls() == Some(false) && tools.is_some() {
        let choice = tool_choice.get_or_insert(ToolChoice::Auto { disable_parallel_tool_use: None });
        match choice {
            ToolChoice::Auto { disable_parallel_tool_use }
            | ToolChoice::Any { disable_parallel_tool_use }
            | ToolChoice::Tool { disable_parallel_tool_use, .. } => *disable_parallel_tool_use = Some(true),
            ToolChoice::None => {}
        }
    }
    let mut extra = serde_json::Map::new();
    // Anthropic-only knobs a client may add to an OpenAI-shaped request on purpose.
    for key in ["thinking", "service_tier"] {
        if let Some(v) = req.extra.get(key) {
            extra.insert(key.to_string(), v.clone());
        }
    }
    Ok(MessagesRequest {
        model: upstream_model_id.to_string(),
        messages,
        max_tokens: req.output_limit().unwrap_or(DEFAULT_MAX_TOKENS),
        system,
        metadata: req.user.as_ref().map(|u| json!({ "user_id": u })),
        stop_sequences: req.stop.as_ref().map(openai::Stop::to_vec).filter(|v| !v.is_empty()),
        stream: req.stream,
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        top_k: req.extra.get("top_k").and_then(Value::as_u64).and_then(|k| u32::try_from(k).ok()),
        tools,
        tool_choice,
        extra,
    })
}

fn block(b: Block) -> ContentBlock {
    match b {
        Block::Text(text) => ContentBlock::text(text),
        Block::Image(Image::Base64 { media_type, data }) => {
            ContentBlock::Image { source: ImageSource::Base64 { media_type, data }, cache_control: None }
        }
        Block::Image(Image::Url(url)) => ContentBlock::Image { source: ImageSource::Url { url }, cache_control: None },
        Block::ToolUse { id, name, input } => ContentBlock::tool_use(id, name, input),
        Block::ToolResult { tool_use_id, content } => ContentBlock::tool_result(tool_use_id, content),
    }
}

fn tool(i: usize, t: &openai::Tool) -> Result<Tool, TranslateError> {
    let Some(f) = t.function.as_ref().filter(|_| t.kind == "function") else {
        return Err(TranslateError::invalid(
            format!("tools[{i}].type"),
            "only function tools can be sent to Anthropic",
        ));
    };
    Ok(Tool {
        name: f.name.clone(),
        description: f.description.clone(),
        // Anthropic requires a schema even for argument-less tools.
        input_schema: Some(f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}))),
        extra: Default::default(),
    })
}

fn tool_choice(c: &openai::ToolChoice) -> Result<ToolChoice, TranslateError> {
    match c {
        openai::ToolChoice::Mode(mode) => match mode.as_str() {
            "auto" => Ok(ToolChoice::Auto { disable_parallel_tool_use: None }),
            "required" => Ok(ToolChoice::Any { disable_parallel_tool_use: None }),
            "none" => Ok(ToolChoice::None),
            other => Err(TranslateError::invalid("tool_choice", format!("unknown mode {other:?}"))),
        },
        openai::ToolChoice::Named(named) => {
            Ok(ToolChoice::Tool { name: named.function.name.clone(), disable_parallel_tool_use: None })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::{ChatMessage, ContentPart, Stop, ToolCall};

    fn request(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest { model: "anthropic-main/claude".into(), messages, ..ChatRequest::default() }
    }

    #[test]
    fn a_plain_conversation() {
        let mut req = request(vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello"),
            ChatMessage::user("Bye"),
        ]);
        req.temperature = Some(1.7);
        req.top_p = Some(0.9);
        req.stop = Some(Stop::One("END".into()));
        req.user = Some("alice".into());
        req.stream = Some(true);
        let out = chat_request_to_anthropic(&req, "claude-sonnet-4-5").unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 4096,
                "system": "You are terse.",
                "metadata": {"user_id": "alice"},
                "stop_sequences": ["END"],
                "stream": true,
                "temperature": 1.0,
                "top_p": 0.9,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
                    {"role": "user", "content": [{"type": "text", "text": "Bye"}]}
                ]
            })
        );
    }

    #[test]
    fn tools_round_trip_into_anthropic_blocks() {
        let mut req = request(vec![
            ChatMessage::system("a"),
            ChatMessage::system("b"),
            ChatMessage::user("Weather in Paris and Rome?"),
            ChatMessage {
                tool_calls: Some(vec![
                    ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#),
                    ToolCall::function("call_2", "get_weather", r#"{"city":"Rome"}"#),
                ]),
                ..ChatMessage::assistant("Checking.")
            },
            ChatMessage::tool("call_1", "sunny"),
            ChatMessage::tool("call_2", "rainy"),
        ]);
        req.max_completion_tokens = Some(300);
        req.tools = Some(vec![
            openai::Tool::function(
                "get_weather",
                Some("Weather".into()),
                json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            ),
            openai::Tool {
                function: Some(openai::FunctionDefinition {
                    name: "noop".into(),
                    description: None,
                    parameters: None,
                    strict: None,
                }),
                ..openai::Tool::function("x", None, json!({}))
            },
        ]);
        req.tool_choice = Some(openai::ToolChoice::Mode("required".into()));
        req.extra.insert("parallel_tool_calls".into(), json!(false));
        req.extra.insert("top_k".into(), json!(5));
        req.extra.insert("seed".into(), json!(1));
        let out = serde_json::to_value(chat_request_to_anthropic(&req, "claude").unwrap()).unwrap();
        assert_eq!(out["max_tokens"], 300);
        assert_eq!(out["top_k"], 5);
        assert_eq!(out.get("seed"), None);
        assert_eq!(out["system"], json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]));
        assert_eq!(out["tool_choice"], json!({"type": "any", "disable_parallel_tool_use": true}));
        assert_eq!(
            out["tools"],
            json!([
                {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "noop", "input_schema": {"type": "object", "properties": {}}}
            ])
        );
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "rainy"}
                ]}
            ])
        );
    }

    #[test]
    fn images_become_image_blocks() {
        let msg = ChatMessage {
            content: Some(openai::MessageContent::Parts(vec![
                ContentPart::text("What are these?"),
                ContentPart::image_url("data:image/jpeg;base64,/9j/4AAQ"),
                ContentPart::image_url("https://example.com/cat.png"),
            ])),
            ..ChatMessage::user("")
        };
        let out = serde_json::to_value(chat_request_to_anthropic(&request(vec![msg]), "claude").unwrap()).unwrap();
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What are these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
            ])
        );
    }

    #[test]
    fn tool_choice_modes_and_names() {
        let choice = |c: openai::ToolChoice| {
            let mut req = request(vec![ChatMessage::user("x")]);
            req.tool_choice = Some(c);
            chat_request_to_anthropic(&req, "m").map(|r| r.tool_choice)
        };
        assert_eq!(
            choice(openai::ToolChoice::Mode("auto".into())).unwrap(),
            Some(ToolChoice::Auto { disable_parallel_tool_use: None })
        );
        assert_eq!(choice(openai::ToolChoice::Mode("none".into())).unwrap(), Some(ToolChoice::None));
        assert_eq!(
            choice(openai::ToolChoice::named("f")).unwrap(),
            Some(ToolChoice::Tool { name: "f".into(), disable_parallel_tool_use: None })
        );
        assert_eq!(choice(openai::ToolChoice::Mode("sometimes".into())).unwrap_err().field(), Some("tool_choice"));
    }

    #[test]
    fn untranslatable_requests_are_rejected_with_the_field() {
        let mut req = request(vec![ChatMessage::user("x")]);
        req.n = Some(2);
        assert_eq!(chat_request_to_anthropic(&req, "m").unwrap_err().field(), Some("n"));

        let mut req = request(vec![ChatMessage::user("x")]);
        req.tools =
            Some(vec![openai::Tool { kind: "code_interpreter".into(), function: None, extra: Default::default() }]);
        assert_eq!(chat_request_to_anthropic(&req, "m").unwrap_err().field(), Some("tools[0].type"));

        let err = chat_request_to_anthropic(&request(vec![ChatMessage::system("only")]), "m").unwrap_err();
        assert_eq!(err.to_string(), "messages: an Anthropic request needs at least one user message");
    }
}
