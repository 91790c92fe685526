use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::token::mint;
use gatehouse_core::{Email, Op, Secret, Subject, TokenKind, TokenOwner};

use crate::dto::{LoginBody, LoginOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::passwords;
use crate::state::App;

const BAD_LOGIN: &str = "invalid email or password";

/// Exchanges a local password for a session token. Unknown, inactive and wrong-password logins get the
/// same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody, security(()),
    responses((status = 200, body = LoginOut), (status = 401, body = ErrorBody)))]
pub async fn login(State(app): State<App>, Body(b): Body<LoginBody>) -> Result<Json<LoginOut>, ApiError> {
    let email = Email::new(&b.email).ok();
    let stored = match &email {
        Some(e) => app.store.password_hash(e).await?,
        None => None,
    };
    let ok = passwords::verify(Secret::new(b.password), stored).await;
    let Some(email) = email.filter(|e| ok && app.snapshot().user(e.as_str()).is_some_and(|u| u.user.active)) else {
        return Err(ApiError::Unauthenticated(BAD_LOGIN.into()));
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
    app.write(&Subject::User(email), vec![Op::IssueToken(token)], |_| Ok(())).await?;
    Ok(Json(LoginOut { token: secret.into_inner(), expires_at }))
}

/// Ends the calling login session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn logout(State(app): State<App>, Caller(p): Caller) -> Result<StatusCode, ApiError> {
    if p.kind != TokenKind::Session {
        return Err(ApiError::invalid("token", "only a login session can be logged out; revoke tokens instead"));
    }
    app.write(&p.subject, vec![Op::RevokeToken(p.token_id)], |_| Ok(())).await?;
    Ok(StatusCode::NO_CONTENT)
}
