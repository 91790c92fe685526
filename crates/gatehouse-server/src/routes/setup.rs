//! First-run setup (`crate::setup`): open routes, as the sign-in page calls them before anyone exists.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::client::{ClientIp, ForwardedHttps};
use crate::console::session::{csrf_token, SessionOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Body;
use crate::state::App;

#[derive(Serialize, ToSchema)]
pub struct SetupStatus {
    /// No active admin exists: create one with `gatehouse bootstrap`, or here with the setup code.
    pub needed: bool,
    /// The server printed a setup code in its log at start-up and it has not been used; restarting the
    /// server prints a new one while no admin exists.
    pub code_issued: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    /// The one-time code from the server's log (case, spaces and hyphens do not matter).
    pub code: String,
    /// The first admin's email.
    pub email: String,
    /// Their password: at least 8 characters.
    pub password: String,
}

/// Whether the deployment still needs its first admin.
#[utoipa::path(get, path = "/api/v1/setup", tag = "auth", security(()),
    responses((status = 200, body = SetupStatus)))]
pub async fn status(State(app): State<App>) -> Json<SetupStatus> {
    let s = crate::setup::status(&app);
    Json(SetupStatus { needed: s.needed, code_issued: s.code_issued })
}

/// Creates the first admin with the one-time code the server printed at start-up (as `gatehouse bootstrap`
/// would) and signs them in to the console, setting the session cookie as `POST /api/v1/auth/session` does.
/// Refused with 403 `already_set_up` once an active admin exists, and 403 `invalid_setup_code` for a wrong
/// or spent code; failures are throttled as failed sign-ins are (429 `too_many_attempts`).
#[utoipa::path(post, path = "/api/v1/setup", tag = "auth", request_body = SetupBody, security(()),
    responses((status = 200, body = SessionOut, description = "sets the HttpOnly session cookie"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn complete(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    ForwardedHttps(secure): ForwardedHttps,
    headers: HeaderMap,
    Body(b): Body<SetupBody>,
) -> Result<Response, ApiError> {
    crate::routes::auth::require_json(&headers)?;
    let request_id = crate::request_id::current().map(|id| id.to_string());
    let req = crate::setup::Request { code: b.code, email: b.email, password: b.password, ip, request_id };
    let session = crate::setup::complete(&app, req).await?;
    let out = SessionOut {
        subject: session.subject.to_string(),
        csrf_token: csrf_token(session.token.expose()),
        expires_at: Some(session.expires_at),
    };
    let max_age = app.config.session_ttl.whole_seconds();
    let mut resp = Json(out).into_response();
    let cookie = crate::console::session::set_cookie(secure, session.token.expose(), max_age)?;
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
