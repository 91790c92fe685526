//! The change log: random sequences of writes, worked out by the core's planner as the server does, and
//! applied incrementally from `changes_since` give exactly the snapshot a full load gives.

use std::collections::HashSet;

use gatehouse_core::resource::{ResourceRecord, ResourceSpec};
use gatehouse_core::spec::{ProviderAccountSpec, ProviderKind};
use gatehouse_core::token::{mint, TokenEntropy};
use gatehouse_core::{
    BuiltinRole, Change, CollaboratorRole, Grant, IdentityId, Op, PermSet, Permission, Resource, ResourceKind, Role,
    RoleName, Secret, Snapshot, Subject, TokenKind, TokenOwner, VaName,
};
use gatehouse_store::{Loaded, Store};
use time::Duration;

use crate::{at, backends, email, team, user, va};

/// A small deterministic generator, so that a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in &mut b {
            *x = self.next() as u8;
        }
        b
    }
}

fn snapshot_of(loaded: Loaded) -> Snapshot {
    let mut s = Snapshot::from_world(loaded.world);
    for (subject, id) in loaded.identities {
        s.apply(&Change::AssignIdentity { subject, id });
    }
    s
}

/// Everything a snapshot holds, in a comparable form: the world, and each subject's identity.
fn state(s: &Snapshot) -> String {
    let w = s.to_world();
    let mut ids: Vec<String> = w
        .users
        .iter()
        .map(|u| Subject::User(u.email.clone()))
        .chain(w.virtual_accounts.iter().map(|v| Subject::VirtualAccount(v.name.clone())))
        .map(|sub| format!("{sub}={:?}", s.identity(&sub).map(|i| i.to_string())))
        .collect();
    ids.sort();
    format!("{w:?}\n{ids:?}")
}

const USERS: usize = 10;

/// One random write, and who makes it (an admin, or the owner for their own tokens), picked mostly among
/// what exists so that most are accepted.
fn random_op(rng: &mut Rng, snap: &Snapshot, n: i64) -> (Subject, Op) {
    let admin = Subject::User(email("root@example.com"));
    let w = snap.to_world();
    let uname = |i: usize| format!("u{i}@example.com");
    let users: Vec<String> = w.users.iter().map(|u| u.email.to_string()).filter(|e| e != "root@example.com").collect();
    let teams: Vec<String> = w.teams.iter().map(|t| t.name.to_string()).collect();
    let vas: Vec<String> = w.virtual_accounts.iter().map(|v| v.name.to_string()).collect();
    let pick = |rng: &mut Rng, list: &[String], fallback: String| {
        if list.is_empty() || rng.below(6) == 0 {
            fallback
        } else {
            list[rng.below(list.len())].clone()
        }
    };
    let roles = ["member", "member", "admin", "c0", "c1"];
    let op = match rng.below(14) {
        0..=2 => {
            let mut u = user(&uname(rng.below(USERS)), roles[rng.below(roles.len())]);
            u.active = rng.below(4) != 0;
            u.display_name = format!("User {n}");
            Op::PutUser(u)
        }
        3 => Op::DeleteUser(email(&pick(rng, &users, uname(0)))),
        4 => {
            let perms: PermSet = Permission::ALL.iter().copied().filter(|_| rng.below(5) == 0).collect();
            Op::PutRole(Role {
                name: RoleName::new(&format!("c{}", rng.below(2))).unwrap(),
                display_name: format!("Custom {n}"),
                description: String::new(),
                permissions: perms,
                builtin: None,
            })
        }
        5 => Op::DeleteRole(RoleName::new(&format!("c{}", rng.below(2))).unwrap()),
        6 | 7 => {
            let members: Vec<&str> = users.iter().filter(|_| rng.below(3) == 0).map(String::as_str).collect();
            let managers: Vec<&str> = members.iter().filter(|_| rng.coin()).copied().collect();
            Op::PutTeam(team(&format!("t{}", rng.below(3)), &members, &managers))
        }
        8 => Op::DeleteTeam(gatehouse_core::TeamName::new(&pick(rng, &teams, "t0".into())).unwrap()),
        9 => Op::PutVirtualAccount(va(
            &format!("v{}", rng.below(3)),
            &pick(rng, &teams, "t0".into()),
            rng.coin().then(|| at(1000 + n)),
        )),
        10 => Op::DeleteVirtualAccount(VaName::new(&pick(rng, &vas, "v0".into())).unwrap()),
        11 => {
            let e = TokenEntropy { id: rng.bytes(), secret: rng.bytes() };
            let expires = rng.coin().then(|| at(n + 500));
            if rng.coin() {
                let owner = TokenOwner::VirtualAccount(VaName::new(&pick(rng, &vas, "v0".into())).unwrap());
                Op::IssueToken(mint(TokenKind::VirtualAccount, owner, &format!("t{n}"), at(n), expires, e).0)
            } else {
                let who = pick(rng, &users, uname(0));
                let kind = if rng.coin() { TokenKind::Pat } else { TokenKind::Session };
                let token = mint(kind, TokenOwner::User(email(&who)), &format!("t{n}"), at(n), expires, e).0;
                return (Subject::User(email(&who)), Op::IssueToken(token));
            }
        }
        12 => {
            if !w.tokens.is_empty() && rng.coin() {
                Op::RevokeToken(w.tokens[rng.below(w.tokens.len())].id.clone())
            } else {
                let e = TokenEntropy { id: rng.bytes(), secret: rng.bytes() };
                let name = VaName::new(&pick(rng, &vas, "v0".into())).unwrap();
                let owner = TokenOwner::VirtualAccount(name.clone());
                let new = mint(TokenKind::VirtualAccount, owner, "rotated", at(n), None, e).0;
                Op::RotateVirtualAccount { name, new, grace: Duration::seconds(rng.below(3) as i64 * 60) }
            }
        }
        _ => {
            let subject: Subject = match rng.below(3) {
                0 => format!("user:{}", pick(rng, &users, uname(0))),
                1 => format!("team:{}", pick(rng, &teams, "t0".into())),
                _ => format!("virtualaccount:{}", pick(rng, &vas, "v0".into())),
            }
            .parse()
            .unwrap();
            let role = if rng.coin() {
                CollaboratorRole::ProviderAccountUser
            } else {
                CollaboratorRole::ProviderAccountManager
            };
            let g = Grant { resource: Resource::new(ResourceKind::ProviderAccount, "acct"), subject, role };
            if rng.below(3) == 0 {
                Op::DeleteGrant(g)
            } else {
                Op::PutGrant(g)
            }
        }
    };
    (admin, op)
}

/// Identities for what `changes` create, as the server draws them (numbered here, for replay).
fn with_identities(before: &Snapshot, mut changes: Vec<Change>, next_id: &mut u8) -> Vec<Change> {
    let mut seen = HashSet::new();
    let mut created = Vec::new();
    for c in &changes {
        let subject = match c {
            Change::PutUser(u) => Subject::User(u.email.clone()),
            Change::PutVirtualAccount(v) => Subject::VirtualAccount(v.name.clone()),
            _ => continue,
        };
        if before.identity(&subject).is_none() && seen.insert(subject.clone()) {
            created.push(subject);
        }
    }
    for subject in created {
        *next_id = next_id.wrapping_add(1);
        changes.push(Change::AssignIdentity { subject, id: IdentityId::from_bytes([*next_id; 16]) });
    }
    changes
}

/// Applies what the log holds after `version` to `follower`, as a replica does.
async fn follow(store: &dyn Store, follower: &mut Snapshot, version: &mut i64, label: &str) {
    let logged = store.changes_since(*version).await.unwrap().expect("the log reaches back");
    for entry in logged {
        assert_eq!(entry.version, *version + 1, "{label}: versions in order");
        *version = entry.version;
        for c in &entry.changes {
            assert!(!matches!(c, Change::SetPassword { .. }), "{label}: no password in the log");
            follower.apply(c);
        }
    }
}

#[tokio::test]
async fn random_writes_applied_from_the_log_give_the_snapshot_a_full_load_gives() {
    for b in backends().await {
        let store = b.store();
        let account = ProviderAccountSpec::deserialize_for(
            ProviderKind::AwsBedrock,
            serde_json::json!({"name": "acct", "region": "us-east-1",
                "models": [{"name": "titan", "model_id": "amazon.titan-text-express-v1", "types": ["chat"]}]}),
        )
        .unwrap();
        let mut setup: Vec<Change> = BuiltinRole::ALL.into_iter().map(|b| Change::PutRole(b.default_role())).collect();
        setup.push(Change::PutUser(user("root@example.com", "admin")));
        setup.push(Change::PutResource(ResourceRecord {
            spec: ResourceSpec::ProviderAccount(account),
            sealed_auth: None,
        }));
        store.commit(&setup, &[]).await.unwrap();

        for seed in [7u64, 0x9e37_79b9_7f4a_7c15, 12345] {
            let mut rng = Rng(seed);
            let mut next_id = (seed % 200) as u8;
            // A replica that loaded at the start and follows the log, checked against a full load as it goes.
            let start = store.load().await.unwrap();
            let mut follower_version = start.version;
            let mut follower = snapshot_of(start);
            let mut current = follower.clone();
            let (mut applied, mut refused) = (0, 0);
            for step in 0..200i64 {
                let (caller, op) = random_op(&mut rng, &current, step);
                let (mut next, changes) = match gatehouse_core::execute(&current, &caller, vec![op.clone()], at(step)) {
                    Ok(x) => x,
                    Err(e) => {
                        if std::env::var("SHOW_REFUSED").is_ok() {
                            println!("{op:?}: {e:?}");
                        }
                        refused += 1;
                        continue;
                    }
                };
                let changes = with_identities(&current, changes, &mut next_id);
                for c in changes.iter().filter(|c| matches!(c, Change::AssignIdentity { .. })) {
                    next.apply(c);
                }
                // Sometimes a password too: never logged, and changing nothing a snapshot holds.
                let mut committed = changes.clone();
                if rng.below(8) == 0 {
                    committed.push(Change::SetPassword {
                        email: email("root@example.com"),
                        hash: Secret::new("$argon2id$x".into()),
                    });
                }
                store.commit(&committed, &[]).await.unwrap();
                current = next;
                applied += 1;
                // The follower catches up every few steps, over several versions at once.
                if rng.below(3) == 0 {
                    follow(store, &mut follower, &mut follower_version, b.label).await;
                    let full = snapshot_of(store.load().await.unwrap());
                    assert_eq!(state(&follower), state(&full), "{}: seed {seed} step {step}", b.label);
                    assert_eq!(state(&current), state(&full), "{}: the writer's own snapshot, seed {seed}", b.label);
                }
            }
            follow(store, &mut follower, &mut follower_version, b.label).await;
            assert_eq!(state(&follower), state(&snapshot_of(store.load().await.unwrap())), "{}: seed {seed}", b.label);
            assert!(applied > 80 && refused < applied, "{}: {applied} applied, {refused} refused", b.label);
            assert_eq!(follower_version, store.version().await.unwrap(), "{}", b.label);
        }
        b.finish().await;
    }
}

#[tokio::test]
async fn the_log_answers_none_when_it_does_not_reach_back() {
    for b in backends().await {
        let store = b.store();
        let v1 = store.commit(&[Change::PutRole(BuiltinRole::Member.default_role())], &[]).await.unwrap();
        let v2 = store.commit(&[Change::PutUser(user("a@example.com", "member"))], &[]).await.unwrap();
        assert_eq!(store.changes_since(v2).await.unwrap().map(|l| l.len()), Some(0), "{}: up to date", b.label);
        let one = store.changes_since(v1).await.unwrap().unwrap();
        assert_eq!(one.len(), 1, "{}", b.label);
        assert!(matches!(&one[0].changes[..], [Change::PutUser(u)] if u.email.as_str() == "a@example.com"));
        assert!(store.changes_since(v2 + 5).await.unwrap().is_none(), "{}: ahead of the store", b.label);
        // Entries removed (as pruning does, from the oldest): a reader from before them must load instead.
        b.execute(&format!("DELETE FROM change_log WHERE version <= {v1}")).await;
        assert!(store.changes_since(0).await.unwrap().is_none(), "{}: pruned", b.label);
        assert_eq!(store.changes_since(v1).await.unwrap().map(|l| l.len()), Some(1), "{}", b.label);
        // A bulk commit is logged as "load everything".
        let bulk: Vec<Change> =
            (0..10_001).map(|i| Change::PutUser(user(&format!("bulk{i}@example.com"), "member"))).collect();
        let v3 = store.commit(&bulk, &[]).await.unwrap();
        assert!(store.changes_since(v2).await.unwrap().is_none(), "{}: bulk", b.label);
        assert_eq!(store.changes_since(v3).await.unwrap().map(|l| l.len()), Some(0), "{}", b.label);
        b.finish().await;
    }
}
