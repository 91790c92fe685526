use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::token::mint;
use gatehouse_core::{Email, Op, Secret, Subject, TokenKind, TokenOwner};
use time::OffsetDateTime;

use crate::dto::{LoginBody, LoginOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::passwords;
use crate::state::App;

const BAD_LOGIN: &str = "invalid email or password";
const DEACTIVATED: &str =
    "this account is deactivated: its sessions and tokens no longer work; ask an admin to reactivate it";

/// Exchanges a local password for a session token. Unknown, inactive and wrong-password logins get the
/// same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody, security(()),
    responses((status = 200, body = LoginOut), (status = 401, body = ErrorBody)))]
pub async fn login(State(app): State<App>, Body(b): Body<LoginBody>) -> Result<Json<LoginOut>, ApiError> {
    let s = open_session(&app, b, false).await?;
    Ok(Json(LoginOut { token: s.token.into_inner(), expires_at: s.expires_at }))
}

/// A new login session, whether its token goes to an API client or into the console's cookie.
pub struct OpenedSession {
    pub subject: Subject,
    pub token: Secret<String>,
    pub expires_at: OffsetDateTime,
}

/// `reveal_deactivated`: whether someone who gave the right password of a deactivated account is told so
/// (the console, which shows a page for it) rather than getting the wrong-password answer (the API's
/// contract). Either way nobody learns anything about an account without its password.
pub async fn open_session(app: &App, b: LoginBody, reveal_deactivated: bool) -> Result<OpenedSession, ApiError> {
    let email = Email::new(&b.email).ok();
    let stored = match &email {
        Some(e) => app.store.password_hash(e).await?,
        None => None,
    };
    let ok = passwords::verify(Secret::new(b.password), stored).await;
    let active = email.as_ref().and_then(|e| app.snapshot().user(e.as_str()).map(|u| u.user.active));
    let email = match (email, ok, active) {
        (Some(e), true, Some(true)) => e,
        (Some(_), true, Some(false)) if reveal_deactivated => return Err(ApiError::Deactivated(DEACTIVATED.into())),
        _ => return Err(ApiError::Unauthenticated(BAD_LOGIN.into())),
    };
    let now = app.now();
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
