//! One connection to either database through its own driver (not `Any`, which knows only a few types), and
//! rows as plain values: read from one dialect, converted, written to the other.

use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteValueRef};
use sqlx::{Connection, Row, TypeInfo, ValueRef};

use super::schema::{quote, Class, Column, Table};
use super::CopyError;

pub(crate) enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// A column value as the copy carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
        }
    }
}

impl Db {
    /// One connection to `url`; an existing SQLite file only (a copy never creates its source).
    pub(crate) async fn open(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Db::Postgres(sqlx::PgConnection::connect(url).await?));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        Ok(Db::Sqlite(sqlx::SqliteConnection::connect_with(&options).await?))
    }

    pub(crate) async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(c) => c.close().await,
            Db::Postgres(c) => c.close().await,
        }
    }

    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Db::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
    }

    /// One integer from a query without parameters.
    pub(crate) async fn scalar(&mut self, sql: &str) -> Result<i64, sqlx::Error> {
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Db::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
    }

    /// The migration version the database is at, and whether it was ever migrated at all.
    pub(crate) async fn schema_version(&mut self) -> Result<Option<i64>, sqlx::Error> {
        let exists = match self {
            Db::Sqlite(c) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            )
            .fetch_one(c)
            .await?,
            Db::Postgres(c) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'",
            )
            .fetch_one(c)
            .await?,
        };
        if exists == 0 {
            return Ok(None);
        }
        self.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").await.map(Some)
    }

    /// Reads every row of `table` in primary-key order, handing them to `sink` `batch` at a time; returns
    /// how many there were.
    pub(crate) async fn read_rows(
        &mut self,
        table: &Table,
        batch: usize,
        sink: &mut Sink<'_>,
    ) -> Result<u64, CopyError> {
        let select = |expr: &dyn Fn(&Column) -> String| {
            let cols: Vec<String> = table.columns.iter().map(expr).collect();
            let order = match table.primary_key.is_empty() {
                true => String::new(),
                false => {
                    format!(" ORDER BY {}", table.primary_key.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "))
                }
            };
            format!("SELECT {} FROM {}{order}", cols.join(", "), quote(&table.name))
        };
        let mut total = 0u64;
        let mut rows = Vec::with_capacity(batch);
        match self {
            Db::Sqlite(c) => {
                let sql = select(&|c: &Column| quote(&c.name));
                let mut stream = sqlx::query(&sql).fetch(c);
                while let Some(row) = stream.try_next().await? {
                    let mut values = Vec::with_capacity(table.columns.len());
                    for i in 0..table.columns.len() {
                        values.push(sqlite_value(row.try_get_raw(i)?)?);
                    }
                    rows.push(values);
                    if rows.len() == batch {
                        total += rows.len() as u64;
                        sink.take(std::mem::take(&mut rows)).await?;
                    }
                }
            }
            Db::Postgres(c) => {
                // Known types as the driver decodes them; any other as its text form.
                let sql = select(&|c: &Column| match c.class {
                    Class::Int => format!("{}::int8", quote(&c.name)),
                    Class::Float => format!("{}::float8", quote(&c.name)),
                    Class::Bool | Class::Bytes => quote(&c.name),
                    Class::Text | Class::Dynamic | Class::Other(_) => format!("{}::text", quote(&c.name)),
                });
                let mut stream = sqlx::query(&sql).fetch(c);
                while let Some(row) = stream.try_next().await? {
                    let mut values = Vec::with_capacity(table.columns.len());
                    for (i, col) in table.columns.iter().enumerate() {
                        values.push(pg_value(&row, i, &col.class)?);
                    }
                    rows.push(values);
                    if rows.len() == batch {
                        total += rows.len() as u64;
                        sink.take(std::mem::take(&mut rows)).await?;
                    }
                }
            }
        }
        if !rows.is_empty() {
            total += rows.len() as u64;
            sink.take(rows).await?;
        }
        Ok(total)
    }

    /// Inserts rows (already converted to the target's columns) with one statement.
    pub(crate) async fn insert(&mut self, table: &Table, rows: Vec<Vec<Value>>) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
        let mut sql = format!("INSERT INTO {} ({})", quote(&table.name), names.join(", "));
        let mut n = 0;
        let tuple = |n: &mut usize, pg: bool| {
            let one: Vec<String> = table
                .columns
                .iter()
                .map(|c| {
                    *n += 1;
                    match pg {
                        true => format!("CAST(${n} AS {})", c.sql_type),
                        false => format!("?{n}"),
                    }
                })
                .collect();
            format!("({})", one.join(", "))
        };
        match self {
            Db::Sqlite(c) => {
                let tuples: Vec<String> = rows.iter().map(|_| tuple(&mut n, false)).collect();
                sql.push_str(&format!(" VALUES {}", tuples.join(", ")));
                let mut q = sqlx::query(&sql);
                for v in rows.into_iter().flatten() {
                    q = match v {
                        Value::Null => q.bind(None::<i64>),
                        Value::Bool(b) => q.bind(i64::from(b)),
                        Value::Int(i) => q.bind(i),
                        Value::Float(f) => q.bind(f),
                        Value::Text(s) => q.bind(s),
                        Value::Bytes(b) => q.bind(b),
                    };
                }
                q.execute(c).await?;
            }
            Db::Postgres(c) => {
                // One array per column, whatever the number of rows: a statement with tens of thousands of
                // parameters costs Postgres more to parse and plan than to insert its rows.
                let arrays: Vec<String> = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, col)| format!("${}::{}[]", i + 1, pg_array(col)))
                    .collect();
                let casts: Vec<String> = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, col)| format!("CAST(u.a{i} AS {})", col.sql_type))
                    .collect();
                let aliases: Vec<String> = (0..table.columns.len()).map(|i| format!("a{i}")).collect();
                // Explicit values for identity columns too: ids are kept.
                sql.push_str(&format!(
                    " OVERRIDING SYSTEM VALUE SELECT {} FROM UNNEST({}) AS u({})",
                    casts.join(", "),
                    arrays.join(", "),
                    aliases.join(", ")
                ));
                let mut columns: Vec<Vec<Value>> = vec![Vec::with_capacity(rows.len()); table.columns.len()];
                for row in rows {
                    for (i, v) in row.into_iter().enumerate() {
                        if let Some(col) = columns.get_mut(i) {
                            col.push(v);
                        }
                    }
                }
                let mut q = sqlx::query(&sql);
                for (values, col) in columns.into_iter().zip(&table.columns) {
                    q = bind_array(q, &col.class, values)?;
                }
                q.execute(c).await?;
            }
        }
        Ok(())
    }

    /// How many rows of `columns` columns one insert statement carries.
    pub(crate) fn batch_rows(&self, columns: usize) -> usize {
        match self {
            // SQLITE_MAX_VARIABLE_NUMBER is 32766 since 3.32; stay well below.
            Db::Sqlite(_) => (30_000 / columns.max(1)).clamp(1, 500),
            // One parameter per column (an array), however many rows.
            Db::Postgres(_) => 5_000,
        }
    }
}

/// The element type of the array a Postgres column's values are sent in.
fn pg_array(col: &Column) -> &'static str {
    match col.class {
        Class::Bool => "bool",
        Class::Int => "int8",
        Class::Float => "float8",
        Class::Bytes => "bytea",
        Class::Text | Class::Dynamic | Class::Other(_) => "text",
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds one column's values (already converted to its class) as one array.
fn bind_array<'q>(q: PgQuery<'q>, class: &Class, values: Vec<Value>) -> Result<PgQuery<'q>, sqlx::Error> {
    fn each<T>(values: Vec<Value>, f: impl Fn(Value) -> Option<T>) -> Result<Vec<Option<T>>, sqlx::Error> {
        values
            .into_iter()
            .map(|v| match v {
                Value::Null => Ok(None),
                other => {
                    let kind = other.kind();
                    f(other).map(Some).ok_or_else(|| {
                        sqlx::Error::Encode(format!("a {kind} value in a column of another type").into())
                    })
                }
            })
            .collect()
    }
    Ok(match class {
        Class::Bool => q.bind(each(values, |v| if let Value::Bool(b) = v { Some(b) } else { None })?),
        Class::Int => q.bind(each(values, |v| if let Value::Int(i) = v { Some(i) } else { None })?),
        Class::Float => q.bind(each(values, |v| if let Value::Float(f) = v { Some(f) } else { None })?),
        Class::Bytes => q.bind(each(values, |v| if let Value::Bytes(b) = v { Some(b) } else { None })?),
        Class::Text | Class::Dynamic | Class::Other(_) => {
            q.bind(each(values, |v| if let Value::Text(s) = v { Some(s) } else { None })?)
        }
    })
}

fn sqlite_value(v: SqliteValueRef<'_>) -> Result<Value, sqlx::Error> {
    use sqlx::Decode;
    if v.is_null() {
        return Ok(Value::Null);
    }
    let decode = |e: sqlx::error::BoxDynError| sqlx::Error::Decode(e);
    // A non-null value's type is its storage class, whatever the column declares.
    let name = v.type_info().name().to_owned();
    Ok(match name.as_str() {
        "INTEGER" => Value::Int(<i64 as Decode<sqlx::Sqlite>>::decode(v).map_err(decode)?),
        "REAL" => Value::Float(<f64 as Decode<sqlx::Sqlite>>::decode(v).map_err(decode)?),
        "BLOB" => Value::Bytes(<Vec<u8> as Decode<sqlx::Sqlite>>::decode(v).map_err(decode)?),
        _ => Value::Text(<String as Decode<sqlx::Sqlite>>::decode(v).map_err(decode)?),
    })
}

fn pg_value(row: &sqlx::postgres::PgRow, i: usize, class: &Class) -> Result<Value, sqlx::Error> {
    let v = match class {
        Class::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
        Class::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
        Class::Float => row.try_get::<Option<f64>, _>(i)?.map(Value::Float),
        Class::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Bytes),
        Class::Text | Class::Dynamic | Class::Other(_) => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
    };
    Ok(v.unwrap_or(Value::Null))
}

/// Where rows read go.
pub(crate) enum Sink<'a> {
    /// Converted to the columns of `table` and inserted into `db`.
    Insert { db: &'a mut Db, table: &'a Table },
    /// Kept as they are.
    Collect(&'a mut Vec<Vec<Value>>),
}

impl Sink<'_> {
    async fn take(&mut self, rows: Vec<Vec<Value>>) -> Result<(), CopyError> {
        match self {
            Sink::Collect(all) => {
                all.extend(rows);
                Ok(())
            }
            Sink::Insert { db, table } => {
                let mut converted = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut out = Vec::with_capacity(row.len());
                    for (v, col) in row.into_iter().zip(&table.columns) {
                        let v = convert(v, col).map_err(|why| CopyError::Unconvertible {
                            table: table.name.clone(),
                            column: col.name.clone(),
                            why,
                        })?;
                        out.push(v);
                    }
                    converted.push(out);
                }
                db.insert(table, converted)
                    .await
                    .map_err(|source| CopyError::Table { table: table.name.clone(), source })
            }
        }
    }
}

/// A value read from the source as the target's column takes it, or why it cannot be.
pub(crate) fn convert(v: Value, to: &Column) -> Result<Value, String> {
    let refuse = |v: &Value| Err(format!("a {} value does not fit its type {}", v.kind(), to.sql_type));
    match (&to.class, v) {
        (_, Value::Null) => Ok(Value::Null),
        (Class::Dynamic, Value::Bool(b)) => Ok(Value::Int(i64::from(b))),
        (Class::Dynamic, v) => Ok(v),
        (Class::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        // SQLite keeps booleans as 0 and 1 (see its first migration).
        (Class::Bool, Value::Int(i)) if i == 0 || i == 1 => Ok(Value::Bool(i == 1)),
        (Class::Int, Value::Int(i)) => Ok(Value::Int(i)),
        (Class::Int, Value::Bool(b)) => Ok(Value::Int(i64::from(b))),
        (Class::Float, Value::Float(f)) => Ok(Value::Float(f)),
        (Class::Float, Value::Int(i)) => Ok(Value::Float(i as f64)),
        (Class::Text, Value::Text(s)) => Ok(Value::Text(s)),
        (Class::Bytes, Value::Bytes(b)) => Ok(Value::Bytes(b)),
        // Cast on insert from the text form (json from text, numeric from a number, ...).
        (Class::Other(_), Value::Text(s)) => Ok(Value::Text(s)),
        (Class::Other(_), Value::Int(i)) => Ok(Value::Text(i.to_string())),
        (Class::Other(_), Value::Float(f)) => Ok(Value::Text(f.to_string())),
        (Class::Other(_), Value::Bool(b)) => Ok(Value::Text(b.to_string())),
        (_, v) => refuse(&v),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn col(class: Class) -> Column {
        Column { name: "c".into(), sql_type: "t".into(), class }
    }

    #[test]
    fn values_convert_between_dialects_or_are_refused() {
        assert_eq!(convert(Value::Int(1), &col(Class::Bool)), Ok(Value::Bool(true)));
        assert_eq!(convert(Value::Int(0), &col(Class::Bool)), Ok(Value::Bool(false)));
        assert!(convert(Value::Int(2), &col(Class::Bool)).is_err());
        assert_eq!(convert(Value::Bool(true), &col(Class::Int)), Ok(Value::Int(1)));
        assert_eq!(convert(Value::Bool(false), &col(Class::Dynamic)), Ok(Value::Int(0)));
        assert_eq!(convert(Value::Int(3), &col(Class::Float)), Ok(Value::Float(3.0)));
        assert_eq!(convert(Value::Bytes(vec![1]), &col(Class::Dynamic)), Ok(Value::Bytes(vec![1])));
        assert_eq!(convert(Value::Text("{}".into()), &col(Class::Other("jsonb".into()))), Ok(Value::Text("{}".into())));
        assert_eq!(convert(Value::Null, &col(Class::Bytes)), Ok(Value::Null));
        let Err(e) = convert(Value::Text("x".into()), &col(Class::Int)) else { panic!("text is not an integer") };
        assert!(e.contains("text value"), "{e}");
    }
}
