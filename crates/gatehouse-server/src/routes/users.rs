use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::{Email, Op, Permission, Resource, Secret, Subject, TokenKind, TokenOwner};

use super::{can, require};
use crate::client::ClientIp;
use crate::convert;
use crate::dto::{PasswordBody, UserBody, UserOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::passwords;
use crate::state::App;

fn email(s: &str) -> Result<Email, ApiError> {
    Email::new(s).map_err(|e| ApiError::invalid("email", e.to_string()))
}

fn readable(app: &App, caller: &Subject, e: &Email) -> Result<(), ApiError> {
    if caller == &Subject::User(e.clone()) {
        return Ok(());
    }
    require(&app.snapshot(), caller, Permission::UserList, &Resource::user(e), app.now())
}

/// Users the caller may read: all with `user:list`, else only themself.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = [UserOut])))]
pub async fn list(State(app): State<App>, Caller(p): Caller) -> Json<Vec<UserOut>> {
    let s = app.snapshot();
    let now = app.now();
    let mut out: Vec<UserOut> = s
        .users()
        .filter(|u| {
            p.subject == Subject::User(u.user.email.clone())
                || can(&s, &p.subject, Permission::UserList, &Resource::user(&u.user.email), now)
        })
        .filter_map(|u| UserOut::from_snapshot(&s, u.user.email.as_str()))
        .collect();
    out.sort_by(|a, b| a.email.cmp(&b.email));
    Json(out)
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserBody,
    responses((status = 201, body = UserOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<UserBody>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let user = convert::user(b)?;
    let key = user.email.clone();
    let s = app
        .write(&p.subject, vec![Op::PutUser(user)], |s| match s.user(key.as_str()) {
            Some(_) => Err(ApiError::already_exists("user", &key)),
            None => Ok(()),
        })
        .await?;
    let out = UserOut::from_snapshot(&s, key.as_str()).ok_or_else(|| ApiError::Internal("user vanished".into()))?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(get, path = "/api/v1/users/{email}", tag = "users",
    responses((status = 200, body = UserOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<App>, Caller(p): Caller, Path(e): Path<String>) -> Result<Json<UserOut>, ApiError> {
    let e = email(&e)?;
    readable(&app, &p.subject, &e)?;
    UserOut::from_snapshot(&app.snapshot(), e.as_str()).map(Json).ok_or_else(|| ApiError::not_found("user", &e))
}

#[utoipa::path(put, path = "/api/v1/users/{email}", tag = "users", request_body = UserBody,
    responses((status = 200, body = UserOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    Caller(p): Caller,
    Path(e): Path<String>,
    Body(b): Body<UserBody>,
) -> Result<Json<UserOut>, ApiError> {
    let e = email(&e)?;
    let user = convert::user(b)?;
    convert::same_key("email", e.as_str(), user.email.as_str())?;
    let s = app
        .write(&p.subject, vec![Op::PutUser(user)], |s| match s.user(e.as_str()) {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("user", &e)),
        })
        .await?;
    UserOut::from_snapshot(&s, e.as_str()).map(Json).ok_or_else(|| ApiError::Internal("user vanished".into()))
}

#[utoipa::path(delete, path = "/api/v1/users/{email}", tag = "users",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(State(app): State<App>, Caller(p): Caller, Path(e): Path<String>) -> Result<StatusCode, ApiError> {
    let e = email(&e)?;
    app.write(&p.subject, vec![Op::DeleteUser(e)], |_| Ok(())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a local password: the user themself (giving the current one, if they have one), or a caller with
/// `user:manage` over them. Either way the user's other login sessions end: a self-change keeps only the
/// session making it, a reset by someone else ends them all. Personal access tokens are not sessions and
/// stay (revoke them separately).
#[utoipa::path(post, path = "/api/v1/users/{email}/password", tag = "users", request_body = PasswordBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn set_password(
    State(app): State<App>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    Path(e): Path<String>,
    Body(b): Body<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let e = email(&e)?;
    passwords::check_strength(&b.password)?;
    if p.subject == Subject::User(e.clone()) {
        confirm_current_password(&app, &e, b.current_password, ip).await?;
    }
    let hash = app.hasher.hash(Secret::new(b.password)).await?;
    // The session this request came with stays signed in (a credential that is no stored token keeps none).
    let keep = p.token().map(|(id, _)| id.clone());
    app.write_with(
        &p.subject,
        move |s, _| {
            let sessions = s
                .tokens_of(&TokenOwner::User(e.clone()))
                .filter(|t| t.kind == TokenKind::Session && Some(&t.id) != keep.as_ref())
                .map(|t| Op::RevokeToken(t.id.clone()))
                .collect::<Vec<_>>();
            let mut ops = vec![Op::SetPassword { email: e.clone(), hash: hash.clone() }];
            ops.extend(sessions);
            Ok(ops)
        },
        |_| Ok(()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Someone holding a user's token (a session left open, a leaked PAT) must not be able to take the account
/// over by setting a new password: they must know the current one. Wrong guesses count against the same
/// limits as sign-ins.
async fn confirm_current_password(
    app: &App,
    e: &Email,
    current: Option<String>,
    ip: Option<std::net::IpAddr>,
) -> Result<(), ApiError> {
    let Some(stored) = app.store.password_hash(e).await? else { return Ok(()) };
    let Some(current) = current else {
        return Err(ApiError::invalid("current_password", "changing your own password needs your current password"));
    };
    crate::routes::auth::throttled(app, e.as_str(), ip)?;
    if app.hasher.verify(Secret::new(current), Some(stored)).await? {
        app.signin.succeeded(e.as_str(), ip, app.now());
        return Ok(());
    }
    app.signin.failed(e.as_str(), ip, app.now());
    Err(ApiError::WrongCurrentPassword)
}
