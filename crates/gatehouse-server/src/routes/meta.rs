use axum::extract::State;
use axum::Json;
use gatehouse_core::{Action, Permission, Resource, Snapshot, Subject};
use time::OffsetDateTime;

use super::can;
use crate::dto::{CheckBody, CheckOut, ChecksBody, ChecksOut, MeOut, PermissionOut};
use crate::error::{ApiError, ErrorBody, Forbidden, Unauthenticated};
use crate::extract::{Body, Caller};
use crate::state::App;
use gatehouse_core::field::FieldPath;

/// The caller's identity, for any valid token.
#[utoipa::path(get, path = "/api/v1/me", tag = "meta", responses((status = 200, body = MeOut)))]
pub async fn me(State(app): State<App>, Caller(p): Caller) -> Result<Json<MeOut>, ApiError> {
    let s = app.snapshot();
    let out = match &p.subject {
        Subject::User(e) => {
            let u = s.user(e.as_str()).ok_or(ApiError::Unauthenticated(Unauthenticated::OwnerGone("user")))?;
            MeOut {
                subject: p.subject.to_string(),
                kind: "user",
                role: Some(u.user.role.to_string()),
                teams: u.member_of.iter().map(|t| t.to_string()).collect(),
                manages: u.manages.iter().map(|t| t.to_string()).collect(),
                permissions: s.tenant_permissions(e).iter().map(|p| p.id().to_owned()).collect(),
            }
        }
        Subject::VirtualAccount(v) => {
            let va = s
                .virtual_account(v.as_str())
                .ok_or(ApiError::Unauthenticated(Unauthenticated::OwnerGone("virtual account")))?;
            MeOut {
                subject: p.subject.to_string(),
                kind: "virtual-account",
                role: None,
                teams: vec![va.owner_team.to_string()],
                manages: Vec::new(),
                permissions: Vec::new(),
            }
        }
        Subject::Team(_) => return Err(ApiError::Unauthenticated(Unauthenticated::TeamToken)),
    };
    Ok(Json(out))
}

/// The permission catalogue, with their descriptions (docs/access-model.md).
#[utoipa::path(get, path = "/api/v1/permissions", tag = "meta", responses((status = 200, body = [PermissionOut])))]
pub async fn permissions() -> Json<Vec<PermissionOut>> {
    Json(Permission::ALL.iter().copied().map(PermissionOut::from).collect())
}

/// Asks the engine. Callers may ask about themselves; asking about others needs `role:list`.
#[utoipa::path(post, path = "/api/v1/authz/check", tag = "authz", request_body = CheckBody,
    responses((status = 200, body = CheckOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn check(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<CheckBody>,
) -> Result<Json<CheckOut>, ApiError> {
    let out = decide(&app, &app.snapshot(), &p.subject, Some(&b.subject), &b.permission, &b.resource, app.now())?;
    Ok(Json(out))
}

/// The most checks one batch may ask: a console page's worth of controls, not a crawl of the tenant.
pub const MAX_CHECKS: usize = 200;

/// Several `POST /api/v1/authz/check` questions at once, answered in order against one snapshot, with the
/// same rules: a subject left out is the caller, and any question about someone else needs `role:list`.
/// A malformed or forbidden question refuses the whole batch, naming it (`checks[2].permission`).
#[utoipa::path(post, path = "/api/v1/authz/checks", tag = "authz", request_body = ChecksBody,
    responses((status = 200, body = ChecksOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn checks(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<ChecksBody>,
) -> Result<Json<ChecksOut>, ApiError> {
    if b.checks.len() > MAX_CHECKS {
        return Err(ApiError::invalid(
            "checks",
            format!("at most {MAX_CHECKS} checks per request, got {}", b.checks.len()),
        ));
    }
    let s = app.snapshot();
    let now = app.now();
    let results = b
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            decide(&app, &s, &p.subject, c.subject.as_deref(), &c.permission, &c.resource, now)
                .map_err(|e| e.within(FieldPath::default().key("checks").index(i)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(ChecksOut { results }))
}

/// One question, as both check routes answer it; `subject: None` asks about the caller.
fn decide(
    app: &App,
    s: &Snapshot,
    caller: &Subject,
    subject: Option<&str>,
    permission: &str,
    resource: &str,
    now: OffsetDateTime,
) -> Result<CheckOut, ApiError> {
    let subject: Subject = match subject {
        Some(x) => x.parse().map_err(|e| ApiError::invalid("subject", format!("{e}")))?,
        None => caller.clone(),
    };
    let action: Action = permission.parse().map_err(|e| ApiError::invalid("permission", format!("{e}")))?;
    let resource: Resource = resource.parse().map_err(|e| ApiError::invalid("resource", format!("{e}")))?;
    if subject != *caller && !can(s, caller, Permission::RoleList, &Resource::tenant(), now) {
        return Err(ApiError::Forbidden(Forbidden::OthersCheck {
            caller: caller.to_string(),
            subject: subject.to_string(),
        }));
    }
    let d = s.check(&subject, action, &resource, now);
    app.metrics.decision_owned(crate::observability::DecisionSource::CheckApi, &d);
    Ok(CheckOut { allowed: d.is_allowed(), reason: d.to_string() })
}
