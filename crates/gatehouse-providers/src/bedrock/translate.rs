//! OpenAI chat requests as Converse requests, and Converse responses as chat completions.

use serde_json::{json, Map};

use super::types::{
    stop_reason, ContentBlock, ConversationRole, ConverseRequest, ConverseResponse, Empty, ImageBlock, ImageSource,
    InferenceConfig, Message, SpecificToolChoice, SystemContentBlock, Tool, ToolChoice, ToolConfig, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use crate::openai::{
    self, finish_reason, ChatMessage, ChatRequest, ChatResponse, Choice, MessageContent, Role, ToolCall,
};
use crate::turns::{self, Block, Image, TurnRole};
use crate::{TokenUsage, TranslateError};

/// Builds the Converse body (the model id goes in the URL: see [`super::converse_path`]).
///
/// The same reshaping as for Anthropic applies: system text hoisted, tool results as `toolResult`
/// blocks of a user turn, consecutive turns of one role merged. Images must be `data:` URLs, because
/// Bedrock takes image bytes and the gateway does not fetch URLs.
pub fn chat_request_to_converse(req: &ChatRequest) -> Result<ConverseRequest, TranslateError> {
    if req.n.is_some_and(|n| n != 1) {
        return Err(TranslateError::invalid("n", "Bedrock models return one choice; n must be 1"));
    }
    let conv = turns::from_chat_messages(&req.messages, "Bedrock")?;
    let mut uses_tools = false;
    let mut messages = Vec::with_capacity(conv.turns.len());
    for turn in conv.turns {
        let role = match turn.role {
            TurnRole::User => ConversationRole::User,
            TurnRole::Assistant => ConversationRole::Assistant,
        };
        let mut content = Vec::with_capacity(turn.blocks.len());
        for b in turn.blocks {
            uses_tools |= matches!(b, Block::ToolUse { .. } | Block::ToolResult { .. });
            content.push(block(b)?);
        }
        messages.push(Message { role, content });
    }
    let system = (!conv.system.is_empty()).then(|| conv.system.into_iter().map(SystemContentBlock::Text).collect());
    let inference = InferenceConfig {
        max_tokens: req.output_limit(),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.as_ref().map(openai::Stop::to_vec).filter(|v| !v.is_empty()),
    };
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: (inference != InferenceConfig::default()).then_some(inference),
        tool_config: tool_config(req, uses_tools)?,
        additional_model_request_fields: None,
        extra: Map::new(),
    })
}

fn block(b: Block) -> Result<ContentBlock, TranslateError> {
    Ok(match b {
        Block::Text(text) => ContentBlock::Text(text),
        Block::Image(Image::Base64 { media_type, data }) => {
            let format = match media_type.as_str() {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(TranslateError::invalid(
                        "messages",
                        format!("Bedrock does not accept images of type {other}"),
                    ));
                }
            };
            ContentBlock::Image(ImageBlock { format: format.into(), source: ImageSource::Bytes(data) })
        }
        Block::Image(Image::Url(_)) => {
            return Err(TranslateError::invalid("messages", "Bedrock accepts images only as base64 data: URLs"));
        }
        Block::ToolUse { id, name, input } => ContentBlock::ToolUse(ToolUseBlock { tool_use_id: id, name, input }),
        Block::ToolResult { tool_use_id, content } => ContentBlock::ToolResult(ToolResultBlock {
            tool_use_id,
            content: vec![ToolResultContentBlock::Text(content)],
            status: None,
        }),
    })
}

fn tool_config(req: &ChatRequest, history_uses_tools: bool) -> Result<Option<ToolConfig>, TranslateError> {
    let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let choice = match &req.tool_choice {
        None => None,
        Some(openai::ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(ToolChoice::Auto(Empty {})),
            "required" => Some(ToolChoice::Any(Empty {})),
            // Bedrock cannot forbid tool use; leaving the tools out does, unless earlier turns used
            // tools, in which case Bedrock insists on the tool config being present.
            "none" if history_uses_tools => None,
            "none" => return Ok(None),
            other => return Err(TranslateError::invalid("tool_choice", format!("unknown mode {other:?}"))),
        },
        Some(openai::ToolChoice::Named(n)) => {
            Some(ToolChoice::Tool(SpecificToolChoice { name: n.function.name.clone() }))
        }
    };
    let specs = tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let f = t.function.as_ref().filter(|_| t.kind == "function").ok_or_else(|| {
                TranslateError::invalid(format!("tools[{i}].type"), "only function tools can be sent to Bedrock")
            })?;
            Ok(Tool::ToolSpec(ToolSpecification {
                name: f.name.clone(),
                description: f.description.clone(),
                input_schema: ToolInputSchema::Json(
                    f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                ),
            }))
        })
        .collect::<Result<Vec<_>, TranslateError>>()?;
    Ok(Some(ToolConfig { tools: specs, tool_choice: choice }))
}

/// Maps Bedrock's `stopReason` onto OpenAI's `finish_reason`.
pub fn finish_reason_from_stop_reason(stop: &str) -> &'static str {
    match stop {
        stop_reason::MAX_TOKENS => finish_reason::LENGTH,
        stop_reason::TOOL_USE => finish_reason::TOOL_CALLS,
        stop_reason::GUARDRAIL_INTERVENED | stop_reason::CONTENT_FILTERED => finish_reason::CONTENT_FILTER,
        _ => finish_reason::STOP,
    }
}

/// The chat completion for a Converse response. Converse answers carry no id, so the caller supplies
/// one (e.g. the gateway's request id), along with the model name to report and the Unix time.
pub fn converse_response_to_chat(resp: &ConverseResponse, model: &str, id: &str, created: i64) -> ChatResponse {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in resp.output.message.iter().flat_map(|m| m.content.iter()) {
        match block {
            ContentBlock::Text(t) => text.push_str(t),
            ContentBlock::ToolUse(u) => {
                calls.push(ToolCall::function(u.tool_use_id.clone(), u.name.clone(), u.input.to_string()))
            }
            _ => {}
        }
    }
    let content = if text.is_empty() && !calls.is_empty() { None } else { Some(MessageContent::Text(text)) };
    let message = ChatMessage {
        content,
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..ChatMessage::new(Role::Assistant, "")
    };
    ChatResponse {
        id: id.to_string(),
        object: "chat.completion".into(),
        created,
        model: model.to_string(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason_from_stop_reason(&resp.stop_reason).to_string()),
            extra: Map::new(),
        }],
        usage: Some(openai::Usage::from(&TokenUsage::from(&resp.usage))),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::ContentPart;
    use serde_json::{json, Value};

    fn request(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest { model: "bedrock-main/claude".into(), messages, ..ChatRequest::default() }
    }

    #[test]
    fn a_tool_conversation_becomes_a_converse_request() {
        let mut req = request(vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Weather in Paris?"),
            ChatMessage {
                tool_calls: Some(vec![ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#)]),
                content: None,
                ..ChatMessage::assistant("")
            },
            ChatMessage::tool("call_1", "sunny"),
            ChatMessage::user("Thanks!"),
        ]);
        req.max_tokens = Some(256);
        req.temperature = Some(0.2);
        req.top_p = Some(0.8);
        req.stop = Some(openai::Stop::Many(vec!["END".into()]));
        req.tools =
            Some(vec![openai::Tool::function("get_weather", Some("Weather".into()), json!({"type": "object"}))]);
        req.tool_choice = Some(openai::ToolChoice::named("get_weather"));
        assert_eq!(
            serde_json::to_value(chat_request_to_converse(&req).unwrap()).unwrap(),
            json!({
                "messages": [
                    {"role": "user", "content": [{"text": "Weather in Paris?"}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                        {"text": "Thanks!"}
                    ]}
                ],
                "system": [{"text": "You are terse."}],
                "inferenceConfig": {"maxTokens": 256, "temperature": 0.2, "topP": 0.8, "stopSequences": ["END"]},
                "toolConfig": {
                    "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": {"type": "object"}}}}],
                    "toolChoice": {"tool": {"name": "get_weather"}}
                }
            })
        );
    }

    #[test]
    fn minimal_request_has_no_optional_sections() {
        let out =
            serde_json::to_value(chat_request_to_converse(&request(vec![ChatMessage::user("hi")])).unwrap()).unwrap();
        assert_eq!(out, json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}));
    }

    #[test]
    fn tool_choice_none_drops_tools_unless_history_uses_them() {
        let tools = Some(vec![openai::Tool::function("f", None, json!({"type": "object"}))]);
        let mut req = request(vec![ChatMessage::user("x")]);
        req.tools = tools.clone();
        req.tool_choice = Some(openai::ToolChoice::Mode("none".into()));
        assert_eq!(chat_request_to_converse(&req).unwrap().tool_config, None);

        req.messages.push(ChatMessage {
            tool_calls: Some(vec![ToolCall::function("c", "f", "{}")]),
            ..ChatMessage::assistant("")
        });
        req.messages.push(ChatMessage::tool("c", "r"));
        let config = chat_request_to_converse(&req).unwrap().tool_config.unwrap();
        assert_eq!((config.tools.len(), config.tool_choice), (1, None));

        req.tool_choice = Some(openai::ToolChoice::Mode("required".into()));
        assert_eq!(
            chat_request_to_converse(&req).unwrap().tool_config.unwrap().tool_choice,
            Some(ToolChoice::Any(Empty {}))
        );
    }

    #[test]
    fn images_must_be_inline() {
        let with = |url: &str| {
            request(vec![ChatMessage {
                content: Some(MessageContent::Parts(vec![ContentPart::text("see"), ContentPart::image_url(url)])),
                ..ChatMessage::user("")
            }])
        };
        let out =
            serde_json::to_value(chat_request_to_converse(&with("data:image/jpeg;base64,/9j/")).unwrap()).unwrap();
        assert_eq!(out["messages"][0]["content"][1], json!({"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}}));
        assert!(chat_request_to_converse(&with("https://x/cat.png")).unwrap_err().to_string().contains("data: URLs"));
        assert!(chat_request_to_converse(&with("data:image/tiff;base64,AA")).is_err());
    }

    #[test]
    fn untranslatable_requests_are_rejected() {
        let mut req = request(vec![ChatMessage::user("x")]);
        req.n = Some(3);
        assert_eq!(chat_request_to_converse(&req).unwrap_err().field(), Some("n"));
        let err = chat_request_to_converse(&request(vec![ChatMessage::assistant("x")])).unwrap_err();
        assert_eq!(err.to_string(), "messages: a Bedrock request needs at least one user message");
    }

    #[test]
    fn converse_answers_become_chat_completions() {
        let resp: ConverseResponse = serde_json::from_value(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120},
            "metrics": {"latencyMs": 500}
        }))
        .unwrap();
        let chat: Value =
            serde_json::to_value(converse_response_to_chat(&resp, "bedrock-main/claude", "req-1", 9)).unwrap();
        assert_eq!(
            chat,
            json!({
                "id": "req-1", "object": "chat.completion", "created": 9, "model": "bedrock-main/claude",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Checking.",
                    "tool_calls": [{"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
            })
        );
    }

    #[test]
    fn stop_reasons_map() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
        ] {
            assert_eq!(finish_reason_from_stop_reason(stop), finish);
        }
    }
}
