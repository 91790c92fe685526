//! Provider accounts, MCP servers, agents and gateway controls: one implementation for every collection.

use gatehouse_core::{Op, Resource, ResourceName, Subject};
use serde_json::Value;

use super::{can, require};
use crate::error::ApiError;
use crate::resources::{body_type, parse_manifest, plan, render, Collection};
use crate::state::App;

pub fn resource(coll: Collection, name: &str) -> Result<Resource, ApiError> {
    let n = ResourceName::new(name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    Ok(Resource::new(coll.kind(), n.as_str()))
}

/// The collection's objects the caller may read, by name.
pub fn list(app: &App, caller: &Subject, coll: Collection) -> Vec<Value> {
    let s = app.snapshot();
    let now = app.now();
    let mut v: Vec<_> = s
        .resources()
        .of_kind(coll.kind())
        .filter(|rec| can(&s, caller, coll.read_permission(), &rec.resource(), now))
        .map(|rec| (rec.spec.name().to_string(), render(&s, rec, false)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, r)| r).collect()
}

/// One object, if the caller may read it (asked before whether it exists).
pub fn get(app: &App, caller: &Subject, coll: Collection, name: &str) -> Result<Value, ApiError> {
    let r = resource(coll, name)?;
    let s = app.snapshot();
    require(&s, caller, coll.read_permission(), &r, app.now())?;
    let rec = s.resources().get(&r).ok_or_else(|| ApiError::not_found(coll.noun(), name))?;
    Ok(render(&s, rec, false))
}

/// Creates (no `path_name`) or replaces the object a body describes; the name in the path must match the
/// body's. Returns the object as stored (credentials never shown).
pub async fn put(
    app: &App,
    caller: &Subject,
    coll: Collection,
    path_name: Option<&str>,
    mut body: Value,
) -> Result<Value, ApiError> {
    let manifest_type = body_type(coll, &mut body)?;
    let parsed = parse_manifest(manifest_type, body)?;
    let r = parsed.spec.resource();
    if let Some(n) = path_name {
        crate::convert::same_key("name", n, &r.name)?;
    }
    let creating = path_name.is_none();
    let noun = coll.noun();
    let key = r.clone();
    let who = caller.clone();
    let key_ref = app.key.clone();
    // Planned under the writer's lock, against the state it is applied to: the stored credentials it keeps
    // are the current ones, never a version an edit in between replaced (which would look like new ones).
    // Worked out again if another server writes first (see `AppState::write_with`).
    let build = move |s: &gatehouse_core::Snapshot, now| plan(s, &key_ref, parsed.clone(), &who, now).map(|p| p.ops);
    let s = app
        .write_with(caller, build, move |s| match (s.resources().get(&key).is_some(), creating) {
            (true, true) => Err(ApiError::already_exists(noun, &key.name)),
            (false, false) => Err(ApiError::not_found(noun, &key.name)),
            _ => Ok(()),
        })
        .await?;
    let rec = s.resources().get(&r).ok_or_else(|| ApiError::Internal("the resource vanished".into()))?;
    Ok(render(&s, rec, false))
}

/// Deletes one object, with its grants.
pub async fn delete(app: &App, caller: &Subject, coll: Collection, name: &str) -> Result<(), ApiError> {
    let r = resource(coll, name)?;
    app.write(caller, vec![Op::DeleteResource(r)], |_| Ok(())).await?;
    Ok(())
}
