//! Users and their passwords: who may change whom (never someone more powerful), and the last admin.

use super::{invalid, AdminOnly, Ctx, Giving, Missing, Refusal};
use crate::change::Change;
use crate::ids::Email;
use crate::model::{BuiltinRole, Resource, Subject, TokenOwner, User};
use crate::permission::Permission;
use crate::snapshot::Snapshot;

pub(super) fn put(cx: &Ctx<'_>, user: &User) -> Result<(), Refusal> {
    let snap = cx.snap;
    let old = snap.user(user.email.as_str()).map(|u| u.user.clone());
    let self_edit = cx.caller_email() == Some(&user.email)
        && old.as_ref().is_some_and(|o| o.role == user.role && o.active == user.active);
    if !self_edit {
        cx.require(Permission::UserManage, &Resource::user(&user.email))?;
        cx.require_can_manage_user(&user.email)?;
    }
    let Some(role) = snap.role(user.role.as_str()) else {
        return Err(invalid("role", format!("no role named {}", user.role)));
    };
    if role.builtin == Some(BuiltinRole::TeamManager) {
        return Err(invalid("role", "team-manager is not assigned: it applies to every manager of a team"));
    }
    if old.as_ref().is_none_or(|o| o.role != user.role) {
        if role.is_admin() && !cx.is_admin() {
            return Err(Refusal::AdminOnly(AdminOnly::MakeAdmin));
        }
        cx.require_holds(
            role.permissions,
            Giving::RoleAssignment { user: user.email.clone(), role: user.role.clone() },
        )?;
    }
    let was_admin = snap.is_admin(&user.email);
    let stays_admin = user.active && role.is_admin();
    if was_admin && !stays_admin && snap.active_admin_count() <= 1 {
        return Err(Refusal::LastAdmin(user.email.clone()));
    }
    Ok(())
}

pub(super) fn delete(cx: &Ctx<'_>, email: &Email) -> Result<(), Refusal> {
    let snap = cx.snap;
    cx.require(Permission::UserManage, &Resource::user(email))?;
    if snap.user(email.as_str()).is_none() {
        return Err(Refusal::NotFound(Missing::User(email.clone())));
    }
    cx.require_can_manage_user(email)?;
    if snap.is_admin(email) && snap.active_admin_count() <= 1 {
        return Err(Refusal::LastAdmin(email.clone()));
    }
    Ok(())
}

pub(super) fn set_password(cx: &Ctx<'_>, email: &Email) -> Result<(), Refusal> {
    let snap = cx.snap;
    if cx.caller_email() != Some(email) {
        cx.require(Permission::UserManage, &Resource::user(email))?;
        cx.require_can_manage_user(email)?;
    }
    if snap.user(email.as_str()).is_none() {
        return Err(Refusal::NotFound(Missing::User(email.clone())));
    }
    Ok(())
}

pub(super) fn plan_put(snap: &Snapshot, user: User) -> Vec<Change> {
    let mut out = Vec::new();
    let was_active = snap.user(user.email.as_str()).is_some_and(|u| u.user.active);
    if was_active && !user.active {
        // Deactivation ends every token and session at once, for good.
        let owner = TokenOwner::User(user.email.clone());
        out.extend(snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())));
    }
    // A list naming someone who does not exist names a predecessor (deleted before deletions
    // cleaned lists): the newcomer inherits nothing. The same for teams and virtual accounts.
    if snap.user(user.email.as_str()).is_none() {
        out.extend(crate::narrowing::forget(snap, &Subject::User(user.email.clone())));
    }
    out.push(Change::PutUser(user));
    out
}

pub(super) fn plan_delete(snap: &Snapshot, email: Email) -> Vec<Change> {
    // The user's own membership index, not a scan of every team: it lists exactly the teams whose
    // members include them.
    let teams = snap.user(email.as_str()).into_iter().flat_map(|u| u.member_of.iter());
    let mut out: Vec<Change> = teams
        .filter_map(|name| snap.team(name.as_str()))
        .map(|t| {
            let mut t = (**t).clone();
            t.members.remove(&email);
            t.managers.remove(&email);
            Change::PutTeam(t)
        })
        .collect();
    let owner = TokenOwner::User(email.clone());
    out.extend(snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())));
    let subject = Subject::User(email.clone());
    out.extend(snap.grants_of(&subject).map(Change::DeleteGrant));
    out.extend(crate::narrowing::forget(snap, &subject));
    out.push(Change::DeleteUser(email));
    out
}
