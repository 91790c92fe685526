//! Apply: manifests planned document by document against a scratch snapshot (so later ones may refer to
//! earlier ones), each object authorized with the caller's own permissions, all or nothing, idempotent.

use gatehouse_core::field::FieldPath;
use gatehouse_core::ops::BatchRefusal;
use gatehouse_core::resource_type::ManifestType;
use gatehouse_core::{Op, Snapshot, Subject};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::convert;
use crate::crypto::SecretKey;
use crate::dto::{RoleBody, TeamBody, UserBody, VirtualAccountBody};
use crate::error::ApiError;
use crate::manifest::{self, Doc};
use crate::state::App;

#[derive(Serialize, ToSchema)]
pub struct ApplyResult {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `created`, `updated` or `unchanged`.
    pub action: &'static str,
    /// For updates: `field: old -> new`, one per changed field.
    pub changes: Vec<String>,
    /// For creations: `creator_cannot_read` when the caller could not read the object once the whole
    /// apply is done (a dry run says so before anything is saved).
    pub warnings: Vec<super::creator::Warning>,
}

/// Places a refusal in the document it came from.
fn in_doc(number: usize, e: ApiError) -> ApiError {
    e.within(gatehouse_core::field::FieldPath::document(number))
}

fn typed<T: serde::de::DeserializeOwned>(fields: Value) -> Result<T, ApiError> {
    crate::extract::tracked(fields, |d| T::deserialize(d))
}

/// The operations of one document against `scratch`, with its key.
fn doc_ops(
    key: &SecretKey,
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
        | ManifestType::McpVirtual
        | ManifestType::Agent
        | ManifestType::GatewayControl(_)) => {
            let parsed = crate::resources::parse_manifest(t, f)?;
            let planned = crate::resources::plan(scratch, key, parsed, caller, now)?;
            (planned.resource.name.to_string(), planned.ops)
        }
    })
}

/// The resource `op` puts, if it puts one.
fn put_resource(op: &Op) -> Option<gatehouse_core::Resource> {
    let Op::PutResource(rec) = op else { return None };
    Some(rec.resource())
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
/// Plans every document against `s` without touching storage: apply's whole validation path, and what the
/// fuzz target drives.
pub fn plan_all(
    key: &SecretKey,
    s: &Snapshot,
    caller: &Subject,
    docs: &[Doc],
    now: time::OffsetDateTime,
) -> Result<(Vec<Op>, Vec<ApplyResult>), ApiError> {
    let mut scratch = s.clone();
    let mut all = Vec::new();
    let mut results = Vec::new();
    let mut created = Vec::new();
    for doc in docs {
        let (key, mut ops) = doc_ops(key, &scratch, doc, caller, now).map_err(|e| in_doc(doc.number, e))?;
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
        if action == "created" && doc.manifest_type.resource_type().is_some() {
            created.push((results.len(), ops.iter().find_map(put_resource)));
        }
        results.push(ApplyResult {
            kind: doc.manifest_type.as_str().to_owned(),
            name: key,
            action,
            changes,
            warnings: Vec::new(),
        });
        scratch = next;
        all.extend(ops);
    }
    // Against the end state: a later document may give the caller the access an earlier one did not.
    for (i, r) in created {
        if let Some(w) = r.and_then(|r| super::creator::creator_cannot_read(&scratch, caller, &r, now)) {
            results[i].warnings.push(w);
        }
    }
    Ok((all, results))
}

/// The documents of `text`, each object named once, in apply order.
pub fn parse(text: &str) -> Result<Vec<Doc>, ApiError> {
    let mut docs = manifest::parse_documents(text)?;
    let mut seen = std::collections::HashMap::new();
    for d in &docs {
        let key = d.fields.get("name").or_else(|| d.fields.get("email")).map(|v| v.to_string()).unwrap_or_default();
        let group = d.manifest_type.resource_type().map_or(d.manifest_type.as_str(), |t| t.kind().as_str());
        if let Some(first) = seen.insert((group.to_owned(), key.clone()), d.number) {
            return Err(ApiError::invalid(
                FieldPath::document(d.number).key("name"),
                format!("{key} appears twice (also in document {first})"),
            ));
        }
    }
    docs.sort_by_key(|d| d.manifest_type.apply_order());
    Ok(docs)
}

/// Applies `text` (YAML or JSON manifests) as `caller`: roles, then users, teams, virtual accounts, provider
/// accounts, MCP servers, agents and gateway controls, so a manifest may refer to what it defines. With
/// `dry_run`, reports what would change and changes nothing.
pub async fn apply(app: &App, caller: &Subject, text: &str, dry_run: bool) -> Result<Vec<ApplyResult>, ApiError> {
    let docs = parse(text)?;
    let mut results = Vec::new();
    let build = |s: &Snapshot, now| -> Result<Vec<Op>, ApiError> {
        let (ops, r) = plan_all(&app.key, s, caller, &docs, now)?;
        results = r;
        Ok(ops)
    };
    if dry_run {
        app.preview_with(build)?;
    } else {
        app.write_with(caller, build, |_| Ok(())).await?;
    }
    Ok(results)
}
