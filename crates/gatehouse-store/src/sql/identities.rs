//! Identities of users and virtual accounts (see `gatehouse_core::IdentityId`): read with the world, given
//! by `Change::AssignIdentity`.

use gatehouse_core::{Email, IdentityId, Subject, VaName};
use sqlx::{AnyConnection, Row};

use super::codec::corrupt;
use crate::StoreError;

fn parse(s: &str) -> Result<IdentityId, StoreError> {
    IdentityId::parse(s).ok_or_else(|| corrupt(format!("identity {s:?} is not 32 lowercase hex digits")))
}

/// Every user's and virtual account's identity.
pub(crate) async fn load(conn: &mut AnyConnection) -> Result<Vec<(Subject, IdentityId)>, StoreError> {
    let mut out = Vec::new();
    let users =
        sqlx::query("SELECT email, identity_id FROM users WHERE identity_id IS NOT NULL").fetch_all(&mut *conn).await?;
    for r in &users {
        let email = Email::new(&r.try_get::<String, _>("email")?).map_err(corrupt)?;
        out.push((Subject::User(email), parse(&r.try_get::<String, _>("identity_id")?)?));
    }
    let vas = sqlx::query("SELECT name, identity_id FROM virtual_accounts WHERE identity_id IS NOT NULL")
        .fetch_all(&mut *conn)
        .await?;
    for r in &vas {
        let name = VaName::new(&r.try_get::<String, _>("name")?).map_err(corrupt)?;
        out.push((Subject::VirtualAccount(name), parse(&r.try_get::<String, _>("identity_id")?)?));
    }
    Ok(out)
}

pub(crate) async fn assign(conn: &mut AnyConnection, subject: &Subject, id: IdentityId) -> Result<(), StoreError> {
    let (sql, key) = match subject {
        Subject::User(e) => ("UPDATE users SET identity_id = $2 WHERE email = $1", e.as_str()),
        Subject::VirtualAccount(v) => ("UPDATE virtual_accounts SET identity_id = $2 WHERE name = $1", v.as_str()),
        // Teams have no identity: nothing is recorded about them by name.
        Subject::Team(_) => return Ok(()),
    };
    sqlx::query(sql).bind(key).bind(id.to_string()).execute(conn).await?;
    Ok(())
}
