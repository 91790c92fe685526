//! Request errors: one type, mapped to HTTP in one exhaustive match, with OpenAI-shaped bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_core::ops::{BatchRefusal, Refusal};
use gatehouse_core::token::AuthError;
use gatehouse_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    /// The right password of a deactivated account, at the console's sign-in: a 401 with its own code, so
    /// the console can say why.
    #[error("{0}")]
    Deactivated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("request body is larger than the server's limit")]
    TooLarge,
    /// Too many failed sign-ins: try again after `retry_after` seconds.
    #[error("too many failed sign-ins: try again in {retry_after} s")]
    TooManyAttempts { retry_after: u64 },
    /// The server is at its limit for this kind of work (password hashing): try again shortly.
    #[error("the server is busy: try again in {retry_after} s")]
    Busy { retry_after: u64 },
    /// A self-service password change with the wrong current password.
    #[error("{0}")]
    WrongCurrentPassword(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The upstream provider failed or answered with an error.
    #[error("{0}")]
    BadGateway(String),
    /// The upstream provider did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    /// For invalid requests: the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid { field: field.into(), message: message.into() }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "authentication_error", "invalid_token"),
            ApiError::Deactivated(_) => (StatusCode::UNAUTHORIZED, "authentication_error", "account_deactivated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "permission_error", "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found_error", "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict_error", "conflict"),
            ApiError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "body_too_large"),
            ApiError::TooManyAttempts { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "too_many_attempts")
            }
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "server_error", "server_busy"),
            ApiError::WrongCurrentPassword(_) => (StatusCode::FORBIDDEN, "permission_error", "wrong_current_password"),
            ApiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error", "method_not_allowed")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request_error", "unsupported_media_type")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal_error"),
            ApiError::BadGateway(_) => (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_failed"),
            ApiError::GatewayTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_error", "upstream_timeout"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, code) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let param = match &self {
            ApiError::Invalid { field, .. } => Some(field.clone()),
            ApiError::WrongCurrentPassword(_) => Some("current_password".to_owned()),
            _ => None,
        };
        let retry_after = if let ApiError::TooManyAttempts { retry_after } | ApiError::Busy { retry_after } = &self {
            Some(*retry_after)
        } else {
            None
        };
        let body = ErrorBody { error: ErrorDetail { message: self.to_string(), kind, code, param } };
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        resp
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Forbidden(m) => ApiError::Forbidden(m),
            Refusal::NotFound(m) => ApiError::NotFound(m),
            Refusal::Conflict(m) => ApiError::Conflict(m),
            Refusal::Invalid { field, message } => ApiError::Invalid { field, message },
        }
    }
}

impl From<BatchRefusal> for ApiError {
    fn from(r: BatchRefusal) -> Self {
        r.refusal.into()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Unauthenticated(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<gatehouse_core::InvalidName> for ApiError {
    fn from(e: gatehouse_core::InvalidName) -> Self {
        let field = match e.what {
            "email" => "email",
            "role name" => "name",
            "team name" => "name",
            "virtual account name" => "name",
            _ => "name",
        };
        ApiError::invalid(field, e.to_string())
    }
}
