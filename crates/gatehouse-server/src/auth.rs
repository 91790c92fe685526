//! Deny by default: every route needs a valid token except the few listed here.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::App;

/// The only routes reachable without a token.
pub const OPEN_ROUTES: &[(Method, &str)] = &[(Method::GET, "/healthz"), (Method::POST, "/api/v1/auth/login")];

pub fn is_open(method: &Method, path: &str) -> bool {
    OPEN_ROUTES.iter().any(|(m, p)| m == method && *p == path)
}

pub fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The token from `Authorization: Bearer`, or else from `x-api-key`, which Anthropic's SDKs send instead.
/// Either way it is the same token, checked the same way.
pub fn token(req: &Request) -> Option<&str> {
    bearer(req).or_else(|| req.headers().get("x-api-key")?.to_str().ok().map(str::trim))
}

pub async fn require_auth(State(app): State<App>, mut req: Request, next: Next) -> Response {
    if is_open(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let Some(token) = token(&req) else {
        return ApiError::Unauthenticated("missing bearer token: send Authorization: Bearer <token>".into())
            .into_response();
    };
    let now = app.now();
    match app.snapshot().authenticate(token, now) {
        Ok(principal) => {
            app.record_use(&principal.token_id, now);
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
