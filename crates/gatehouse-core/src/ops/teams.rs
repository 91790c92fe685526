//! Teams: creating and changing them (members and managers bring the team's grants and the team-manager
//! rights with them), and deleting them.

use std::collections::BTreeSet;

use super::{invalid, Ctx, Giving, Missing, Refusal};
use crate::change::Change;
use crate::engine::team_scoped;
use crate::ids::TeamName;
use crate::model::{Action, BuiltinRole, Resource, Subject, Team};
use crate::permission::Permission;
use crate::snapshot::Snapshot;

pub(super) fn put(cx: &Ctx<'_>, team: &Team) -> Result<(), Refusal> {
    let snap = cx.snap;
    let old = snap.team(team.name.as_str());
    let here = Resource::team(&team.name);
    cx.require_put(old.is_some(), (Permission::TeamCreate, &here), (Permission::TeamManage, &here))?;
    if !team.managers.is_subset(&team.members) {
        return Err(invalid("managers", "every manager must also be a member"));
    }
    if !cx.is_admin() {
        let empty = BTreeSet::new();
        let (old_members, old_managers) = old.map_or((&empty, &empty), |t| (&t.members, &t.managers));
        if team.members.difference(old_members).next().is_some() {
            let holder = Subject::Team(team.name.clone());
            for g in snap.grants_of(&holder) {
                cx.require_holds_grant(g.role, &g.resource, &Giving::TeamMembers(team.name.clone()))?;
            }
        }
        if team.managers.difference(old_managers).next().is_some() {
            let tm = snap.role(BuiltinRole::TeamManager.name()).map(|r| r.permissions).unwrap_or_default();
            for p in tm.iter() {
                let scope = if team_scoped(p.kind()) {
                    // A team being created owns nothing yet, so managing it confers nothing yet.
                    if old.is_none() {
                        continue;
                    }
                    Resource::team(&team.name)
                } else {
                    Resource::tenant()
                };
                if !cx.allows(Action::Perm(p), &scope) {
                    return Err(Refusal::WouldGiveTeamManager { team: team.name.clone(), permission: p });
                }
            }
        }
    }
    if let Some(e) = team.members.iter().find(|e| snap.user(e.as_str()).is_none()) {
        return Err(invalid("members", format!("no user {e}")));
    }
    Ok(())
}

pub(super) fn delete(cx: &Ctx<'_>, name: &TeamName) -> Result<(), Refusal> {
    let snap = cx.snap;
    cx.require(Permission::TeamDelete, &Resource::team(name))?;
    if snap.team(name.as_str()).is_none() {
        return Err(Refusal::NotFound(Missing::Team(name.clone())));
    }
    match snap.team_virtual_accounts(name.as_str()).count() {
        0 => Ok(()),
        count => Err(Refusal::TeamOwnsVirtualAccounts { team: name.clone(), count }),
    }
}

pub(super) fn plan_put(snap: &Snapshot, team: Team) -> Vec<Change> {
    let mut out = Vec::new();
    if snap.team(team.name.as_str()).is_none() {
        out.extend(crate::narrowing::forget(snap, &Subject::Team(team.name.clone())));
    }
    out.push(Change::PutTeam(team));
    out
}

pub(super) fn plan_delete(snap: &Snapshot, name: TeamName) -> Vec<Change> {
    let subject = Subject::Team(name.clone());
    let mut out: Vec<Change> = snap.grants_of(&subject).map(Change::DeleteGrant).collect();
    out.extend(crate::narrowing::forget(snap, &subject));
    out.push(Change::DeleteTeam(name));
    out
}
