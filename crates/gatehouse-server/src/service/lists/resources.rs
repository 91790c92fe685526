//! `GET /api/v1/provider-accounts`, `/mcp-servers`, `/agents` and `/gateway-controls`: the objects the caller
//! may read, searched by name, sorted and paged.

use gatehouse_core::{Snapshot, Subject};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::{matches, needle, Listing, Paging, SortValue};
use crate::error::ApiError;
use crate::resources::Collection;
use crate::service::can;
use crate::versioning;

/// The fields these collections sort by.
pub const SORT_FIELDS: &[&str] = &["name"];

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResourceListQuery {
    /// Items per page, 1 to 500 (50 when only `cursor` is given). With `limit` or `cursor` the answer is a
    /// page `{items, next_cursor}`; without both it is the whole list as an array.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`, with the same `sort`.
    pub cursor: Option<String>,
    /// Case-insensitive text found in the name.
    pub q: Option<String>,
    /// `name` (default); `-name` for descending.
    pub sort: Option<String>,
}

/// The collection's objects `caller` may read (its read permission, tenant-wide or by a grant), each with
/// its version (`etag`), as the query asks.
pub fn list(
    s: &Snapshot,
    caller: &Subject,
    now: OffsetDateTime,
    coll: Collection,
    q: ResourceListQuery,
) -> Result<Listing<Value>, ApiError> {
    let paging = Paging::parse(q.limit.as_deref(), q.cursor.as_deref(), q.sort.as_deref(), SORT_FIELDS)?;
    let needle = needle(q.q.as_deref());
    let rows = s
        .resources()
        .of_kind(coll.kind())
        .filter(|rec| matches(needle.as_deref(), &[rec.spec.name().as_str()]))
        .filter(|rec| can(s, caller, coll.read_permission(), &rec.resource(), now))
        .map(|rec| {
            let name = rec.spec.name().to_string();
            (SortValue::Text(name.clone()), name, rec)
        })
        .collect();
    Ok(paging.answer(rows, |rec| Some(versioning::resource(s, rec).stamped())))
}
