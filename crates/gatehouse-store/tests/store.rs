#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every storage test runs against SQLite, and against Postgres when GATEHOUSE_TEST_POSTGRES_URL is set,
//! each test in a database of its own.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use gatehouse_core::{
    BuiltinRole, Change, CollaboratorRole, Email, Grant, PermSet, Permission, Role, RoleName, Secret, Snapshot, Team,
    TeamName, Token, TokenHash, TokenId, TokenKind, TokenOwner, User, VaName, VirtualAccount, World,
};
use gatehouse_store::testing::{self, TestDatabase};
use gatehouse_store::{
    AuditEvent, AuditFilter, AuditRecord, RequestLog, RequestLogFilter, SqlStore, Store, StoreError, UsageBucket,
    UsageGroup, UsageRow, UsageSeriesRow,
};
use sqlx::{Connection, Row};
use time::OffsetDateTime;

mod store_change_log;
mod store_filters;
mod store_identities;
mod store_mcp_sessions;
mod store_spend;

// ---------------------------------------------------------------------------------------------------------
// Backends

struct Backend {
    label: &'static str,
    url: String,
    store: Arc<SqlStore>,
    /// Held for its `Drop`, which removes the database.
    _db: TestDatabase,
}

impl Backend {
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Runs SQL that returns one integer, outside the store, to see what it does not expose.
    async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.unwrap();
        let v = sqlx::query(sql).fetch_one(&mut conn).await.unwrap().try_get::<i64, _>(0).unwrap();
        conn.close().await.unwrap();
        v
    }

    async fn execute(&self, sql: &str) {
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    async fn finish(self) {
        self.store.close().await;
    }
}

async fn backends() -> Vec<Backend> {
    sqlx::any::install_default_drivers();
    let mut out = Vec::new();
    for db in testing::all().await.expect("create the test databases") {
        let store = Arc::new(SqlStore::connect(&db.url).await.unwrap());
        out.push(Backend { label: db.label, url: db.url.clone(), store, _db: db });
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// Fixtures

/// Times with odd nanoseconds, to show they round-trip exactly.
fn at(n: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_000_000_000 + i128::from(n) * 1_000_000_007 + 123).unwrap()
}

fn email(s: &str) -> Email {
    Email::new(s).unwrap()
}

fn role(name: &str, perms: &[Permission]) -> Role {
    Role {
        name: RoleName::new(name).unwrap(),
        display_name: format!("The {name} role"),
        description: format!("What {name} does"),
        permissions: perms.iter().copied().collect(),
        builtin: None,
    }
}

fn builtin_roles() -> Vec<Change> {
    BuiltinRole::ALL.into_iter().map(|b| Change::PutRole(b.default_role())).collect()
}

fn user(e: &str, role: &str) -> User {
    User { email: email(e), display_name: format!("User {e}"), role: RoleName::new(role).unwrap(), active: true }
}

fn team(name: &str, members: &[&str], managers: &[&str]) -> Team {
    Team {
        name: TeamName::new(name).unwrap(),
        description: format!("Team {name}"),
        members: members.iter().chain(managers).map(|e| email(e)).collect(),
        managers: managers.iter().map(|e| email(e)).collect(),
    }
}

fn va(name: &str, owner: &str, expires_at: Option<OffsetDateTime>) -> VirtualAccount {
    VirtualAccount {
        name: VaName::new(name).unwrap(),
        owner_team: TeamName::new(owner).unwrap(),
        description: format!("Account {name}"),
        expires_at,
    }
}

fn token_id(n: u8) -> TokenId {
    TokenId::from_bytes([n, 1, 2, 3, 4, 5, 6, 7])
}

fn token(n: u8, owner: TokenOwner, expires_at: Option<OffsetDateTime>) -> Token {
    let kind = match (&owner, n % 2) {
        (TokenOwner::VirtualAccount(_), _) => TokenKind::VirtualAccount,
        (TokenOwner::User(_), 0) => TokenKind::Pat,
        (TokenOwner::User(_), _) => TokenKind::Session,
    };
    let mut hash = [0u8; 32];
    for (i, b) in hash.iter_mut().enumerate() {
        *b = n.wrapping_mul(31).wrapping_add(i as u8 * 7);
    }
    Token {
        id: token_id(n),
        kind,
        owner,
        name: format!("token {n}"),
        hash: TokenHash(hash),
        created_at: at(i64::from(n)),
        expires_at,
        revoked: false,
    }
}

fn user_owner(e: &str) -> TokenOwner {
    TokenOwner::User(email(e))
}

fn va_owner(v: &str) -> TokenOwner {
    TokenOwner::VirtualAccount(VaName::new(v).unwrap())
}

fn grant(resource: &str, subject: &str, role: CollaboratorRole) -> Grant {
    Grant { resource: resource.parse().unwrap(), subject: subject.parse().unwrap(), role }
}

fn password(s: &str) -> Secret<String> {
    Secret::new(format!("$argon2id$v=19$m=19456,t=2,p=1${s}"))
}

/// What the snapshot makes of the same changes: the store must agree with it.
fn oracle(batches: &[&[Change]]) -> World {
    let mut snap = Snapshot::default();
    for c in batches.iter().flat_map(|b| b.iter()) {
        snap.apply(c);
    }
    snap.to_world()
}

fn assert_world(label: &str, got: World, want: World) {
    let got = Snapshot::from_world(got).to_world();
    assert_eq!(got.roles, want.roles, "{label}: roles");
    assert_eq!(got.users, want.users, "{label}: users");
    assert_eq!(got.teams, want.teams, "{label}: teams");
    assert_eq!(got.virtual_accounts, want.virtual_accounts, "{label}: virtual accounts");
    assert_eq!(got.tokens, want.tokens, "{label}: tokens");
    assert_eq!(got.grants, want.grants, "{label}: grants");
}

async fn load(b: &Backend) -> (World, i64) {
    let l = b.store().load().await.unwrap();
    (l.world, l.version)
}

// ---------------------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn migrations_are_idempotent() {
    for b in backends().await {
        let changes = [builtin_roles(), vec![Change::PutUser(user("alice@example.com", "admin"))]].concat();
        b.store().commit(&changes, &[]).await.unwrap();
        let (before, v1) = load(&b).await;

        let again = SqlStore::connect(&b.url).await.unwrap();
        let l = again.load().await.unwrap();
        assert_eq!(l.version, v1, "{}", b.label);
        assert_world(b.label, l.world, Snapshot::from_world(before).to_world());
        again.close().await;

        assert_eq!(
            b.scalar("SELECT COUNT(*) FROM schema_migrations").await,
            gatehouse_store::MIGRATIONS,
            "{}",
            b.label
        );
        assert_eq!(b.scalar("SELECT COUNT(*) FROM state").await, 1, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn every_change_round_trips() {
    for b in backends().await {
        let alice = "alice@example.com";
        let bob = "bob@example.com";
        let carol = "carol@example.com";
        let dave = "dave@example.com";
        let mut first = builtin_roles();
        first.extend([
            Change::PutRole(role("empty", &[])),
            Change::PutRole(role("viewer", &[Permission::UserList, Permission::AgentRead])),
            Change::PutRole(role("doomed", &[Permission::SettingsList])),
            Change::PutUser(user(alice, "admin")),
            Change::PutUser(user(bob, "member")),
            Change::PutUser(User { active: false, ..user(carol, "viewer") }),
            Change::PutUser(user(dave, "empty")),
            Change::SetPassword { email: email(alice), hash: password("alice") },
            Change::PutTeam(team("ml", &[bob], &[alice])),
            Change::PutTeam(team("platform", &[], &[])),
            Change::PutTeam(team("doomed", &[dave], &[])),
            Change::PutVirtualAccount(va("ci", "ml", Some(at(50)))),
            Change::PutVirtualAccount(va("bot", "ml", None)),
            Change::PutToken(token(2, user_owner(alice), None)),
            Change::PutToken(token(3, user_owner(bob), Some(at(40)))),
            Change::PutToken(token(4, va_owner("ci"), Some(at(60)))),
            Change::PutToken(token(6, va_owner("bot"), None)),
            Change::SetTokenExpiry { id: token_id(2), expires_at: Some(at(90)) },
            Change::PutGrant(grant("provider-account:openai", "team:ml", CollaboratorRole::ProviderAccountUser)),
            Change::PutGrant(grant("mcp-server:search", &format!("user:{bob}"), CollaboratorRole::McpServerManager)),
            Change::PutGrant(grant("agent:triage", "virtualaccount:ci", CollaboratorRole::AgentViewer)),
            // The same key again: the role is replaced.
            Change::PutGrant(grant("provider-account:openai", "team:ml", CollaboratorRole::ProviderAccountManager)),
        ]);
        assert_eq!(b.store().commit(&first, &[]).await.unwrap(), 1, "{}", b.label);
        let (world, version) = load(&b).await;
        assert_eq!(version, 1, "{}", b.label);
        assert_world(b.label, world, oracle(&[&first]));

        let second = vec![
            Change::PutRole(Role { permissions: PermSet::all(), ..role("viewer", &[]) }),
            Change::PutUser(User {
                display_name: "Robert".into(),
                role: RoleName::new("viewer").unwrap(),
                ..user(bob, "member")
            }),
            Change::PutTeam(team("ml", &[alice], &[carol])),
            Change::DeleteTeam(TeamName::new("doomed").unwrap()),
            Change::DeleteUser(email(dave)),
            Change::DeleteRole(RoleName::new("doomed").unwrap()),
            Change::DeleteGrant(grant("mcp-server:search", &format!("user:{bob}"), CollaboratorRole::McpServerManager)),
            Change::RevokeToken(token_id(3)),
            Change::SetTokenExpiry { id: token_id(4), expires_at: None },
            Change::PutVirtualAccount(VirtualAccount { description: "moved".into(), ..va("ci", "platform", None) }),
            // As the operations plan it: the snapshot does not cascade, so the revocation is explicit.
            Change::RevokeToken(token_id(6)),
            Change::DeleteVirtualAccount(VaName::new("bot").unwrap()),
            Change::PutToken(token(8, user_owner(carol), Some(at(70)))),
        ];
        assert_eq!(b.store().commit(&second, &[]).await.unwrap(), 2, "{}", b.label);
        let (world, version) = load(&b).await;
        assert_eq!(version, 2, "{}", b.label);
        assert_world(b.label, world.clone(), oracle(&[&first, &second]));

        // Spot checks that do not lean on the oracle.
        let t4 = world.tokens.iter().find(|t| t.id == token_id(4)).unwrap();
        assert_eq!(t4.hash, token(4, va_owner("ci"), None).hash, "{}", b.label);
        assert_eq!(t4.created_at, at(4), "{}", b.label);
        assert_eq!(t4.expires_at, None, "{}", b.label);
        let t2 = world.tokens.iter().find(|t| t.id == token_id(2)).unwrap();
        assert_eq!(t2.expires_at, Some(at(90)), "{}", b.label);
        let ml = world.teams.iter().find(|t| t.name.as_str() == "ml").unwrap();
        assert_eq!(ml.members, [email(alice), email(carol)].into_iter().collect::<BTreeSet<_>>(), "{}", b.label);
        assert_eq!(ml.managers, [email(carol)].into_iter().collect::<BTreeSet<_>>(), "{}", b.label);
        assert!(b.store().password_hash(&email(alice)).await.unwrap().is_some(), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn every_commit_bumps_the_version() {
    for b in backends().await {
        assert_eq!(b.store().version().await.unwrap(), 0, "{}", b.label);
        assert_eq!(load(&b).await.1, 0, "{}", b.label);
        assert_eq!(b.store().commit(&builtin_roles(), &[]).await.unwrap(), 1, "{}", b.label);
        assert_eq!(b.store().commit(&[Change::PutUser(user("a@example.com", "admin"))], &[]).await.unwrap(), 2);
        assert_eq!(b.store().commit(&[Change::PutTeam(team("t", &["a@example.com"], &[]))], &[]).await.unwrap(), 3);
        assert_eq!(b.store().version().await.unwrap(), 3, "{}", b.label);
        assert_eq!(load(&b).await.1, 3, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn a_conditional_commit_lands_only_on_the_version_it_expects() {
    for b in backends().await {
        b.store().commit(&builtin_roles(), &[]).await.unwrap();
        let record = |n: &str| AuditRecord {
            at: at(0),
            actor: "system".into(),
            action: "user.create".into(),
            object_kind: "user".into(),
            object_name: n.into(),
            changes: "{}".into(),
            request_id: None,
        };
        let a = [Change::PutUser(user("a@example.com", "admin"))];
        assert_eq!(b.store().commit_at(1, &a, &[record("a")]).await.unwrap(), 2, "{}", b.label);
        // Worked out from version 1, which is gone: nothing of it is written, its audit record included.
        let stale = [Change::PutUser(user("b@example.com", "admin"))];
        let err = b.store().commit_at(1, &stale, &[record("b")]).await.unwrap_err();
        assert!(matches!(err, StoreError::Stale { expected: 1, found: 2 }), "{}: {err}", b.label);
        assert_eq!(b.store().version().await.unwrap(), 2, "{}", b.label);
        let (world, _) = load(&b).await;
        assert!(world.users.iter().all(|u| u.email.as_str() != "b@example.com"), "{}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM audit_events").await, 1, "{}", b.label);

        // Many processes racing from the same version: exactly one lands.
        let mut racers = Vec::new();
        for i in 0..8 {
            let store = Arc::new(SqlStore::connect(&b.url).await.unwrap());
            racers.push(tokio::spawn(async move {
                let c = [Change::PutUser(user(&format!("r{i}@example.com"), "member"))];
                let r = store.commit_at(2, &c, &[]).await;
                store.close().await;
                r
            }));
        }
        let mut landed = 0;
        for r in racers {
            match r.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v, 3, "{}", b.label);
                    landed += 1;
                }
                Err(StoreError::Stale { expected: 2, found: 3 }) => {}
                Err(e) => panic!("{}: {e}", b.label),
            }
        }
        assert_eq!(landed, 1, "{}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM users WHERE email LIKE 'r%'").await, 1, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn a_failed_batch_leaves_nothing() {
    for b in backends().await {
        let base = [builtin_roles(), vec![Change::PutUser(user("alice@example.com", "admin"))]].concat();
        b.store().commit(&base, &[]).await.unwrap();
        let (before, _) = load(&b).await;

        let batch = vec![
            Change::PutRole(role("new-role", &[Permission::TeamRead])),
            Change::PutUser(user("dave@example.com", "new-role")),
            Change::PutTeam(team("new-team", &["dave@example.com"], &["alice@example.com"])),
            Change::SetPassword { email: email("alice@example.com"), hash: password("changed") },
            Change::PutGrant(grant("agent:x", "team:new-team", CollaboratorRole::AgentManager)),
            // The owner does not exist: a foreign key violation, last in the batch.
            Change::PutToken(token(2, user_owner("ghost@example.com"), None)),
        ];
        let err = b.store().commit(&batch, &[]).await.unwrap_err();
        assert!(matches!(err, StoreError::Database(_)), "{}: {err}", b.label);

        let (after, version) = load(&b).await;
        assert_eq!(version, 1, "{}", b.label);
        assert_eq!(b.store().version().await.unwrap(), 1, "{}", b.label);
        assert_world(b.label, after, Snapshot::from_world(before).to_world());
        assert!(b.store().password_hash(&email("alice@example.com")).await.unwrap().is_none(), "{}", b.label);

        // The pool is still usable after the rollback.
        assert_eq!(b.store().commit(&[Change::PutRole(role("later", &[]))], &[]).await.unwrap(), 2, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn revoked_tokens_are_not_loaded() {
    for b in backends().await {
        let alice = "alice@example.com";
        let mut setup = builtin_roles();
        setup.extend([
            Change::PutUser(user(alice, "admin")),
            Change::PutToken(token(2, user_owner(alice), None)),
            Change::PutToken(token(4, user_owner(alice), None)),
        ]);
        b.store().commit(&setup, &[]).await.unwrap();
        b.store().commit(&[Change::RevokeToken(token_id(2)), Change::RevokeToken(token_id(99))], &[]).await.unwrap();
        let ids: Vec<_> = load(&b).await.0.tokens.into_iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![token_id(4)], "{}", b.label);
        // The row is kept.
        assert_eq!(b.scalar("SELECT COUNT(*) FROM tokens WHERE revoked_at IS NOT NULL").await, 1, "{}", b.label);

        // Revocation is for good, even if the token is put again.
        b.store().commit(&[Change::PutToken(token(2, user_owner(alice), None))], &[]).await.unwrap();
        let ids: Vec<_> = load(&b).await.0.tokens.into_iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![token_id(4)], "{}", b.label);

        // A token put already revoked is stored, never loaded.
        b.store()
            .commit(&[Change::PutToken(Token { revoked: true, ..token(6, user_owner(alice), None) })], &[])
            .await
            .unwrap();
        assert_eq!(load(&b).await.0.tokens.len(), 1, "{}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM tokens WHERE revoked_at IS NOT NULL").await, 2, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn deletes_cascade() {
    for b in backends().await {
        let alice = "alice@example.com";
        let bob = "bob@example.com";
        let mut setup = builtin_roles();
        setup.extend([
            Change::PutUser(user(alice, "admin")),
            Change::PutUser(user(bob, "member")),
            Change::PutTeam(team("ml", &[bob], &[alice])),
            Change::PutTeam(team("ops", &[alice, bob], &[])),
            Change::PutVirtualAccount(va("ci", "ml", None)),
            Change::PutToken(token(2, user_owner(alice), None)),
            Change::PutToken(token(3, user_owner(alice), None)),
            Change::PutToken(token(4, user_owner(bob), None)),
            Change::PutToken(token(6, va_owner("ci"), None)),
            Change::RevokeToken(token_id(3)),
        ]);
        b.store().commit(&setup, &[]).await.unwrap();

        // DeleteUser alone, without the team edits the operations would add: the store cascades by itself.
        b.store().commit(&[Change::DeleteUser(email(alice))], &[]).await.unwrap();
        let (world, _) = load(&b).await;
        assert_eq!(world.users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(), vec![bob], "{}", b.label);
        for t in &world.teams {
            assert!(!t.members.contains(alice) && !t.managers.contains(alice), "{}: {t:?}", b.label);
            assert!(t.members.contains(bob), "{}: {t:?}", b.label);
        }
        let ids: BTreeSet<_> = world.tokens.iter().map(|t| t.id.clone()).collect();
        assert_eq!(ids, [token_id(4), token_id(6)].into_iter().collect(), "{}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM tokens").await, 2, "{}: revoked rows go too", b.label);

        b.store().commit(&[Change::DeleteVirtualAccount(VaName::new("ci").unwrap())], &[]).await.unwrap();
        let ids: Vec<_> = load(&b).await.0.tokens.into_iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![token_id(4)], "{}", b.label);

        b.store().commit(&[Change::DeleteTeam(TeamName::new("ops").unwrap())], &[]).await.unwrap();
        assert_eq!(b.scalar("SELECT COUNT(*) FROM team_members WHERE team = 'ops'").await, 0, "{}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM team_members").await, 1, "{}", b.label);

        // A team that still owns a virtual account cannot go: the operations delete those first.
        b.store().commit(&[Change::PutVirtualAccount(va("cd", "ml", None))], &[]).await.unwrap();
        assert!(
            b.store().commit(&[Change::DeleteTeam(TeamName::new("ml").unwrap())], &[]).await.is_err(),
            "{}",
            b.label
        );
        b.finish().await;
    }
}

#[tokio::test]
async fn last_used_keeps_the_latest_time() {
    for b in backends().await {
        let alice = "alice@example.com";
        let mut setup = builtin_roles();
        setup.extend([
            Change::PutUser(user(alice, "admin")),
            Change::PutToken(token(2, user_owner(alice), None)),
            Change::PutToken(token(4, user_owner(alice), None)),
            Change::PutToken(token(6, user_owner(alice), None)),
        ]);
        let version = b.store().commit(&setup, &[]).await.unwrap();
        let store = b.store();
        assert!(store.last_used(&[token_id(2), token_id(4)]).await.unwrap().is_empty(), "{}", b.label);
        assert!(store.last_used(&[]).await.unwrap().is_empty(), "{}", b.label);

        store.touch_tokens(&[(token_id(2), at(5)), (token_id(4), at(3))]).await.unwrap();
        store.touch_tokens(&[(token_id(2), at(4)), (token_id(4), at(6)), (token_id(99), at(1))]).await.unwrap();
        store.touch_tokens(&[(token_id(4), at(8)), (token_id(4), at(7))]).await.unwrap();
        store.touch_tokens(&[]).await.unwrap();

        let got = store.last_used(&[token_id(2), token_id(4), token_id(6), token_id(99)]).await.unwrap();
        let want: HashMap<_, _> = [(token_id(2), at(5)), (token_id(4), at(8))].into_iter().collect();
        assert_eq!(got, want, "{}", b.label);
        assert_eq!(store.version().await.unwrap(), version, "{}: touching is not a state change", b.label);

        // Putting the token again (a rename, say) keeps when it was last used.
        store
            .commit(&[Change::PutToken(Token { name: "renamed".into(), ..token(2, user_owner(alice), None) })], &[])
            .await
            .unwrap();
        assert_eq!(store.last_used(&[token_id(2)]).await.unwrap().get(&token_id(2)), Some(&at(5)), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn password_hashes_are_kept_apart_from_user_edits() {
    for b in backends().await {
        let alice = email("alice@example.com");
        let mut setup = builtin_roles();
        setup.push(Change::PutUser(user("alice@example.com", "admin")));
        b.store().commit(&setup, &[]).await.unwrap();
        assert!(b.store().password_hash(&alice).await.unwrap().is_none(), "{}", b.label);
        assert!(b.store().password_hash(&email("nobody@example.com")).await.unwrap().is_none(), "{}", b.label);

        b.store().commit(&[Change::SetPassword { email: alice.clone(), hash: password("one") }], &[]).await.unwrap();
        assert_eq!(b.store().password_hash(&alice).await.unwrap(), Some(password("one")), "{}", b.label);

        let edited = User { display_name: "Alice A.".into(), active: false, ..user("alice@example.com", "member") };
        b.store().commit(&[Change::PutUser(edited)], &[]).await.unwrap();
        assert_eq!(b.store().password_hash(&alice).await.unwrap(), Some(password("one")), "{}", b.label);

        b.store().commit(&[Change::SetPassword { email: alice.clone(), hash: password("two") }], &[]).await.unwrap();
        assert_eq!(b.store().password_hash(&alice).await.unwrap(), Some(password("two")), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn unknown_stored_values_are_corrupt() {
    for b in backends().await {
        b.store().commit(&builtin_roles(), &[]).await.unwrap();
        b.execute("UPDATE roles SET permissions = 'user:list,widget:polish' WHERE name = 'member'").await;
        let err = b.store().load().await.err().expect("load must fail");
        assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("widget:polish")), "{}: {err}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn two_stores_on_one_database_take_turns() {
    for b in backends().await {
        b.store().commit(&builtin_roles(), &[]).await.unwrap();
        let other = Arc::new(SqlStore::connect(&b.url).await.unwrap());
        let writer = |s: Arc<SqlStore>, prefix: &'static str| async move {
            let mut versions = Vec::new();
            for i in 0..15 {
                versions.push(s.commit(&[Change::PutRole(role(&format!("{prefix}-{i}"), &[]))], &[]).await.unwrap());
            }
            versions
        };
        let (a, c) = tokio::join!(tokio::spawn(writer(b.store.clone(), "a")), tokio::spawn(writer(other.clone(), "b")));
        let mut all: Vec<i64> = a.unwrap().into_iter().chain(c.unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (2..=31).collect::<Vec<_>>(), "{}", b.label);
        assert_eq!(other.version().await.unwrap(), 31, "{}", b.label);
        assert_eq!(load(&b).await.0.roles.len(), 3 + 30, "{}", b.label);
        other.close().await;
        b.finish().await;
    }
}

#[tokio::test]
async fn sqlite_files_are_in_wal_mode() {
    sqlx::any::install_default_drivers();
    let db = testing::sqlite();
    let store = Arc::new(SqlStore::connect(&db.url).await.unwrap());
    let b = Backend { label: db.label, url: db.url.clone(), store, _db: db };
    let mut conn = sqlx::AnyConnection::connect(&b.url).await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap().try_get(0).unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
    b.finish().await;
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.commit(&builtin_roles(), &[]).await.unwrap(), 1);
    let l = store.load().await.unwrap();
    assert_eq!((l.version, l.world.roles.len()), (1, 3));
}

#[tokio::test]
async fn other_urls_are_refused() {
    let err = SqlStore::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err}");
}

// ---------------------------------------------------------------------------------------------------------
// The audit log

fn record(n: i64, actor: &str, action: &str, kind: &str, name: &str) -> AuditRecord {
    AuditRecord {
        at: at(n),
        actor: actor.into(),
        action: action.into(),
        object_kind: kind.into(),
        object_name: name.into(),
        changes: format!(r#"{{"n":{n}}}"#),
        request_id: Some(format!("req-{n}")),
    }
}

async fn events(b: &Backend, filter: AuditFilter) -> Vec<AuditEvent> {
    b.store().audit_events(&filter).await.unwrap()
}

fn all_events() -> AuditFilter {
    AuditFilter { limit: AuditFilter::MAX_LIMIT, ..AuditFilter::default() }
}

fn ids(events: &[AuditEvent]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}

fn records(events: &[AuditEvent]) -> Vec<AuditRecord> {
    events.iter().map(|e| e.record.clone()).collect()
}

#[tokio::test]
async fn audit_events_are_committed_with_their_changes() {
    for b in backends().await {
        assert!(events(&b, all_events()).await.is_empty(), "{}", b.label);
        let alice = "alice@example.com";
        let roles: Vec<AuditRecord> = BuiltinRole::ALL
            .into_iter()
            .enumerate()
            .map(|(i, r)| AuditRecord {
                request_id: None,
                ..record(i as i64, "system", "role.create", "role", r.name())
            })
            .collect();
        b.store().commit(&builtin_roles(), &roles).await.unwrap();

        // Text is kept byte for byte, whatever it holds: the store does not parse it.
        let created = AuditRecord {
            changes: r#"{"display_name":"Zoë \"Z\" O'Brien","role":"admin","nested":{"a":[1,2.5,null]}}"#.into(),
            ..record(10, "user:root@example.com", "user.create", "user", alice)
        };
        let issued = record(10, "user:root@example.com", "token.issue", "token", token_id(2).as_str());
        let v = b
            .store()
            .commit(
                &[Change::PutUser(user(alice, "admin")), Change::PutToken(token(2, user_owner(alice), None))],
                &[created.clone(), issued.clone()],
            )
            .await
            .unwrap();
        assert_eq!(v, 2, "{}", b.label);
        // A commit may carry changes and no events (the tests above all do), or events and no changes.
        b.store().commit(&[], &[record(11, "system", "settings.check", "settings", "-")]).await.unwrap();

        let got = events(&b, all_events()).await;
        let mut want = roles.clone();
        want.extend([created, issued, record(11, "system", "settings.check", "settings", "-")]);
        want.reverse();
        assert_eq!(records(&got), want, "{}: newest first, every field round-trips", b.label);
        // Ids rise by one within a commit, in the order given, and from one commit to the next.
        let mut asc = ids(&got);
        asc.reverse();
        assert!(asc.windows(2).all(|w| w[1] == w[0] + 1), "{}: {asc:?}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM audit_events").await, 6, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn a_failed_batch_leaves_no_events() {
    for b in backends().await {
        b.store().commit(&builtin_roles(), &[record(1, "system", "role.create", "role", "admin")]).await.unwrap();
        let before = events(&b, all_events()).await;

        // A foreign key violation in the changes: the events go with them.
        let batch = vec![
            Change::PutUser(user("dave@example.com", "member")),
            Change::PutToken(token(2, user_owner("ghost@example.com"), None)),
        ];
        let audit = [
            record(2, "system", "user.create", "user", "dave@example.com"),
            record(3, "system", "token.issue", "token", "x"),
        ];
        let err = b.store().commit(&batch, &audit).await.unwrap_err();
        assert!(matches!(err, StoreError::Database(_)), "{}: {err}", b.label);
        assert_eq!(events(&b, all_events()).await, before, "{}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM audit_events").await, 1, "{}", b.label);

        // An event that cannot be stored (a time past 2262): the changes go with it.
        let unstorable = AuditRecord {
            at: OffsetDateTime::from_unix_timestamp(10_000_000_000).unwrap(),
            ..record(4, "system", "user.create", "user", "erin@example.com")
        };
        let good = record(5, "system", "user.create", "user", "erin@example.com");
        let err = b
            .store()
            .commit(&[Change::PutUser(user("erin@example.com", "member"))], &[good, unstorable])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Database(_)), "{}: {err}", b.label);
        let (world, version) = load(&b).await;
        assert!(world.users.is_empty(), "{}: {:?}", b.label, world.users);
        assert_eq!(version, 1, "{}", b.label);
        assert_eq!(events(&b, all_events()).await, before, "{}", b.label);

        // And the next commit's events follow on.
        b.store()
            .commit(&[Change::PutRole(role("later", &[]))], &[record(6, "system", "role.create", "role", "later")])
            .await
            .unwrap();
        let got = events(&b, all_events()).await;
        assert_eq!(got.len(), 2, "{}", b.label);
        assert!(got[0].id > got[1].id, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn audit_events_filter_and_page() {
    for b in backends().await {
        let alice = "user:alice@example.com";
        let bob = "user:bob@example.com";
        // Ten events over four commits; `at` is the record number, except that event 8 is stamped earliest:
        // the order is that of commits, never of the callers' clocks.
        let all = vec![
            record(0, "system", "role.create", "role", "admin"),
            record(1, "system", "role.create", "role", "member"),
            record(2, alice, "user.create", "user", "bob@example.com"),
            record(3, alice, "role.update", "role", "member"),
            record(4, bob, "token.issue", "token", "t1"),
            record(5, alice, "user.update", "user", "bob@example.com"),
            record(6, bob, "token.revoke", "token", "t1"),
            record(7, alice, "virtual-account.rotate", "virtual-account", "ci"),
            AuditRecord { at: at(-5), ..record(8, bob, "user.update", "user", "bob@example.com") },
            AuditRecord { request_id: None, ..record(9, "system", "role.create", "role", "member") },
        ];
        for batch in [&all[0..2], &all[2..5], &all[5..8], &all[8..10]] {
            b.store().commit(&[], batch).await.unwrap();
        }
        let newest_first = |pick: &[usize]| pick.iter().rev().map(|&i| all[i].clone()).collect::<Vec<_>>();

        let everything = events(&b, all_events()).await;
        assert_eq!(records(&everything), newest_first(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), "{}", b.label);
        assert_eq!(events(&b, all_events()).await, everything, "{}: the same twice", b.label);
        let id_of = |i: usize| everything[9 - i].id;

        let by_actor = events(&b, AuditFilter { actor: Some(alice.into()), ..all_events() }).await;
        assert_eq!(records(&by_actor), newest_first(&[2, 3, 5, 7]), "{}", b.label);
        let nobody = events(&b, AuditFilter { actor: Some("user:nobody@example.com".into()), ..all_events() }).await;
        assert!(nobody.is_empty(), "{}", b.label);

        let object = AuditFilter {
            object_kind: Some("user".into()),
            object_name: Some("bob@example.com".into()),
            ..all_events()
        };
        assert_eq!(records(&events(&b, object.clone()).await), newest_first(&[2, 5, 8]), "{}", b.label);
        let by_kind = AuditFilter { object_kind: Some("role".into()), ..all_events() };
        assert_eq!(records(&events(&b, by_kind).await), newest_first(&[0, 1, 3, 9]), "{}", b.label);
        // The same name under another kind is another object.
        let member =
            AuditFilter { object_kind: Some("role".into()), object_name: Some("member".into()), ..all_events() };
        assert_eq!(records(&events(&b, member).await), newest_first(&[1, 3, 9]), "{}", b.label);
        let by_name = AuditFilter { object_name: Some("t1".into()), ..all_events() };
        assert_eq!(records(&events(&b, by_name).await), newest_first(&[4, 6]), "{}", b.label);

        // `since` is inclusive and `until` exclusive, to the nanosecond.
        let range = AuditFilter { since: Some(at(3)), until: Some(at(6)), ..all_events() };
        assert_eq!(records(&events(&b, range).await), newest_first(&[3, 4, 5]), "{}", b.label);
        let just_after = AuditFilter {
            since: Some(at(3) + time::Duration::nanoseconds(1)),
            until: Some(at(6) + time::Duration::nanoseconds(1)),
            ..all_events()
        };
        assert_eq!(records(&events(&b, just_after).await), newest_first(&[4, 5, 6]), "{}", b.label);
        let early = AuditFilter { until: Some(at(1)), ..all_events() };
        assert_eq!(records(&events(&b, early).await), newest_first(&[0, 8]), "{}", b.label);
        let late = AuditFilter { since: Some(at(7)), ..all_events() };
        assert_eq!(records(&events(&b, late).await), newest_first(&[7, 9]), "{}", b.label);

        // Everything at once.
        let combined = AuditFilter {
            actor: Some(alice.into()),
            since: Some(at(3)),
            until: Some(at(9)),
            before_id: Some(id_of(7)),
            limit: 1,
            ..object.clone()
        };
        assert_eq!(records(&events(&b, combined).await), newest_first(&[5]), "{}", b.label);

        // Paging: each page starts below the last id of the one before, and together they are the whole log.
        for size in [1, 3, 4, 10, 11] {
            let mut pages = Vec::new();
            let mut before_id = None;
            loop {
                let page = events(&b, AuditFilter { before_id, limit: size, ..AuditFilter::default() }).await;
                assert!(page.len() <= size as usize, "{}", b.label);
                let Some(last) = page.last() else { break };
                before_id = Some(last.id);
                pages.extend(page);
            }
            assert_eq!(pages, everything, "{}: pages of {size}", b.label);
        }
        let paged_object = AuditFilter { before_id: Some(id_of(5)), ..object };
        assert_eq!(records(&events(&b, paged_object).await), newest_first(&[2]), "{}", b.label);
        let below_all = AuditFilter { before_id: Some(id_of(0)), ..all_events() };
        assert!(events(&b, below_all).await.is_empty(), "{}", b.label);

        // Limits.
        assert!(events(&b, AuditFilter { limit: 0, ..all_events() }).await.is_empty(), "{}", b.label);
        let two = events(&b, AuditFilter { limit: 2, ..all_events() }).await;
        assert_eq!(two, everything[..2].to_vec(), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn audit_limit_is_capped() {
    for b in backends().await {
        let many: Vec<AuditRecord> =
            (0..1005).map(|i| record(i, "system", "user.update", "user", &format!("u{i}@example.com"))).collect();
        b.store().commit(&[], &many).await.unwrap();
        assert_eq!(AuditFilter::default().limit, AuditFilter::DEFAULT_LIMIT);
        assert_eq!(events(&b, AuditFilter::default()).await.len(), 100, "{}", b.label);
        for limit in [1000, 1001, u32::MAX] {
            let got = events(&b, AuditFilter { limit, ..AuditFilter::default() }).await;
            assert_eq!(got.len(), 1000, "{}: limit {limit}", b.label);
            assert_eq!(got[0].record, many[1004], "{}", b.label);
            assert_eq!(got[999].record, many[5], "{}", b.label);
        }
        // The rest is one page further on.
        let first = events(&b, AuditFilter { limit: 1000, ..AuditFilter::default() }).await;
        let rest = events(&b, AuditFilter { before_id: first.last().map(|e| e.id), ..all_events() }).await;
        assert_eq!(records(&rest), many[..5].iter().rev().cloned().collect::<Vec<_>>(), "{}", b.label);
        b.finish().await;
    }
}

/// Ids follow commit order even with writers racing from two stores (on Postgres, from two pools whose
/// transactions are not otherwise serialised), so paging by id never skips an event committed late.
#[tokio::test]
async fn audit_ids_follow_commit_order() {
    for b in backends().await {
        b.store().commit(&builtin_roles(), &[]).await.unwrap();
        let other = Arc::new(SqlStore::connect(&b.url).await.unwrap());
        let writer = |s: Arc<SqlStore>, prefix: &'static str| async move {
            let mut out = Vec::new();
            for i in 0..15 {
                let name = format!("{prefix}-{i}");
                let audit = [
                    record(i, "system", "role.create", "role", &name),
                    record(i, "system", "role.update", "role", &name),
                ];
                let version = s.commit(&[Change::PutRole(role(&name, &[]))], &audit).await.unwrap();
                out.push((name, version));
            }
            out
        };
        let (x, y) = tokio::join!(tokio::spawn(writer(b.store.clone(), "a")), tokio::spawn(writer(other.clone(), "b")));
        let version_of: HashMap<String, i64> = x.unwrap().into_iter().chain(y.unwrap()).collect();

        let mut got = events(&b, all_events()).await;
        got.reverse();
        assert_eq!(got.len(), 60, "{}", b.label);
        let versions: Vec<i64> = got.iter().map(|e| version_of[&e.record.object_name]).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(versions, sorted, "{}: ids in commit order", b.label);
        // Each commit's two events are adjacent, create before update.
        for pair in got.chunks(2) {
            assert_eq!(pair[0].record.object_name, pair[1].record.object_name, "{}", b.label);
            assert_eq!((pair[0].record.action.as_str(), pair[1].id), ("role.create", pair[0].id + 1), "{}", b.label);
        }
        other.close().await;
        b.finish().await;
    }
}

/// A database made before the audit log gets it on the next start, and keeps its data.
#[tokio::test]
async fn a_version_one_database_is_upgraded() {
    sqlx::any::install_default_drivers();
    let mut dbs = vec![testing::sqlite()];
    if let Ok(url) = std::env::var(testing::POSTGRES_ENV) {
        if !url.is_empty() {
            dbs.push(testing::postgres(&url).await.unwrap());
        }
    }
    for db in dbs {
        let init = match db.label {
            "sqlite" => include_str!("../migrations/sqlite/0001_init.sql"),
            _ => include_str!("../migrations/postgres/0001_init.sql"),
        };
        let url = if db.label == "sqlite" { format!("{}?mode=rwc", db.url) } else { db.url.clone() };
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(init).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY NOT NULL, applied_at BIGINT NOT NULL); \
             INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0); \
             INSERT INTO roles (name, display_name, description, permissions, builtin) \
             VALUES ('old', 'Old', 'From before', '', NULL); \
             UPDATE state SET version = 7 WHERE id = 1",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = Arc::new(SqlStore::connect(&db.url).await.unwrap());
        let b = Backend { label: db.label, url: db.url.clone(), store, _db: db };
        assert_eq!(
            b.scalar("SELECT COUNT(*) FROM schema_migrations").await,
            gatehouse_store::MIGRATIONS,
            "{}",
            b.label
        );
        let (world, version) = load(&b).await;
        assert_eq!((world.roles.len(), version), (1, 7), "{}", b.label);
        let audit = [record(1, "system", "role.delete", "role", "old")];
        b.store().commit(&[Change::DeleteRole(RoleName::new("old").unwrap())], &audit).await.unwrap();
        assert_eq!(records(&events(&b, all_events()).await), audit.to_vec(), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn resources_round_trip_with_sealed_credentials() {
    use gatehouse_core::resource::{ResourceRecord, ResourceSpec, Sealed};
    use gatehouse_core::spec::{GatewayControlKind, GatewayControlSpec, ProviderAccountSpec, ProviderKind};
    for b in backends().await {
        b.store().commit(&builtin_roles(), &[]).await.unwrap();
        let account = ProviderAccountSpec::deserialize_for(
            ProviderKind::AwsBedrock,
            serde_json::json!({"name": "bedrock", "region": "us-east-1",
                "models": [{"name": "titan", "model_id": "amazon.titan-text-express-v1", "types": ["chat"],
                            "authorized_subjects": ["team:ml"]}]}),
        )
        .unwrap();
        let control = GatewayControlSpec::deserialize_for(
            GatewayControlKind::Budget,
            serde_json::json!({"name": "budget", "rules": [{"id": "m", "when": {}, "limit_to": 12.5, "unit": "cost_per_month"}]}),
        )
        .unwrap();
        let records = vec![
            ResourceRecord {
                spec: ResourceSpec::ProviderAccount(account),
                sealed_auth: Some(Sealed(std::sync::Arc::from(vec![1u8, 2, 3, 0, 255]))),
            },
            ResourceRecord { spec: ResourceSpec::GatewayControl(control), sealed_auth: None },
        ];
        let changes: Vec<Change> = records.iter().cloned().map(Change::PutResource).collect();
        b.store().commit(&changes, &[]).await.unwrap();
        let (world, _) = load(&b).await;
        let mut want = records.clone();
        want.sort_by_key(|r| r.resource());
        let mut got = world.resources.clone();
        got.sort_by_key(|r| r.resource());
        assert_eq!(got, want, "{}", b.label);
        b.store().commit(&[Change::DeleteResource(records[1].resource())], &[]).await.unwrap();
        assert_eq!(load(&b).await.0.resources.len(), 1, "{}", b.label);
        b.finish().await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// The request log

fn request(n: i64, subject: &str, model: &str, status: u16) -> RequestLog {
    RequestLog {
        at: at(n),
        subject: subject.into(),
        subject_id: None,
        token_id: format!("tok{n}"),
        virtual_account: subject.strip_prefix("virtualaccount:").map(str::to_owned),
        model: model.into(),
        route: "chat".into(),
        status,
        latency_us: 1000 * n,
        upstream_latency_us: (n % 2 == 0).then_some(900 * n),
        input_tokens: (status < 400).then_some(10 * n),
        output_tokens: (status < 400).then_some(n),
        request_id: Some(format!("req-{n}")),
        prompt: (n == 1).then(|| "a prompt, with 'quotes' and ünïcode".to_owned()),
        completion: None,
        // Quarters: sums of them are exact in floating point, whatever order a database adds them in.
        cost_usd: (status < 400).then_some(0.25 * n as f64),
        refused_by: (status == 429).then(|| "limits/per-user".to_owned()),
        request_bytes: (n % 4 != 0).then_some(100 * n as u64),
        response_bytes: (status < 400 && n % 5 != 0).then_some(1_000 * n as u64),
        guardrails: Vec::new(),
    }
}

fn all_requests() -> RequestLogFilter {
    RequestLogFilter { limit: RequestLogFilter::MAX_LIMIT, ..RequestLogFilter::default() }
}

async fn requests(b: &Backend, filter: RequestLogFilter) -> Vec<(i64, RequestLog)> {
    b.store().request_logs(&filter).await.unwrap()
}

fn numbers(rows: &[(i64, RequestLog)]) -> Vec<String> {
    rows.iter().map(|(_, l)| l.token_id.clone()).collect()
}

#[tokio::test]
async fn request_logs_round_trip_without_a_version_bump() {
    for b in backends().await {
        let v0 = b.store().version().await.unwrap();
        let logs: Vec<RequestLog> = (1..=150)
            .map(|n| {
                request(n, if n % 3 == 0 { "virtualaccount:checkout" } else { "user:a@example.com" }, "oa/gpt", 200)
            })
            .collect();
        // More than one INSERT's worth of rows, in one call.
        b.store().append_request_logs(&logs).await.unwrap();
        b.store().append_request_logs(&[]).await.unwrap();
        assert_eq!(b.store().version().await.unwrap(), v0, "{}", b.label);
        let got = requests(&b, all_requests()).await;
        let mut want = logs.clone();
        want.reverse();
        assert_eq!(got.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(), want, "{}", b.label);
        assert!(got.windows(2).all(|w| w[0].0 > w[1].0), "{}: newest first", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn request_log_sizes_round_trip() {
    for b in backends().await {
        let sized = |n: i64, request_bytes, response_bytes| RequestLog {
            request_bytes,
            response_bytes,
            ..request(n, "user:a@example.com", "mcp-server/tool", 200)
        };
        // Past 32 bits, zero, and unknown.
        let logs = [sized(1, Some(5_000_000_000), Some(0)), sized(2, None, Some(7)), sized(3, Some(1), None)];
        b.store().append_request_logs(&logs).await.unwrap();
        // A row as a release before sizes were stored wrote it: no sizes.
        b.execute(
            "INSERT INTO request_logs (at, subject, token_id, model, route, status, latency_us) \
             VALUES (4000000000, 'user:old@example.com', 'tok', 'oa/gpt', 'chat', 200, 5)",
        )
        .await;
        let got = requests(&b, all_requests()).await;
        let got: Vec<RequestLog> = got.into_iter().map(|(_, l)| l).collect();
        assert_eq!(got.len(), 4, "{}", b.label);
        assert_eq!((got[0].request_bytes, got[0].response_bytes), (None, None), "{}", b.label);
        let mut want = logs.to_vec();
        want.reverse();
        assert_eq!(got[1..], want[..], "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn request_logs_filter_and_page() {
    for b in backends().await {
        let logs = [
            request(1, "user:a@example.com", "oa/gpt", 200),
            request(2, "user:b@example.com", "oa/gpt", 200),
            request(3, "virtualaccount:checkout", "an/claude", 500),
            request(4, "user:a@example.com", "an/claude", 200),
            request(5, "user:b@example.com", "oa/gpt", 429),
        ];
        b.store().append_request_logs(&logs).await.unwrap();
        let only = |subjects: &[&str]| RequestLogFilter {
            subjects: Some(subjects.iter().map(|s| (*s).to_owned()).collect()),
            ..all_requests()
        };
        let a = requests(&b, only(&["user:a@example.com"])).await;
        assert_eq!(numbers(&a), ["tok4", "tok1"], "{}", b.label);
        let two = requests(&b, only(&["user:a@example.com", "virtualaccount:checkout"])).await;
        assert_eq!(numbers(&two), ["tok4", "tok3", "tok1"], "{}", b.label);
        assert!(requests(&b, only(&[])).await.is_empty(), "{}: an empty list matches nothing", b.label);
        let gpt = requests(&b, RequestLogFilter { model: Some("oa/gpt".into()), ..all_requests() }).await;
        assert_eq!(numbers(&gpt), ["tok5", "tok2", "tok1"], "{}", b.label);
        let window = requests(&b, RequestLogFilter { since: Some(at(2)), until: Some(at(4)), ..all_requests() }).await;
        assert_eq!(numbers(&window), ["tok3", "tok2"], "{}: since inclusive, until exclusive", b.label);
        let combined = RequestLogFilter { model: Some("oa/gpt".into()), ..only(&["user:b@example.com"]) };
        assert_eq!(numbers(&requests(&b, combined).await), ["tok5", "tok2"], "{}", b.label);

        // Paging: two at a time, each page after the last id of the one before.
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let page = requests(&b, RequestLogFilter { before_id: before, limit: 2, ..all_requests() }).await;
            if page.is_empty() {
                break;
            }
            before = page.last().map(|(id, _)| *id);
            pages.push(numbers(&page));
        }
        assert_eq!(pages, [vec!["tok5", "tok4"], vec!["tok3", "tok2"], vec!["tok1"]], "{}", b.label);
        assert!(requests(&b, RequestLogFilter { limit: 0, ..all_requests() }).await.is_empty(), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn request_log_limit_is_capped() {
    for b in backends().await {
        let logs: Vec<RequestLog> = (1..=1005).map(|n| request(n, "user:a@example.com", "oa/gpt", 200)).collect();
        b.store().append_request_logs(&logs).await.unwrap();
        let got = requests(&b, RequestLogFilter { limit: u32::MAX, ..all_requests() }).await;
        assert_eq!(got.len(), RequestLogFilter::MAX_LIMIT as usize, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn usage_is_summed_per_subject_and_model() {
    for b in backends().await {
        let logs = [
            request(1, "user:a@example.com", "oa/gpt", 200),
            request(2, "user:a@example.com", "oa/gpt", 200),
            request(3, "user:a@example.com", "oa/gpt", 502),
            request(4, "user:a@example.com", "an/claude", 200),
            request(5, "virtualaccount:checkout", "oa/gpt", 400),
            request(6, "user:b@example.com", "oa/gpt", 200),
            // Logged before costs were stored: its tokens are summed apart, for a report to price.
            RequestLog { cost_usd: None, ..request(7, "user:b@example.com", "oa/gpt", 200) },
            // One upstream attempt of a routed call: beside its call's row, not a request of its own.
            RequestLog {
                route: "chat:attempt".into(),
                input_tokens: None,
                output_tokens: None,
                cost_usd: None,
                ..request(8, "user:a@example.com", "oa/gpt", 503)
            },
        ];
        b.store().append_request_logs(&logs).await.unwrap();
        let row = |subject: &str, model: &str, requests, errors, input, output, latency| UsageRow {
            subject: subject.into(),
            model: model.into(),
            requests,
            errors,
            input_tokens: input,
            output_tokens: output,
            total_latency_us: latency,
            cost_usd: None,
            uncosted_input_tokens: 0,
            uncosted_output_tokens: 0,
        };
        let cost = |r: UsageRow, cost: Option<f64>, uncosted: (i64, i64)| UsageRow {
            cost_usd: cost,
            uncosted_input_tokens: uncosted.0,
            uncosted_output_tokens: uncosted.1,
            ..r
        };
        let all = b.store().usage_summary(&all_requests()).await.unwrap();
        assert_eq!(
            all,
            [
                cost(row("user:a@example.com", "an/claude", 1, 0, 40, 4, 4000), Some(1.0), (0, 0)),
                cost(row("user:a@example.com", "oa/gpt", 3, 1, 30, 3, 6000), Some(0.75), (0, 0)),
                cost(row("user:b@example.com", "oa/gpt", 2, 0, 130, 13, 13000), Some(1.5), (70, 7)),
                // No token counts at all: sums of nothing are 0, not missing; no cost at all is missing.
                row("virtualaccount:checkout", "oa/gpt", 1, 1, 0, 0, 5000),
            ],
            "{}",
            b.label
        );
        assert_eq!(all[1].avg_latency_us(), 2000.0);
        let mine = RequestLogFilter {
            subjects: Some(vec!["user:a@example.com".into()]),
            model: Some("oa/gpt".into()),
            since: Some(at(2)),
            // The limit does not cut groups.
            limit: 1,
            ..all_requests()
        };
        let got = b.store().usage_summary(&mine).await.unwrap();
        assert_eq!(
            got,
            [cost(row("user:a@example.com", "oa/gpt", 2, 1, 20, 2, 5000), Some(0.5), (0, 0))],
            "{}",
            b.label
        );
        let none = RequestLogFilter { subjects: Some(Vec::new()), ..all_requests() };
        assert!(b.store().usage_summary(&none).await.unwrap().is_empty(), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn usage_is_summed_per_time_bucket_in_utc() {
    // 1_800_000_000 is a whole UTC hour (08:00), not a whole day.
    let t = |secs: i64, nanos: i64| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(secs) * 1_000_000_000 + i128::from(nanos)).unwrap()
    };
    let hour = 1_800_000_000;
    let log = |when: OffsetDateTime, subject: &str, model: &str, status: u16, tokens: Option<(i64, i64)>| RequestLog {
        at: when,
        input_tokens: tokens.map(|x| x.0),
        output_tokens: tokens.map(|x| x.1),
        ..request(1, subject, model, status)
    };
    let logs = [
        log(t(hour, 10), "user:a@example.com", "oa/gpt", 200, Some((10, 1))),
        log(t(hour + 3_599, 999_999_999), "user:a@example.com", "an/claude", 200, Some((20, 2))),
        log(t(hour + 3_600, 0), "user:b@example.com", "oa/gpt", 502, None),
        // Without a stored cost (logged before costs were): its tokens are summed apart.
        RequestLog { cost_usd: None, ..log(t(hour + 3_900, 0), "user:a@example.com", "oa/gpt", 200, Some((30, 3))) },
        // Just before 1970: its bucket is the hour before the epoch, not the one after.
        log(t(0, -1), "user:b@example.com", "old/m", 200, Some((1, 1))),
    ];
    for b in backends().await {
        b.store().append_request_logs(&logs).await.unwrap();
        let series = |filter: RequestLogFilter, bucket, group| {
            let store = b.store();
            async move { store.usage_series(&filter, bucket, group).await.unwrap() }
        };
        // Every costed request here costs 0.25 (`request`'s cost for n = 1).
        let row = |start: OffsetDateTime, key: &str, model: &str, requests, errors, input, output| UsageSeriesRow {
            start,
            key: key.into(),
            model: model.into(),
            requests,
            errors,
            input_tokens: input,
            output_tokens: output,
            cost_usd: Some(0.25),
            uncosted_input_tokens: 0,
            uncosted_output_tokens: 0,
        };
        let uncosted = |r: UsageSeriesRow, tokens: (i64, i64)| UsageSeriesRow {
            cost_usd: None,
            uncosted_input_tokens: tokens.0,
            uncosted_output_tokens: tokens.1,
            ..r
        };
        let by_model = series(all_requests(), UsageBucket::Hour, UsageGroup::Model).await;
        assert_eq!(
            by_model,
            [
                row(t(-3_600, 0), "old/m", "old/m", 1, 0, 1, 1),
                row(t(hour, 0), "an/claude", "an/claude", 1, 0, 20, 2),
                row(t(hour, 0), "oa/gpt", "oa/gpt", 1, 0, 10, 1),
                uncosted(row(t(hour + 3_600, 0), "oa/gpt", "oa/gpt", 2, 1, 30, 3), (30, 3)),
            ],
            "{}",
            b.label
        );
        let by_subject = series(all_requests(), UsageBucket::Hour, UsageGroup::Subject).await;
        assert_eq!(
            by_subject[1..],
            [
                row(t(hour, 0), "user:a@example.com", "an/claude", 1, 0, 20, 2),
                row(t(hour, 0), "user:a@example.com", "oa/gpt", 1, 0, 10, 1),
                uncosted(row(t(hour + 3_600, 0), "user:a@example.com", "oa/gpt", 1, 0, 30, 3), (30, 3)),
                uncosted(row(t(hour + 3_600, 0), "user:b@example.com", "oa/gpt", 1, 1, 0, 0), (0, 0)),
            ],
            "{}",
            b.label
        );
        let day = hour - hour % 86_400;
        let recent = RequestLogFilter { since: Some(t(0, 0)), ..all_requests() };
        assert_eq!(
            series(recent, UsageBucket::Day, UsageGroup::Model).await,
            [
                row(t(day, 0), "an/claude", "an/claude", 1, 0, 20, 2),
                UsageSeriesRow {
                    uncosted_input_tokens: 30,
                    uncosted_output_tokens: 3,
                    ..row(t(day, 0), "oa/gpt", "oa/gpt", 3, 1, 40, 4)
                }
            ],
            "{}",
            b.label
        );
        // The filter applies as everywhere else: subjects, model, since inclusive, until exclusive.
        let narrow = RequestLogFilter {
            subjects: Some(vec!["user:a@example.com".into()]),
            model: Some("oa/gpt".into()),
            since: Some(t(hour + 3_600, 0)),
            until: Some(t(hour + 7_200, 0)),
            limit: 1,
            ..all_requests()
        };
        assert_eq!(
            series(narrow, UsageBucket::Hour, UsageGroup::Subject).await,
            [uncosted(row(t(hour + 3_600, 0), "user:a@example.com", "oa/gpt", 1, 0, 30, 3), (30, 3))],
            "{}",
            b.label
        );
        let none = RequestLogFilter { subjects: Some(Vec::new()), ..all_requests() };
        assert!(series(none, UsageBucket::Hour, UsageGroup::Model).await.is_empty(), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn the_key_salt_is_made_once_and_shared() {
    for b in backends().await {
        let first = b.store().key_salt("salt-one-0123456789").await.unwrap();
        assert_eq!(first, "salt-one-0123456789", "{}", b.label);
        let again = SqlStore::connect(&b.url).await.unwrap();
        assert_eq!(again.key_salt("salt-two-0123456789").await.unwrap(), first, "{}", b.label);
        again.close().await;
        b.finish().await;
    }
}
