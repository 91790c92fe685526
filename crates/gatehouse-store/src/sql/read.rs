//! Reading the world back. Names are validated again on the way in, so hand-edited rows surface as
//! `Corrupt` rather than as values the engine assumes cannot exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gatehouse_core::{
    BuiltinRole, CollaboratorRole, Email, Grant, Role, RoleName, Subject, Team, TeamName, Token, TokenId, TokenKind,
    TokenOwner, User, VaName, VirtualAccount, World,
};
use sqlx::Row;
use sqlx::{AnyConnection, AnyPool};
use time::OffsetDateTime;

use super::codec::{corrupt, get_bool, hash_from_db, opt_time_from_db, perms_from_db, resource_from_db, time_from_db};
use crate::StoreError;

pub(crate) async fn version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT version FROM state WHERE id = 1").fetch_optional(conn).await?;
    match row {
        Some(row) => Ok(row.try_get(0)?),
        None => Err(corrupt("the state row is missing")),
    }
}

/// Everything but revoked tokens; `conn` should be in a transaction so the tables agree with each other.
pub(crate) async fn world(conn: &mut AnyConnection) -> Result<World, StoreError> {
    Ok(World {
        roles: roles(conn).await?,
        users: users(conn).await?,
        teams: teams(conn).await?,
        virtual_accounts: virtual_accounts(conn).await?,
        tokens: tokens(conn).await?,
        grants: grants(conn).await?,
        resources: super::resources::load(conn).await?,
    })
}

async fn roles(conn: &mut AnyConnection) -> Result<Vec<Role>, StoreError> {
    let rows = sqlx::query("SELECT name, display_name, description, permissions, builtin FROM roles ORDER BY name")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let builtin = match r.try_get::<Option<String>, _>("builtin")?.as_deref() {
                None => None,
                Some(b) => {
                    Some(BuiltinRole::from_name(b).ok_or_else(|| corrupt(format!("unknown builtin role {b:?}")))?)
                }
            };
            Ok(Role {
                name: RoleName::new(&r.try_get::<String, _>("name")?).map_err(corrupt)?,
                display_name: r.try_get("display_name")?,
                description: r.try_get("description")?,
                permissions: perms_from_db(&r.try_get::<String, _>("permissions")?)?,
                builtin,
            })
        })
        .collect()
}

async fn users(conn: &mut AnyConnection) -> Result<Vec<User>, StoreError> {
    let rows =
        sqlx::query("SELECT email, display_name, role, active FROM users ORDER BY email").fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(User {
                email: email(r.try_get("email")?)?,
                display_name: r.try_get("display_name")?,
                role: RoleName::new(&r.try_get::<String, _>("role")?).map_err(corrupt)?,
                active: get_bool(r, "active")?,
            })
        })
        .collect()
}

async fn teams(conn: &mut AnyConnection) -> Result<Vec<Team>, StoreError> {
    let rows = sqlx::query("SELECT name, description FROM teams ORDER BY name").fetch_all(&mut *conn).await?;
    let mut teams = BTreeMap::new();
    for r in &rows {
        let name = team_name(r.try_get("name")?)?;
        let team = Team {
            name: name.clone(),
            description: r.try_get("description")?,
            managers: BTreeSet::new(),
            members: BTreeSet::new(),
        };
        teams.insert(name, team);
    }
    let members = sqlx::query("SELECT team, email, manager FROM team_members").fetch_all(conn).await?;
    for r in &members {
        let name = team_name(r.try_get("team")?)?;
        let team = teams.get_mut(&name).ok_or_else(|| corrupt(format!("membership of missing team {name}")))?;
        let email = email(r.try_get("email")?)?;
        if get_bool(r, "manager")? {
            team.managers.insert(email.clone());
        }
        team.members.insert(email);
    }
    Ok(teams.into_values().collect())
}

async fn virtual_accounts(conn: &mut AnyConnection) -> Result<Vec<VirtualAccount>, StoreError> {
    let rows = sqlx::query("SELECT name, owner_team, description, expires_at FROM virtual_accounts ORDER BY name")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(VirtualAccount {
                name: va_name(r.try_get("name")?)?,
                owner_team: team_name(r.try_get("owner_team")?)?,
                description: r.try_get("description")?,
                expires_at: opt_time_from_db(r.try_get("expires_at")?)?,
            })
        })
        .collect()
}

async fn tokens(conn: &mut AnyConnection) -> Result<Vec<Token>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, kind, owner_user, owner_va, name, hash, created_at, expires_at FROM tokens \
         WHERE revoked_at IS NULL ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id = token_id(r.try_get("id")?)?;
            let kind: String = r.try_get("kind")?;
            let owner =
                match (r.try_get::<Option<String>, _>("owner_user")?, r.try_get::<Option<String>, _>("owner_va")?) {
                    (Some(e), None) => TokenOwner::User(email(e)?),
                    (None, Some(v)) => TokenOwner::VirtualAccount(va_name(v)?),
                    _ => return Err(corrupt(format!("token {id} must have exactly one owner"))),
                };
            Ok(Token {
                kind: TokenKind::from_str_opt(&kind).ok_or_else(|| corrupt(format!("unknown token kind {kind:?}")))?,
                owner,
                name: r.try_get("name")?,
                hash: hash_from_db(r.try_get("hash")?)?,
                created_at: time_from_db(r.try_get("created_at")?)?,
                expires_at: opt_time_from_db(r.try_get("expires_at")?)?,
                revoked: false,
                id,
            })
        })
        .collect()
}

async fn grants(conn: &mut AnyConnection) -> Result<Vec<Grant>, StoreError> {
    let rows = sqlx::query(
        "SELECT resource_kind, resource_name, subject, role FROM grants ORDER BY resource_kind, resource_name, subject",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(Grant {
                resource: resource_from_db(
                    &r.try_get::<String, _>("resource_kind")?,
                    &r.try_get::<String, _>("resource_name")?,
                )?,
                subject: r.try_get::<String, _>("subject")?.parse::<Subject>().map_err(corrupt)?,
                role: CollaboratorRole::ALL
                    .into_iter()
                    .find(|c| c.as_str() == role)
                    .ok_or_else(|| corrupt(format!("unknown collaborator role {role:?}")))?,
            })
        })
        .collect()
}

/// SQLite allows at most 32766 parameters per statement; stay far below it.
const IDS_PER_QUERY: usize = 500;

pub(crate) async fn last_used(pool: &AnyPool, ids: &[TokenId]) -> Result<HashMap<TokenId, OffsetDateTime>, StoreError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let params = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT id, last_used_at FROM tokens WHERE last_used_at IS NOT NULL AND id IN ({params})");
        // Not prepared: each chunk size is a different statement, and would crowd the statement cache.
        let mut query = sqlx::query(&sql).persistent(false);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for r in query.fetch_all(pool).await? {
            out.insert(token_id(r.try_get("id")?)?, time_from_db(r.try_get("last_used_at")?)?);
        }
    }
    Ok(out)
}

fn email(s: String) -> Result<Email, StoreError> {
    Email::new(&s).map_err(corrupt)
}

fn team_name(s: String) -> Result<TeamName, StoreError> {
    TeamName::new(&s).map_err(corrupt)
}

fn va_name(s: String) -> Result<VaName, StoreError> {
    VaName::new(&s).map_err(corrupt)
}

fn token_id(s: String) -> Result<TokenId, StoreError> {
    TokenId::new(&s).map_err(corrupt)
}
