//! Virtual accounts and tokens: the accounts, issuing, rotating and revoking tokens.

use time::{Duration, OffsetDateTime};

use super::{invalid, Ctx, Missing, Refusal, MAX_GRACE};
use crate::change::Change;
use crate::ids::{TokenId, VaName};
use crate::model::{
    Action, BuiltinRole, Resource, ResourceKind, Subject, Token, TokenKind, TokenOwner, VirtualAccount,
};
use crate::permission::Permission;
use crate::snapshot::Snapshot;

pub(super) fn put(cx: &Ctx<'_>, va: &VirtualAccount) -> Result<(), Refusal> {
    let snap = cx.snap;
    let old = snap.virtual_account(va.name.as_str());
    let (owner, here) = (Resource::team(&va.owner_team), Resource::virtual_account(&va.name));
    let create = (Permission::VirtualAccountCreate, &owner);
    cx.require_put(old.is_some(), create, (Permission::VirtualAccountManage, &here))?;
    if old.is_some_and(|o| o.owner_team != va.owner_team) {
        cx.require(Permission::VirtualAccountCreate, &owner)?;
        // The new team's managers get the team-manager rights on it; the caller must hold them.
        if !cx.is_admin() {
            let tm = snap.role(BuiltinRole::TeamManager.name()).map(|r| r.permissions).unwrap_or_default();
            for p in tm.iter().filter(|p| p.kind() == ResourceKind::VirtualAccount) {
                cx.require(p, &here)?;
            }
        }
    }
    if snap.team(va.owner_team.as_str()).is_none() {
        return Err(invalid("owner_team", format!("no team {}", va.owner_team)));
    }
    if va.expires_at.is_some_and(|e| e <= cx.now) && old.is_none_or(|o| o.expires_at != va.expires_at) {
        return Err(invalid("expires_at", "must be in the future"));
    }
    Ok(())
}

pub(super) fn delete(cx: &Ctx<'_>, name: &VaName) -> Result<(), Refusal> {
    let snap = cx.snap;
    cx.require(Permission::VirtualAccountDelete, &Resource::virtual_account(name))?;
    if snap.virtual_account(name.as_str()).is_none() {
        return Err(Refusal::NotFound(Missing::VirtualAccount(name.clone())));
    }
    Ok(())
}

pub(super) fn issue_token(cx: &Ctx<'_>, t: &Token) -> Result<(), Refusal> {
    let snap = cx.snap;
    if t.expires_at.is_some_and(|e| e <= cx.now) {
        return Err(invalid("expires_at", "must be in the future"));
    }
    match (&t.owner, t.kind) {
        (TokenOwner::User(e), TokenKind::Pat | TokenKind::Session) => {
            if cx.caller_email() != Some(e) {
                return Err(Refusal::OwnTokensOnly);
            }
            // Within a batch the caller may have just deactivated or deleted themself.
            if !snap.user(e.as_str()).is_some_and(|u| u.user.active) {
                return Err(Refusal::InactiveUser(e.clone()));
            }
            Ok(())
        }
        (TokenOwner::VirtualAccount(v), TokenKind::VirtualAccount) => require_va_tokens(cx, v),
        _ => Err(invalid("kind", "token kind does not match its owner")),
    }
}

pub(super) fn rotate(cx: &Ctx<'_>, name: &VaName, new: &Token, grace: &Duration) -> Result<(), Refusal> {
    require_va_tokens(cx, name)?;
    if new.owner != TokenOwner::VirtualAccount(name.clone()) || new.kind != TokenKind::VirtualAccount {
        return Err(invalid("token", "rotation must issue a token of the same virtual account"));
    }
    if grace.is_negative() || *grace > MAX_GRACE {
        return Err(invalid("grace_period_seconds", "must be between 0 and 31536000 (365 days)"));
    }
    Ok(())
}

pub(super) fn revoke_token(cx: &Ctx<'_>, id: &TokenId) -> Result<(), Refusal> {
    let snap = cx.snap;
    let not_found = || Refusal::NotFound(Missing::Token(id.clone()));
    let token = snap.token(id.as_str()).ok_or_else(not_found)?;
    match &token.owner {
        TokenOwner::User(e) if cx.caller_email() == Some(e) => Ok(()),
        // Someone else's token: an admin, or a user manager who may manage that user. Anyone else
        // is told it does not exist, so token ids cannot be probed.
        TokenOwner::User(e) => {
            if cx.require(Permission::UserManage, &Resource::user(e)).is_err() {
                return Err(not_found());
            }
            cx.require_can_manage_user(e)
        }
        TokenOwner::VirtualAccount(v) => {
            if !cx.allows(Action::Perm(Permission::VirtualAccountRead), &Resource::virtual_account(v)) {
                return Err(not_found());
            }
            cx.require(Permission::VirtualAccountManage, &Resource::virtual_account(v))
        }
    }
}

fn require_va_tokens(cx: &Ctx<'_>, v: &VaName) -> Result<(), Refusal> {
    // "Manage Virtual Account ... also includes permission to get the token" (docs/access-model.md, FAQ).
    cx.require(Permission::VirtualAccountManage, &Resource::virtual_account(v))?;
    match cx.snap.virtual_account(v.as_str()) {
        None => Err(Refusal::NotFound(Missing::VirtualAccount(v.clone()))),
        Some(va) if va.expires_at.is_some_and(|e| e <= cx.now) => Err(Refusal::VirtualAccountExpired(v.clone())),
        Some(_) => Ok(()),
    }
}

pub(super) fn plan_put(snap: &Snapshot, va: VirtualAccount, now: OffsetDateTime) -> Vec<Change> {
    let mut out = Vec::new();
    // Expiry ends the tokens for good, as deactivation does: clearing or moving the expiry of an
    // account that has expired renews the account, not the tokens it had.
    let expired = snap
        .virtual_account(va.name.as_str())
        .is_some_and(|o| o.expires_at.is_some_and(|e| e <= now) && o.expires_at != va.expires_at);
    if expired {
        let owner = TokenOwner::VirtualAccount(va.name.clone());
        out.extend(snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())));
    }
    if snap.virtual_account(va.name.as_str()).is_none() {
        out.extend(crate::narrowing::forget(snap, &Subject::VirtualAccount(va.name.clone())));
    }
    out.push(Change::PutVirtualAccount(va));
    out
}

pub(super) fn plan_delete(snap: &Snapshot, name: VaName) -> Vec<Change> {
    let owner = TokenOwner::VirtualAccount(name.clone());
    let mut out: Vec<Change> = snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())).collect();
    let subject = Subject::VirtualAccount(name.clone());
    out.extend(snap.grants_of(&subject).map(Change::DeleteGrant));
    out.extend(crate::narrowing::forget(snap, &subject));
    out.push(Change::DeleteVirtualAccount(name));
    out
}

pub(super) fn plan_rotate(
    snap: &Snapshot,
    name: VaName,
    new: Token,
    grace: Duration,
    now: OffsetDateTime,
) -> Vec<Change> {
    let until = now + grace;
    let owner = TokenOwner::VirtualAccount(name);
    let mut out: Vec<Change> = snap
        .tokens_of(&owner)
        .filter(|t| t.is_live(now) && t.expires_at.is_none_or(|e| e > until))
        .map(|t| Change::SetTokenExpiry { id: t.id.clone(), expires_at: Some(until) })
        .collect();
    out.push(Change::PutToken(new));
    out
}
