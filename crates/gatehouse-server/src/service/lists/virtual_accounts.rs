//! `GET /api/v1/virtual-accounts`: the virtual accounts the caller may read, searched, filtered, sorted
//! and paged.

use gatehouse_core::{Permission, Resource, Snapshot, Subject};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::{matches, needle, Listing, Paging, SortValue};
use crate::dto::VirtualAccountOut;
use crate::error::ApiError;
use crate::service::can;
use crate::versioning;

/// The fields virtual accounts sort by; the first is the default.
pub const SORT_FIELDS: &[&str] = &["name", "owner_team", "expires_at"];

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VirtualAccountListQuery {
    /// Items per page, 1 to 500 (50 when only `cursor` is given). With `limit` or `cursor` the answer is a
    /// page `{items, next_cursor}`; without both it is the whole list as an array.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`, with the same `sort`.
    pub cursor: Option<String>,
    /// Case-insensitive text found in the name or description.
    pub q: Option<String>,
    /// Only those owned by this team (its name).
    pub team: Option<String>,
    /// `name` (default), `owner_team` or `expires_at` (accounts that never expire last); `-field` for
    /// descending.
    pub sort: Option<String>,
}

/// The virtual accounts `caller` may read (tenant-wide, or those of the teams they manage) that the query
/// asks for.
pub fn list(
    s: &Snapshot,
    caller: &Subject,
    now: OffsetDateTime,
    q: VirtualAccountListQuery,
) -> Result<Listing<VirtualAccountOut>, ApiError> {
    let paging = Paging::parse(q.limit.as_deref(), q.cursor.as_deref(), q.sort.as_deref(), SORT_FIELDS)?;
    let needle = needle(q.q.as_deref());
    let team = q.team.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let rows = s
        .virtual_accounts()
        .filter(|v| team.is_none_or(|t| v.owner_team.as_str() == t))
        .filter(|v| matches(needle.as_deref(), &[v.name.as_str(), &v.description]))
        .filter(|v| can(s, caller, Permission::VirtualAccountRead, &Resource::virtual_account(&v.name), now))
        .map(|v| {
            let key = match paging.sort.field {
                "owner_team" => SortValue::Text(v.owner_team.to_string()),
                // Nanoseconds overflow i64 only past the year 2262; such a date still sorts last.
                "expires_at" => SortValue::Int(
                    v.expires_at.map_or(i64::MAX, |t| i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)),
                ),
                _ => SortValue::Text(v.name.to_string()),
            };
            (key, v.name.to_string(), v)
        })
        .collect();
    Ok(paging.answer(rows, |v| Some(versioning::stamp(VirtualAccountOut::from(&**v)).0)))
}
