//! Error responses in each provider's own shape, so the gateway's error translation meets the real thing.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAi,
    Azure,
    Anthropic,
    Bedrock,
}

pub(crate) fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

impl Api {
    pub(crate) fn error(self, status: u16, message: &str) -> Response {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self {
            Api::OpenAi => {
                let (kind, err_code) = match status {
                    401 => ("invalid_request_error", Value::from("invalid_api_key")),
                    403 => ("permission_error", Value::Null),
                    404 => ("invalid_request_error", Value::from("model_not_found")),
                    429 => ("requests", Value::from("rate_limit_exceeded")),
                    s if s >= 500 => ("server_error", Value::Null),
                    _ => ("invalid_request_error", Value::Null),
                };
                let body = json!({"error": {"message": message, "type": kind, "param": null, "code": err_code}});
                (code, Json(body)).into_response()
            }
            Api::Azure => {
                let body = json!({"error": {"code": status.to_string(), "message": message}});
                (code, Json(body)).into_response()
            }
            Api::Anthropic => {
                let kind = match status {
                    400 => "invalid_request_error",
                    401 => "authentication_error",
                    403 => "permission_error",
                    404 => "not_found_error",
                    413 => "request_too_large",
                    429 => "rate_limit_error",
                    529 => "overloaded_error",
                    s if s >= 500 => "api_error",
                    _ => "invalid_request_error",
                };
                let body = json!({"type": "error", "error": {"type": kind, "message": message}});
                (code, Json(body)).into_response()
            }
            Api::Bedrock => {
                let kind = match status {
                    400 => "ValidationException",
                    403 => "AccessDeniedException",
                    404 => "ResourceNotFoundException",
                    408 => "ModelTimeoutException",
                    424 => "ModelErrorException",
                    429 => "ThrottlingException",
                    503 => "ServiceUnavailableException",
                    s if s >= 500 => "InternalServerException",
                    _ => "ValidationException",
                };
                bedrock_error(code, kind, message)
            }
        }
    }
}

/// Bedrock names the error in `x-amzn-ErrorType`; the body carries only the message.
pub(crate) fn bedrock_error(code: StatusCode, kind: &str, message: &str) -> Response {
    let mut resp = (code, Json(json!({"message": message}))).into_response();
    let value = format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    set_header(&mut resp, "x-amzn-errortype", &value);
    resp
}

impl Api {
    /// Adds the provider's request-id header, which gateways log and some clients surface.
    pub(crate) fn tag(self, mut resp: Response, seq: u64) -> Response {
        let id = format!("req_mock{seq}");
        match self {
            Api::OpenAi => set_header(&mut resp, "x-request-id", &id),
            Api::Azure => {
                set_header(&mut resp, "x-request-id", &id);
                set_header(&mut resp, "apim-request-id", &id);
            }
            Api::Anthropic => set_header(&mut resp, "request-id", &id),
            Api::Bedrock => set_header(&mut resp, "x-amzn-requestid", &id),
        }
        resp
    }
}
