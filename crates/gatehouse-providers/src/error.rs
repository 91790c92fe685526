use std::fmt::Display;

/// Why a request or response could not be carried from one provider's shape to another's.
///
/// The gateway maps [`TranslateError::Invalid`] to a 400 naming [`TranslateError::field`], and the other
/// two to a 502, since they describe what the upstream sent rather than what the client asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The client's request uses something the target provider cannot express.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The upstream reported an error, possibly in the middle of a stream.
    #[error("upstream error ({kind}): {message}")]
    Upstream { kind: String, message: String },
    /// The upstream answered with something that does not parse as its documented shape.
    #[error("malformed upstream response: {0}")]
    Malformed(String),
}

impl TranslateError {
    pub fn invalid(field: impl Into<String>, message: impl Display) -> Self {
        Self::Invalid { field: field.into(), message: message.to_string() }
    }

    pub fn upstream(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Upstream { kind: kind.into(), message: message.into() }
    }

    pub fn malformed(message: impl Display) -> Self {
        Self::Malformed(message.to_string())
    }

    /// The request field at fault, for the `param` of an OpenAI-shaped 400.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_the_field_first() {
        let err = TranslateError::invalid("messages", "an Anthropic request needs at least one user message");
        assert_eq!(err.to_string(), "messages: an Anthropic request needs at least one user message");
        assert_eq!(err.field(), Some("messages"));
    }

    #[test]
    fn upstream_errors_have_no_field() {
        let err = TranslateError::upstream("overloaded_error", "Overloaded");
        assert_eq!(err.to_string(), "upstream error (overloaded_error): Overloaded");
        assert_eq!(err.field(), None);
        assert_eq!(TranslateError::malformed("x").field(), None);
    }
}
