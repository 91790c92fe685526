//! Every response carries `x-request-id`: the caller's own if it sent a sane one, else a fresh one. Audit
//! events record it, so a change can be traced to the request that made it.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

tokio::task_local! {
    /// The id of the request this task serves, for the audit records its writes make.
    static CURRENT: Arc<str>;
}

/// The request id of the running request, if the task serves one.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(|id| id.clone()).ok()
}

fn acceptable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A random (version 4) UUID. From the thread's generator rather than `Uuid::new_v4`, which asks the
/// kernel for every id: a system call on each request.
fn fresh() -> Arc<str> {
    Arc::from(random_uuid().simple().encode_lower(&mut uuid::Uuid::encode_buffer()) as &str)
}

/// A random (version 4) UUID from the thread's generator (see `fresh`); the `uuid` crate's own `v4`
/// feature is off, which also keeps a third version of `getrandom` out of the build.
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

pub async fn assign(mut req: Request, next: Next) -> Response {
    let id: Arc<str> = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(Arc::from)
        .unwrap_or_else(fresh);
    req.extensions_mut().insert(RequestId(id.clone()));
    // The outermost layer: also where every error answer is made JSON (no layer of its own on the hot path).
    let mut resp = crate::json_errors::rewrite(CURRENT.scope(id.clone(), next.run(req)).await).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId(Arc::from("none"))))
    }
}
