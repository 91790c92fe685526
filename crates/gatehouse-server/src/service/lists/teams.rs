//! `GET /api/v1/teams`: the teams the caller may read, searched, sorted and paged.

use gatehouse_core::{Permission, Resource, Snapshot, Subject};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::{matches, needle, Listing, Paging, SortValue};
use crate::dto::TeamOut;
use crate::error::ApiError;
use crate::service::can;
use crate::versioning;

/// The fields teams sort by; the first is the default.
pub const SORT_FIELDS: &[&str] = &["name", "members"];

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TeamListQuery {
    /// Items per page, 1 to 500 (50 when only `cursor` is given). With `limit` or `cursor` the answer is a
    /// page `{items, next_cursor}`; without both it is the whole list as an array.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`, with the same `sort`.
    pub cursor: Option<String>,
    /// Case-insensitive text found in the name or description.
    pub q: Option<String>,
    /// `name` (default) or `members` (how many); `-field` for descending.
    pub sort: Option<String>,
}

/// The teams `caller` may read (`team:read`, tenant-wide or on the teams they manage) that the query asks for.
pub fn list(
    s: &Snapshot,
    caller: &Subject,
    now: OffsetDateTime,
    q: TeamListQuery,
) -> Result<Listing<TeamOut>, ApiError> {
    let paging = Paging::parse(q.limit.as_deref(), q.cursor.as_deref(), q.sort.as_deref(), SORT_FIELDS)?;
    let needle = needle(q.q.as_deref());
    let rows = s
        .teams()
        .filter(|t| matches(needle.as_deref(), &[t.name.as_str(), &t.description]))
        .filter(|t| can(s, caller, Permission::TeamRead, &Resource::team(&t.name), now))
        .map(|t| {
            let key = match paging.sort.field {
                "members" => SortValue::Int(i64::try_from(t.members.len()).unwrap_or(i64::MAX)),
                _ => SortValue::Text(t.name.to_string()),
            };
            (key, t.name.to_string(), t)
        })
        .collect();
    Ok(paging.answer(rows, |t| Some(versioning::stamp(TeamOut::from(&**t)).0)))
}
