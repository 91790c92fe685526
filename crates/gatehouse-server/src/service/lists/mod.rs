//! Paging, searching and sorting of the lists served from the published snapshot (users, teams, virtual
//! accounts). Pages are keyset pages: a cursor holds the sort value and the unique key of the last item
//! given, so an insert or delete between two requests never repeats or skips an item that was already
//! there. Without `limit` or `cursor` a list answers the whole (filtered, sorted) array, as it always has.

pub mod resources;
pub mod teams;
pub mod users;
pub mod virtual_accounts;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Items in a page when `cursor` is given without `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// The most items one page may hold.
pub const MAX_LIMIT: usize = 500;

/// A list's answer: the whole array when neither `limit` nor `cursor` was given (as before paging existed),
/// else one page.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Listing<T> {
    All(Vec<T>),
    Page(Page<T>),
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` (with the same `sort`) for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// What an item sorts by: its value in the sort field, then its unique key (email or name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// The sort a list was asked for: one of the list's fields, ascending unless written `-field`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub field: &'static str,
    pub descending: bool,
}

impl Sort {
    /// `raw` against the list's fields; the first of `fields` is the default.
    pub fn parse(raw: Option<&str>, fields: &[&'static str]) -> Result<Sort, ApiError> {
        let default = fields.first().copied().ok_or_else(|| ApiError::Internal("a list without sort fields".into()))?;
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(Sort { field: default, descending: false });
        };
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        match fields.iter().find(|f| **f == name) {
            Some(field) => Ok(Sort { field, descending }),
            None => Err(ApiError::invalid(
                "sort",
                format!("cannot sort by `{name}`: one of {} (prefix `-` for descending)", fields.join(", ")),
            )),
        }
    }

    fn spec(&self) -> String {
        if self.descending {
            format!("-{}", self.field)
        } else {
            self.field.to_owned()
        }
    }
}

/// How much of a list to answer: everything, or a page after an optional cursor.
#[derive(Debug)]
pub struct Paging {
    pub sort: Sort,
    /// `None`: the whole list as an array.
    page: Option<PageAsk>,
}

#[derive(Debug)]
struct PageAsk {
    limit: usize,
    after: Option<(SortValue, String)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorData {
    /// The sort the cursor was made under: a key means nothing under another sort.
    s: String,
    v: SortValue,
    k: String,
}

impl Paging {
    /// From the raw `limit`, `cursor` and `sort` parameters; each bad value is a 400 naming its parameter.
    pub fn parse(
        limit: Option<&str>,
        cursor: Option<&str>,
        sort: Option<&str>,
        fields: &[&'static str],
    ) -> Result<Paging, ApiError> {
        let sort = Sort::parse(sort, fields)?;
        let limit = limit.map(parse_limit).transpose()?;
        let after = cursor.map(|c| decode(c, &sort)).transpose()?;
        let page = match (limit, after) {
            (None, None) => None,
            (limit, after) => Some(PageAsk { limit: limit.unwrap_or(DEFAULT_LIMIT), after }),
        };
        Ok(Paging { sort, page })
    }

    /// Sorts `rows` (sort value, unique key, item) and cuts the page out of them; `out` turns the items of
    /// the answer, and only those, into what the API shows.
    pub fn answer<I, T>(&self, mut rows: Vec<(SortValue, String, I)>, out: impl FnMut(I) -> Option<T>) -> Listing<T> {
        let order = |a: (&SortValue, &str), b: (&SortValue, &str)| {
            let o = a.cmp(&b);
            if self.sort.descending {
                o.reverse()
            } else {
                o
            }
        };
        rows.sort_by(|a, b| order((&a.0, &a.1), (&b.0, &b.1)));
        let Some(ask) = &self.page else {
            return Listing::All(rows.into_iter().map(|r| r.2).filter_map(out).collect());
        };
        let start = match &ask.after {
            None => 0,
            Some((v, k)) => rows.partition_point(|r| order((&r.0, &r.1), (v, k)) != Ordering::Greater),
        };
        let mut rest = rows.into_iter().skip(start);
        let taken: Vec<_> = rest.by_ref().take(ask.limit).collect();
        let next_cursor = match (rest.next(), taken.last()) {
            (Some(_), Some(last)) => Some(encode(&self.sort, &last.0, &last.1)),
            _ => None,
        };
        Page { items: taken.into_iter().map(|r| r.2).filter_map(out).collect(), next_cursor }.into()
    }
}

impl<T> From<Page<T>> for Listing<T> {
    fn from(p: Page<T>) -> Self {
        Listing::Page(p)
    }
}

fn parse_limit(raw: &str) -> Result<usize, ApiError> {
    let bad = || ApiError::invalid("limit", format!("must be a whole number from 1 to {MAX_LIMIT}, not `{raw}`"));
    let n: usize = raw.trim().parse().map_err(|_| bad())?;
    if n == 0 || n > MAX_LIMIT {
        return Err(bad());
    }
    Ok(n)
}

fn encode(sort: &Sort, v: &SortValue, k: &str) -> String {
    let data = CursorData { s: sort.spec(), v: v.clone(), k: k.to_owned() };
    // Serializing plain strings and numbers cannot fail; an empty cursor would only restart the list.
    hex::encode(serde_json::to_vec(&data).unwrap_or_default())
}

fn decode(raw: &str, sort: &Sort) -> Result<(SortValue, String), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor this list gave: pass a page's `next_cursor` as it came");
    let bytes = hex::decode(raw.trim()).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if data.s != sort.spec() {
        return Err(ApiError::invalid(
            "cursor",
            format!("this cursor is for sort `{}`, not `{}`: start again without a cursor", data.s, sort.spec()),
        ));
    }
    Ok((data.v, data.k))
}

/// The search text, lowercased, when there is any.
pub fn needle(q: Option<&str>) -> Option<String> {
    q.map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase)
}

/// Whether any of `fields` contains the (lowercased) needle, ignoring case.
pub fn matches(needle: Option<&str>, fields: &[&str]) -> bool {
    needle.is_none_or(|n| fields.iter().any(|f| f.to_lowercase().contains(n)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rows(n: usize) -> Vec<(SortValue, String, usize)> {
        (0..n).map(|i| (SortValue::Int((i % 3) as i64), format!("k{i:03}"), i)).collect()
    }

    fn pages(limit: &str, sort: &str, data: Vec<(SortValue, String, usize)>) -> Vec<usize> {
        let mut seen = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let p = Paging::parse(Some(limit), cursor.as_deref(), Some(sort), &["key", "n"]).unwrap();
            let Listing::Page(page) = p.answer(data.clone(), Some) else { panic!("not a page") };
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return seen,
            }
        }
    }

    #[test]
    fn every_item_once_in_order_both_ways() {
        let mut asc = pages("7", "n", rows(50));
        assert_eq!(asc.len(), 50);
        let mut desc = pages("7", "-n", rows(50));
        assert_eq!(desc.len(), 50);
        desc.reverse();
        assert_eq!(asc, desc);
        asc.sort_unstable();
        assert_eq!(asc, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let param = |r: Result<Paging, ApiError>| match r.unwrap_err() {
            ApiError::Invalid(e) => e.path.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(param(Paging::parse(Some("0"), None, None, &["key"])), "limit");
        assert_eq!(param(Paging::parse(Some("501"), None, None, &["key"])), "limit");
        assert_eq!(param(Paging::parse(Some("x"), None, None, &["key"])), "limit");
        assert_eq!(param(Paging::parse(None, Some("zz"), None, &["key"])), "cursor");
        assert_eq!(param(Paging::parse(None, None, Some("nope"), &["key"])), "sort");
        let c = encode(&Sort { field: "key", descending: false }, &SortValue::Int(1), "a");
        assert_eq!(param(Paging::parse(None, Some(&c), Some("-key"), &["key"])), "cursor");
        assert!(Paging::parse(None, Some(&c), Some("key"), &["key"]).is_ok());
    }
}
