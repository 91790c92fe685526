//! Resources as rows: the spec as JSON text, the sealed credentials as bytes.

use std::sync::Arc;

use gatehouse_core::resource::{ResourceRecord, ResourceSpec, Sealed};
use gatehouse_core::Resource;
use sqlx::{AnyConnection, Row};

use crate::StoreError;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub(crate) async fn put(conn: &mut AnyConnection, rec: &ResourceRecord) -> Result<(), StoreError> {
    let r = rec.resource();
    let spec = serde_json::to_string(&rec.spec).map_err(corrupt)?;
    sqlx::query(
        "INSERT INTO resources (resource_kind, name, manifest_type, spec, sealed_auth) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (resource_kind, name) DO UPDATE SET manifest_type = excluded.manifest_type, \
         spec = excluded.spec, sealed_auth = excluded.sealed_auth",
    )
    .bind(r.kind.as_str())
    .bind(&*r.name)
    .bind(rec.spec.manifest_type())
    .bind(spec)
    .bind(rec.sealed_auth.as_ref().map(|s| s.0.to_vec()))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn delete(conn: &mut AnyConnection, r: &Resource) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM resources WHERE resource_kind = $1 AND name = $2")
        .bind(r.kind.as_str())
        .bind(&*r.name)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn load(conn: &mut AnyConnection) -> Result<Vec<ResourceRecord>, StoreError> {
    let rows = sqlx::query("SELECT manifest_type, spec, sealed_auth FROM resources ORDER BY resource_kind, name")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let manifest_type: String = row.try_get("manifest_type")?;
            let text: String = row.try_get("spec")?;
            let mut de = serde_json::Deserializer::from_str(&text);
            let spec = ResourceSpec::deserialize_for(&manifest_type, &mut de)
                .map_err(|e| corrupt(format!("stored {manifest_type}: {e}")))?;
            let sealed: Option<Vec<u8>> = row.try_get("sealed_auth")?;
            Ok(ResourceRecord { spec, sealed_auth: sealed.map(|b| Sealed(Arc::from(b))) })
        })
        .collect()
}
