//! What an Anthropic call needs besides the body, and errors in Anthropic's shape for `/v1/messages`.

use serde::{Deserialize, Serialize};

use super::types::ErrorBody;

/// The header that carries an Anthropic API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// The header that selects the API version; see [`super::API_VERSION`].
pub const VERSION_HEADER: &str = "anthropic-version";

/// `{base}/v1/messages`, for a base such as `https://api.anthropic.com`.
pub fn messages_url(base: &str) -> String {
    format!("{}/v1/messages", base.trim_end_matches('/'))
}

/// An error body as Anthropic sends it: `{"type":"error","error":{"type":...,"message":...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(rename = "type")]
    pub kind: String,
    pub error: ErrorBody,
}

impl ErrorResponse {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self { kind: "error".into(), error: ErrorBody { kind: error_type.into(), message: message.into() } }
    }

    /// The error for an HTTP status, typed as Anthropic types it.
    pub fn for_status(status: u16, message: impl Into<String>) -> Self {
        Self::new(error_type_for_status(status), message)
    }
}

/// Anthropic's error `type` for an HTTP status.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_bodies_and_urls() {
        let body = serde_json::to_value(ErrorResponse::for_status(403, "You may not use this model")).unwrap();
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": "permission_error", "message": "You may not use this model"}})
        );
        assert_eq!(error_type_for_status(429), "rate_limit_error");
        assert_eq!(error_type_for_status(502), "api_error");
        assert_eq!(messages_url("https://api.anthropic.com/"), "https://api.anthropic.com/v1/messages");
    }
}
