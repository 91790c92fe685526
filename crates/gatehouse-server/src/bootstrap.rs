//! `gatehouse bootstrap`: the first admin, written straight into the store. A running server picks it up
//! through the store's version (see `AppState::refresh`).

use gatehouse_core::clock::Clock;
use gatehouse_core::token::mint;
use gatehouse_core::{BuiltinRole, Change, Email, Secret, TokenKind, TokenOwner, User};
use gatehouse_store::{Store, StoreError};

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

/// Adds the built-in roles a fresh database lacks; returns the store version after.
pub async fn ensure_builtin_roles(store: &dyn Store) -> Result<i64, StoreError> {
    let loaded = store.load().await?;
    let missing: Vec<Change> = BuiltinRole::ALL
        .into_iter()
        .filter(|b| !loaded.world.roles.iter().any(|r| r.name.as_str() == b.name()))
        .map(|b| Change::PutRole(b.default_role()))
        .collect();
    if missing.is_empty() {
        Ok(loaded.version)
    } else {
        store.commit(&missing).await
    }
}

/// Creates (or promotes) the first admin and returns a personal access token for them.
pub async fn bootstrap_admin(
    store: &dyn Store,
    email: &str,
    password: Option<String>,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
) -> Result<Secret<String>, BootstrapError> {
    let email = Email::new(email).map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    ensure_builtin_roles(store).await?;
    let world = store.load().await?.world;
    let admin = BuiltinRole::Admin.name();
    if let Some(u) = world.users.iter().find(|u| u.active && u.role.as_str() == admin) {
        return Err(BootstrapError::AdminExists(u.email.to_string()));
    }
    let display_name = world
        .users
        .iter()
        .find(|u| u.email == email)
        .map(|u| u.display_name.clone())
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_owned());
    let mut changes = vec![Change::PutUser(User {
        email: email.clone(),
        display_name,
        role: BuiltinRole::Admin.role_name(),
        active: true,
    })];
    if let Some(pw) = password {
        passwords::check_strength(&pw).map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        let hash = passwords::hash(Secret::new(pw)).await.map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        changes.push(Change::SetPassword { email: email.clone(), hash });
    }
    let e = crate::state::token_entropy(entropy);
    let (token, secret) = mint(TokenKind::Pat, TokenOwner::User(email), "bootstrap", clock.now(), None, e);
    changes.push(Change::PutToken(token));
    store.commit(&changes).await?;
    Ok(secret)
}
