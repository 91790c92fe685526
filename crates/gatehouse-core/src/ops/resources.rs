//! Provider accounts, MCP servers, agents and gateway controls, and their collaborator grants. The
//! permissions of each come from the resource-type catalogue.

use time::OffsetDateTime;

use super::{invalid, subject_exists, Ctx, Giving, Missing, Refusal, SnapshotLookup};
use crate::change::Change;
use crate::model::{Grant, Resource, ResourceKind, Subject};
use crate::resource::{ResourceRecord, ResourceSpec};
use crate::resource_type::ResourceType;
use crate::snapshot::Snapshot;

pub(super) fn put(cx: &Ctx<'_>, rec: &ResourceRecord) -> Result<(), Refusal> {
    let snap = cx.snap;
    let r = rec.resource();
    require_put_resource(cx, rec.spec.resource_type(), &r)?;
    rec.spec.validate(&SnapshotLookup(snap))?;
    // Only an object that names where its credentials go may hold any (see `destination`).
    if rec.sealed_auth.is_some() && rec.spec.destination().is_none() {
        return Err(invalid("auth", format!("a {} holds no credentials", r.kind.as_str())));
    }
    if let Some(old) = snap.resources().get(&r) {
        // Stored credentials never follow a new destination: whoever moves it sends them again.
        if let Some(what) = old.spec.moved_destination(&rec.spec) {
            if old.sealed_auth.is_some() && rec.sealed_auth == old.sealed_auth {
                return Err(Refusal::CredentialsRequired { moved: what.to_string() });
            }
        }
    }
    if let ResourceSpec::McpVirtual(v) = &rec.spec {
        // A virtual server hands its tools to its own collaborators: whoever writes one must be able to use
        // every server it draws on, or it would be a way to give away access they do not hold.
        for server in v.servers() {
            cx.require(
                crate::permission::Permission::McpServerUse,
                &Resource::new(ResourceKind::McpServer, server.as_str()),
            )?;
        }
    }
    if let Some(tools) = crate::spec::McpTools::of(&rec.spec) {
        // Nor can tools a rate limit names (a server's name stays: only its tools can go).
        for (control, named) in snap.resources().controls_naming_mcp(&r.name) {
            if named.tool.as_deref().is_some_and(|t| !tools.has(t)) {
                return Err(Refusal::McpServerInUseByControl { what: named.to_string(), control: control.clone() });
            }
        }
    }
    if let ResourceSpec::ProviderAccount(p) = &rec.spec {
        // Models a gateway control still names cannot go.
        if let Some(old) = snap.resources().get(&r) {
            if let ResourceSpec::ProviderAccount(before) = &old.spec {
                crate::narrowing::check_account_edit(cx, before, p)?;
                for m in before.models().iter().filter(|m| p.model(m.name.as_str()).is_none()) {
                    let users = snap.resources().controls_naming(&r.name, Some(m.name.as_str()));
                    if let Some(c) = users.first() {
                        return Err(Refusal::ModelInUseByControl {
                            account: r.name.to_string(),
                            model: m.name.to_string(),
                            control: (*c).clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

pub(super) fn delete(cx: &Ctx<'_>, r: &Resource) -> Result<(), Refusal> {
    let snap = cx.snap;
    let Some(t) = ResourceType::of_kind(r.kind) else {
        return Err(Refusal::NotFound(Missing::Resource(r.clone())));
    };
    cx.require(t.delete_permission(), r)?;
    if snap.resources().get(r).is_none() {
        return Err(Refusal::NotFound(Missing::Resource(r.clone())));
    }
    if r.kind == ResourceKind::ProviderAccount {
        if let Some(c) = snap.resources().controls_naming(&r.name, None).first() {
            return Err(Refusal::AccountInUseByControl { account: r.clone(), control: (*c).clone() });
        }
    }
    if r.kind == ResourceKind::McpServer {
        if let Some((control, _)) = snap.resources().controls_naming_mcp(&r.name).first() {
            return Err(Refusal::McpServerInUseByControl { what: r.name.to_string(), control: (*control).clone() });
        }
    }
    Ok(())
}

/// A put or a delete (`put`) of a collaborator grant.
pub(super) fn grant(cx: &Ctx<'_>, g: &Grant, put: bool) -> Result<(), Refusal> {
    let snap = cx.snap;
    let Some(t) = ResourceType::of_kind(g.resource.kind).filter(|t| t.has_collaborators()) else {
        return Err(invalid("resource", format!("{} has no collaborators", g.resource)));
    };
    let manage = t.manage_permission();
    // "User can add themself as MCP Server Manager using collaborator ... while creating it first time."
    let creator_naming_self =
        put && &g.subject == cx.caller && cx.created.contains(&g.resource) && g.role.resource_kind() == g.resource.kind;
    if creator_naming_self {
        return Ok(());
    }
    // Every question about the caller's own rights before any about the state (does the resource,
    // does the subject exist), so a refused caller learns nothing.
    cx.require(manage, &g.resource)?;
    if g.role.resource_kind() != g.resource.kind {
        return Err(invalid("role", format!("{} is not a role on {}", g.role, g.resource)));
    }
    if put && !cx.is_admin() {
        cx.require_holds_grant(g.role, &g.resource, &Giving::Grant(g.subject.clone()))?;
    }
    if snap.resources().get(&g.resource).is_none() {
        return Err(Refusal::NotFound(Missing::Resource(g.resource.clone())));
    }
    if !subject_exists(snap, &g.subject) {
        return Err(invalid("subject", format!("no such subject {}", g.subject)));
    }
    Ok(())
}

/// The right to create `r` (if it does not exist) or to change it: what a put of it asks first, before
/// anything about the state is said.
fn require_put_resource(cx: &Ctx<'_>, t: ResourceType, r: &Resource) -> Result<(), Refusal> {
    let exists = cx.snap.resources().get(r).is_some();
    cx.require_put(exists, (t.create_permission(), &Resource::tenant()), (t.manage_permission(), r))
}

/// `require_put_resource` for a server that validates a body against the state before it builds the
/// operations: it asks this first, so a refused caller learns nothing from the validation.
pub fn may_put_resource(
    snap: &Snapshot,
    caller: &Subject,
    spec: &ResourceSpec,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    let created = std::collections::HashSet::new();
    require_put_resource(&Ctx { snap, caller, now, created: &created }, spec.resource_type(), &spec.resource())
}

pub(super) fn plan_delete(snap: &Snapshot, r: Resource) -> Vec<Change> {
    let mut out: Vec<Change> = snap.grants_on(&r).map(Change::DeleteGrant).collect();
    out.push(Change::DeleteResource(r));
    out
}
