//! `GET /api/v1/users`: the users the caller may read, searched, filtered, sorted and paged.

use gatehouse_core::{Permission, Resource, Snapshot, Subject};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::{matches, needle, Listing, Paging, SortValue};
use crate::dto::UserOut;
use crate::error::ApiError;
use crate::service::can;
use crate::versioning;

/// The fields users sort by; the first is the default.
pub const SORT_FIELDS: &[&str] = &["email", "display_name", "role"];

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Items per page, 1 to 500 (50 when only `cursor` is given). With `limit` or `cursor` the answer is a
    /// page `{items, next_cursor}`; without both it is the whole list as an array.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`, with the same `sort`.
    pub cursor: Option<String>,
    /// Case-insensitive text found in the email or display name.
    pub q: Option<String>,
    /// Only holders of this role (its name).
    pub role: Option<String>,
    /// `active` or `deactivated`.
    pub status: Option<String>,
    /// Only members of this team (its name).
    pub team: Option<String>,
    /// `email` (default), `display_name` or `role`; `-field` for descending.
    pub sort: Option<String>,
}

/// The users `caller` may read (all with `user:list`, else only themself) that the query asks for.
pub fn list(
    s: &Snapshot,
    caller: &Subject,
    now: OffsetDateTime,
    q: UserListQuery,
) -> Result<Listing<UserOut>, ApiError> {
    let paging = Paging::parse(q.limit.as_deref(), q.cursor.as_deref(), q.sort.as_deref(), SORT_FIELDS)?;
    let active = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("active") => Some(true),
        Some("deactivated") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid("status", format!("must be `active` or `deactivated`, not `{other}`")))
        }
    };
    let role = q.role.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let team = q.team.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let needle = needle(q.q.as_deref());
    let rows = s
        .users()
        .filter(|u| active.is_none_or(|a| u.user.active == a))
        .filter(|u| role.is_none_or(|r| u.user.role.as_str() == r))
        .filter(|u| team.is_none_or(|t| u.member_of.contains(t)))
        .filter(|u| matches(needle.as_deref(), &[u.user.email.as_str(), &u.user.display_name]))
        .filter(|u| {
            *caller == Subject::User(u.user.email.clone())
                || can(s, caller, Permission::UserList, &Resource::user(&u.user.email), now)
        })
        .map(|u| {
            let key = match paging.sort.field {
                "display_name" => SortValue::Text(u.user.display_name.to_lowercase()),
                "role" => SortValue::Text(u.user.role.to_string()),
                _ => SortValue::Text(u.user.email.to_string()),
            };
            (key, u.user.email.to_string(), u.user.email.as_str())
        })
        .collect();
    Ok(paging.answer(rows, |e| UserOut::from_snapshot(s, e).map(|u| versioning::stamp(u).0)))
}
