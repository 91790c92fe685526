//! Roles: who may create, edit and delete them, and the built-in ones that stay as they are.

use super::{invalid, Ctx, Giving, Missing, Refusal};
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
        return Err(Refusal::BuiltinRole { name: role.name.clone(), deleting: false });
    }
    if old.is_none() && role.permissions.is_empty() {
        return Err(invalid("permissions", "must name at least one permission"));
    }
    if old.is_some_and(|r| r.builtin.is_none()) && role.permissions.is_empty() {
        return Err(invalid("permissions", "must name at least one permission"));
    }
    let before = old.map(|r| r.permissions).unwrap_or_default();
    cx.require_holds(role.permissions.minus(before), Giving::RoleEdit(role.name.clone()))
}

pub(super) fn delete(cx: &Ctx<'_>, name: &RoleName) -> Result<(), Refusal> {
    let snap = cx.snap;
    cx.require(Permission::RoleManage, &Resource::role(name))?;
    let Some(role) = snap.role(name.as_str()) else {
        return Err(Refusal::NotFound(Missing::Role(name.clone())));
    };
    if role.builtin.is_some() {
        return Err(Refusal::BuiltinRole { name: name.clone(), deleting: true });
    }
    match snap.role_holders(name.as_str()) {
        0 => Ok(()),
        holders => Err(Refusal::RoleInUse { name: name.clone(), holders }),
    }
}

pub(super) fn plan_put(snap: &Snapshot, mut role: Role) -> Vec<Change> {
    role.builtin = snap.role(role.name.as_str()).and_then(|r| r.builtin);
    vec![Change::PutRole(role)]
}
