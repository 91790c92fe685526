//! "Why": everything a subject can do, each with the chain of role, team and grant that gives it, as the
//! core's `Snapshot::explain` computes it with the deciding code (per-model narrowing included).

use axum::extract::{Path, State};
use axum::Json;
use gatehouse_core::resource::ResourceSpec;
use gatehouse_core::{Allow, Permission, Resource, Snapshot, Subject};
use serde::Serialize;
use utoipa::ToSchema;

use super::{can, explain_rights};
use crate::error::{ApiError, ErrorBody, Forbidden, NotFound};
use crate::extract::Caller;
use crate::state::App;

#[derive(Serialize, ToSchema)]
pub struct AccessOut {
    pub subject: String,
    /// False for a deactivated user or an expired virtual account, who may do nothing: then no entries.
    pub active: bool,
    pub role: Option<String>,
    pub entries: Vec<AccessEntry>,
}

#[derive(Serialize, ToSchema, Clone)]
pub struct AccessEntry {
    /// A permission id, `use`, or `*` (everything, for admins).
    pub action: String,
    /// `tenant` for tenant-wide permissions, else the resource.
    pub resource: String,
    /// From the subject to the permission, e.g. `user:bob@example.com is a member of team:ml`,
    /// `team:ml is provider-account-user on provider-account:openai-main`.
    pub via: Vec<String>,
}

/// From the subject to the ability, through the reason the engine gave for it.
fn chain(subject: &Subject, reason: &Allow) -> Vec<String> {
    match reason {
        Allow::Admin => vec![format!("{subject} holds role admin"), reason.to_string()],
        Allow::Role { role, .. } => vec![format!("{subject} holds role {role}"), reason.to_string()],
        Allow::TeamManager { team, permission } => {
            vec![format!("{subject} manages team:{team}"), format!("role team-manager grants {permission}")]
        }
        Allow::Grant { holder, .. } if holder == subject => vec![reason.to_string()],
        Allow::Grant { holder, .. } => vec![format!("{subject} is a member of {holder}"), reason.to_string()],
    }
}

/// The core's explanation (what `check` allows, and why), as entries; an admin's as one `*` entry.
pub fn access(s: &Snapshot, subject: &Subject, now: time::OffsetDateTime) -> Option<AccessOut> {
    let e = s.explain(subject, now)?;
    let mut entries = Vec::new();
    let mut admin = false;
    for a in &e.abilities {
        if a.reason == Allow::Admin {
            admin = true;
            continue;
        }
        entries.push(AccessEntry {
            action: a.action.to_string(),
            resource: a.resource.to_string(),
            via: chain(subject, &a.reason),
        });
    }
    if admin {
        let tenant = Resource::tenant().to_string();
        entries.insert(0, AccessEntry { action: "*".into(), resource: tenant, via: chain(subject, &Allow::Admin) });
    }
    Some(AccessOut { subject: subject.to_string(), active: e.active, role: e.role.map(|r| r.to_string()), entries })
}

/// Everything a subject may do and why. About yourself; about anyone else with `role:list` and read rights
/// on them, and then only the entries about resources the caller may read.
#[utoipa::path(get, path = "/api/v1/authz/subjects/{subject}/access", tag = "authz",
    params(("subject" = String, Path, description = "`user:<email>`, `team:<name>` or `virtualaccount:<name>`")),
    responses((status = 200, body = AccessOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn subject_access(
    State(app): State<App>,
    Caller(p): Caller,
    Path(subject): Path<String>,
) -> Result<Json<AccessOut>, ApiError> {
    let subject: Subject = subject.parse().map_err(|e| ApiError::invalid("subject", format!("{e}")))?;
    let s = app.snapshot();
    let now = app.now();
    if subject == p.subject {
        return access(&s, &subject, now)
            .map(Json)
            .ok_or_else(|| ApiError::NotFound(NotFound::Subject(subject.to_string())));
    }
    explain_rights::require_subject(&s, &p.subject, &subject, now)?;
    let mut out =
        access(&s, &subject, now).ok_or_else(|| ApiError::NotFound(NotFound::Subject(subject.to_string())))?;
    // An entry about a resource the caller may not read would tell them it exists and who uses it.
    out.entries.retain(|e| explain_rights::may_read(&s, &p.subject, &e.resource, now));
    Ok(Json(out))
}

#[derive(Serialize, ToSchema)]
pub struct ResourceAccessOut {
    pub resource: String,
    /// Who may use its models (subject and why), admins included.
    #[serde(rename = "use")]
    pub use_: Vec<WhoEntry>,
    /// Who may change it.
    pub manage: Vec<WhoEntry>,
    /// Models whose use is narrowed to some subjects.
    pub narrowed_models: Vec<NarrowedModel>,
}

#[derive(Serialize, ToSchema)]
pub struct WhoEntry {
    pub subject: String,
    pub via: String,
}

#[derive(Serialize, ToSchema)]
pub struct NarrowedModel {
    pub model: String,
    pub authorized_subjects: Vec<String>,
}

/// Who can use or manage a provider account, and why: asked of the engine for every user and virtual
/// account, so the answer is the one the gateway would give. For those who may read it and either manage it
/// or hold `role:list`.
#[utoipa::path(get, path = "/api/v1/provider-accounts/{name}/access", tag = "provider-accounts",
    responses((status = 200, body = ResourceAccessOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn provider_account_access(
    State(app): State<App>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Json<ResourceAccessOut>, ApiError> {
    let n = gatehouse_core::ResourceName::new(&name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let r = Resource::new(gatehouse_core::ResourceKind::ProviderAccount, n.as_str());
    let s = app.snapshot();
    let now = app.now();
    // Read rights on the account first (through the engine, so grants count), whether or not it exists.
    super::require(&s, &p.subject, Permission::ProviderAccountRead, &r, now)?;
    if !can(&s, &p.subject, Permission::ProviderAccountManage, &r, now)
        && !can(&s, &p.subject, Permission::RoleList, &Resource::tenant(), now)
    {
        return Err(ApiError::Forbidden(Forbidden::AccountUsers {
            caller: p.subject.to_string(),
            resource: r.to_string(),
        }));
    }
    let rec = s.resources().get(&r).ok_or_else(|| ApiError::not_found("provider account", &name))?;
    let subjects = s
        .users()
        .map(|u| Subject::User(u.user.email.clone()))
        .chain(s.virtual_accounts().map(|v| Subject::VirtualAccount(v.name.clone())));
    let (mut use_, mut manage) = (Vec::new(), Vec::new());
    for subject in subjects {
        if let gatehouse_core::Decision::Allowed(a) = s.check(&subject, gatehouse_core::Action::Use, &r, now) {
            use_.push(WhoEntry { subject: subject.to_string(), via: a.to_string() });
        }
        let manage_decision =
            s.check(&subject, gatehouse_core::Action::Perm(Permission::ProviderAccountManage), &r, now);
        if let gatehouse_core::Decision::Allowed(a) = manage_decision {
            manage.push(WhoEntry { subject: subject.to_string(), via: a.to_string() });
        }
    }
    use_.sort_by(|a, b| a.subject.cmp(&b.subject));
    manage.sort_by(|a, b| a.subject.cmp(&b.subject));
    let narrowed_models = match &rec.spec {
        ResourceSpec::ProviderAccount(pa) => pa
            .model_access()
            .filter_map(|(m, subjects)| {
                subjects.map(|list| NarrowedModel {
                    model: format!("{name}/{m}"),
                    authorized_subjects: list.iter().map(|s| s.to_string()).collect(),
                })
            })
            .collect(),
        ResourceSpec::McpServer(_)
        | ResourceSpec::McpVirtual(_)
        | ResourceSpec::Agent(_)
        | ResourceSpec::GatewayControl(_) => Vec::new(),
    };
    Ok(Json(ResourceAccessOut { resource: r.to_string(), use_, manage, narrowed_models }))
}
