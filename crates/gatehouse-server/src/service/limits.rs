//! What a subject's rate limits and budgets stand at: the counters their requests are charged against,
//! what each holds now, what is left and when it frees up (`GET /api/v1/limits`).
//!
//! The counters listed are the ones the gateway itself would charge: for each model the subject may use
//! (and each model a rule names), and for each metadata map a rule matches on or this replica has seen the
//! subject send (`limits::seen`), the request is matched against the published rules exactly as the
//! admission does, and every counter it would charge is listed once. So first-match order, `when`
//! conditions and `*_applies_per` values mean here what they mean on the gateway.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use gatehouse_core::limits::{Called, Charge, LimitKind, LimitRule, Measure, Period, RequestFacts, NANOS_PER_USD};
use gatehouse_core::token::Principal;
use gatehouse_core::{Permission, Resource, Subject};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::can;
use crate::error::{ApiError, Forbidden, NotFound};
use crate::gateway::resolve::usable_models;
use crate::limits::Usage;
use crate::state::{App, Published};

/// The most entries one answer lists; beyond, `truncated` says some were left out.
pub const MAX_ENTRIES: usize = 1_000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LimitsQuery {
    /// `user:<email>`, `virtualaccount:<name>` or `team:<name>`; by default the caller. Anyone else's
    /// counters need `gateway-controls:list` (admins hold every permission).
    pub subject: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Limits {
    /// The subject the counters are about.
    pub subject: String,
    /// Where the counters are kept: `memory` (this process) or `redis` (shared by every replica).
    pub counters: &'static str,
    /// By config and rule in the order they apply, then by the values counted per.
    pub entries: Vec<LimitEntry>,
    /// More than `MAX_ENTRIES` (1000) counters matched: the rest are left out.
    pub truncated: bool,
}

/// A count: requests and tokens as integers, cost in US dollars.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Amount {
    Count(u64),
    Usd(f64),
}

/// One counter the subject's requests are charged against.
#[derive(Serialize, ToSchema)]
pub struct LimitEntry {
    /// `rate-limit` or `budget`.
    pub kind: &'static str,
    /// The gateway control's name.
    pub config: String,
    /// The rule's id within it.
    pub rule: String,
    /// As the rule writes it, e.g. `requests_per_minute`, `cost_per_month`.
    pub unit: &'static str,
    /// What is counted: `requests`, `tokens` or `usd`.
    pub measure: &'static str,
    /// `minute`, `hour` or `day` for a sliding window; `UTC day`, `UTC week (from Monday)` or `UTC month`
    /// for a calendar period.
    pub period: String,
    /// `sliding` or `calendar`.
    pub window: &'static str,
    /// The values this counter is kept for, one per `*_applies_per` entry, e.g.
    /// `{"user": "a@example.com", "model": "openai-main/gpt-4o"}`; null where requests have none (they
    /// share one counter). Empty for a rule without `*_applies_per`: one counter shared by every request it
    /// matches.
    #[schema(value_type = Object)]
    pub applies_per: BTreeMap<String, Option<String>>,
    /// In the measure's unit (US dollars for cost).
    pub limit: Amount,
    /// What counts now.
    pub used: Amount,
    /// `limit - used`, never below zero.
    pub remaining: Amount,
    /// Whether `used` is above `limit` (a budget in audit mode, or calls that used more than reserved).
    pub exceeded: bool,
    /// When the count next drops: for a sliding window, when its oldest counted requests leave it (null
    /// when nothing counts); for a calendar period, the period's end.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resets_at: Option<OffsetDateTime>,
    /// `enforce` (refuses over the limit) or `audit` (a budget that only records and alerts).
    pub mode: &'static str,
    /// Whether this counter can refuse some of the subject's requests: false in audit mode, and for a
    /// budget rule that only counts because an earlier rule of its config decides for every such request.
    pub decides: bool,
}

/// Who a report is about, and the callers whose requests it follows: the subject itself, or for a team its
/// members (teams make no requests of their own).
struct Scope {
    callers: Vec<(Subject, Vec<String>)>,
    /// For a team, only the rules that name it or name no one.
    team: Option<String>,
}

fn scope(view: &Published, subject: &Subject) -> Result<Scope, ApiError> {
    let s = &view.snapshot;
    let gone = || ApiError::NotFound(NotFound::Subject(subject.to_string()));
    let user_facts = |email: &str| {
        s.user(email).map(|u| {
            let teams = u.member_of.iter().map(|t| t.to_string()).collect();
            (Subject::User(u.user.email.clone()), teams)
        })
    };
    match subject {
        Subject::User(e) => Ok(Scope { callers: vec![user_facts(e.as_str()).ok_or_else(gone)?], team: None }),
        Subject::VirtualAccount(v) => {
            s.virtual_account(v.as_str()).ok_or_else(gone)?;
            Ok(Scope { callers: vec![(subject.clone(), Vec::new())], team: None })
        }
        Subject::Team(t) => {
            let team = s.team(t.as_str()).ok_or_else(gone)?;
            let callers = team.members.iter().filter_map(|m| user_facts(m.as_str())).collect();
            Ok(Scope { callers, team: Some(t.to_string()) })
        }
    }
}

/// The counters found, each once: its charge, its rule's place in the table, and whether any of the
/// requests that reach it lets it decide.
#[derive(Default)]
struct Found {
    by_counter: HashMap<String, (usize, Charge)>,
    truncated: bool,
}

impl Found {
    fn add(&mut self, order: usize, charge: Charge) {
        if let Some((_, known)) = self.by_counter.get_mut(&charge.counter) {
            known.decides |= charge.decides;
            return;
        }
        if self.by_counter.len() >= MAX_ENTRIES {
            self.truncated = true;
            return;
        }
        self.by_counter.insert(charge.counter.clone(), (order, charge));
    }
}

/// Every counter `caller`'s requests could be charged against, among the rules `about` admits.
fn counters_of(
    view: &Published,
    caller: &Subject,
    teams: &[String],
    seen: Vec<BTreeMap<String, String>>,
    about: &dyn Fn(&LimitRule) -> bool,
    now: OffsetDateTime,
    found: &mut Found,
) {
    let table = &view.limits;
    let order: HashMap<*const LimitRule, usize> = table.rules().enumerate().map(|(i, r)| (Arc::as_ptr(r), i)).collect();
    let usable: BTreeSet<String> = usable_models(view, caller, now).into_iter().map(|(id, _)| id).collect();
    let mut models: BTreeSet<&str> = usable.iter().map(String::as_str).collect();
    // A rule naming a model counts it whoever may use it: listed, since the rule says so.
    models.extend(table.rules().flat_map(|r| r.models()));
    let mut maps: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    maps.extend(table.rules().filter(|r| !r.metadata().is_empty()).map(|r| r.metadata().iter().cloned().collect()));
    maps.extend(seen);
    maps.sort();
    maps.dedup();
    for model in models {
        for metadata in &maps {
            let facts = RequestFacts { subject: caller, teams, call: Called::Model(model), metadata };
            for charge in table.charges(&facts) {
                let rule = &charge.rule;
                if !about(rule) || !(usable.contains(model) || rule.names_model(model)) {
                    continue;
                }
                let at = order.get(&Arc::as_ptr(rule)).copied().unwrap_or(usize::MAX);
                found.add(at, charge);
            }
        }
    }
}

fn amount(measure: Measure, n: u64) -> Amount {
    match measure {
        Measure::CostNanos => Amount::Usd(n as f64 / NANOS_PER_USD),
        Measure::Requests | Measure::Tokens => Amount::Count(n),
    }
}

fn entry(charge: &Charge, usage: Usage, now: OffsetDateTime) -> LimitEntry {
    let rule = &charge.rule;
    let (window, resets) = match rule.period {
        Period::Sliding(_) => ("sliding", usage.oldest.map(|slot| rule.period.expires(slot))),
        Period::Day | Period::Week | Period::Month => ("calendar", Some(rule.period.expires(rule.period.slot(now)))),
    };
    LimitEntry {
        kind: rule.kind.as_str(),
        config: rule.config.clone(),
        rule: rule.rule.clone(),
        unit: rule.unit(),
        measure: match rule.measure {
            Measure::Requests => "requests",
            Measure::Tokens => "tokens",
            Measure::CostNanos => "usd",
        },
        period: rule.period.describe(),
        window,
        applies_per: charge.per.iter().map(|(a, v)| (a.to_string(), v.clone())).collect(),
        limit: amount(rule.measure, rule.limit),
        used: amount(rule.measure, usage.used),
        remaining: amount(rule.measure, rule.limit.saturating_sub(usage.used)),
        exceeded: usage.used > rule.limit,
        resets_at: resets.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
        mode: match (rule.kind, rule.enforce) {
            (LimitKind::RateLimit, _) | (LimitKind::Budget, true) => "enforce",
            (LimitKind::Budget, false) => "audit",
        },
        decides: charge.decides,
    }
}

/// The counters of `q.subject` (by default the caller's own), read from wherever they are kept.
pub async fn limits(app: &App, view: &Published, caller: &Principal, q: LimitsQuery) -> Result<Limits, ApiError> {
    let now = app.now();
    let subject = match q.subject.as_deref() {
        None | Some("") => caller.subject.clone(),
        Some(s) => s.parse::<Subject>().map_err(|e| ApiError::invalid("subject", e.to_string()))?,
    };
    // Asked before the lookup: a refused caller learns nothing about who exists.
    if subject != caller.subject
        && !can(&view.snapshot, &caller.subject, Permission::GatewayControlsList, &Resource::tenant(), now)
    {
        return Err(ApiError::Forbidden(Forbidden::OthersLimits {
            caller: caller.subject.to_string(),
            subject: subject.to_string(),
        }));
    }
    let scope = scope(view, &subject)?;
    let about = |r: &LimitRule| match &scope.team {
        None => true,
        Some(t) => !r.names_subjects() || r.names_team(t),
    };
    let mut found = Found::default();
    if !view.limits.is_empty() {
        for (who, teams) in &scope.callers {
            let seen = app.limiter.seen.of(&who.to_string());
            counters_of(view, who, teams, seen, &about, now, &mut found);
        }
    }
    let mut listed: Vec<(usize, Charge)> = found.by_counter.into_values().collect();
    listed.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.per.cmp(&y.per)));
    let keys: Vec<(&str, Period)> = listed.iter().map(|(_, c)| (c.counter.as_str(), c.rule.period)).collect();
    let usage = app.limiter.counters.usage(now, &keys).await.map_err(|e| ApiError::LimitsUnavailable(e.0))?;
    drop(keys);
    let entries = listed.iter().zip(usage).map(|((_, c), u)| entry(c, u, now)).collect();
    Ok(Limits {
        subject: subject.to_string(),
        counters: app.limiter.counters.backend(),
        entries,
        truncated: found.truncated,
    })
}
