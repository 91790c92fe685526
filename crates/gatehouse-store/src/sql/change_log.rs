//! The change log: each committed version's changes, kept so that another process on the database can
//! apply them to its snapshot instead of loading the whole state again (`Store::changes_since`).
//!
//! Changes are stored as JSON, with values encoded as the tables encode them (times as unix nanoseconds,
//! permissions as their ids, names validated again on the way back). A password hash is never logged:
//! `SetPassword` changes nothing the snapshot holds, so it is left out.

use std::collections::BTreeSet;
use std::sync::Arc;

use gatehouse_core::resource::{ResourceRecord, ResourceSpec, Sealed};
use gatehouse_core::{
    BuiltinRole, Change, CollaboratorRole, Email, Grant, IdentityId, Resource, Role, RoleName, Subject, Team, TeamName,
    Token, TokenHash, TokenId, TokenKind, TokenOwner, User, VaName, VirtualAccount,
};
use serde_json::{json, Map, Value};
use sqlx::{AnyConnection, Row};

use super::codec::{
    corrupt, hash_from_db, opt_time_from_db, opt_time_to_db, perms_from_db, perms_to_db, resource_from_db,
    time_from_db, time_to_db,
};
use crate::{LoggedChanges, StoreError};

/// Versions kept in the log, at most. A reader further behind loads everything, which it must be able to
/// do anyway (a fresh process does).
pub(crate) const KEEP_VERSIONS: i64 = 10_000;
/// Entries older than this are dropped even when fewer than `KEEP_VERSIONS` (nanoseconds: 7 days).
pub(crate) const KEEP_NANOS: i64 = 7 * 24 * 3600 * 1_000_000_000;
/// The log is pruned on every version divisible by this, not on every commit.
const PRUNE_EVERY: i64 = 64;
/// A commit with more changes than this (an import, a bulk apply) is logged as "load everything": a
/// reader would gain nothing from replaying it, and the entry would be as large as the state.
pub(crate) const MAX_LOGGED: usize = 10_000;
/// What such a commit is logged as.
const RELOAD: &str = "\"reload\"";

/// Records `changes` as what `version` committed; in the commit's transaction.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    version: i64,
    now: i64,
    changes: &[Change],
) -> Result<(), StoreError> {
    let text = if changes.len() > MAX_LOGGED { RELOAD.to_owned() } else { encode_all(changes)? };
    sqlx::query("INSERT INTO change_log (version, at, changes) VALUES ($1, $2, $3)")
        .bind(version)
        .bind(now)
        .bind(text)
        .execute(&mut *conn)
        .await?;
    if version % PRUNE_EVERY == 0 {
        sqlx::query("DELETE FROM change_log WHERE version <= $1 OR at < $2")
            .bind(version - KEEP_VERSIONS)
            .bind(now.saturating_sub(KEEP_NANOS))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The logged versions after `since` up to `head`, in order; `None` when the log does not hold every one
/// of them (pruned, or written before the log existed). `conn` should be in a read transaction that also
/// read `head`.
pub(crate) async fn since(
    conn: &mut AnyConnection,
    since: i64,
    head: i64,
) -> Result<Option<Vec<LoggedChanges>>, StoreError> {
    if since == head {
        return Ok(Some(Vec::new()));
    }
    if since > head || head - since > KEEP_VERSIONS {
        return Ok(None);
    }
    let rows =
        sqlx::query("SELECT version, changes FROM change_log WHERE version > $1 AND version <= $2 ORDER BY version")
            .bind(since)
            .bind(head)
            .fetch_all(conn)
            .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut expected = since + 1;
    for r in &rows {
        let version: i64 = r.try_get(0)?;
        if version != expected {
            return Ok(None);
        }
        expected += 1;
        let text: String = r.try_get(1)?;
        if text == RELOAD {
            return Ok(None);
        }
        out.push(LoggedChanges { version, changes: decode_all(&text)? });
    }
    Ok((expected == head + 1).then_some(out))
}

pub(crate) fn encode_all(changes: &[Change]) -> Result<String, StoreError> {
    let mut list = Vec::with_capacity(changes.len());
    for c in changes {
        if let Some(v) = encode(c)? {
            list.push(v);
        }
    }
    serde_json::to_string(&list).map_err(corrupt)
}

pub(crate) fn decode_all(text: &str) -> Result<Vec<Change>, StoreError> {
    let list: Vec<Value> = serde_json::from_str(text).map_err(|e| corrupt(format!("change log entry: {e}")))?;
    list.iter().map(decode).collect()
}

fn token_owner(o: &TokenOwner) -> String {
    o.subject().to_string()
}

fn resource_json(r: &Resource) -> Value {
    json!({ "kind": r.kind.as_str(), "name": &*r.name })
}

fn grant_json(t: &str, g: &Grant) -> Value {
    json!({ "t": t, "resource": resource_json(&g.resource), "subject": g.subject.to_string(), "role": g.role.as_str() })
}

/// One change as JSON; `None` for what the log leaves out (see the module comment).
fn encode(c: &Change) -> Result<Option<Value>, StoreError> {
    let v = match c {
        Change::PutRole(r) => json!({
            "t": "put_role", "name": r.name.as_str(), "display_name": r.display_name, "description": r.description,
            "permissions": perms_to_db(r.permissions), "builtin": r.builtin.map(|b| b.name()),
        }),
        Change::DeleteRole(n) => json!({ "t": "delete_role", "name": n.as_str() }),
        Change::PutUser(u) => json!({
            "t": "put_user", "email": u.email.as_str(), "display_name": u.display_name, "role": u.role.as_str(),
            "active": u.active,
        }),
        Change::DeleteUser(e) => json!({ "t": "delete_user", "email": e.as_str() }),
        Change::SetPassword { .. } => return Ok(None),
        Change::PutTeam(t) => json!({
            "t": "put_team", "name": t.name.as_str(), "description": t.description,
            "managers": t.managers.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "members": t.members.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        }),
        Change::DeleteTeam(n) => json!({ "t": "delete_team", "name": n.as_str() }),
        Change::PutVirtualAccount(v) => json!({
            "t": "put_va", "name": v.name.as_str(), "owner_team": v.owner_team.as_str(),
            "description": v.description, "expires_at": opt_time_to_db(v.expires_at)?,
        }),
        Change::DeleteVirtualAccount(n) => json!({ "t": "delete_va", "name": n.as_str() }),
        Change::PutToken(t) => json!({
            "t": "put_token", "id": t.id.as_str(), "kind": t.kind.as_str(), "owner": token_owner(&t.owner),
            "name": t.name, "hash": hex::encode(t.hash.0), "created_at": time_to_db(t.created_at)?,
            "expires_at": opt_time_to_db(t.expires_at)?, "revoked": t.revoked,
        }),
        Change::SetTokenExpiry { id, expires_at } => {
            json!({ "t": "token_expiry", "id": id.as_str(), "expires_at": opt_time_to_db(*expires_at)? })
        }
        Change::RevokeToken(id) => json!({ "t": "revoke_token", "id": id.as_str() }),
        Change::PutGrant(g) => grant_json("put_grant", g),
        Change::DeleteGrant(g) => grant_json("delete_grant", g),
        Change::PutResource(r) => json!({
            "t": "put_resource", "manifest_type": r.spec.manifest_type(),
            "spec": serde_json::to_string(&r.spec).map_err(corrupt)?,
            "sealed": r.sealed_auth.as_ref().map(|s| hex::encode(&s.0)),
        }),
        Change::DeleteResource(r) => json!({ "t": "delete_resource", "resource": resource_json(r) }),
        Change::AssignIdentity { subject, id } => {
            json!({ "t": "identity", "subject": subject.to_string(), "id": id.to_string() })
        }
    };
    Ok(Some(v))
}

/// Field access with errors naming what is wrong.
struct Obj<'a>(&'a Map<String, Value>);

impl<'a> Obj<'a> {
    fn get(&self, k: &str) -> Result<&'a Value, StoreError> {
        self.0.get(k).ok_or_else(|| corrupt(format!("change log entry lacks {k:?}")))
    }
    fn str(&self, k: &str) -> Result<&'a str, StoreError> {
        self.get(k)?.as_str().ok_or_else(|| corrupt(format!("change log entry: {k:?} is not a string")))
    }
    fn opt_str(&self, k: &str) -> Result<Option<&'a str>, StoreError> {
        match self.get(k)? {
            Value::Null => Ok(None),
            v => v.as_str().map(Some).ok_or_else(|| corrupt(format!("change log entry: {k:?} is not a string"))),
        }
    }
    fn string(&self, k: &str) -> Result<String, StoreError> {
        self.str(k).map(str::to_owned)
    }
    fn bool(&self, k: &str) -> Result<bool, StoreError> {
        self.get(k)?.as_bool().ok_or_else(|| corrupt(format!("change log entry: {k:?} is not a boolean")))
    }
    fn i64(&self, k: &str) -> Result<i64, StoreError> {
        self.get(k)?.as_i64().ok_or_else(|| corrupt(format!("change log entry: {k:?} is not an integer")))
    }
    fn opt_i64(&self, k: &str) -> Result<Option<i64>, StoreError> {
        match self.get(k)? {
            Value::Null => Ok(None),
            v => v.as_i64().map(Some).ok_or_else(|| corrupt(format!("change log entry: {k:?} is not an integer"))),
        }
    }
    fn emails(&self, k: &str) -> Result<BTreeSet<Email>, StoreError> {
        let list = self.get(k)?.as_array().ok_or_else(|| corrupt(format!("change log entry: {k:?} is not a list")))?;
        list.iter()
            .map(|v| {
                let s = v.as_str().ok_or_else(|| corrupt(format!("change log entry: {k:?} holds a non-string")))?;
                Email::new(s).map_err(corrupt)
            })
            .collect()
    }
    fn resource(&self, k: &str) -> Result<Resource, StoreError> {
        let o = obj(self.get(k)?)?;
        resource_from_db(o.str("kind")?, o.str("name")?)
    }
    fn subject(&self, k: &str) -> Result<Subject, StoreError> {
        self.str(k)?.parse::<Subject>().map_err(corrupt)
    }
}

fn obj(v: &Value) -> Result<Obj<'_>, StoreError> {
    v.as_object().map(Obj).ok_or_else(|| corrupt("change log entry is not an object"))
}

fn grant(o: &Obj<'_>) -> Result<Grant, StoreError> {
    let role = o.str("role")?;
    Ok(Grant {
        resource: o.resource("resource")?,
        subject: o.subject("subject")?,
        role: CollaboratorRole::ALL
            .into_iter()
            .find(|c| c.as_str() == role)
            .ok_or_else(|| corrupt(format!("unknown collaborator role {role:?}")))?,
    })
}

fn decode(v: &Value) -> Result<Change, StoreError> {
    let o = obj(v)?;
    let role_name = |k: &str| RoleName::new(o.str(k)?).map_err(corrupt);
    let team_name = |k: &str| TeamName::new(o.str(k)?).map_err(corrupt);
    let va_name = |k: &str| VaName::new(o.str(k)?).map_err(corrupt);
    let token_id = |k: &str| TokenId::new(o.str(k)?).map_err(corrupt);
    let email = |k: &str| Email::new(o.str(k)?).map_err(corrupt);
    let t = o.str("t")?;
    Ok(match t {
        "put_role" => Change::PutRole(Role {
            name: role_name("name")?,
            display_name: o.string("display_name")?,
            description: o.string("description")?,
            permissions: perms_from_db(o.str("permissions")?)?,
            builtin: match o.opt_str("builtin")? {
                None => None,
                Some(b) => {
                    Some(BuiltinRole::from_name(b).ok_or_else(|| corrupt(format!("unknown builtin role {b:?}")))?)
                }
            },
        }),
        "delete_role" => Change::DeleteRole(role_name("name")?),
        "put_user" => Change::PutUser(User {
            email: email("email")?,
            display_name: o.string("display_name")?,
            role: role_name("role")?,
            active: o.bool("active")?,
        }),
        "delete_user" => Change::DeleteUser(email("email")?),
        "put_team" => Change::PutTeam(Team {
            name: team_name("name")?,
            description: o.string("description")?,
            managers: o.emails("managers")?,
            members: o.emails("members")?,
        }),
        "delete_team" => Change::DeleteTeam(team_name("name")?),
        "put_va" => Change::PutVirtualAccount(VirtualAccount {
            name: va_name("name")?,
            owner_team: team_name("owner_team")?,
            description: o.string("description")?,
            expires_at: opt_time_from_db(o.opt_i64("expires_at")?)?,
        }),
        "delete_va" => Change::DeleteVirtualAccount(va_name("name")?),
        "put_token" => {
            let kind = o.str("kind")?;
            let owner = match o.subject("owner")? {
                Subject::User(e) => TokenOwner::User(e),
                Subject::VirtualAccount(v) => TokenOwner::VirtualAccount(v),
                Subject::Team(t) => return Err(corrupt(format!("a token owned by team {t}"))),
            };
            let hash: TokenHash = hash_from_db(hex::decode(o.str("hash")?).map_err(corrupt)?)?;
            Change::PutToken(Token {
                id: token_id("id")?,
                kind: TokenKind::from_str_opt(kind).ok_or_else(|| corrupt(format!("unknown token kind {kind:?}")))?,
                owner,
                name: o.string("name")?,
                hash,
                created_at: time_from_db(o.i64("created_at")?)?,
                expires_at: opt_time_from_db(o.opt_i64("expires_at")?)?,
                revoked: o.bool("revoked")?,
            })
        }
        "token_expiry" => {
            Change::SetTokenExpiry { id: token_id("id")?, expires_at: opt_time_from_db(o.opt_i64("expires_at")?)? }
        }
        "revoke_token" => Change::RevokeToken(token_id("id")?),
        "put_grant" => Change::PutGrant(grant(&o)?),
        "delete_grant" => Change::DeleteGrant(grant(&o)?),
        "put_resource" => {
            let manifest_type = o.str("manifest_type")?;
            let mut de = serde_json::Deserializer::from_str(o.str("spec")?);
            let spec = ResourceSpec::deserialize_for(manifest_type, &mut de)
                .map_err(|e| corrupt(format!("logged {manifest_type}: {e}")))?;
            let sealed = match o.opt_str("sealed")? {
                None => None,
                Some(h) => Some(Sealed(Arc::from(hex::decode(h).map_err(corrupt)?))),
            };
            Change::PutResource(ResourceRecord { spec, sealed_auth: sealed })
        }
        "delete_resource" => Change::DeleteResource(o.resource("resource")?),
        "identity" => {
            let id = o.str("id")?;
            Change::AssignIdentity {
                subject: o.subject("subject")?,
                id: IdentityId::parse(id).ok_or_else(|| corrupt(format!("identity {id:?} is not 32 hex digits")))?,
            }
        }
        other => return Err(corrupt(format!("unknown change {other:?} in the change log"))),
    })
}
