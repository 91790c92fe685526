//! Amazon Bedrock's Converse API: request and response translation, the binary event-stream framing
//! of ConverseStream, and the runtime URLs. Requests are signed with [`crate::sigv4`] under the service
//! name [`SIGNING_SERVICE`].

mod crc32;
mod eventstream;
mod stream;
mod translate;
mod types;

pub use eventstream::{EventStreamDecoder, EventStreamError, EventStreamMessage, HeaderValue};
pub use stream::ConverseStreamToChat;
pub use translate::{chat_request_to_converse, converse_response_to_chat, finish_reason_from_stop_reason};
pub use types::*;

use crate::encoding::uri_encode;

/// The SigV4 service name of the Bedrock runtime (its host is `bedrock-runtime`, its signing name is not).
pub const SIGNING_SERVICE: &str = "bedrock";

/// The `content-type` of a ConverseStream response body.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// `https://bedrock-runtime.{region}.amazonaws.com`.
pub fn runtime_endpoint(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// `/model/{modelId}/converse`. The id is percent-encoded as one path segment: ids contain `:`
/// (`anthropic.claude-3-5-sonnet-20240620-v1:0`) and ARNs contain `/`.
pub fn converse_path(model_id: &str) -> String {
    format!("/model/{}/converse", uri_encode(model_id, false))
}

/// `/model/{modelId}/converse-stream`.
pub fn converse_stream_path(model_id: &str) -> String {
    format!("/model/{}/converse-stream", uri_encode(model_id, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_model_id_as_one_segment() {
        assert_eq!(
            converse_path("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert_eq!(
            converse_stream_path("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
        );
        assert_eq!(runtime_endpoint("eu-west-1"), "https://bedrock-runtime.eu-west-1.amazonaws.com");
    }
}
