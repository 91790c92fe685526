use std::net::IpAddr;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use gatehouse_core::token::mint;
use gatehouse_core::{Email, Op, Secret, Subject, TokenKind, TokenOwner};
use time::OffsetDateTime;

use crate::client::ClientIp;
use crate::dto::{LoginBody, LoginOut};
use crate::error::{ApiError, ErrorBody, Unauthenticated};
use crate::extract::{Body, Caller};
use crate::state::App;

/// Exchanges a local password for a session token. Unknown, inactive and wrong-password logins get the
/// same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody, security(()),
    responses((status = 200, body = LoginOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn login(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Body(b): Body<LoginBody>,
) -> Result<Json<LoginOut>, ApiError> {
    require_json(&headers)?;
    let s = open_session(&app, b, ip, false).await?;
    Ok(Json(LoginOut { token: s.token.into_inner(), expires_at: s.expires_at }))
}

/// A new login session, whether its token goes to an API client or into the console's cookie.
pub struct OpenedSession {
    pub subject: Subject,
    pub token: Secret<String>,
    pub expires_at: OffsetDateTime,
}

/// Sign-in takes only JSON. A cross-site form can post `text/plain` without asking; JSON it cannot send
/// without a CORS preflight, which this server never grants: that is what stops a forged sign-in.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if json {
        return Ok(());
    }
    Err(ApiError::invalid("content-type", "signing in takes a JSON body: send content-type: application/json"))
}

pub(crate) fn throttled(app: &App, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
    match app.signin.check(email, ip, app.now()) {
        // Whole seconds, rounded up: a client that waits as told is not refused again.
        Some(wait) => {
            let secs = wait.whole_seconds().saturating_add(i64::from(wait.subsec_nanoseconds() > 0));
            Err(ApiError::too_many_attempts(u64::try_from(secs).unwrap_or(1).max(1)))
        }
        None => Ok(()),
    }
}

/// `reveal_deactivated`: whether someone who gave the right password of a deactivated account is told so
/// (the console, which shows a page for it) rather than getting the wrong-password answer (the API's
/// contract). Either way nobody learns anything about an account without its password.
///
/// Known and unknown accounts take the same path: the same throttle, one argon2 verification each (against
/// a fixed hash for an unknown one), the same failure counted.
pub async fn open_session(
    app: &App,
    b: LoginBody,
    ip: Option<IpAddr>,
    reveal_deactivated: bool,
) -> Result<OpenedSession, ApiError> {
    throttled(app, &b.email, ip)?;
    let email = Email::new(&b.email).ok();
    let stored = match &email {
        Some(e) => app.store.password_hash(e).await?,
        None => None,
    };
    let (password, typed) = (Secret::new(b.password), b.email);
    let ok = app.hasher.verify_when(password, stored, || throttled(app, &typed, ip)).await?;
    let active = email.as_ref().and_then(|e| app.snapshot().user(e.as_str()).map(|u| u.user.active));
    let email = match (email, ok, active) {
        (Some(e), true, Some(true)) => e,
        (Some(_), true, Some(false)) if reveal_deactivated => {
            return Err(ApiError::Unauthenticated(Unauthenticated::Deactivated))
        }
        _ => {
            app.signin.failed(&typed, ip, app.now());
            return Err(ApiError::Unauthenticated(Unauthenticated::BadLogin));
        }
    };
    let now = app.now();
    app.signin.succeeded(&typed, ip, now);
    let expires_at = now + app.config.session_ttl;
    let (token, secret) = mint(
        TokenKind::Session,
        TokenOwner::User(email.clone()),
        "login session",
        now,
        Some(expires_at),
        app.token_entropy(),
    );
    let subject = Subject::User(email);
    app.write(&subject, vec![Op::IssueToken(token)], |_| Ok(())).await?;
    Ok(OpenedSession { subject, token: secret, expires_at })
}

/// Ends the calling login session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn logout(State(app): State<App>, Caller(p): Caller) -> Result<StatusCode, ApiError> {
    crate::console::session::end_session(&app, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}
