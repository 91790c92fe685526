//! `PUT /api/v1/apply` and `GET /api/v1/export`: declarative manifests, all or nothing, each object
//! authorized with the caller's own permissions, idempotent; and the same manifests back out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_core::ops::BatchRefusal;
use gatehouse_core::resource_type::ManifestType;
use gatehouse_core::{Op, Snapshot, Subject};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::convert;
use crate::dto::{RoleBody, TeamBody, UserBody, VirtualAccountBody};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params};
use crate::manifest::{self, Doc};
use crate::state::App;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
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
    pub kind: String,
    pub name: String,
    /// `created`, `updated` or `unchanged`.
    pub action: &'static str,
    /// For updates: `field: old -> new`, one per changed field.
    pub changes: Vec<String>,
}

/// Places a refusal in the document it came from.
fn in_doc(number: usize, e: ApiError) -> ApiError {
    e.within(gatehouse_core::field::FieldPath::document(number))
}

fn typed<T: serde::de::DeserializeOwned>(fields: Value) -> Result<T, ApiError> {
    crate::extract::tracked(fields, "", |d| T::deserialize(d))
}

/// The operations of one document against `scratch`, with its key.
fn doc_ops(
    app: &App,
    scratch: &Snapshot,
    doc: &Doc,
    caller: &Subject,
    now: time::OffsetDateTime,
) -> Result<(String, Vec<Op>), ApiError> {
    let f = doc.fields.clone();
    Ok(match doc.manifest_type {
        ManifestType::Role => {
            let r = convert::role(typed::<RoleBody>(f)?)?;
            (r.name.to_string(), vec![Op::PutRole(r)])
        }
        ManifestType::User => {
            let u = convert::user(typed::<UserBody>(f)?)?;
            (u.email.to_string(), vec![Op::PutUser(u)])
        }
        ManifestType::Team => {
            let t = convert::team(typed::<TeamBody>(f)?)?;
            (t.name.to_string(), vec![Op::PutTeam(t)])
        }
        ManifestType::VirtualAccount => {
            let v = convert::virtual_account(typed::<VirtualAccountBody>(f)?)?;
            (v.name.to_string(), vec![Op::PutVirtualAccount(v)])
        }
        t @ (ManifestType::ProviderAccount(_)
        | ManifestType::McpServer
        | ManifestType::Agent
        | ManifestType::GatewayControl(_)) => {
            let parsed = crate::resources::parse_manifest(t, f, "")?;
            let planned = crate::resources::plan(scratch, &app.key, parsed, caller, now)?;
            (planned.resource.name.to_string(), planned.ops)
        }
    })
}

/// Whether `op` stores credentials other than those `scratch` holds for its object.
fn auth_replaced(scratch: &Snapshot, op: &Op) -> bool {
    let Op::PutResource(rec) = op else { return false };
    scratch.resources().get(&rec.resource()).is_some_and(|old| old.sealed_auth != rec.sealed_auth)
}

fn field_changes(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else { return Vec::new() };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} -> {}", b.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null)))
        .collect()
}

/// Plans every document in apply order against a scratch snapshot that each one updates, so later objects
/// may refer to earlier ones; returns all operations and the per-object results.
fn plan_all(
    app: &App,
    s: &Snapshot,
    caller: &Subject,
    docs: &[Doc],
    now: time::OffsetDateTime,
) -> Result<(Vec<Op>, Vec<ApplyResult>), ApiError> {
    let mut scratch = s.clone();
    let mut all = Vec::new();
    let mut results = Vec::new();
    for doc in docs {
        let (key, mut ops) = doc_ops(app, &scratch, doc, caller, now).map_err(|e| in_doc(doc.number, e))?;
        let before = manifest::manifest_of(&scratch, doc.manifest_type, &key);
        let auth_sent = ops.iter().any(|op| auth_replaced(&scratch, op));
        // Executed even when nothing changes: that authorizes the object with the caller's permissions.
        let (next, _) = gatehouse_core::execute(&scratch, caller, ops.clone(), now)
            .map_err(|e: BatchRefusal| in_doc(doc.number, e.refusal.into()))?;
        let after = manifest::manifest_of(&next, doc.manifest_type, &key).unwrap_or(Value::Null);
        let (action, changes) = match &before {
            None => ("created", Vec::new()),
            Some(b) if *b == after && !auth_sent => {
                ops.clear();
                ("unchanged", Vec::new())
            }
            Some(b) => {
                let mut changes = field_changes(b, &after);
                // Sent credentials are always stored anew and reported as a change (never their value):
                // whether they equal the stored ones is not something a caller may find out.
                if auth_sent {
                    changes.push("auth: changed".into());
                }
                ("updated", changes)
            }
        };
        results.push(ApplyResult { kind: doc.manifest_type.as_str().to_owned(), name: key, action, changes });
        scratch = next;
        all.extend(ops);
    }
    Ok((all, results))
}

/// Applies manifests: roles, then users, teams, virtual accounts, provider accounts, MCP servers, agents
/// and gateway controls, so a manifest may refer to what it defines.
#[utoipa::path(put, path = "/api/v1/apply", tag = "apply", params(ApplyParams),
    request_body(content = String, description = "YAML or JSON manifests", content_type = "application/yaml"),
    responses((status = 200, body = ApplyOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<ApplyParams>,
    body: Bytes,
) -> Result<Json<ApplyOut>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "is not UTF-8"))?;
    let mut docs = manifest::parse_documents(text)?;
    let mut seen = std::collections::HashMap::new();
    for d in &docs {
        let key = d.fields.get("name").or_else(|| d.fields.get("email")).map(|v| v.to_string()).unwrap_or_default();
        let group = d.manifest_type.resource_type().map_or(d.manifest_type.as_str(), |t| t.kind().as_str());
        if let Some(first) = seen.insert((group.to_owned(), key.clone()), d.number) {
            return Err(ApiError::invalid(
                format!("document {}: name", d.number),
                format!("{key} appears twice (also in document {first})"),
            ));
        }
    }
    docs.sort_by_key(|d| d.manifest_type.apply_order());
    let mut results = Vec::new();
    let app2 = app.clone();
    let caller = p.subject.clone();
    let build = |s: &Snapshot, now| -> Result<Vec<Op>, ApiError> {
        let (ops, r) = plan_all(&app2, s, &caller, &docs, now)?;
        results = r;
        Ok(ops)
    };
    if q.dry_run {
        app.preview_with(build)?;
    } else {
        app.write_with(&p.subject, build, |_| Ok(())).await?;
    }
    Ok(Json(ApplyOut { dry_run: q.dry_run, results }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// A manifest type (`user`, `provider-account/openai`, `gateway-budget-config`, ...) or a family of them:
    /// `provider-account`, `mcp-server`, `gateway-controls` (every `gateway-*-config`).
    #[serde(rename = "type")]
    pub manifest_type: Option<String>,
    /// An object's `name` (a user's `email`).
    pub name: Option<String>,
}

/// Everything the caller may read, as multi-document YAML that `apply` takes back (credentials left out);
/// `type` and `name` narrow it to a kind of object or to one.
#[utoipa::path(get, path = "/api/v1/export", tag = "apply", params(ExportParams),
    responses((status = 200, content_type = "application/yaml", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "`name` matches nothing the caller may read")))]
pub async fn export(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<ExportParams>,
) -> Result<impl IntoResponse, ApiError> {
    let sel = manifest::Selection::new(q.manifest_type, q.name)?;
    let docs = manifest::export_selected(&app.snapshot(), &p.subject, app.now(), &sel);
    // The same answer whether the object is missing or unreadable: no existence oracle.
    if docs.is_empty() && sel.names_one() {
        return Err(ApiError::NotFound(crate::error::NotFound::Readable));
    }
    Ok(([(header::CONTENT_TYPE, "application/yaml")], manifest::to_yaml(&docs)?))
}
