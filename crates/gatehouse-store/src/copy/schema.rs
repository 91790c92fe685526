//! What a database's schema holds, read from its catalogue rather than from a list in the code: a table a
//! later migration adds is copied without anyone having to remember this module.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;

use super::db::Db;
use super::CopyError;

/// The migrations' own bookkeeping: the target gets it by being migrated, never by a copy.
pub(crate) const BOOKKEEPING: &str = "schema_migrations";

/// How a column's values are read and written, whatever the database calls its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    Bool,
    Int,
    Float,
    Text,
    Bytes,
    /// SQLite's NUMERIC and BLOB affinities keep any value as it is given.
    Dynamic,
    /// Any other Postgres type (json, jsonb, timestamptz, numeric, uuid, ...): read as its text form and
    /// cast back from it on insert.
    Other(String),
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    /// The type as the database declares it (for Postgres, what inserts cast to).
    pub sql_type: String,
    pub class: Class,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary key columns, in key order: rows are read in this order.
    pub primary_key: Vec<String>,
    /// Tables this one has foreign keys to (itself left out).
    pub references: BTreeSet<String>,
    /// Columns whose values come from a counter: a Postgres sequence (serial, identity) or SQLite's
    /// AUTOINCREMENT (`sqlite_sequence`). Their position is carried over, not just their values.
    pub counters: Vec<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Every table but the bookkeeping one, by name.
pub type Schema = BTreeMap<String, Table>;

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// SQLite's type affinity rules (https://www.sqlite.org/datatype3.html, 3.1), in their order.
fn sqlite_class(declared: &str) -> Class {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        Class::Int
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        Class::Text
    } else if t.contains("BLOB") || t.is_empty() {
        Class::Dynamic
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        Class::Float
    } else {
        Class::Dynamic
    }
}

fn postgres_class(typname: &str, formatted: &str) -> Class {
    match typname {
        "bool" => Class::Bool,
        "int2" | "int4" | "int8" => Class::Int,
        "float4" | "float8" => Class::Float,
        "text" | "varchar" | "bpchar" | "name" => Class::Text,
        "bytea" => Class::Bytes,
        _ => Class::Other(formatted.to_owned()),
    }
}

pub(crate) async fn read(db: &mut Db) -> Result<Schema, CopyError> {
    match db {
        Db::Sqlite(conn) => read_sqlite(conn).await,
        Db::Postgres(conn) => read_postgres(conn).await,
    }
}

async fn read_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<Schema, CopyError> {
    let tables = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name <> $1 ORDER BY name",
    )
    .bind(BOOKKEEPING)
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::new();
    for t in tables {
        let name: String = t.try_get(0)?;
        let sql: String = t.try_get(1)?;
        let info = sqlx::query(&format!("PRAGMA table_info({})", quote(&name))).fetch_all(&mut *conn).await?;
        let mut columns = Vec::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for c in info {
            let col: String = c.try_get("name")?;
            let declared: String = c.try_get("type")?;
            let pk_pos: i64 = c.try_get("pk")?;
            if pk_pos > 0 {
                pk.push((pk_pos, col.clone()));
            }
            columns.push(Column { name: col, class: sqlite_class(&declared), sql_type: declared });
        }
        pk.sort();
        let primary_key: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
        let fks = sqlx::query(&format!("PRAGMA foreign_key_list({})", quote(&name))).fetch_all(&mut *conn).await?;
        let mut references = BTreeSet::new();
        for fk in fks {
            let to: String = fk.try_get("table")?;
            if to != name {
                references.insert(to);
            }
        }
        // Only an INTEGER PRIMARY KEY can be AUTOINCREMENT.
        let counters = if sql.to_ascii_uppercase().contains("AUTOINCREMENT") && primary_key.len() == 1 {
            primary_key.clone()
        } else {
            Vec::new()
        };
        schema.insert(name.clone(), Table { name, columns, primary_key, references, counters });
    }
    Ok(schema)
}

async fn read_postgres(conn: &mut sqlx::PgConnection) -> Result<Schema, CopyError> {
    let tables = sqlx::query(
        "SELECT c.oid::int8, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND c.relname <> $1 ORDER BY c.relname",
    )
    .bind(BOOKKEEPING)
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::new();
    for t in tables {
        let oid: i64 = t.try_get(0)?;
        let name: String = t.try_get(1)?;
        // Generated columns are computed by the target itself and refuse values.
        let cols = sqlx::query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), ty.typname::text, \
                    pg_get_serial_sequence(quote_ident($2), a.attname) IS NOT NULL \
             FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid \
             WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
             ORDER BY a.attnum",
        )
        .bind(oid)
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        let mut columns = Vec::new();
        let mut counters = Vec::new();
        for c in cols {
            let col: String = c.try_get(0)?;
            let formatted: String = c.try_get(1)?;
            let typname: String = c.try_get(2)?;
            if c.try_get::<bool, _>(3)? {
                counters.push(col.clone());
            }
            columns.push(Column { name: col, class: postgres_class(&typname, &formatted), sql_type: formatted });
        }
        let primary_key: Vec<String> = sqlx::query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) ON true \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY k.pos",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        let references: BTreeSet<String> = sqlx::query(
            "SELECT DISTINCT f.relname::text FROM pg_constraint k JOIN pg_class f ON f.oid = k.confrelid \
             WHERE k.conrelid = $1::oid AND k.contype = 'f' AND k.confrelid <> k.conrelid",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        schema.insert(name.clone(), Table { name, columns, primary_key, references, counters });
    }
    Ok(schema)
}

/// The tables in an order where every table comes after those it references (ties by name), so rows can be
/// inserted with foreign keys checked as they go; or the tables of a cycle, which no order satisfies.
pub(crate) fn dependency_order(schema: &Schema) -> Result<Vec<String>, CopyError> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < schema.len() {
        let ready: Vec<String> = schema
            .values()
            .filter(|t| !done.contains(&t.name))
            // A reference to a table outside the schema (another schema's) is not ours to order.
            .filter(|t| t.references.iter().all(|r| done.contains(r) || !schema.contains_key(r)))
            .map(|t| t.name.clone())
            .collect();
        if ready.is_empty() {
            let stuck = schema.keys().filter(|n| !done.contains(*n)).cloned().collect();
            return Err(CopyError::Cycle(stuck));
        }
        for name in ready {
            done.insert(name.clone());
            order.push(name);
        }
    }
    Ok(order)
}

/// The two schemas must hold the same tables with the same columns: both are at the same migration, so a
/// difference means the two dialects' migrations disagree, and a copy would lose data.
pub(crate) fn compare(source: &Schema, target: &Schema) -> Result<(), CopyError> {
    let names = |s: &Schema| s.keys().cloned().collect::<BTreeSet<_>>();
    let (s, t) = (names(source), names(target));
    if let Some(missing) = s.difference(&t).next() {
        return Err(CopyError::SchemaMismatch(format!("table {missing} is in the source but not in the target")));
    }
    if let Some(extra) = t.difference(&s).next() {
        return Err(CopyError::SchemaMismatch(format!("table {extra} is in the target but not in the source")));
    }
    for (name, st) in source {
        let Some(tt) = target.get(name) else { continue };
        let cols = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<BTreeSet<_>>();
        let (sc, tc) = (cols(st), cols(tt));
        if sc != tc {
            let only_source: Vec<_> = sc.difference(&tc).cloned().collect();
            let only_target: Vec<_> = tc.difference(&sc).cloned().collect();
            return Err(CopyError::SchemaMismatch(format!(
                "table {name}: columns only in the source {only_source:?}, only in the target {only_target:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table(name: &str, refs: &[&str]) -> (String, Table) {
        let t = Table {
            name: name.into(),
            columns: vec![],
            primary_key: vec![],
            references: refs.iter().map(|r| r.to_string()).collect(),
            counters: vec![],
        };
        (name.into(), t)
    }

    #[test]
    fn tables_come_after_those_they_reference() {
        let schema: Schema =
            [table("tokens", &["users", "virtual_accounts"]), table("users", &["roles"]), table("roles", &[])]
                .into_iter()
                .chain([table("virtual_accounts", &["teams"]), table("teams", &[])])
                .collect();
        assert_eq!(dependency_order(&schema).unwrap(), ["roles", "teams", "users", "virtual_accounts", "tokens"]);
        let cyclic: Schema = [table("a", &["b"]), table("b", &["a"]), table("c", &[])].into_iter().collect();
        let Err(CopyError::Cycle(stuck)) = dependency_order(&cyclic) else { panic!("a cycle has no order") };
        assert_eq!(stuck, ["a", "b"]);
    }

    #[test]
    fn affinities_follow_sqlite_rules() {
        assert_eq!(sqlite_class("INTEGER"), Class::Int);
        assert_eq!(sqlite_class("BIGINT"), Class::Int);
        assert_eq!(sqlite_class("TEXT"), Class::Text);
        assert_eq!(sqlite_class("BLOB"), Class::Dynamic);
        assert_eq!(sqlite_class("REAL"), Class::Float);
        assert_eq!(sqlite_class("NUMERIC"), Class::Dynamic);
        assert_eq!(postgres_class("jsonb", "jsonb"), Class::Other("jsonb".into()));
        assert_eq!(postgres_class("bytea", "bytea"), Class::Bytes);
    }
}
