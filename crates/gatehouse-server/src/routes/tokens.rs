//! Personal access tokens (always the caller's own) and virtual-account tokens with rotation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::ops::MAX_GRACE;
use gatehouse_core::token::mint;
use gatehouse_core::{Op, Permission, Resource, Subject, TokenId, TokenKind, TokenOwner};

use super::require;
use super::virtual_accounts::name as va_name;
use crate::dto::{IssuedTokenOut, RotateBody, RotatedOut, TokenBody, TokenOut};
use crate::error::{ApiError, ErrorBody, NotFound};
use crate::extract::{Body, Caller};
use crate::state::App;
use crate::{bounds, convert};

fn token_id(s: &str) -> Result<TokenId, ApiError> {
    TokenId::new(s).map_err(|e| ApiError::invalid("id", e.to_string()))
}

async fn listed(app: &App, owner: &TokenOwner, kind: TokenKind) -> Result<Json<Vec<TokenOut>>, ApiError> {
    let s = app.snapshot();
    let mut tokens: Vec<_> = s.tokens_of(owner).filter(|t| t.kind == kind).cloned().collect();
    tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let ids: Vec<TokenId> = tokens.iter().map(|t| t.id.clone()).collect();
    let used = app.last_used(&ids).await?;
    Ok(Json(tokens.iter().map(|t| TokenOut::new(t, used.get(&t.id).copied())).collect()))
}

/// Creates a token for the calling user; its secret is shown only in this response.
#[utoipa::path(post, path = "/api/v1/personal-access-tokens", tag = "tokens", request_body = TokenBody,
    responses((status = 201, body = IssuedTokenOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_pat(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<TokenBody>,
) -> Result<(StatusCode, Json<IssuedTokenOut>), ApiError> {
    let Subject::User(email) = &p.subject else {
        return Err(ApiError::Forbidden(crate::error::Forbidden::UsersOnly));
    };
    let mut f = convert::Fields::new();
    let name = f.check(convert::token_name(b.name, "personal access token"))?;
    let expires_at = f.check(bounds::opt_client_time("expires_at", b.expires_at))?;
    let (name, expires_at) = f.done(name.zip(expires_at))?;
    let (token, secret) =
        mint(TokenKind::Pat, TokenOwner::User(email.clone()), &name, app.now(), expires_at, app.token_entropy());
    let out =
        IssuedTokenOut { id: token.id.to_string(), name, token: secret.into_inner(), expires_at: token.expires_at };
    app.write(&p.subject, vec![Op::IssueToken(token)], |_| Ok(())).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// The caller's own tokens, without secrets.
#[utoipa::path(get, path = "/api/v1/personal-access-tokens", tag = "tokens", responses((status = 200, body = [TokenOut])))]
pub async fn list_pats(State(app): State<App>, Caller(p): Caller) -> Result<Json<Vec<TokenOut>>, ApiError> {
    let Subject::User(email) = &p.subject else {
        return Ok(Json(Vec::new()));
    };
    listed(&app, &TokenOwner::User(email.clone()), TokenKind::Pat).await
}

/// Revokes one of the caller's tokens (admins and user managers may revoke others').
#[utoipa::path(delete, path = "/api/v1/personal-access-tokens/{id}", tag = "tokens",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_pat(
    State(app): State<App>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = token_id(&id)?;
    let is_pat = app.snapshot().token(id.as_str()).is_some_and(|t| t.kind == TokenKind::Pat);
    if !is_pat {
        return Err(ApiError::not_found("personal access token", &id));
    }
    app.write(&p.subject, vec![Op::RevokeToken(id)], |_| Ok(())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a token for a virtual account; needs `virtual-account:manage` on it.
#[utoipa::path(post, path = "/api/v1/virtual-accounts/{name}/tokens", tag = "virtual-accounts", request_body = TokenBody,
    responses((status = 201, body = IssuedTokenOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_va_token(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
    Body(b): Body<TokenBody>,
) -> Result<(StatusCode, Json<IssuedTokenOut>), ApiError> {
    let n = va_name(&n)?;
    let mut f = convert::Fields::new();
    let name = f.check(convert::token_name(b.name, n.as_str()))?;
    let expires_at = f.check(bounds::opt_client_time("expires_at", b.expires_at))?;
    let (name, expires_at) = f.done(name.zip(expires_at))?;
    let (token, secret) = mint(
        TokenKind::VirtualAccount,
        TokenOwner::VirtualAccount(n),
        &name,
        app.now(),
        expires_at,
        app.token_entropy(),
    );
    let out =
        IssuedTokenOut { id: token.id.to_string(), name, token: secret.into_inner(), expires_at: token.expires_at };
    app.write(&p.subject, vec![Op::IssueToken(token)], |_| Ok(())).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(get, path = "/api/v1/virtual-accounts/{name}/tokens", tag = "virtual-accounts",
    responses((status = 200, body = [TokenOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_va_tokens(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> Result<Json<Vec<TokenOut>>, ApiError> {
    let n = va_name(&n)?;
    let s = app.snapshot();
    require(&s, &p.subject, Permission::VirtualAccountRead, &Resource::virtual_account(&n), app.now())?;
    if s.virtual_account(n.as_str()).is_none() {
        return Err(ApiError::not_found("virtual account", &n));
    }
    listed(&app, &TokenOwner::VirtualAccount(n), TokenKind::VirtualAccount).await
}

#[utoipa::path(delete, path = "/api/v1/virtual-accounts/{name}/tokens/{id}", tag = "virtual-accounts",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_va_token(
    State(app): State<App>,
    Caller(p): Caller,
    Path((n, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let n = va_name(&n)?;
    let id = token_id(&id)?;
    let owned = app.snapshot().token(id.as_str()).is_some_and(|t| t.owner == TokenOwner::VirtualAccount(n.clone()));
    if !owned {
        return Err(ApiError::NotFound(NotFound::VaToken { va: n.to_string(), id: id.to_string() }));
    }
    app.write(&p.subject, vec![Op::RevokeToken(id)], |_| Ok(())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new token; the account's earlier tokens keep working for the grace period only.
#[utoipa::path(post, path = "/api/v1/virtual-accounts/{name}/rotate", tag = "virtual-accounts", request_body = RotateBody,
    responses((status = 201, body = RotatedOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
    Body(b): Body<RotateBody>,
) -> Result<(StatusCode, Json<RotatedOut>), ApiError> {
    let n = va_name(&n)?;
    let mut f = convert::Fields::new();
    let name = f.check(convert::token_name(b.name, n.as_str()))?;
    let now = app.now();
    // Checked before it becomes a time: `now + grace` with 2^62 seconds would overflow.
    let grace = f.check(bounds::seconds("grace_period_seconds", b.grace_period_seconds, MAX_GRACE))?;
    let expires_at = f.check(bounds::opt_client_time("expires_at", b.expires_at))?;
    let ((name, grace), expires_at) = f.done(name.zip(grace).zip(expires_at))?;
    let previous_tokens_expire_at = now
        .checked_add(grace)
        .ok_or_else(|| ApiError::invalid("grace_period_seconds", "ends beyond the storable range"))?;
    let (token, secret) = mint(
        TokenKind::VirtualAccount,
        TokenOwner::VirtualAccount(n.clone()),
        &name,
        now,
        expires_at,
        app.token_entropy(),
    );
    let out = RotatedOut {
        id: token.id.to_string(),
        name,
        token: secret.into_inner(),
        expires_at: token.expires_at,
        previous_tokens_expire_at,
    };
    app.write(&p.subject, vec![Op::RotateVirtualAccount { name: n, new: token, grace }], |_| Ok(())).await?;
    Ok((StatusCode::CREATED, Json(out)))
}
