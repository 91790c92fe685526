//! Anthropic's Messages API, in both directions: OpenAI requests to Anthropic upstreams, and the native
//! `/v1/messages` route to any upstream.

mod chat_stream;
mod http;
mod request;
mod response;
mod reverse;
mod stream;
mod types;

pub use chat_stream::ChatStreamToAnthropic;
pub use http::{error_type_for_status, messages_url, ErrorResponse, API_KEY_HEADER, VERSION_HEADER};
pub use request::chat_request_to_anthropic;
pub use response::{anthropic_response_to_chat, finish_reason_from_stop_reason};
pub use reverse::{chat_response_to_messages, messages_request_to_chat, stop_reason_from_finish_reason};
pub use stream::AnthropicStreamToChat;
pub use types::*;
