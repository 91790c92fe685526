//! Azure OpenAI: the same bodies as OpenAI, at deployment URLs, authenticated with an `api-key` header.

use crate::encoding::uri_encode;

/// The header that carries an Azure OpenAI key (instead of `Authorization: Bearer`).
pub const API_KEY_HEADER: &str = "api-key";

/// The latest generally available data-plane API version at the time of writing.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// One deployment: `endpoint` is the resource URL, e.g. `https://my-resource.openai.azure.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub endpoint: String,
    pub deployment: String,
    pub api_version: String,
}

impl Deployment {
    pub fn new(endpoint: impl Into<String>, deployment: impl Into<String>, api_version: Option<&str>) -> Self {
        Self {
            endpoint: endpoint.into(),
            deployment: deployment.into(),
            api_version: api_version.unwrap_or(DEFAULT_API_VERSION).to_string(),
        }
    }

    /// `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`
    pub fn chat_completions_url(&self) -> String {
        self.url("chat/completions")
    }

    pub fn completions_url(&self) -> String {
        self.url("completions")
    }

    pub fn embeddings_url(&self) -> String {
        self.url("embeddings")
    }

    /// Any operation under the deployment, e.g. `audio/transcriptions`.
    pub fn url(&self, operation: &str) -> String {
        format!(
            "{}/openai/deployments/{}/{}?api-version={}",
            self.endpoint.trim_end_matches('/'),
            uri_encode(&self.deployment, false),
            operation.trim_matches('/'),
            uri_encode(&self.api_version, false)
        )
    }
}

/// The `api-key` header for `key`.
pub fn auth_header(key: &str) -> (&'static str, String) {
    (API_KEY_HEADER, key.to_string())
}

/// Azure's newer `v1` surface, which takes the deployment as `model` in the body like OpenAI and needs no
/// `api-version`: `{endpoint}/openai/v1/{operation}`.
pub fn v1_url(endpoint: &str, operation: &str) -> String {
    format!("{}/openai/v1/{}", endpoint.trim_end_matches('/'), operation.trim_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_urls() {
        let d = Deployment::new("https://my-resource.openai.azure.com/", "gpt-4o-prod", None);
        assert_eq!(
            d.chat_completions_url(),
            "https://my-resource.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            d.embeddings_url(),
            "https://my-resource.openai.azure.com/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21"
        );
        let preview = Deployment::new("https://r.openai.azure.com", "my deployment", Some("2025-01-01-preview"));
        assert_eq!(
            preview.completions_url(),
            "https://r.openai.azure.com/openai/deployments/my%20deployment/completions?api-version=2025-01-01-preview"
        );
        assert_eq!(preview.url("/audio/transcriptions/"), "https://r.openai.azure.com/openai/deployments/my%20deployment/audio/transcriptions?api-version=2025-01-01-preview");
    }

    #[test]
    fn key_header_and_v1() {
        assert_eq!(auth_header("k"), ("api-key", "k".to_string()));
        assert_eq!(
            v1_url("https://r.openai.azure.com/", "chat/completions"),
            "https://r.openai.azure.com/openai/v1/chat/completions"
        );
    }
}
