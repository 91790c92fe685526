//! Id counters (Postgres sequences, SQLite's AUTOINCREMENT) carried over with the rows: ids are never
//! reused, so an id drawn on the target after the copy must follow every id the source ever drew, not just
//! those of rows still there.

use sqlx::Row;

use super::db::Db;
use super::schema::{quote, Schema};
use super::CopyError;

/// Sets the target's counters; returns (table, column, position) for each.
pub(crate) async fn carry(
    source: &mut Db,
    target: &mut Db,
    source_schema: &Schema,
    target_schema: &Schema,
    order: &[String],
) -> Result<Vec<(String, String, i64)>, CopyError> {
    let mut out = Vec::new();
    for name in order {
        let Some(tt) = target_schema.get(name) else { continue };
        for column in &tt.counters {
            let drawn = match source_schema.get(name) {
                Some(st) => position(source, name, column, st.counters.contains(column)).await?,
                None => 0,
            };
            let max =
                target.scalar(&format!("SELECT COALESCE(MAX({}), 0) FROM {}", quote(column), quote(name))).await?;
            let pos = drawn.max(max);
            set(target, name, column, pos).await?;
            out.push((name.clone(), column.clone(), pos));
        }
    }
    Ok(out)
}

/// The last id the source drew for `table.column`: its counter's, or the highest id present when the source
/// keeps no counter for it.
async fn position(db: &mut Db, table: &str, column: &str, counted: bool) -> Result<i64, CopyError> {
    let max = db.scalar(&format!("SELECT COALESCE(MAX({}), 0) FROM {}", quote(column), quote(table))).await?;
    if !counted {
        return Ok(max);
    }
    let drawn: Option<i64> = match db {
        Db::Sqlite(c) => {
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1").bind(table).fetch_optional(c).await?
        }
        Db::Postgres(c) => {
            let seq: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence(quote_ident($1), $2)")
                .bind(table)
                .bind(column)
                .fetch_one(&mut *c)
                .await?;
            match seq {
                Some(seq) => {
                    let row =
                        sqlx::query(&format!("SELECT last_value, is_called FROM {seq}")).fetch_one(&mut *c).await?;
                    let (last, called): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
                    Some(if called { last } else { last - 1 })
                }
                None => None,
            }
        }
    };
    Ok(drawn.unwrap_or(0).max(max))
}

async fn set(db: &mut Db, table: &str, column: &str, pos: i64) -> Result<(), CopyError> {
    match db {
        Db::Sqlite(c) => {
            sqlx::query("DELETE FROM sqlite_sequence WHERE name = $1").bind(table).execute(&mut *c).await?;
            if pos > 0 {
                sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)")
                    .bind(table)
                    .bind(pos)
                    .execute(&mut *c)
                    .await?;
            }
        }
        Db::Postgres(c) => {
            // A sequence cannot be set to 0: "nothing drawn yet" is 1, not called.
            sqlx::query("SELECT setval(pg_get_serial_sequence(quote_ident($1), $2), GREATEST($3, 1), $3 > 0)")
                .bind(table)
                .bind(column)
                .bind(pos)
                .execute(&mut *c)
                .await?;
        }
    }
    Ok(())
}
