//! Embeddings (`POST /v1/embeddings`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::TokenUsage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input`: a string, a list of strings, or pre-tokenised input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// How many embeddings the request asks for.
    pub fn len(&self) -> usize {
        match self {
            Self::One(_) | Self::Tokens(_) => 1,
            Self::Many(v) => v.len(),
            Self::TokenBatches(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The texts, when the input is text rather than tokens.
    pub fn texts(&self) -> Option<Vec<&str>> {
        match self {
            Self::One(s) => Some(vec![s.as_str()]),
            Self::Many(v) => Some(v.iter().map(String::as_str).collect()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<Embedding>,
    pub model: String,
    #[serde(default)]
    pub usage: EmbeddingUsage,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn list_object() -> String {
    "list".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    #[serde(default = "embedding_object")]
    pub object: String,
    pub index: u32,
    /// A float array, or a base64 string when `encoding_format` is `base64`.
    pub embedding: Value,
}

fn embedding_object() -> String {
    "embedding".into()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

impl From<&EmbeddingUsage> for TokenUsage {
    fn from(u: &EmbeddingUsage) -> Self {
        TokenUsage::new(u.prompt_tokens, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_forms_parse() {
        let parse = |input: Value| serde_json::from_value::<EmbeddingRequest>(json!({"model": "m", "input": input}));
        assert_eq!(parse(json!("a")).unwrap().input, EmbeddingInput::One("a".into()));
        assert_eq!(parse(json!(["a", "b"])).unwrap().input.texts(), Some(vec!["a", "b"]));
        assert_eq!(parse(json!([1, 2, 3])).unwrap().input, EmbeddingInput::Tokens(vec![1, 2, 3]));
        let batches = parse(json!([[1], [2, 3]])).unwrap().input;
        assert_eq!(batches.len(), 2);
        assert_eq!(batches.texts(), None);
        assert!(parse(json!({"no": 1})).is_err());
    }

    #[test]
    fn request_keeps_extra_fields() {
        let body = json!({"model": "m", "input": "x", "dimensions": 256, "encoding_format": "float", "extra_thing": 1});
        let req: EmbeddingRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&req).unwrap(), body);
    }

    #[test]
    fn response_parses_with_usage() {
        let resp: EmbeddingResponse = serde_json::from_value(json!({
            "object": "list", "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4}
        }))
        .unwrap();
        assert_eq!(resp.data[0].embedding, json!([0.1, -0.2]));
        assert_eq!(TokenUsage::from(&resp.usage), TokenUsage::new(4, 0));
    }
}
