//! `gatehouse bootstrap`: the first admin, written straight into the store. A running server picks it up
//! through the store's version (see `AppState::refresh`).

use gatehouse_core::clock::Clock;
use gatehouse_core::token::mint;
use gatehouse_core::{BuiltinRole, Change, Email, Permission, Role, Secret, Token, TokenKind, TokenOwner, User};
use gatehouse_store::{AuditRecord, Store, StoreError};
use serde_json::json;
use time::OffsetDateTime;

use crate::passwords;
use crate::state::Entropy;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("an active admin already exists ({0}); sign in as them or use one of their tokens")]
    AdminExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The audit actor of everything written here: no caller signed in to do it.
const SYSTEM: &str = "system";

fn system_record(at: OffsetDateTime, action: &str, kind: &str, name: &str, changes: serde_json::Value) -> AuditRecord {
    AuditRecord {
        at,
        actor: SYSTEM.to_owned(),
        action: action.to_owned(),
        object_kind: kind.to_owned(),
        object_name: name.to_owned(),
        changes: changes.to_string(),
        request_id: None,
    }
}

/// Adds the built-in roles a fresh database lacks; returns the store version after.
pub async fn ensure_builtin_roles(store: &dyn Store) -> Result<i64, StoreError> {
    let loaded = store.load().await?;
    let missing: Vec<Role> = BuiltinRole::ALL
        .into_iter()
        .filter(|b| !loaded.world.roles.iter().any(|r| r.name.as_str() == b.name()))
        .map(|b| b.default_role())
        .collect();
    if missing.is_empty() {
        return Ok(loaded.version);
    }
    // The wall clock: this runs before any injected clock is at hand (server start), and only once per database.
    let now = OffsetDateTime::now_utc();
    let audit: Vec<AuditRecord> = missing
        .iter()
        .map(|r| {
            let changes = json!({
                "display_name": r.display_name,
                "description": r.description,
                "permissions": r.permissions.iter().map(Permission::id).collect::<Vec<_>>(),
                "builtin": r.builtin.map(BuiltinRole::name),
            });
            system_record(now, "role.create", "role", r.name.as_str(), changes)
        })
        .collect();
    let changes: Vec<Change> = missing.into_iter().map(Change::PutRole).collect();
    store.commit(&changes, &audit).await
}

/// Creates (or promotes) the first admin and returns a personal access token for them.
pub async fn bootstrap_admin(
    store: &dyn Store,
    email: &str,
    password: Option<String>,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
) -> Result<Secret<String>, BootstrapError> {
    let token = first_admin(store, email, password, clock, entropy, Via::Cli).await?;
    token.ok_or_else(|| BootstrapError::Invalid("no token was issued".to_owned()))
}

/// How the first admin came to be: the two ways share every step but the last.
pub enum Via {
    /// `gatehouse bootstrap`: a personal access token is printed for the admin.
    Cli,
    /// The console's first-run setup with the server's one-time code: the admin signs in with their
    /// password, so no token is issued; the use of the code is audited under the request's id.
    SetupCode { request_id: Option<String> },
}

/// Creates (or promotes) the first admin, refusing if an active admin exists; a token for them when `via`
/// is the command line.
pub async fn first_admin(
    store: &dyn Store,
    email: &str,
    password: Option<String>,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    via: Via,
) -> Result<Option<Secret<String>>, BootstrapError> {
    let email = Email::new(email).map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    ensure_builtin_roles(store).await?;
    let loaded = store.load().await?;
    let world = loaded.world;
    let admin = BuiltinRole::Admin.name();
    if let Some(u) = world.users.iter().find(|u| u.active && u.role.as_str() == admin) {
        return Err(BootstrapError::AdminExists(u.email.to_string()));
    }
    let existing = world.users.iter().find(|u| u.email == email);
    let display_name = existing
        .map(|u| u.display_name.clone())
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_owned());
    let user = User { email: email.clone(), display_name, role: BuiltinRole::Admin.role_name(), active: true };
    let now = clock.now();
    let mut audit = vec![user_record(now, existing, &user, password.is_some())];
    let mut changes = vec![Change::PutUser(user)];
    if existing.is_none() {
        let id = crate::identity::fresh(entropy);
        changes.push(Change::AssignIdentity { subject: gatehouse_core::Subject::User(email.clone()), id });
    }
    if let Some(pw) = password {
        passwords::check_strength(&pw).map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        let hash = passwords::hash(Secret::new(pw)).await.map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        changes.push(Change::SetPassword { email: email.clone(), hash });
    }
    let secret = match via {
        Via::Cli => {
            let e = crate::state::token_entropy(entropy);
            let (token, secret) = mint(TokenKind::Pat, TokenOwner::User(email), "bootstrap", now, None, e);
            audit.push(token_record(now, &token));
            changes.push(Change::PutToken(token));
            Some(secret)
        }
        Via::SetupCode { request_id } => {
            let changes = json!({ "via": "setup code", "role": admin });
            audit.push(system_record(now, "setup.complete", "user", email.as_str(), changes));
            for record in &mut audit {
                record.request_id.clone_from(&request_id);
            }
            None
        }
    };
    // Only onto the state checked above: a server may have made an admin meanwhile.
    store.commit_at(loaded.version, &changes, &audit).await?;
    Ok(secret)
}

/// `user.create` with the new user's fields, or `user.update` with each changed field as `{"from", "to"}`.
/// A password is recorded as set, never with its hash.
fn user_record(at: OffsetDateTime, before: Option<&User>, after: &User, password_set: bool) -> AuditRecord {
    let name = after.email.as_str();
    let Some(before) = before else {
        let mut changes = json!({
            "display_name": after.display_name,
            "role": after.role.as_str(),
            "active": after.active,
        });
        if password_set {
            changes["password"] = json!("set");
        }
        return system_record(at, "user.create", "user", name, changes);
    };
    let mut changes = json!({});
    if before.display_name != after.display_name {
        changes["display_name"] = json!({ "from": before.display_name, "to": after.display_name });
    }
    if before.role != after.role {
        changes["role"] = json!({ "from": before.role.as_str(), "to": after.role.as_str() });
    }
    if before.active != after.active {
        changes["active"] = json!({ "from": before.active, "to": after.active });
    }
    if password_set {
        changes["password"] = json!("changed");
    }
    system_record(at, "user.update", "user", name, changes)
}

/// `token.issue` with what identifies the token; never its secret or hash.
fn token_record(at: OffsetDateTime, token: &Token) -> AuditRecord {
    let expires_at = token.expires_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let changes = json!({
        "kind": token.kind.as_str(),
        "owner": token.owner.subject().to_string(),
        "name": token.name,
        "expires_at": expires_at,
    });
    system_record(at, "token.issue", "token", token.id.as_str(), changes)
}
