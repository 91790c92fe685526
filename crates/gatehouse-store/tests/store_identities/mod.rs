//! Identities of users and virtual accounts: given once, kept across updates, new for a name taken again;
//! request logs limited by identity; and the backfill of rows logged before identities existed.

use gatehouse_core::{BuiltinRole, Change, IdentityId, Subject};
use gatehouse_store::testing;
use gatehouse_store::{RequestLogFilter, SqlStore, Store};
use sqlx::Connection;

use crate::{at, backends, request, team, user, va};

fn ident(n: u8) -> IdentityId {
    IdentityId::from_bytes([n; 16])
}

fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

async fn identity_of(store: &dyn Store, s: &str) -> Option<IdentityId> {
    store.load().await.unwrap().identities.into_iter().find(|(x, _)| *x == subject(s)).map(|(_, id)| id)
}

#[tokio::test]
async fn identities_are_given_once_kept_across_updates_and_new_for_a_name_taken_again() {
    for b in backends().await {
        let store = b.store.as_ref();
        let base = [Change::PutRole(BuiltinRole::Member.default_role()), Change::PutTeam(team("ml", &[], &[]))];
        store.commit(&base, &[]).await.unwrap();
        let alice = "user:alice@example.com";
        let app = "virtualaccount:app";
        let created = [
            Change::PutUser(user("alice@example.com", "member")),
            Change::AssignIdentity { subject: subject(alice), id: ident(1) },
            Change::PutVirtualAccount(va("app", "ml", None)),
            Change::AssignIdentity { subject: subject(app), id: ident(2) },
        ];
        store.commit(&created, &[]).await.unwrap();
        assert_eq!(identity_of(store, alice).await, Some(ident(1)), "{}", b.label);
        assert_eq!(identity_of(store, app).await, Some(ident(2)), "{}", b.label);
        // An update leaves the identity alone.
        let mut edited = user("alice@example.com", "member");
        edited.display_name = "Alice A.".into();
        store
            .commit(&[Change::PutUser(edited), Change::PutVirtualAccount(va("app", "ml", Some(at(9))))], &[])
            .await
            .unwrap();
        assert_eq!(identity_of(store, alice).await, Some(ident(1)), "{}", b.label);
        assert_eq!(identity_of(store, app).await, Some(ident(2)), "{}", b.label);
        // Deleted and created again without one given: the database gives a fresh one, never the old one.
        store
            .commit(&[Change::DeleteUser(gatehouse_core::Email::new("alice@example.com").unwrap())], &[])
            .await
            .unwrap();
        store.commit(&[Change::DeleteVirtualAccount(gatehouse_core::VaName::new("app").unwrap())], &[]).await.unwrap();
        assert_eq!(identity_of(store, alice).await, None, "{}", b.label);
        store
            .commit(
                &[
                    Change::PutUser(user("alice@example.com", "member")),
                    Change::PutVirtualAccount(va("app", "ml", None)),
                ],
                &[],
            )
            .await
            .unwrap();
        for (s, old) in [(alice, ident(1)), (app, ident(2))] {
            let new = identity_of(store, s).await.unwrap_or_else(|| panic!("{}: {s} has no identity", b.label));
            assert_ne!(new, old, "{}", b.label);
            assert_eq!(IdentityId::parse(&new.to_string()), Some(new));
        }
        // The snapshot built from the load has them.
        let loaded = store.load().await.unwrap();
        let mut snap = gatehouse_core::Snapshot::from_world(loaded.world);
        for (s, id) in loaded.identities {
            snap.apply(&Change::AssignIdentity { subject: s, id });
        }
        assert_eq!(snap.identity(&subject(alice)), identity_of(store, alice).await);
        assert_eq!(snap.identity(&subject("team:ml")), None);
    }
}

#[tokio::test]
async fn request_logs_are_limited_by_identity() {
    for b in backends().await {
        let store = b.store.as_ref();
        let with = |n: i64, s: &str, id: Option<IdentityId>| {
            let mut l = request(n, s, "oa/gpt", 200);
            l.subject_id = id.map(|i| i.to_string());
            l
        };
        let logs = [
            with(1, "user:a@example.com", Some(ident(1))),
            // The same name, a later holder.
            with(2, "user:a@example.com", Some(ident(3))),
            with(3, "virtualaccount:app", Some(ident(2))),
            with(4, "user:a@example.com", None),
        ];
        store.append_request_logs(&logs).await.unwrap();
        let all = RequestLogFilter { limit: RequestLogFilter::MAX_LIMIT, ..RequestLogFilter::default() };
        let stored = store.request_logs(&all).await.unwrap();
        assert_eq!(stored.len(), 4, "{}", b.label);
        assert_eq!(stored[3].1, logs[0], "{}: subject_id round-trips", b.label);
        let only = |ids: &[u8]| RequestLogFilter {
            identities: Some(ids.iter().map(|n| ident(*n).to_string()).collect()),
            ..all.clone()
        };
        let ns = |rows: Vec<(i64, gatehouse_store::RequestLog)>| -> Vec<String> {
            rows.into_iter().map(|(_, l)| l.token_id).collect()
        };
        assert_eq!(ns(store.request_logs(&only(&[3])).await.unwrap()), ["tok2"], "{}", b.label);
        assert_eq!(ns(store.request_logs(&only(&[1, 2])).await.unwrap()), ["tok3", "tok1"], "{}", b.label);
        assert!(store.request_logs(&only(&[])).await.unwrap().is_empty(), "{}", b.label);
        // With a model too (parameters numbered after the list), and summed.
        let narrowed = RequestLogFilter { model: Some("oa/gpt".into()), ..only(&[3]) };
        assert_eq!(ns(store.request_logs(&narrowed).await.unwrap()), ["tok2"], "{}", b.label);
        let usage = store.usage_summary(&only(&[3])).await.unwrap();
        assert_eq!(usage.iter().map(|u| u.requests).sum::<i64>(), 1, "{}", b.label);
        let series = store
            .usage_series(&only(&[1]), gatehouse_store::UsageBucket::Day, gatehouse_store::UsageGroup::Subject)
            .await
            .unwrap();
        assert_eq!(series.iter().map(|u| u.requests).sum::<i64>(), 1, "{}", b.label);
    }
}

/// Applies migrations 1 to 4 only, as a database written by the previous release.
async fn at_version_4(url: &str) -> sqlx::AnyConnection {
    let postgres = url.starts_with("postgres");
    let files: [&str; 4] = if postgres {
        [
            include_str!("../../migrations/postgres/0001_init.sql"),
            include_str!("../../migrations/postgres/0002_audit.sql"),
            include_str!("../../migrations/postgres/0003_resources.sql"),
            include_str!("../../migrations/postgres/0004_request_logs.sql"),
        ]
    } else {
        [
            include_str!("../../migrations/sqlite/0001_init.sql"),
            include_str!("../../migrations/sqlite/0002_audit.sql"),
            include_str!("../../migrations/sqlite/0003_resources.sql"),
            include_str!("../../migrations/sqlite/0004_request_logs.sql"),
        ]
    };
    let url = if postgres { url.to_owned() } else { format!("{url}?mode=rwc") };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY NOT NULL, applied_at BIGINT NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    for (i, sql) in files.iter().enumerate() {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)")
            .bind(i as i64 + 1)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn
}

#[tokio::test]
async fn the_migration_gives_identities_and_attributes_old_rows_only_to_their_own_holder() {
    sqlx::any::install_default_drivers();
    for db in testing::all().await.unwrap() {
        let mut conn = at_version_4(&db.url).await;
        let active = if db.label == "postgres" { "TRUE" } else { "1" };
        let t = |n: i64| n * 1_000_000_000;
        let setup = [
            "INSERT INTO roles (name, display_name, description, permissions, builtin) VALUES ('member', 'M', 'd', '', 'member')".to_owned(),
            format!("INSERT INTO users (email, display_name, role, active) VALUES ('alice@example.com', 'A', 'member', {active})"),
            format!("INSERT INTO users (email, display_name, role, active) VALUES ('bob@example.com', 'B', 'member', {active})"),
            "INSERT INTO teams (name, description) VALUES ('ml', '')".to_owned(),
            "INSERT INTO virtual_accounts (name, owner_team, description) VALUES ('app', 'ml', '')".to_owned(),
            // alice was created before her request; bob's name was taken again after the first bob's request.
            format!("INSERT INTO audit_events (at, actor, action, object_kind, object_name, changes) VALUES ({}, 'system', 'user.create', 'user', 'alice@example.com', '{{}}')", t(1)),
            format!("INSERT INTO audit_events (at, actor, action, object_kind, object_name, changes) VALUES ({}, 'system', 'user.create', 'user', 'bob@example.com', '{{}}')", t(1)),
            format!("INSERT INTO audit_events (at, actor, action, object_kind, object_name, changes) VALUES ({}, 'system', 'user.create', 'user', 'bob@example.com', '{{}}')", t(5)),
        ];
        for sql in setup {
            sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
        }
        for (n, subject) in [
            (2, "user:alice@example.com"),
            (3, "user:bob@example.com"),
            (6, "user:bob@example.com"),
            (4, "virtualaccount:app"),
            (4, "user:gone@example.com"),
        ] {
            sqlx::query(
                "INSERT INTO request_logs (at, subject, token_id, model, route, status, latency_us) \
                 VALUES ($1, $2, $3, 'oa/gpt', 'chat', 200, 1)",
            )
            .bind(t(n))
            .bind(subject)
            .bind(format!("{subject}@{n}"))
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();

        let store = SqlStore::connect(&db.url).await.unwrap();
        let loaded = store.load().await.unwrap();
        let id = |s: &str| loaded.identities.iter().find(|(x, _)| *x == subject(s)).map(|(_, id)| id.to_string());
        let (alice, bob, app) = (id("user:alice@example.com"), id("user:bob@example.com"), id("virtualaccount:app"));
        assert!(alice.is_some() && bob.is_some() && app.is_some(), "{}: every user and account has one", db.label);
        assert!(alice != bob && bob != app, "{}", db.label);
        let rows = store.request_logs(&RequestLogFilter::default()).await.unwrap();
        let of =
            |token: &str| rows.iter().find(|(_, l)| l.token_id == token).map(|(_, l)| l.subject_id.clone()).unwrap();
        assert_eq!(of("user:alice@example.com@2"), alice, "{}", db.label);
        assert_eq!(of("user:bob@example.com@3"), None, "{}: the first bob's row stays with nobody", db.label);
        assert_eq!(of("user:bob@example.com@6"), bob, "{}", db.label);
        assert_eq!(of("virtualaccount:app@4"), app, "{}", db.label);
        assert_eq!(of("user:gone@example.com@4"), None, "{}", db.label);
        store.close().await;
    }
}
