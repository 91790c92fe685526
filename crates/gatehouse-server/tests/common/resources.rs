//! Resource bodies shared by several areas.

use serde_json::json;

pub fn openai_account(name: &str, collaborators: serde_json::Value) -> serde_json::Value {
    json!({
        "type": "openai",
        "name": name,
        "base_url": "http://127.0.0.1:9/v1",
        "auth": {"api_key": "sk-very-secret-key"},
        "models": [
            {"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat"]},
            {"name": "embed", "model_id": "text-embedding-3-small", "types": ["embedding"]}
        ],
        "collaborators": collaborators
    })
}
