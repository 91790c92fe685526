//! Request extractors: the authenticated caller, and JSON bodies whose errors name the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use gatehouse_core::token::Principal;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use gatehouse_core::field::{FieldError, FieldPath};

/// The principal the auth middleware resolved. Handlers that take it cannot run unauthenticated.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or(ApiError::Unauthenticated(crate::error::Unauthenticated::NoCaller))
    }
}

/// The published view the auth middleware loaded for this request: the same version it authenticated
/// against, to the answer.
pub struct View(pub std::sync::Arc<crate::state::Published>);

impl<S: Send + Sync> FromRequestParts<S> for View {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<std::sync::Arc<crate::state::Published>>()
            .cloned()
            .map(View)
            .ok_or(ApiError::Unauthenticated(crate::error::Unauthenticated::NoCaller))
    }
}

/// A JSON body. Malformed JSON, a wrong type, a missing or unknown field each give a 400 that names the
/// field; a body over the limit gives a 413.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::invalid("body", e.body_text())
            }
        })?;
        parse_json(&bytes).map(Body)
    }
}

/// A JSON body that the handler answers even when it does not parse (as [`Body`] would refuse it), with its
/// size in bytes for the request log (`None` when it could not be read).
pub struct Counted<T> {
    pub parsed: Result<T, ApiError>,
    pub bytes: Option<u64>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Counted<T> {
    type Rejection = std::convert::Infallible;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Ok(Counted { parsed: Err(ApiError::TooLarge), bytes: None })
            }
            Err(e) => return Ok(Counted { parsed: Err(ApiError::invalid("body", e.body_text())), bytes: None }),
        };
        Ok(Counted { parsed: parse_json(&bytes), bytes: Some(bytes.len() as u64) })
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = field_of(e.path(), &e.inner().to_string());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::MalformedJson(inner.to_string());
        }
        ApiError::Invalid(FieldError { path, message: inner.to_string() })
    })
}

/// The field an error is about, from serde's path. For an unknown field the path already ends in it; for
/// a missing one the path is the parent and the name is only in the message. The whole body is `body`.
pub fn field_of(path: &serde_path_to_error::Path, msg: &str) -> FieldPath {
    use serde_path_to_error::Segment;
    let mut out = path.iter().fold(FieldPath::default(), |p, s| match s {
        Segment::Seq { index } => p.index(*index),
        Segment::Map { key } => p.key(key.clone()),
        Segment::Enum { variant } => p.key(variant.clone()),
        Segment::Unknown => p.key("?"),
    });
    if let Some(f) = msg.split_once("missing field `").and_then(|(_, rest)| rest.split_once('`')).map(|(f, _)| f) {
        out = out.key(f);
    }
    if out.is_empty() {
        out = out.key("body");
    }
    out
}

/// Query parameters whose errors come back in the API's error shape.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::invalid("query", e.body_text()))
    }
}

/// Deserializes with the path of the failing field, which the 400 names.
pub fn tracked<T>(
    body: serde_json::Value,
    f: impl FnOnce(serde_path_to_error::Deserializer<serde_json::Value>) -> Result<T, serde_json::Error>,
) -> Result<T, ApiError> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(body, &mut track);
    f(de).map_err(|e| {
        let message = e.to_string();
        ApiError::Invalid(FieldError { path: field_of(&track.path(), &message), message })
    })
}
