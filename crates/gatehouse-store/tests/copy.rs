#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `copy` moves every row of every table between SQLite and Postgres, ids and id counters included, into
//! an empty target only; `migrate` is idempotent and fails clearly on a database it cannot reach.
//! Postgres legs run when GATEHOUSE_TEST_POSTGRES_URL is set (otherwise a skip line is printed).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gatehouse_store::copy::{self, CopyError, Value};
use gatehouse_store::testing::{self, TestDatabase};
use gatehouse_store::{AuditFilter, AuditRecord, RequestLog, RequestLogFilter, SqlStore, Store};
use sqlx::Connection;
use time::OffsetDateTime;

/// Rows for every table of the schema, with the values a conversion can get wrong: booleans both ways,
/// NULLs, bytes with 0x00 and 0xff, the extremes of i64, floats that do not round, non-ASCII text, an
/// empty string. Audit event 3 and request log 12 are deleted afterwards, so each id counter is ahead of
/// the highest id left: the copy must carry the counter, not just the rows.
///
/// A migration that adds a table must add rows for it here: `every_table_has_rows_here` fails until it does.
const FIXTURE: &str = r#"
INSERT INTO roles (name, display_name, description, permissions, builtin) VALUES
    ('admin', 'Admin', 'Everything', 'user:list,user:manage,role:list', 'admin'),
    ('auditor', 'Auditor ✓ — ünïcode', '', 'team:read', NULL);
INSERT INTO users (email, display_name, role, active, password_hash, identity_id) VALUES
    ('alice@example.com', 'Alice', 'admin', 1, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', '0123456789abcdef0123456789abcdef'),
    ('bob@example.com', 'Bob', 'auditor', 0, NULL, 'fedcba9876543210fedcba9876543210');
INSERT INTO teams (name, description) VALUES ('ml', 'Machine learning'), ('ops', '');
INSERT INTO team_members (team, email, manager) VALUES
    ('ml', 'alice@example.com', 1), ('ml', 'bob@example.com', 0), ('ops', 'bob@example.com', 1);
INSERT INTO virtual_accounts (name, owner_team, description, expires_at, identity_id) VALUES
    ('ci', 'ml', 'CI', 1700000000123456789, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
    ('bot', 'ops', 'A bot', NULL, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
INSERT INTO tokens (id, kind, owner_user, owner_va, name, hash, created_at, expires_at, revoked_at, last_used_at) VALUES
    ('t1', 'pat', 'alice@example.com', NULL, 'laptop',
     X'00ff00ff0102030405060708090a0b0c0d0e0f101112131415161718191a1bff', 1, NULL, NULL, 5),
    ('t2', 'virtual-account', NULL, 'ci', 'deploy',
     X'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff00', 2, 9223372036854775807, 3, NULL),
    ('t3', 'session', 'bob@example.com', NULL, '', X'0000000000000000000000000000000000000000000000000000000000000000',
     -9223372036854775808, 4, NULL, NULL);
INSERT INTO grants (resource_kind, resource_name, subject, role) VALUES
    ('provider-account', 'openai', 'team:ml', 'provider-account-user'),
    ('mcp-server', 'search', 'virtualaccount:ci', 'mcp-server-user');
UPDATE state SET version = 42;
INSERT INTO audit_events (id, at, actor, action, object_kind, object_name, changes, request_id) VALUES
    (1, 1700000000000000001, 'system', 'user.create', 'user', 'alice@example.com', '{"role":"admin"}', NULL),
    (2, 1700000000000000002, 'user:alice@example.com', 'team.create', 'team', 'ml', '{}', 'req-1'),
    (3, 1700000000000000003, 'user:alice@example.com', 'team.delete', 'team', 'gone', '{}', NULL);
DELETE FROM audit_events WHERE id = 3;
INSERT INTO resources (resource_kind, name, manifest_type, spec, sealed_auth) VALUES
    ('provider-account', 'openai', 'provider-account/openai', '{"name":"openai","models":[]}', X'00010203ff'),
    ('mcp-server', 'search', 'mcp-server/remote', '{"url":"http://x"}', NULL);
INSERT INTO request_logs (id, at, subject, token_id, virtual_account, model, route, status, latency_us,
        upstream_latency_us, input_tokens, output_tokens, request_id, prompt, completion, subject_id, cost_usd,
        refused_by, request_bytes, response_bytes) VALUES
    (7, 1700000000000000010, 'user:alice@example.com', 't1', NULL, 'openai/gpt', 'chat', 200, 1234, 1000, 10, 20,
     'req-2', 'hello', 'world ✓', '0123456789abcdef0123456789abcdef', 0.1, NULL, 512, 2048),
    (9, 1700000000000000011, 'virtualaccount:ci', 't2', 'ci', 'openai/gpt', 'chat', 429, 5, NULL, NULL, NULL,
     NULL, NULL, NULL, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1e-300, 'rl/all', NULL, NULL),
    (12, 1700000000000000012, 'user:bob@example.com', 't3', NULL, 'openai/gpt', 'chat', 200, 5, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
DELETE FROM request_logs WHERE id = 12;
INSERT INTO key_derivation (id, salt) VALUES (1, '00112233445566778899aabbccddeeff');
INSERT INTO spend_counters (counter, period_start, amount) VALUES
    ('budget:money/month', 1700000000, 9223372036854775000), ('budget:money/day', 1700006400, 0);
INSERT INTO limit_alerts (counter, period_start, threshold, fired_at) VALUES
    ('budget:money/month', 1700000000, 80, 1700000000123456789);
"#;

/// Rows for tables and columns that migrations made on other branches add (MCP sessions, guardrail
/// verdicts, the change log), run only where the schema has them, so that merging those migrations does not
/// wait on this file. `table` or `table.column`.
const IF_PRESENT: &[(&str, &str)] = &[
    (
        "mcp_sessions",
        "INSERT INTO mcp_sessions (id_hash, server, owner_subject, owner_identity, protocol, upstreams, created_at, last_used) \
         VALUES ('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'tools', 'user:alice@example.com', \
                 '0123456789abcdef0123456789abcdef', '2025-06-18', '{\"up\":\"s-1\",\"other\":null}', 1700000000000000001, 1700000000000000002), \
                ('60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752', 'tools', 'virtualaccount:ci', NULL, NULL, '{}', 1, 2)",
    ),
    (
        "request_logs.guardrails",
        "UPDATE request_logs SET guardrails = '[{\"config\":\"pii\",\"rule\":\"email\",\"outcome\":\"redacted\",\"count\":2}]' WHERE id = 7",
    ),
    (
        "change_log",
        "INSERT INTO change_log (version, at, changes) VALUES (41, 1700000000000000041, '[]'), \
         (42, 1700000000000000042, '[{\"PutTeam\":{\"name\":\"ops\"}}]')",
    ),
];

type Contents = BTreeMap<String, Vec<Vec<Value>>>;

/// A migrated SQLite deployment holding `FIXTURE`.
async fn source() -> TestDatabase {
    let db = testing::sqlite();
    copy::migrate(&db.url).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(FIXTURE).execute(&mut conn).await.unwrap();
    let schema = copy::tables(&db.url).await.unwrap();
    for (what, sql) in IF_PRESENT {
        let present = match what.split_once('.') {
            Some((t, c)) => schema.get(t).is_some_and(|t| t.column(c).is_some()),
            None => schema.contains_key(*what),
        };
        if present {
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    }
    conn.close().await.unwrap();
    db
}

/// Every table's rows, in one order whatever the database's collation; booleans as SQLite keeps them.
async fn contents(url: &str) -> Contents {
    let mut all = copy::contents(url).await.unwrap();
    for rows in all.values_mut() {
        for row in rows.iter_mut() {
            for v in row.iter_mut() {
                if let Value::Bool(b) = v {
                    *v = Value::Int(i64::from(*b));
                }
            }
        }
        rows.sort_by_key(|r| format!("{r:?}"));
    }
    all
}

fn postgres_url() -> Option<String> {
    let url = std::env::var(testing::POSTGRES_ENV).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        println!("skipping the postgres legs: {} is not set", testing::POSTGRES_ENV);
    }
    url
}

/// The next audit event and request log the store writes get the ids after those the source drew.
async fn next_ids_follow_the_source(url: &str) {
    let store = SqlStore::connect(url).await.unwrap();
    let record = AuditRecord {
        at: OffsetDateTime::now_utc(),
        actor: "system".into(),
        action: "test.after-copy".into(),
        object_kind: "user".into(),
        object_name: "alice@example.com".into(),
        changes: "{}".into(),
        request_id: None,
    };
    assert_eq!(store.commit(&[], &[record]).await.unwrap(), 43, "the state version is carried over");
    let events = store.audit_events(&AuditFilter { limit: 1, ..Default::default() }).await.unwrap();
    assert_eq!(events[0].id, 4, "{url}: audit event 3 was drawn on the source, so the next id is 4");
    let log = RequestLog {
        at: OffsetDateTime::now_utc(),
        subject: "user:alice@example.com".into(),
        subject_id: None,
        token_id: "t1".into(),
        virtual_account: None,
        model: "openai/gpt".into(),
        route: "chat".into(),
        status: 200,
        latency_us: 1,
        upstream_latency_us: None,
        input_tokens: None,
        output_tokens: None,
        request_id: None,
        prompt: None,
        completion: None,
        cost_usd: None,
        refused_by: None,
        request_bytes: None,
        response_bytes: None,
        guardrails: Vec::new(),
    };
    store.append_request_logs(&[log]).await.unwrap();
    let logs = store.request_logs(&RequestLogFilter { limit: 1, ..Default::default() }).await.unwrap();
    assert_eq!(logs[0].0, 13, "{url}: request log 12 was drawn on the source, so the next id is 13");
    assert_eq!(store.key_salt("another salt").await.unwrap(), "00112233445566778899aabbccddeeff");
    store.close().await;
}

#[tokio::test]
async fn every_table_has_rows_here() {
    let src = source().await;
    let schema = copy::tables(&src.url).await.unwrap();
    let rows = contents(&src.url).await;
    assert_eq!(schema.keys().collect::<Vec<_>>(), rows.keys().collect::<Vec<_>>());
    assert!(!schema.contains_key("schema_migrations"), "the target gets it by migrating");
    for (table, r) in &rows {
        assert!(
            !r.is_empty(),
            "table {table} has no rows in this test's deployment: add some to FIXTURE (crates/gatehouse-store/tests/copy.rs), \
             with the values its columns' conversions could get wrong, so that copying it is checked"
        );
    }
    if let Some(pg) = postgres_url() {
        // The Postgres schema has the same tables and columns.
        let db = testing::postgres(&pg).await.unwrap();
        copy::migrate(&db.url).await.unwrap();
        let pg_schema = copy::tables(&db.url).await.unwrap();
        assert_eq!(pg_schema.keys().collect::<Vec<_>>(), schema.keys().collect::<Vec<_>>());
        for (name, t) in &schema {
            let mut a: Vec<_> = t.columns.iter().map(|c| &c.name).collect();
            let mut b: Vec<_> = pg_schema[name].columns.iter().map(|c| &c.name).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{name}");
        }
    }
}

#[tokio::test]
async fn a_copy_holds_every_row_of_every_table_both_ways() {
    let src = source().await;
    let want = contents(&src.url).await;

    // SQLite to SQLite, into a target migrated beforehand (its `state` row is the migrations', not data).
    let dst = testing::sqlite();
    let m = copy::migrate(&dst.url).await.unwrap();
    assert_eq!((m.before, m.version), (0, copy::current_version()));
    let report = copy::copy(&src.url, &dst.url).await.unwrap();
    assert_eq!(report.schema_version, copy::current_version());
    assert_eq!(report.tables.iter().find(|(t, _)| t == "tokens").unwrap().1, 3);
    assert!(report.counters.contains(&("audit_events".into(), "id".into(), 3)), "{:?}", report.counters);
    // Parents before children.
    let pos = |t: &str| report.tables.iter().position(|(n, _)| n == t).unwrap();
    assert!(pos("roles") < pos("users") && pos("users") < pos("tokens") && pos("teams") < pos("virtual_accounts"));
    assert_eq!(contents(&dst.url).await, want);
    next_ids_follow_the_source(&dst.url).await;

    let Some(pg) = postgres_url() else { return };
    // SQLite to Postgres, into a database never migrated; and back to SQLite.
    let pg_db = testing::postgres(&pg).await.unwrap();
    let report = copy::copy(&src.url, &pg_db.url).await.unwrap();
    assert!(report.counters.contains(&("request_logs".into(), "id".into(), 12)), "{:?}", report.counters);
    assert_eq!(contents(&pg_db.url).await, want, "sqlite to postgres");
    let back = testing::sqlite();
    copy::copy(&pg_db.url, &back.url).await.unwrap();
    assert_eq!(contents(&back.url).await, want, "postgres to sqlite");
    // Postgres to Postgres.
    let pg_two = testing::postgres(&pg).await.unwrap();
    copy::copy(&pg_db.url, &pg_two.url).await.unwrap();
    assert_eq!(contents(&pg_two.url).await, want, "postgres to postgres");
    next_ids_follow_the_source(&pg_db.url).await;
    next_ids_follow_the_source(&back.url).await;
    next_ids_follow_the_source(&pg_two.url).await;
}

#[tokio::test]
async fn a_copy_refuses_a_target_with_data_and_changes_nothing() {
    let src = source().await;
    let mut targets = vec![testing::sqlite()];
    if let Some(pg) = postgres_url() {
        targets.push(testing::postgres(&pg).await.unwrap());
    }
    for dst in &targets {
        copy::migrate(&dst.url).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&dst.url).await.unwrap();
        sqlx::raw_sql("INSERT INTO teams (name, description) VALUES ('mine', 'already here')")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let before = contents(&dst.url).await;
        let e = copy::copy(&src.url, &dst.url).await.unwrap_err();
        assert!(matches!(&e, CopyError::TargetNotEmpty(t) if t == &[("teams".to_owned(), 1)]), "{e:?}");
        assert!(e.to_string().contains("not empty (teams: 1 rows)"), "{e}");
        assert_eq!(contents(&dst.url).await, before, "{}: a refused copy writes nothing", dst.label);
        // A copy that succeeded makes the target non-empty: a second one is refused too.
        let fresh = match dst.label {
            "sqlite" => testing::sqlite(),
            _ => testing::postgres(&std::env::var(testing::POSTGRES_ENV).unwrap()).await.unwrap(),
        };
        copy::copy(&src.url, &fresh.url).await.unwrap();
        let e = copy::copy(&src.url, &fresh.url).await.unwrap_err();
        assert!(e.to_string().contains("users: 2 rows"), "{e}");
    }
}

#[tokio::test]
async fn a_copy_needs_a_current_gatehouse_source() {
    sqlx::any::install_default_drivers();
    let src = source().await;
    let mut conn = sqlx::SqliteConnection::connect(&src.url).await.unwrap();
    sqlx::raw_sql("DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let dst = testing::sqlite();
    let e = copy::copy(&src.url, &dst.url).await.unwrap_err();
    let (found, expected) = (copy::current_version() - 1, copy::current_version());
    assert!(matches!(e, CopyError::SourceBehind { found: f, expected: x } if f == found && x == expected), "{e:?}");
    assert!(e.to_string().contains("run `gatehouse migrate`"), "{e}");

    let other = testing::sqlite();
    let mut conn = sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", other.url)).await.unwrap();
    sqlx::raw_sql("CREATE TABLE notes (x TEXT)").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let e = copy::copy(&other.url, &dst.url).await.unwrap_err();
    assert!(matches!(e, CopyError::NotGatehouse { .. }), "{e:?}");

    let missing = testing::sqlite();
    let e = copy::copy(&missing.url, &dst.url).await.unwrap_err();
    assert!(e.to_string().starts_with("cannot open the source database sqlite://"), "{e}");
    assert!(!std::path::Path::new(missing.url.trim_start_matches("sqlite://")).exists(), "a source is never created");
}

#[tokio::test]
async fn migrate_is_idempotent_and_fails_fast_when_the_database_is_unreachable() {
    let db = testing::sqlite();
    let first = copy::migrate(&db.url).await.unwrap();
    assert_eq!((first.before, first.version), (0, copy::current_version()));
    let again = copy::migrate(&db.url).await.unwrap();
    assert_eq!((again.before, again.version), (copy::current_version(), copy::current_version()));

    let started = Instant::now();
    let e = copy::migrate("postgres://gatehouse:secret@127.0.0.1:1/nowhere").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let msg = e.to_string();
    assert!(msg.starts_with("cannot open the database postgres://gatehouse:****@127.0.0.1:1/nowhere"), "{msg}");
    assert!(!msg.contains("secret"), "{msg}");
    let e = copy::copy(&db.url, "postgres://gatehouse:secret@127.0.0.1:1/nowhere").await.unwrap_err();
    assert!(e.to_string().starts_with("cannot open the target database postgres://gatehouse:****@"), "{e}");
}
