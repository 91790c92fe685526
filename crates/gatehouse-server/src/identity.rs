//! Identities (see `gatehouse_core::IdentityId`): given to each user and virtual account a write creates,
//! and used to attribute and to limit the gateway's request log, so that a name deleted and created again
//! never inherits its predecessor's records.

use std::collections::HashSet;

use gatehouse_core::{Change, IdentityId, Snapshot, Subject};
use gatehouse_store::Loaded;

use crate::state::Entropy;

pub fn fresh(entropy: &dyn Entropy) -> IdentityId {
    let mut b = [0u8; 16];
    entropy.fill(&mut b);
    IdentityId::from_bytes(b)
}

/// The subject a change creates or deletes, if it is a user or a virtual account.
fn touched(c: &Change) -> Option<(Subject, bool)> {
    match c {
        Change::PutUser(u) => Some((Subject::User(u.email.clone()), true)),
        Change::DeleteUser(e) => Some((Subject::User(e.clone()), false)),
        Change::PutVirtualAccount(v) => Some((Subject::VirtualAccount(v.name.clone()), true)),
        Change::DeleteVirtualAccount(n) => Some((Subject::VirtualAccount(n.clone()), false)),
        Change::PutRole(_)
        | Change::DeleteRole(_)
        | Change::SetPassword { .. }
        | Change::PutTeam(_)
        | Change::DeleteTeam(_)
        | Change::PutToken(_)
        | Change::SetTokenExpiry { .. }
        | Change::RevokeToken(_)
        | Change::PutGrant(_)
        | Change::DeleteGrant(_)
        | Change::PutResource(_)
        | Change::DeleteResource(_)
        | Change::AssignIdentity { .. } => None,
    }
}

fn existing(s: &Snapshot, subject: &Subject) -> bool {
    match subject {
        Subject::User(e) => s.user(e.as_str()).is_some(),
        Subject::VirtualAccount(v) => s.virtual_account(v.as_str()).is_some(),
        Subject::Team(t) => s.team(t.as_str()).is_some(),
    }
}

/// `Change::AssignIdentity` for every user and virtual account that `changes` create (that did not exist in
/// `before`, or were deleted earlier in the same changes), each with a fresh identity.
pub fn for_created(before: &Snapshot, changes: &[Change], entropy: &dyn Entropy) -> Vec<Change> {
    let mut exists: HashSet<Subject> = HashSet::new();
    let mut gone: HashSet<Subject> = HashSet::new();
    let mut created: Vec<Subject> = Vec::new();
    for c in changes {
        let Some((subject, put)) = touched(c) else { continue };
        let existed = !gone.contains(&subject) && (exists.contains(&subject) || existing(before, &subject));
        if put {
            if !existed {
                created.retain(|s| *s != subject);
                created.push(subject.clone());
            }
            gone.remove(&subject);
            exists.insert(subject);
        } else {
            created.retain(|s| *s != subject);
            exists.remove(&subject);
            gone.insert(subject);
        }
    }
    created.into_iter().map(|subject| Change::AssignIdentity { subject, id: fresh(entropy) }).collect()
}

/// The snapshot of what the store loaded, identities included.
pub fn snapshot(loaded: Loaded) -> Snapshot {
    let mut s = Snapshot::from_world(loaded.world);
    for (subject, id) in loaded.identities {
        s.apply(&Change::AssignIdentity { subject, id });
    }
    s
}
