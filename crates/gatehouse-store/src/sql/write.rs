//! One `Change` as SQL. Puts are upserts so a change can be applied whether or not the row exists,
//! exactly as the snapshot applies it.

use gatehouse_core::{Change, TokenOwner};
use sqlx::AnyConnection;

use super::codec::{opt_time_to_db, perms_to_db, time_to_db};
use crate::StoreError;

/// `now` is the time written as `revoked_at`.
pub(crate) async fn apply(conn: &mut AnyConnection, change: &Change, now: i64) -> Result<(), StoreError> {
    match change {
        Change::PutRole(r) => {
            sqlx::query(
                "INSERT INTO roles (name, display_name, description, permissions, builtin) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, \
                 description = excluded.description, permissions = excluded.permissions, builtin = excluded.builtin",
            )
            .bind(r.name.as_str())
            .bind(r.display_name.as_str())
            .bind(r.description.as_str())
            .bind(perms_to_db(r.permissions))
            .bind(r.builtin.map(|b| b.name()))
            .execute(conn)
            .await?;
        }
        Change::DeleteRole(n) => {
            sqlx::query("DELETE FROM roles WHERE name = $1").bind(n.as_str()).execute(conn).await?;
        }
        Change::PutUser(u) => {
            // password_hash is left out: it changes only through SetPassword.
            sqlx::query(
                "INSERT INTO users (email, display_name, role, active) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (email) DO UPDATE SET display_name = excluded.display_name, role = excluded.role, \
                 active = excluded.active",
            )
            .bind(u.email.as_str())
            .bind(u.display_name.as_str())
            .bind(u.role.as_str())
            .bind(u.active)
            .execute(conn)
            .await?;
        }
        Change::DeleteUser(e) => {
            // Tokens and team memberships go by ON DELETE CASCADE.
            sqlx::query("DELETE FROM users WHERE email = $1").bind(e.as_str()).execute(conn).await?;
        }
        Change::SetPassword { email, hash } => {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE email = $1")
                .bind(email.as_str())
                .bind(hash.expose().as_str())
                .execute(conn)
                .await?;
        }
        Change::PutTeam(t) => {
            sqlx::query(
                "INSERT INTO teams (name, description) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description",
            )
            .bind(t.name.as_str())
            .bind(t.description.as_str())
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM team_members WHERE team = $1").bind(t.name.as_str()).execute(&mut *conn).await?;
            // A manager missing from `members` is still written as a member: managing implies membership.
            for email in t.members.union(&t.managers) {
                sqlx::query("INSERT INTO team_members (team, email, manager) VALUES ($1, $2, $3)")
                    .bind(t.name.as_str())
                    .bind(email.as_str())
                    .bind(t.managers.contains(email))
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Change::DeleteTeam(n) => {
            sqlx::query("DELETE FROM teams WHERE name = $1").bind(n.as_str()).execute(conn).await?;
        }
        Change::PutVirtualAccount(v) => {
            sqlx::query(
                "INSERT INTO virtual_accounts (name, owner_team, description, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET owner_team = excluded.owner_team, \
                 description = excluded.description, expires_at = excluded.expires_at",
            )
            .bind(v.name.as_str())
            .bind(v.owner_team.as_str())
            .bind(v.description.as_str())
            .bind(opt_time_to_db(v.expires_at)?)
            .execute(conn)
            .await?;
        }
        Change::DeleteVirtualAccount(n) => {
            sqlx::query("DELETE FROM virtual_accounts WHERE name = $1").bind(n.as_str()).execute(conn).await?;
        }
        Change::PutToken(t) => {
            let (user, va) = match &t.owner {
                TokenOwner::User(e) => (Some(e.as_str()), None),
                TokenOwner::VirtualAccount(v) => (None, Some(v.as_str())),
            };
            // Revocation is for good: a later put never clears revoked_at. last_used_at is kept too.
            sqlx::query(
                "INSERT INTO tokens (id, kind, owner_user, owner_va, name, hash, created_at, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, owner_user = excluded.owner_user, \
                 owner_va = excluded.owner_va, name = excluded.name, hash = excluded.hash, \
                 created_at = excluded.created_at, expires_at = excluded.expires_at, \
                 revoked_at = COALESCE(tokens.revoked_at, excluded.revoked_at)",
            )
            .bind(t.id.as_str())
            .bind(t.kind.as_str())
            .bind(user)
            .bind(va)
            .bind(t.name.as_str())
            .bind(t.hash.0.to_vec())
            .bind(time_to_db(t.created_at)?)
            .bind(opt_time_to_db(t.expires_at)?)
            .bind(t.revoked.then_some(now))
            .execute(conn)
            .await?;
        }
        Change::SetTokenExpiry { id, expires_at } => {
            sqlx::query("UPDATE tokens SET expires_at = $2 WHERE id = $1")
                .bind(id.as_str())
                .bind(opt_time_to_db(*expires_at)?)
                .execute(conn)
                .await?;
        }
        Change::RevokeToken(id) => {
            // The row stays, for audit and so the id is never reused.
            sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.as_str())
                .bind(now)
                .execute(conn)
                .await?;
        }
        Change::PutResource(r) => super::resources::put(conn, r).await?,
        Change::DeleteResource(r) => {
            // Its grants went first, as `plan` orders them; the row itself has no dependants.
            super::resources::delete(conn, r).await?
        }
        Change::PutGrant(g) => {
            sqlx::query(
                "INSERT INTO grants (resource_kind, resource_name, subject, role) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (resource_kind, resource_name, subject) DO UPDATE SET role = excluded.role",
            )
            .bind(g.resource.kind.as_str())
            .bind(&*g.resource.name)
            .bind(g.subject.to_string())
            .bind(g.role.as_str())
            .execute(conn)
            .await?;
        }
        Change::AssignIdentity { subject, id } => super::identities::assign(conn, subject, *id).await?,
        Change::DeleteGrant(g) => {
            // By key alone, as the snapshot does: a subject holds at most one role on a resource.
            sqlx::query("DELETE FROM grants WHERE resource_kind = $1 AND resource_name = $2 AND subject = $3")
                .bind(g.resource.kind.as_str())
                .bind(&*g.resource.name)
                .bind(g.subject.to_string())
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}
