//! Conditional writes of one object: `PUT` (replace), `PATCH` (merge patch) and `DELETE`, each with its
//! `If-Match` compared inside the write path, against the snapshot the commit is conditional on.

use std::sync::{Arc, Mutex};

use gatehouse_core::{Op, Snapshot, Subject};
use serde_json::Value;
use time::OffsetDateTime;

use super::{merge_patch, strip_read_only, Current, IfMatch, Kind};
use crate::error::ApiError;
use crate::state::App;

/// The object in a state, if it exists there.
pub type CurrentIn<'a> = dyn Fn(&Snapshot) -> Option<Current> + Send + Sync + 'a;
/// Whether the caller may read the object, in a given state.
pub type MayRead<'a> = dyn Fn(&Snapshot, OffsetDateTime) -> Result<(), ApiError> + Send + Sync + 'a;
/// The operations that make the object what a body (read-only fields removed) describes, against a state.
pub type Build<'a> = dyn Fn(&Snapshot, Value, OffsetDateTime) -> Result<Vec<Op>, ApiError> + Send + Sync + 'a;

/// One object of a collection, as the write path sees it.
pub struct Item<'a> {
    pub kind: Kind,
    /// The key, as the path names it (already checked).
    pub name: &'a str,
    pub current: Box<CurrentIn<'a>>,
    pub may_read: Box<MayRead<'a>>,
    pub build: Box<Build<'a>>,
}

fn take(slot: &Mutex<Option<Value>>) -> Option<Value> {
    match slot.lock() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn keep(slot: &Mutex<Option<Value>>, v: Value) {
    match slot.lock() {
        Ok(mut g) => *g = Some(v),
        Err(poisoned) => *poisoned.into_inner() = Some(v),
    }
}

/// Replaces the object with `body`. Without `If-Match`, as before: 404 if it does not exist.
pub async fn replace(
    app: &App,
    caller: &Subject,
    item: &Item<'_>,
    if_match: &IfMatch,
    body: Value,
) -> Result<Arc<Snapshot>, ApiError> {
    let request = strip_read_only(body, item.kind.read_only);
    let now = app.now();
    app.write_with(
        caller,
        |s, now| (item.build)(s, request.clone(), now),
        |s| {
            let reveal = (item.may_read)(s, now).is_ok();
            if_match.check_existing(item.kind, item.name, (item.current)(s).as_ref(), Some(&request), reveal)
        },
    )
    .await
}

/// Applies a JSON merge patch to the object's representation in the state the write is worked out
/// against (again on each retry, so a concurrent change to another field is never undone), then writes
/// the result exactly as a `PUT` of it would be. Reading the object is needed, as the patch is applied to
/// what a read shows.
pub async fn patch(
    app: &App,
    caller: &Subject,
    item: &Item<'_>,
    if_match: &IfMatch,
    patch: Value,
) -> Result<Arc<Snapshot>, ApiError> {
    let request: Mutex<Option<Value>> = Mutex::new(None);
    app.write_with(
        caller,
        |s, now| {
            (item.may_read)(s, now)?;
            let current = (item.current)(s).ok_or_else(|| if_match.missing(item.kind, item.name))?;
            let merged = merge_patch::merged(current.representation, &patch);
            let body = strip_read_only(merged, item.kind.read_only);
            let ops = (item.build)(s, body.clone(), now)?;
            keep(&request, body);
            Ok(ops)
        },
        |s| {
            let request = take(&request);
            if_match.check_existing(item.kind, item.name, (item.current)(s).as_ref(), request.as_ref(), true)
        },
    )
    .await
}

/// Deletes the object with `ops`. Without `If-Match`, as before.
pub async fn delete(
    app: &App,
    caller: &Subject,
    item: &Item<'_>,
    if_match: &IfMatch,
    ops: Vec<Op>,
) -> Result<(), ApiError> {
    let now = app.now();
    app.write(caller, ops, |s| {
        let reveal = (item.may_read)(s, now).is_ok();
        if_match.check(item.kind, item.name, (item.current)(s).as_ref(), None, reveal)
    })
    .await
    .map(|_| ())
    .map_err(|e| if_match.on_missing(item.kind, item.name, e))
}
