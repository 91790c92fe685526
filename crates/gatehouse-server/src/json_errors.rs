//! Every error answer is JSON in the API's shape, with a `code`, whoever produced it: our handlers already
//! answer so, but the router (405), the body limit (413) and axum's extractors (a bad path or query, a JSON
//! body that does not parse) answer in plain text. This rewrites those, and only those: a response that is
//! already JSON, or not an error, passes untouched, so the hot path pays one header lookup.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::{ErrorBody, ErrorDetail};

/// The longest plain-text message carried over into the JSON body.
const MAX_MESSAGE: usize = 1024;

pub async fn rewrite(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE * 4).await.unwrap_or_default();
    let text: String = String::from_utf8_lossy(&text).chars().take(MAX_MESSAGE).collect();
    let (kind, code) = classify(status);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => t.to_owned(),
    };
    let param =
        (status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY).then(|| "body".to_owned());
    let mut out =
        (status, Json(ErrorBody { error: ErrorDetail { message, kind, code, param, errors: None } })).into_response();
    // Keep what the original said besides its body (`Allow` on a 405, `Retry-After`, the request id).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().ends_with("json")))
}

fn classify(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ("invalid_request_error", "invalid_request"),
        StatusCode::UNAUTHORIZED => ("authentication_error", "invalid_token"),
        StatusCode::FORBIDDEN => ("permission_error", "forbidden"),
        StatusCode::NOT_FOUND => ("not_found_error", "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => ("invalid_request_error", "method_not_allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request_error", "body_too_large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid_request_error", "unsupported_media_type"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limit_error", "too_many_requests"),
        s if s.is_server_error() => ("server_error", "internal_error"),
        _ => ("invalid_request_error", "invalid_request"),
    }
}
