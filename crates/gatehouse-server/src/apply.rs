//! `PUT /api/v1/apply`: declarative manifests (YAML or JSON; one document, a list, or many documents),
//! all or nothing, each object authorized with the caller's own permissions, idempotent.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use gatehouse_core::{Op, Snapshot};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::convert;
use crate::dto::{RoleBody, RoleOut, TeamBody, TeamOut, UserBody, VirtualAccountBody, VirtualAccountOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params};
use crate::state::App;

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Manifest {
    #[serde(rename = "role")]
    Role(RoleBody),
    #[serde(rename = "user")]
    User(UserBody),
    #[serde(rename = "team")]
    Team(TeamBody),
    #[serde(rename = "virtual-account")]
    VirtualAccount(VirtualAccountBody),
}

#[derive(Deserialize, IntoParams)]
pub struct ApplyParams {
    /// Report what would change, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ApplyOut {
    pub dry_run: bool,
    pub results: Vec<ApplyResult>,
}

#[derive(Serialize, ToSchema)]
pub struct ApplyResult {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    /// `created`, `updated` or `unchanged`.
    pub action: &'static str,
    /// For updates: `field: old -> new`, one per changed field.
    pub changes: Vec<String>,
}

/// One parsed object: its kind, its key, the op that makes it so, and its fields as JSON before and after.
struct Planned {
    doc: usize,
    kind: &'static str,
    name: String,
    op: Op,
    before: Option<serde_json::Value>,
    after: serde_json::Value,
}

const ORDER: [&str; 4] = ["role", "user", "team", "virtual-account"];

fn documents(body: &str) -> Result<Vec<serde_yaml::Value>, ApiError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(body).enumerate() {
        let v = serde_yaml::Value::deserialize(doc)
            .map_err(|e| ApiError::invalid(format!("document {}", i + 1), format!("not valid YAML or JSON: {e}")))?;
        match v {
            serde_yaml::Value::Null => {}
            serde_yaml::Value::Sequence(items) => out.extend(items),
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid("body", "no manifest documents"));
    }
    Ok(out)
}

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

fn plan_one(s: &Snapshot, doc: usize, v: serde_yaml::Value) -> Result<Planned, ApiError> {
    let at = |e: ApiError| match e {
        ApiError::Invalid { field, message } => ApiError::invalid(format!("document {doc}: {field}"), message),
        other => other,
    };
    let m: Manifest = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field = match crate::extract::field_of(&path, &msg).as_str() {
            "body" => "type".to_owned(),
            f => f.to_owned(),
        };
        ApiError::invalid(format!("document {doc}: {field}"), msg)
    })?;
    Ok(match m {
        Manifest::Role(b) => {
            let r = convert::role(b).map_err(at)?;
            let before = s.role(r.name.as_str()).map(|o| to_json(&RoleOut::from(&**o))).transpose()?;
            let mut shown = RoleOut::from(&r);
            if let Some(o) = s.role(r.name.as_str()) {
                shown.builtin = o.builtin.is_some();
                shown.editable = !o.is_admin();
                shown.deletable = o.builtin.is_none();
            }
            Planned { doc, kind: "role", name: r.name.to_string(), after: to_json(&shown)?, before, op: Op::PutRole(r) }
        }
        Manifest::User(b) => {
            let u = convert::user(b).map_err(at)?;
            let key = u.email.to_string();
            let before = s.user(&key).map(|o| {
                serde_json::json!({"email": o.user.email, "display_name": o.user.display_name, "role": o.user.role, "active": o.user.active})
            });
            let after = serde_json::json!({"email": u.email, "display_name": u.display_name, "role": u.role, "active": u.active});
            Planned { doc, kind: "user", name: key, before, after, op: Op::PutUser(u) }
        }
        Manifest::Team(b) => {
            let t = convert::team(b).map_err(at)?;
            let before = s.team(t.name.as_str()).map(|o| to_json(&TeamOut::from(&**o))).transpose()?;
            Planned {
                doc,
                kind: "team",
                name: t.name.to_string(),
                after: to_json(&TeamOut::from(&t))?,
                before,
                op: Op::PutTeam(t),
            }
        }
        Manifest::VirtualAccount(b) => {
            let v = convert::virtual_account(b).map_err(at)?;
            let before =
                s.virtual_account(v.name.as_str()).map(|o| to_json(&VirtualAccountOut::from(&**o))).transpose()?;
            Planned {
                doc,
                kind: "virtual-account",
                name: v.name.to_string(),
                after: to_json(&VirtualAccountOut::from(&v))?,
                before,
                op: Op::PutVirtualAccount(v),
            }
        }
    })
}

fn field_changes(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else { return Vec::new() };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {} -> {v}", b.get(k).unwrap_or(&serde_json::Value::Null)))
        .collect()
}

/// Applies manifests. Objects are applied roles first, then users, teams and virtual accounts, so a
/// manifest may refer to what it defines.
#[utoipa::path(put, path = "/api/v1/apply", tag = "apply", params(ApplyParams),
    request_body(content = String, description = "YAML or JSON manifests", content_type = "application/yaml"),
    responses((status = 200, body = ApplyOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn apply(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<ApplyParams>,
    body: Bytes,
) -> Result<Json<ApplyOut>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "is not UTF-8"))?;
    let snap = app.snapshot();
    let mut planned = documents(text)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| plan_one(&snap, i + 1, v))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for pl in &planned {
        if !seen.insert((pl.kind, pl.name.clone())) {
            return Err(ApiError::invalid(
                format!("document {}: name", pl.doc),
                format!("{} {} appears twice", pl.kind, pl.name),
            ));
        }
    }
    planned.sort_by_key(|pl| ORDER.iter().position(|k| *k == pl.kind));
    let mut results = Vec::new();
    let mut ops = Vec::new();
    let mut docs = Vec::new();
    for pl in planned {
        let (action, changes) = match &pl.before {
            None => ("created", Vec::new()),
            Some(b) if *b == pl.after => ("unchanged", Vec::new()),
            Some(b) => ("updated", field_changes(b, &pl.after)),
        };
        results.push(ApplyResult { kind: pl.kind, name: pl.name, action, changes });
        if action != "unchanged" {
            ops.push(pl.op);
            docs.push(pl.doc);
        }
    }
    let name_doc = |e: gatehouse_core::ops::BatchRefusal| -> ApiError {
        let doc = docs.get(e.index).copied().unwrap_or_default();
        match ApiError::from(e.refusal) {
            ApiError::Invalid { field, message } => ApiError::invalid(format!("document {doc}: {field}"), message),
            ApiError::Forbidden(m) => ApiError::Forbidden(format!("document {doc}: {m}")),
            ApiError::Conflict(m) => ApiError::Conflict(format!("document {doc}: {m}")),
            ApiError::NotFound(m) => ApiError::NotFound(format!("document {doc}: {m}")),
            other => other,
        }
    };
    if q.dry_run {
        app.preview(&p.subject, ops).map_err(name_doc)?;
    } else {
        app.write_batch(&p.subject, ops).await.map_err(|e| match e {
            crate::state::WriteError::Refused(r) => name_doc(r),
            crate::state::WriteError::Other(e) => e,
        })?;
    }
    Ok(Json(ApplyOut { dry_run: q.dry_run, results }))
}
