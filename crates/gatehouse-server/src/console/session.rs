//! Console sign-in: a login session carried in an HttpOnly, SameSite=Strict cookie, with a CSRF token the
//! page must echo in `x-csrf-token` on every request that changes anything.
//!
//! The browser sends a cookie on its own, which is what makes cross-site request forgery possible; the
//! CSRF token is derived from the session's secret, which the page's script cannot read (HttpOnly) and
//! another site cannot compute, and it is handed only to a same-origin script (no CORS is ever allowed).

use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_core::token::Principal;
use gatehouse_core::{Op, TokenKind};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::client::{ClientIp, ForwardedHttps};
use crate::dto::LoginBody;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::state::App;

pub const COOKIE: &str = "gatehouse_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Put on the request by the auth middleware when the caller came in with the session cookie.
#[derive(Clone, Debug)]
pub struct CookieSession {
    pub csrf: String,
}

/// The value of the session cookie, if the request carries one.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: a one-way function of its secret, so it reveals nothing about it.
pub fn csrf_token(session: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"gatehouse-console-csrf\0");
    h.update(session.as_bytes());
    hex::encode(h.finalize())
}

/// Whether a cookie-authenticated request may go ahead: reads always; anything else only with the
/// session's CSRF token.
pub fn csrf_ok(method: &Method, headers: &HeaderMap, session: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let Some(sent) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) else { return false };
    bool::from(sent.as_bytes().ct_eq(csrf_token(session).as_bytes()))
}

#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    /// `user:<email>`.
    pub subject: String,
    /// Send it as `x-csrf-token` with every request that is not a GET.
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// `secure`: Gatehouse itself speaks plain HTTP; behind a TLS-terminating proxy (one the operator trusts,
/// see `client`) the cookie must not leave TLS.
pub(crate) fn set_cookie(secure: bool, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let cookie = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(format!("cannot build the session cookie: {e}")))
}

/// Signs in with a local password and sets the session cookie. Unknown users and wrong passwords get the
/// same 401; the right password of a deactivated account gets a 401 with code `account_deactivated`, so
/// the console can say why.
#[utoipa::path(post, path = "/api/v1/auth/session", tag = "auth", request_body = LoginBody, security(()),
    responses((status = 200, body = SessionOut, description = "sets the HttpOnly session cookie"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    ForwardedHttps(secure): ForwardedHttps,
    headers: HeaderMap,
    Body(b): Body<LoginBody>,
) -> Result<Response, ApiError> {
    crate::routes::auth::require_json(&headers)?;
    let session = crate::routes::auth::open_session(&app, b, ip, true).await?;
    let max_age = app.config.session_ttl.whole_seconds();
    let out = SessionOut {
        subject: session.subject.to_string(),
        csrf_token: csrf_token(session.token.expose()),
        expires_at: Some(session.expires_at),
    };
    let mut resp = Json(out).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, set_cookie(secure, session.token.expose(), max_age)?);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The signed-in console session: who it is and the CSRF token, for a page that was reloaded.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth",
    responses((status = 200, body = SessionOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn show(
    State(app): State<App>,
    Caller(p): Caller,
    cookie: Option<Extension<CookieSession>>,
) -> Result<Response, ApiError> {
    let Some(Extension(c)) = cookie else {
        return Err(ApiError::invalid("cookie", "not a console session: sign in at / to get one"));
    };
    let expires_at = p.token().and_then(|(id, _)| app.snapshot().token(id.as_str())?.expires_at);
    let out = SessionOut { subject: p.subject.to_string(), csrf_token: c.csrf, expires_at };
    let mut resp = Json(out).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/auth/session", tag = "auth",
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn end(
    State(app): State<App>,
    ForwardedHttps(secure): ForwardedHttps,
    Caller(p): Caller,
) -> Result<Response, ApiError> {
    end_session(&app, &p).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, set_cookie(secure, "", 0)?);
    Ok(resp)
}

pub async fn end_session(app: &App, p: &Principal) -> Result<(), ApiError> {
    let Some((id, TokenKind::Session)) = p.token() else {
        return Err(ApiError::invalid("token", "only a login session can be logged out; revoke tokens instead"));
    };
    app.write(&p.subject, vec![Op::RevokeToken(id.clone())], |_| Ok(())).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let h = headers(&[("cookie", "a=1; gatehouse_session=gh_sess_x_y; b=2")]);
        assert_eq!(cookie(&h), Some("gh_sess_x_y"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "gatehouse_session=v")]);
        assert_eq!(cookie(&h), Some("v"));
        assert_eq!(cookie(&headers(&[("cookie", "gatehouse_sessionx=v; gatehouse_session=")])), None);
        assert_eq!(cookie(&headers(&[])), None);
    }

    #[test]
    fn csrf_is_required_for_writes_only_and_bound_to_the_session() {
        let t = csrf_token("gh_sess_a_b");
        assert_ne!(t, csrf_token("gh_sess_a_c"));
        assert!(csrf_ok(&Method::GET, &headers(&[]), "gh_sess_a_b"));
        assert!(!csrf_ok(&Method::POST, &headers(&[]), "gh_sess_a_b"));
        assert!(!csrf_ok(&Method::DELETE, &headers(&[("x-csrf-token", &csrf_token("other"))]), "gh_sess_a_b"));
        assert!(csrf_ok(&Method::PUT, &headers(&[("x-csrf-token", &t)]), "gh_sess_a_b"));
    }
}
