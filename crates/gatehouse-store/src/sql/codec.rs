//! Domain values to column values and back. Anything that does not decode is `Corrupt`: the store only
//! ever writes valid values, so a bad one means the database was edited by hand or by another program.

use std::fmt::Display;

use gatehouse_core::{PermSet, Permission, Resource, TokenHash};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) fn corrupt(what: impl Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Unix nanoseconds: exact, and ordered as the times are, so SQL can compare them. An i64 covers 1677 to 2262.
pub(crate) fn time_to_db(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| {
        StoreError::Database(sqlx::Error::Encode(format!("time {t} is outside the storable range 1677-2262").into()))
    })
}

pub(crate) fn opt_time_to_db(t: Option<OffsetDateTime>) -> Result<Option<i64>, StoreError> {
    t.map(time_to_db).transpose()
}

pub(crate) fn time_from_db(nanos: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(nanos.into()).map_err(corrupt)
}

pub(crate) fn opt_time_from_db(nanos: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    nanos.map(time_from_db).transpose()
}

pub(crate) fn perms_to_db(p: PermSet) -> String {
    p.iter().map(Permission::id).collect::<Vec<_>>().join(",")
}

pub(crate) fn perms_from_db(s: &str) -> Result<PermSet, StoreError> {
    s.split(',').filter(|id| !id.is_empty()).map(|id| id.parse::<Permission>().map_err(corrupt)).collect()
}

pub(crate) fn hash_from_db(bytes: Vec<u8>) -> Result<TokenHash, StoreError> {
    let len = bytes.len();
    <[u8; 32]>::try_from(bytes).map(TokenHash).map_err(|_| corrupt(format!("a token hash is {len} bytes, not 32")))
}

pub(crate) fn resource_from_db(kind: &str, name: &str) -> Result<Resource, StoreError> {
    format!("{kind}:{name}").parse().map_err(corrupt)
}

/// Postgres returns BOOLEAN columns as booleans, SQLite (INTEGER columns, see the migration) as integers.
pub(crate) fn get_bool(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}
