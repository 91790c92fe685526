//! Audit records for the operations of one write: who did what to which object, with the fields that
//! changed. Built from the snapshot before the write; secrets and hashes never enter them.

use gatehouse_core::{Op, Snapshot, Subject};
use gatehouse_store::AuditRecord;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::dto::{RoleOut, TeamOut, VirtualAccountOut};

fn user_json(u: &gatehouse_core::User) -> Value {
    json!({"email": u.email, "display_name": u.display_name, "role": u.role, "active": u.active})
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `{"field": value}` for a creation, `{"field": {"from", "to"}}` for the fields an update changes.
pub fn diff(before: Option<&Value>, after: &Value) -> Value {
    match (before.and_then(Value::as_object), after.as_object()) {
        (Some(b), Some(a)) => Value::Object(
            a.iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), json!({"from": b.get(k).cloned().unwrap_or(Value::Null), "to": v})))
                .collect::<Map<_, _>>(),
        ),
        _ => after.clone(),
    }
}

struct Entry {
    action: String,
    kind: String,
    name: String,
    changes: Value,
}

fn entry(kind: &str, verb: &str, name: impl ToString, changes: Value) -> Entry {
    Entry { action: format!("{kind}.{verb}"), kind: kind.to_owned(), name: name.to_string(), changes }
}

fn put(kind: &str, name: impl ToString, before: Option<Value>, after: Value) -> Entry {
    let verb = if before.is_some() { "update" } else { "create" };
    let changes = diff(before.as_ref(), &after);
    entry(kind, verb, name, changes)
}

fn describe(s: &Snapshot, op: &Op) -> Entry {
    match op {
        Op::PutRole(r) => {
            let before = s.role(r.name.as_str()).map(|o| to_value(&RoleOut::from(&**o)));
            let mut after = RoleOut::from(r);
            if let Some(o) = s.role(r.name.as_str()) {
                after.builtin = o.builtin.is_some();
                after.editable = !o.is_admin();
                after.deletable = o.builtin.is_none();
            }
            put("role", &r.name, before, to_value(&after))
        }
        Op::DeleteRole(n) => entry("role", "delete", n, json!({})),
        Op::PutUser(u) => put("user", &u.email, s.user(u.email.as_str()).map(|o| user_json(o.user)), user_json(u)),
        Op::DeleteUser(e) => entry("user", "delete", e, json!({})),
        Op::SetPassword { email, .. } => entry("user", "password", email, json!({"password": "set"})),
        Op::PutTeam(t) => {
            let before = s.team(t.name.as_str()).map(|o| to_value(&TeamOut::from(&**o)));
            put("team", &t.name, before, to_value(&TeamOut::from(t)))
        }
        Op::DeleteTeam(n) => entry("team", "delete", n, json!({})),
        Op::PutVirtualAccount(v) => {
            let before = s.virtual_account(v.name.as_str()).map(|o| to_value(&VirtualAccountOut::from(&**o)));
            put("virtual-account", &v.name, before, to_value(&VirtualAccountOut::from(v)))
        }
        Op::DeleteVirtualAccount(n) => entry("virtual-account", "delete", n, json!({})),
        Op::IssueToken(t) => entry(
            "token",
            "issue",
            &t.id,
            json!({"kind": t.kind.as_str(), "owner": t.owner.subject().to_string(), "name": t.name, "expires_at": t.expires_at.map(rfc3339)}),
        ),
        Op::RotateVirtualAccount { name, new, grace } => entry(
            "virtual-account",
            "rotate",
            name,
            json!({"new_token": new.id, "grace_period_seconds": grace.whole_seconds()}),
        ),
        Op::RevokeToken(id) => {
            let owner = s.token(id.as_str()).map(|t| t.owner.subject().to_string());
            entry("token", "revoke", id, json!({"owner": owner}))
        }
        Op::PutResource(rec) => {
            let r = rec.resource();
            let kind = r.kind.as_str();
            let old = s.resources().get(&r);
            let before = old.map(|old| resource_json(old));
            let mut after = resource_json(rec);
            // Compared here, never recorded: even a digest of the sealed credential would let a reader of
            // the log tell which accounts share a credential, or confirm a guess against a leaked copy.
            let replaced = |o: &gatehouse_core::resource::ResourceRecord| {
                o.sealed_auth.is_some() && rec.sealed_auth.is_some() && o.sealed_auth != rec.sealed_auth
            };
            if old.is_some_and(|o| replaced(o)) {
                after["auth"] = Value::String("changed".into());
            }
            put(kind, &*r.name, before, after)
        }
        Op::DeleteResource(r) => entry(r.kind.as_str(), "delete", &*r.name, json!({})),
        Op::PutGrant(g) => entry(
            g.resource.kind.as_str(),
            "collaborator.add",
            &*g.resource.name,
            json!({"subject": g.subject.to_string(), "role": g.role.as_str()}),
        ),
        Op::DeleteGrant(g) => entry(
            g.resource.kind.as_str(),
            "collaborator.remove",
            &*g.resource.name,
            json!({"subject": g.subject.to_string(), "role": g.role.as_str()}),
        ),
    }
}

/// A resource's fields for the log: its spec, and whether credentials are set (never what they are).
fn resource_json(rec: &gatehouse_core::resource::ResourceRecord) -> Value {
    let mut v = to_value(&rec.spec);
    v["type"] = Value::String(rec.spec.manifest_type().into());
    v["auth"] = Value::String(if rec.sealed_auth.is_some() { "set" } else { "none" }.into());
    v
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// One record per operation. `before` is the snapshot the operations were authorized against.
pub fn records(before: &Snapshot, actor: &Subject, ops: &[Op], at: OffsetDateTime) -> Vec<AuditRecord> {
    let request_id = crate::request_id::current().map(|r| r.to_string());
    ops.iter()
        .map(|op| {
            let e = describe(before, op);
            AuditRecord {
                at,
                actor: actor.to_string(),
                action: e.action,
                object_kind: e.kind,
                object_name: e.name,
                changes: e.changes.to_string(),
                request_id: request_id.clone(),
            }
        })
        .collect()
}
