#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Issue #9's write rules, on `execute` itself (which the REST routes, apply and dry runs all go through):
//! credentials and destinations, narrowing on accounts the caller creates, and expiry ending tokens.

use std::collections::BTreeSet;
use std::sync::Arc;

use gatehouse_core::ops::{execute, Op};
use gatehouse_core::resource::{ResourceRecord, ResourceSpec, Sealed};
use gatehouse_core::snapshot::{Snapshot, World};
use gatehouse_core::spec::{AgentSpec, ProviderAccountSpec, ProviderKind};
use gatehouse_core::token::{mint, TokenEntropy};
use gatehouse_core::{
    BuiltinRole, Email, PermSet, Permission, Refusal, Role, RoleName, Subject, Team, TeamName, TokenKind, TokenOwner,
    User, VaName, VirtualAccount,
};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn email(s: &str) -> Email {
    Email::new(s).unwrap()
}

fn user(e: &str, role: &str) -> User {
    User { email: email(e), display_name: e.into(), role: RoleName::new(role).unwrap(), active: true }
}

fn account(fields: serde_json::Value, sealed: Option<&[u8]>) -> ResourceRecord {
    let spec = ProviderAccountSpec::deserialize_for(ProviderKind::OpenAi, fields).unwrap();
    ResourceRecord { spec: ResourceSpec::ProviderAccount(spec), sealed_auth: sealed.map(|b| Sealed(Arc::from(b))) }
}

/// An admin, and `c` whose role may create, read and manage provider accounts and use every model.
fn world(resources: Vec<ResourceRecord>) -> Snapshot {
    let mut member = BuiltinRole::Member.default_role();
    member.permissions = PermSet::EMPTY;
    let creator = Role {
        name: RoleName::new("creator").unwrap(),
        display_name: "creator".into(),
        description: String::new(),
        permissions: [
            Permission::ProviderAccountCreate,
            Permission::ProviderAccountManage,
            Permission::ProviderAccountRead,
            Permission::ProviderAccountUseIntegrations,
        ]
        .into_iter()
        .collect(),
        builtin: None,
    };
    let team = Team {
        name: TeamName::new("x").unwrap(),
        description: String::new(),
        managers: BTreeSet::new(),
        members: [email("m@example.com")].into_iter().collect(),
    };
    let va = VirtualAccount {
        name: VaName::new("bot").unwrap(),
        owner_team: TeamName::new("x").unwrap(),
        description: String::new(),
        expires_at: Some(NOW - Duration::hours(1)),
    };
    let (token, _) = mint(
        TokenKind::VirtualAccount,
        TokenOwner::VirtualAccount(va.name.clone()),
        "t",
        NOW - Duration::days(1),
        None,
        TokenEntropy { id: [1; 8], secret: [2; 32] },
    );
    Snapshot::from_world(World {
        roles: vec![BuiltinRole::Admin.default_role(), member, BuiltinRole::TeamManager.default_role(), creator],
        users: vec![
            user("admin@example.com", "admin"),
            user("c@example.com", "creator"),
            user("m@example.com", "member"),
        ],
        teams: vec![team],
        virtual_accounts: vec![va],
        tokens: vec![token],
        grants: Vec::new(),
        resources,
    })
}

fn admin() -> Subject {
    Subject::User(email("admin@example.com"))
}

fn refusal<T>(r: Result<T, gatehouse_core::ops::BatchRefusal>) -> gatehouse_core::ops::BatchRefusal {
    match r {
        Ok(_) => panic!("not refused"),
        Err(e) => e,
    }
}

#[test]
fn stored_credentials_stay_only_with_their_destination() {
    let stored = account(json!({"name": "a"}), Some(b"sealed-1"));
    let s = world(vec![stored.clone()]);
    let moved = |sealed: Option<&[u8]>| account(json!({"name": "a", "base_url": "https://e.example/v1"}), sealed);
    let refused = refusal(execute(&s, &admin(), vec![Op::PutResource(moved(Some(b"sealed-1")))], NOW));
    assert!(
        matches!(&refused.refusal, Refusal::CredentialsRequired { moved } if moved == "base_url")
            && refused.refusal.to_string().starts_with("auth: is required when base_url changes")
            && refused.refusal.code() == "credentials_required",
        "{refused:?}"
    );
    // New credentials, or none at all, may go anywhere.
    assert!(execute(&s, &admin(), vec![Op::PutResource(moved(Some(b"sealed-2")))], NOW).is_ok());
    assert!(execute(&s, &admin(), vec![Op::PutResource(moved(None))], NOW).is_ok());
    // An object that names no destination holds no credentials.
    let agent: AgentSpec = serde_json::from_value(json!({"name": "ag", "definition": {}})).unwrap();
    let rec = ResourceRecord { spec: ResourceSpec::Agent(agent), sealed_auth: Some(Sealed(Arc::from(&b"x"[..]))) };
    let refused = refusal(execute(&s, &admin(), vec![Op::PutResource(rec)], NOW));
    assert!(matches!(&refused.refusal, Refusal::Invalid(e) if e.path.to_string() == "auth"), "{refused:?}");
}

#[test]
fn a_creator_may_narrow_their_new_account_to_others() {
    let s = world(Vec::new());
    let caller = Subject::User(email("c@example.com"));
    let new = account(
        json!({"name": "mine", "models": [{"name": "m", "model_id": "x", "types": ["chat"], "authorized_subjects": ["team:x"]}]}),
        None,
    );
    // And give the account to the team it names: the narrowing is theirs to choose, not someone else's
    // to get around.
    let grant = gatehouse_core::Grant {
        resource: gatehouse_core::Resource::new(gatehouse_core::ResourceKind::ProviderAccount, "mine"),
        subject: Subject::Team(TeamName::new("x").unwrap()),
        role: gatehouse_core::CollaboratorRole::ProviderAccountUser,
    };
    let r = execute(&s, &caller, vec![Op::PutResource(new), Op::PutGrant(grant.clone())], NOW);
    assert!(r.is_ok(), "{:?}", r.err());
    // On an existing account narrowed so, the same grant by the same caller is refused: it would let the
    // team's member use a model the caller may not.
    let (after, _) = execute(&s, &admin(), vec![Op::PutResource(account(
        json!({"name": "mine", "models": [{"name": "m", "model_id": "x", "types": ["chat"], "authorized_subjects": ["team:x"]}]}),
        None,
    ))], NOW)
    .unwrap();
    let refused = refusal(execute(&after, &caller, vec![Op::PutGrant(grant)], NOW));
    assert!(
        matches!(&refused.refusal, Refusal::NarrowedGain { .. })
            && refused.refusal.to_string().contains("authorized_subjects"),
        "{refused:?}"
    );
}

#[test]
fn renewing_an_expired_virtual_account_revokes_its_tokens() {
    let s = world(Vec::new());
    let owner = TokenOwner::VirtualAccount(VaName::new("bot").unwrap());
    assert_eq!(s.tokens_of(&owner).count(), 1);
    for expires_at in [None, Some(NOW + Duration::days(1))] {
        let va = VirtualAccount {
            name: VaName::new("bot").unwrap(),
            owner_team: TeamName::new("x").unwrap(),
            description: String::new(),
            expires_at,
        };
        let (after, _) = execute(&s, &admin(), vec![Op::PutVirtualAccount(va)], NOW).unwrap();
        assert_eq!(after.tokens_of(&owner).count(), 0, "{expires_at:?}");
    }
    // An edit that leaves the (past) expiry alone revokes nothing: the tokens stay inert.
    let same = s.virtual_account("bot").map(|v| (**v).clone()).unwrap();
    let (after, _) = execute(&s, &admin(), vec![Op::PutVirtualAccount(same)], NOW).unwrap();
    assert_eq!(after.tokens_of(&owner).count(), 1);
}

#[test]
fn a_new_subject_inherits_no_stale_place_in_a_list() {
    let stale = account(
        json!({"name": "a", "models": [{"name": "m", "model_id": "x", "types": ["chat"],
               "authorized_subjects": ["user:ghost@example.com", "team:ghost", "virtualaccount:ghost", "team:x"]}]}),
        None,
    );
    let s = world(vec![stale]);
    let ops = vec![
        Op::PutUser(user("ghost@example.com", "member")),
        Op::PutTeam(Team {
            name: TeamName::new("ghost").unwrap(),
            description: String::new(),
            managers: BTreeSet::new(),
            members: BTreeSet::new(),
        }),
        Op::PutVirtualAccount(VirtualAccount {
            name: VaName::new("ghost").unwrap(),
            owner_team: TeamName::new("x").unwrap(),
            description: String::new(),
            expires_at: None,
        }),
    ];
    let (after, _) = execute(&s, &admin(), ops, NOW).unwrap();
    let rec = after.resources().get(&gatehouse_core::Resource::new(gatehouse_core::ResourceKind::ProviderAccount, "a"));
    let Some(ResourceSpec::ProviderAccount(p)) = rec.map(|r| &r.spec) else { panic!("account gone") };
    let list: Vec<String> = p.models()[0].authorized_subjects.iter().flatten().map(|s| s.to_string()).collect();
    assert_eq!(list, ["team:x"]);
}
