//! Roles: who may create, edit and delete them, and the built-in ones that stay as they are.

use super::{invalid, Ctx, Refusal};
use crate::change::Change;
use crate::ids::RoleName;
use crate::model::{BuiltinRole, Resource, Role};
use crate::permission::Permission;
use crate::snapshot::Snapshot;

pub(super) fn put(cx: &Ctx<'_>, role: &Role) -> Result<(), Refusal> {
    let snap = cx.snap;
    cx.require(Permission::RoleManage, &Resource::role(&role.name))?;
    let old = snap.role(role.name.as_str());
    if old.is_some_and(|r| r.is_admin()) || (old.is_none() && BuiltinRole::from_name(role.name.as_str()).is_some()) {
        return Err(Refusal::Forbidden(format!("the built-in role {} cannot be edited", role.name)));
    }
    if old.is_none() && role.permissions.is_empty() {
        return Err(invalid("permissions", "must name at least one permission"));
    }
    if old.is_some_and(|r| r.builtin.is_none()) && role.permissions.is_empty() {
        return Err(invalid("permissions", "must name at least one permission"));
    }
    let before = old.map(|r| r.permissions).unwrap_or_default();
    cx.require_holds(role.permissions.minus(before), &format!("editing role {}", role.name))
}

pub(super) fn delete(cx: &Ctx<'_>, name: &RoleName) -> Result<(), Refusal> {
    let snap = cx.snap;
    cx.require(Permission::RoleManage, &Resource::role(name))?;
    let Some(role) = snap.role(name.as_str()) else {
        return Err(Refusal::NotFound(format!("no role named {name}")));
    };
    if role.builtin.is_some() {
        return Err(Refusal::Forbidden(format!("the built-in role {name} cannot be deleted")));
    }
    match snap.role_holders(name.as_str()) {
        0 => Ok(()),
        n => Err(Refusal::Conflict(format!(
            "role {name} is held by {n} user{}; give them another role first",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

pub(super) fn plan_put(snap: &Snapshot, mut role: Role) -> Vec<Change> {
    role.builtin = snap.role(role.name.as_str()).and_then(|r| r.builtin);
    vec![Change::PutRole(role)]
}
