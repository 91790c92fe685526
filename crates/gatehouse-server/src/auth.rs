//! Deny by default: every route needs a valid token except the few listed here.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use gatehouse_core::TokenKind;

use crate::console::{assets, session};
use crate::error::{ApiError, Forbidden, Unauthenticated};
use crate::state::App;

/// The only routes reachable without a token: health, the two ways to sign in, and the console's page
/// and files (which hold no data; everything they show comes from the API).
pub const OPEN_ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/healthz"),
    (Method::POST, "/api/v1/auth/login"),
    (Method::POST, "/api/v1/auth/session"),
    (Method::GET, "/"),
    (Method::GET, assets::STYLE_PATH),
];

pub fn is_open(method: &Method, path: &str) -> bool {
    // HEAD is a GET without the body.
    let method = if method == Method::HEAD { &Method::GET } else { method };
    OPEN_ROUTES.iter().any(|(m, p)| m == method && *p == path) || (method == Method::GET && assets::is_script(path))
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
    // A header wins over the cookie: an API client that also holds a console cookie acts with its token.
    let (token, from_cookie) = match token(&req) {
        Some(t) => (t, false),
        None => match session::cookie(req.headers()) {
            Some(t) => (t, true),
            None => return ApiError::Unauthenticated(Unauthenticated::MissingToken).into_response(),
        },
    };
    if from_cookie && !session::csrf_ok(req.method(), req.headers(), token) {
        let method = req.method().to_string();
        return ApiError::Forbidden(Forbidden::CrossSite { method, header: session::CSRF_HEADER }).into_response();
    }
    let now = app.now();
    match app.snapshot().authenticate(token, now) {
        // Only the console puts a token in the cookie, and only a login session.
        Ok(principal) if from_cookie && principal.kind != TokenKind::Session => {
            ApiError::Unauthenticated(Unauthenticated::NotASession).into_response()
        }
        Ok(principal) => {
            let csrf = from_cookie.then(|| session::CookieSession { csrf: session::csrf_token(token) });
            app.record_use(&principal.token_id, now);
            req.extensions_mut().insert(principal);
            if let Some(c) = csrf {
                req.extensions_mut().insert(c);
            }
            next.run(req).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
