//! Provider accounts, MCP servers, agents and gateway controls: one implementation for every collection.

use gatehouse_core::{Op, Resource, ResourceName, Subject};
use serde_json::Value;

use super::creator::Warning;
use super::require;
use crate::error::ApiError;
use crate::resources::{body_type, parse_manifest, plan, Collection, Parsed};
use crate::state::App;
use crate::versioning::write::{self, Item};
use crate::versioning::{self, ETag, IfMatch};

pub fn resource(coll: Collection, name: &str) -> Result<Resource, ApiError> {
    let n = ResourceName::new(name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    Ok(Resource::new(coll.kind(), n.as_str()))
}

/// One object, if the caller may read it (asked before whether it exists), with its version.
pub fn get(app: &App, caller: &Subject, coll: Collection, name: &str) -> Result<(Value, ETag), ApiError> {
    let r = resource(coll, name)?;
    let s = app.snapshot();
    require(&s, caller, coll.read_permission(), &r, app.now())?;
    let rec = s.resources().get(&r).ok_or_else(|| ApiError::not_found(coll.noun(), name))?;
    Ok(answer(&s, rec))
}

fn answer(s: &gatehouse_core::Snapshot, rec: &gatehouse_core::resource::ResourceRecord) -> (Value, ETag) {
    let c = versioning::resource(s, rec);
    (c.stamped(), c.etag)
}

fn stored(s: &gatehouse_core::Snapshot, r: &Resource) -> Result<(Value, ETag), ApiError> {
    let rec = s.resources().get(r).ok_or_else(|| ApiError::Internal("the resource vanished".into()))?;
    Ok(answer(s, rec))
}

/// A body (read-only fields removed) parsed as the collection's manifest.
fn parse(coll: Collection, mut body: Value) -> Result<Parsed, ApiError> {
    let manifest_type = body_type(coll, &mut body)?;
    parse_manifest(manifest_type, body)
}

/// Creates the object a body describes. Returns it as stored (credentials never shown), with a warning
/// when its creator cannot read it now that it exists.
pub async fn create(
    app: &App,
    caller: &Subject,
    coll: Collection,
    body: Value,
) -> Result<(Value, ETag, Vec<Warning>), ApiError> {
    let kind = versioning::resource_kind(coll.noun());
    let parsed = parse(coll, versioning::strip_read_only(body, kind.read_only))?;
    let r = parsed.spec.resource();
    let noun = coll.noun();
    let key = r.clone();
    let who = caller.clone();
    let key_ref = app.key.clone();
    // Planned under the writer's lock, against the state it is applied to (see `AppState::write_with`).
    let build = move |s: &gatehouse_core::Snapshot, now| plan(s, &key_ref, parsed.clone(), &who, now).map(|p| p.ops);
    let s = app
        .write_with(caller, build, move |s| match s.resources().get(&key) {
            Some(_) => Err(ApiError::already_exists(noun, &key.name)),
            None => Ok(()),
        })
        .await?;
    let warnings = super::creator::creator_cannot_read(&s, caller, &r, app.now()).into_iter().collect();
    let (body, etag) = stored(&s, &r)?;
    Ok((body, etag, warnings))
}

/// The write path's view of one object. Its operations are planned against the state they are applied
/// to: the stored credentials a body without `auth` keeps are the current ones, never a version an edit in
/// between replaced (which would look like new ones).
fn item<'a>(app: &'a App, caller: &'a Subject, coll: Collection, r: &'a Resource) -> Item<'a> {
    let read = coll.read_permission();
    Item {
        kind: versioning::resource_kind(coll.noun()),
        name: &r.name,
        current: Box::new(move |s| s.resources().get(r).map(|rec| versioning::resource(s, rec))),
        may_read: Box::new(move |s, now| require(s, caller, read, r, now)),
        build: Box::new(move |s, body, now| {
            let parsed = parse(coll, body)?;
            crate::convert::same_key("name", &r.name, &parsed.spec.resource().name)?;
            plan(s, &app.key, parsed, caller, now).map(|p| p.ops)
        }),
    }
}

/// Replaces the object a body describes; the name in the path must match the body's. With `If-Match`, only
/// if the object is still at that version.
pub async fn replace(
    app: &App,
    caller: &Subject,
    coll: Collection,
    name: &str,
    if_match: &IfMatch,
    body: Value,
) -> Result<(Value, ETag), ApiError> {
    let r = resource(coll, name)?;
    let s = write::replace(app, caller, &item(app, caller, coll, &r), if_match, body).await?;
    stored(&s, &r)
}

/// Applies a JSON merge patch to the object as a read shows it, and writes the result as a `PUT` would.
pub async fn patch(
    app: &App,
    caller: &Subject,
    coll: Collection,
    name: &str,
    if_match: &IfMatch,
    merge_patch: Value,
) -> Result<(Value, ETag), ApiError> {
    let r = resource(coll, name)?;
    let s = write::patch(app, caller, &item(app, caller, coll, &r), if_match, merge_patch).await?;
    stored(&s, &r)
}

/// Deletes one object, with its grants.
pub async fn delete(
    app: &App,
    caller: &Subject,
    coll: Collection,
    name: &str,
    if_match: &IfMatch,
) -> Result<(), ApiError> {
    let r = resource(coll, name)?;
    let ops = vec![Op::DeleteResource(r.clone())];
    write::delete(app, caller, &item(app, caller, coll, &r), if_match, ops).await?;
    Ok(())
}
