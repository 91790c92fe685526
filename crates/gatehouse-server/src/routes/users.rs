use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gatehouse_core::{Email, Op, Permission, Resource, Secret, Snapshot, Subject, TokenKind, TokenOwner, User};
use serde_json::Value;

use super::require;
use crate::client::ClientIp;
use crate::convert;
use crate::dto::{PasswordBody, UserBody, UserOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller, Params};
use crate::passwords;
use crate::service::lists::users::UserListQuery;
use crate::service::lists::Listing;
use crate::state::App;
use crate::versioning::merge_patch::MergePatch;
use crate::versioning::write::{self, Item};
use crate::versioning::{self, Current, IfMatch, IfMatchHeader, USER};

fn email(s: &str) -> Result<Email, ApiError> {
    Email::new(s).map_err(|e| ApiError::invalid("email", e.to_string()))
}

fn may_read(s: &Snapshot, caller: &Subject, e: &Email, now: time::OffsetDateTime) -> Result<(), ApiError> {
    if caller == &Subject::User(e.clone()) {
        return Ok(());
    }
    require(s, caller, Permission::UserList, &Resource::user(e), now)
}

fn current(s: &Snapshot, e: &Email) -> Option<Current> {
    UserOut::from_snapshot(s, e.as_str()).map(|o| Current::of_typed(&o))
}

/// A body (read-only fields removed) as a user; every failure names the field.
fn parse(body: Value) -> Result<User, ApiError> {
    convert::user(versioning::parse_body::<UserBody>(body)?)
}

/// The user as stored in `s`, with its version (body and `ETag` header).
fn answer(s: &Snapshot, e: &Email) -> Result<(HeaderMap, Json<UserOut>), ApiError> {
    let out = UserOut::from_snapshot(s, e.as_str()).ok_or_else(|| ApiError::Internal("user vanished".into()))?;
    let (out, etag) = versioning::stamp(out);
    Ok((etag.header(), Json(out)))
}

/// Users the caller may read: all with `user:list`, else only themself. Searched, filtered and sorted as
/// asked; with `limit` or `cursor`, one page `{items, next_cursor}` (see docs/api.md, "Lists").
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, body = Listing<UserOut>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<UserListQuery>,
) -> Result<Json<Listing<UserOut>>, ApiError> {
    crate::service::lists::users::list(&app.snapshot(), &p.subject, app.now(), q).map(Json)
}

/// Read-only fields of a user read back (`teams`, `manages`, `etag`) are accepted and ignored.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserBody,
    responses((status = 201, body = UserOut, headers(("ETag" = String, description = "the new user's version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<Value>,
) -> Result<(StatusCode, HeaderMap, Json<UserOut>), ApiError> {
    let user = parse(versioning::strip_read_only(b, USER.read_only))?;
    let key = user.email.clone();
    let s = app
        .write(&p.subject, vec![Op::PutUser(user)], |s| match s.user(key.as_str()) {
            Some(_) => Err(ApiError::already_exists("user", &key)),
            None => Ok(()),
        })
        .await?;
    let (headers, out) = answer(&s, &key)?;
    Ok((StatusCode::CREATED, headers, out))
}

#[utoipa::path(get, path = "/api/v1/users/{email}", tag = "users",
    responses((status = 200, body = UserOut, headers(("ETag" = String, description = "the user's version, for If-Match"))),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<App>,
    Caller(p): Caller,
    Path(e): Path<String>,
) -> Result<(HeaderMap, Json<UserOut>), ApiError> {
    let e = email(&e)?;
    let s = app.snapshot();
    may_read(&s, &p.subject, &e, app.now())?;
    if s.user(e.as_str()).is_none() {
        return Err(ApiError::not_found("user", &e));
    }
    answer(&s, &e)
}

/// The write path's view of one user.
fn item<'a>(caller: &'a Subject, e: &'a Email) -> Item<'a> {
    Item {
        kind: USER,
        name: e.as_str(),
        current: Box::new(move |s| current(s, e)),
        may_read: Box::new(move |s, now| may_read(s, caller, e, now)),
        build: Box::new(move |_, body, _| {
            let user = parse(body)?;
            convert::same_key("email", e.as_str(), user.email.as_str())?;
            Ok(vec![Op::PutUser(user)])
        }),
    }
}

/// Replaces a user. With `If-Match`, only if the user is still at that version (else 412); read-only
/// fields of a user read back are accepted and ignored.
#[utoipa::path(put, path = "/api/v1/users/{email}", tag = "users", request_body = UserBody, params(IfMatchHeader),
    responses((status = 200, body = UserOut, headers(("ETag" = String, description = "the user's new version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(e): Path<String>,
    Body(b): Body<Value>,
) -> Result<(HeaderMap, Json<UserOut>), ApiError> {
    let e = email(&e)?;
    let s = write::replace(&app, &p.subject, &item(&p.subject, &e), &if_match, b).await?;
    answer(&s, &e)
}

/// Changes some fields of a user: a JSON merge patch (RFC 7396) applied to the user as a read shows it,
/// then checked exactly like a `PUT` of the result.
#[utoipa::path(patch, path = "/api/v1/users/{email}", tag = "users", params(IfMatchHeader),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = UserOut, headers(("ETag" = String, description = "the user's new version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn patch(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(e): Path<String>,
    MergePatch(m): MergePatch,
) -> Result<(HeaderMap, Json<UserOut>), ApiError> {
    let e = email(&e)?;
    let s = write::patch(&app, &p.subject, &item(&p.subject, &e), &if_match, m).await?;
    answer(&s, &e)
}

#[utoipa::path(delete, path = "/api/v1/users/{email}", tag = "users", params(IfMatchHeader),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(e): Path<String>,
) -> Result<StatusCode, ApiError> {
    let e = email(&e)?;
    let ops = vec![Op::DeleteUser(e.clone())];
    write::delete(&app, &p.subject, &item(&p.subject, &e), &if_match, ops).await?;
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
