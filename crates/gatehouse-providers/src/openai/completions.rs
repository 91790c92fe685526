//! Legacy Completions (`POST /v1/completions`), and the bridge that serves it from a chat-only upstream.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::chat::{ChatChunk, ChatMessage, ChatRequest, ChatResponse, Stop, StreamOptions, Usage};
use crate::TranslateError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    /// A string, a list of strings, or token arrays; kept as JSON because only OpenAI-compatible upstreams
    /// understand the token forms.
    #[serde(default)]
    pub prompt: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CompletionRequest {
    /// Whether a streamed answer must end with a usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options.as_ref().and_then(|o| o.include_usage) == Some(true)
    }

    /// Asks for a streamed answer's usage (`stream_options.include_usage`), keeping any other option.
    pub fn ask_stream_usage(&mut self) {
        self.stream_options.get_or_insert_with(StreamOptions::default).include_usage = Some(true);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    pub id: String,
    #[serde(default = "text_completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn text_completion_object() -> String {
    "text_completion".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    pub text: String,
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub logprobs: Option<Value>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// Serves `/v1/completions` from a chat upstream: the prompt becomes one user message.
///
/// Only a single string prompt can be carried; a list or token arrays would need one upstream call each.
pub fn completion_request_to_chat(req: &CompletionRequest) -> Result<ChatRequest, TranslateError> {
    let prompt = match &req.prompt {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().map(str::to_owned).unwrap_or_default()
        }
        _ => return Err(TranslateError::invalid("prompt", "this model accepts a single string prompt")),
    };
    Ok(ChatRequest {
        model: req.model.clone(),
        messages: vec![ChatMessage::user(prompt)],
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        n: req.n,
        stop: req.stop.clone(),
        stream: req.stream,
        stream_options: req.stream_options.clone(),
        user: req.user.clone(),
        ..ChatRequest::default()
    })
}

pub fn chat_response_to_completion(resp: &ChatResponse) -> CompletionResponse {
    CompletionResponse {
        id: resp.id.clone(),
        object: text_completion_object(),
        created: resp.created,
        model: resp.model.clone(),
        choices: resp
            .choices
            .iter()
            .map(|c| CompletionChoice {
                text: c.message.text(),
                index: c.index,
                logprobs: None,
                finish_reason: c.finish_reason.clone(),
            })
            .collect(),
        usage: resp.usage.clone(),
        extra: Map::new(),
    }
}

/// A streamed chat chunk as a streamed completion chunk (same `object` as the unary form, as OpenAI does).
pub fn chat_chunk_to_completion(chunk: &ChatChunk) -> CompletionResponse {
    CompletionResponse {
        id: chunk.id.clone(),
        object: text_completion_object(),
        created: chunk.created,
        model: chunk.model.clone(),
        choices: chunk
            .choices
            .iter()
            .map(|c| CompletionChoice {
                text: c.delta.content.clone().unwrap_or_default(),
                index: c.index,
                logprobs: None,
                finish_reason: c.finish_reason.clone(),
            })
            .collect(),
        usage: chunk.usage.clone(),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::chat::{Choice, Delta};
    use serde_json::json;

    #[test]
    fn request_round_trips_and_bridges_to_chat() {
        let body = json!({"model": "m", "prompt": "Say hi", "max_tokens": 7, "stop": "\n", "echo": false});
        let req: CompletionRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&req).unwrap(), body);
        let chat = completion_request_to_chat(&req).unwrap();
        assert_eq!(chat.messages, vec![ChatMessage::user("Say hi")]);
        assert_eq!(chat.max_tokens, Some(7));
        assert_eq!(chat.stop, Some(Stop::One("\n".into())));
    }

    #[test]
    fn batch_prompts_cannot_be_bridged() {
        let req: CompletionRequest = serde_json::from_value(json!({"model": "m", "prompt": ["a", "b"]})).unwrap();
        let err = completion_request_to_chat(&req).unwrap_err();
        assert_eq!(err.field(), Some("prompt"));
        let one: CompletionRequest = serde_json::from_value(json!({"model": "m", "prompt": ["a"]})).unwrap();
        assert_eq!(completion_request_to_chat(&one).unwrap().messages[0].text(), "a");
    }

    #[test]
    fn chat_answers_become_completion_answers() {
        let resp = ChatResponse {
            id: "x".into(),
            object: "chat.completion".into(),
            created: 5,
            model: "m".into(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::assistant("hello"),
                finish_reason: Some("stop".into()),
                extra: Map::new(),
            }],
            usage: Some(Usage::new(2, 1)),
            extra: Map::new(),
        };
        let out = serde_json::to_value(chat_response_to_completion(&resp)).unwrap();
        assert_eq!(
            out,
            json!({"id": "x", "object": "text_completion", "created": 5, "model": "m",
                   "choices": [{"text": "hello", "index": 0, "logprobs": null, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}})
        );
        let chunk = ChatChunk::with_delta("x", "m", 5, Delta::content("he"), None);
        assert_eq!(chat_chunk_to_completion(&chunk).choices[0].text, "he");
    }
}
