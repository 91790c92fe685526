//! Rate limits and budgets, compiled from the gateway controls of a snapshot: which counters a request is
//! charged against, what each may hold, and the arithmetic of windows and periods. Pure: where counters
//! live (in process, in Redis) is the server's business.
//!
//! Matching follows the product's rules: a rule applies when its `when` holds. Rate-limiting configs apply
//! their first matching rule only; budget configs count spend against every matching rule, and their
//! first matching rule decides whether to refuse. Separate configs apply independently.

pub mod tally;
pub mod window;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::model::Subject;
use crate::resource::ResourceSpec;
use crate::snapshot::Snapshot;
use crate::spec::{AppliesPer, BudgetMode, BudgetUnit, GatewayControlSpec, RateLimitUnit, When};
use crate::ResourceKind;
pub use tally::{Full, Tally};
pub use window::Period;

/// Cost budgets count in billionths of a US dollar, so that counters are integers everywhere (Redis
/// included) and a cheap model's few tokens still count.
pub const NANOS_PER_USD: f64 = 1e9;

/// The two kinds of control this module enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    RateLimit,
    Budget,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::RateLimit => "rate-limit",
            LimitKind::Budget => "budget",
        }
    }
}

/// What a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Measure {
    Requests,
    /// Prompt and completion tokens together.
    Tokens,
    /// Billionths of a US dollar.
    CostNanos,
}

impl Measure {
    /// The name OpenAI's `x-ratelimit-*-<name>` headers use.
    pub fn header_name(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Tokens => "tokens",
            Measure::CostNanos => "cost",
        }
    }
}

/// A compiled rule of a rate-limiting or budget config.
#[derive(Debug)]
pub struct LimitRule {
    pub kind: LimitKind,
    pub config: String,
    pub rule: String,
    pub measure: Measure,
    pub period: Period,
    /// In the measure's unit (nano-dollars for cost).
    pub limit: u64,
    /// `false` for budgets in `audit` mode: counted and reported, never refused.
    pub enforce: bool,
    /// Budget alert thresholds, percent of the limit, increasing.
    pub alerts: Vec<u32>,
    pub applies_per: Vec<AppliesPer>,
    when: CompiledWhen,
    /// The unit as written, part of the counter key: changing the unit starts a new count.
    unit: &'static str,
    /// `<kind>:<config>/<rule>`, as `x-gatehouse-applied-controls` names it on every answer: made once here
    /// rather than per request.
    applied: String,
}

impl LimitRule {
    /// `<config>/<rule>`, as errors, headers and the request log name it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.config, self.rule)
    }

    /// The unit as the manifest writes it, e.g. `requests_per_minute`.
    pub fn unit(&self) -> &'static str {
        self.unit
    }

    /// Whether the rule's `when` names subjects (else it applies to every caller).
    pub fn names_subjects(&self) -> bool {
        let w = &self.when;
        !(w.users.is_empty() && w.teams.is_empty() && w.virtual_accounts.is_empty())
    }

    /// Whether the rule's `when.subjects` names `team`.
    pub fn names_team(&self, team: &str) -> bool {
        self.when.teams.iter().any(|t| t == team)
    }

    /// The models of the rule's `when.models`, sorted (empty: every model).
    pub fn models(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.when.models.iter().map(String::as_str).collect();
        out.sort_unstable();
        out
    }

    /// Whether the rule's `when.models` names `model`.
    pub fn names_model(&self, model: &str) -> bool {
        self.when.models.contains(model)
    }

    /// The pairs of the rule's `when.metadata` (empty: any metadata).
    pub fn metadata(&self) -> &[(String, String)] {
        &self.when.metadata
    }

    /// `<kind>:<config>/<rule>`.
    pub fn applied(&self) -> &str {
        &self.applied
    }
}

fn applied(kind: LimitKind, config: &impl fmt::Display, rule: &impl fmt::Display) -> String {
    format!("{}:{config}/{rule}", kind.as_str())
}

/// A rule's `when`, compiled for matching requests (rate limits, budgets and guardrails alike).
#[derive(Debug, Default)]
pub struct CompiledWhen {
    users: HashSet<String>,
    teams: Vec<String>,
    virtual_accounts: HashSet<String>,
    models: HashSet<String>,
    /// `<server>` and `<server>/<tool>`: non-empty for rules that count tool calls (and only those).
    mcp: HashSet<String>,
    metadata: Vec<(String, String)>,
}

impl CompiledWhen {
    pub fn new(w: &When) -> CompiledWhen {
        let mut c = CompiledWhen::default();
        for s in &w.subjects {
            match s {
                Subject::User(e) => c.users.insert(e.to_string()),
                Subject::Team(t) => {
                    c.teams.push(t.to_string());
                    true
                }
                Subject::VirtualAccount(v) => c.virtual_accounts.insert(v.to_string()),
            };
        }
        c.models = w.models.iter().map(|m| m.to_string()).collect();
        c.mcp = w.mcp_servers.iter().map(|m| m.to_string()).collect();
        c.metadata = w.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        c
    }

    /// Whether a `when` holds for `r` (guardrails apply every rule whose `when` holds).
    pub fn applies(&self, r: &RequestFacts<'_>) -> bool {
        self.matches(r).is_some()
    }

    /// Whether the rule applies to `r`, and if so, what it counts `model` per: the model, or for a tool call
    /// the `<server>/<tool>` the rule matched.
    fn matches<'a>(&self, r: &RequestFacts<'a>) -> Option<Cow<'a, str>> {
        let subjects = self.users.is_empty() && self.teams.is_empty() && self.virtual_accounts.is_empty();
        let subject_ok = subjects
            || match r.subject {
                Subject::User(e) => {
                    self.users.contains(e.as_str()) || self.teams.iter().any(|t| r.teams.iter().any(|m| m == t))
                }
                Subject::VirtualAccount(v) => self.virtual_accounts.contains(v.as_str()),
                // Teams do not call the gateway themselves.
                Subject::Team(_) => false,
            };
        if !subject_ok || !self.metadata.iter().all(|(k, v)| r.metadata.get(k) == Some(v)) {
            return None;
        }
        match r.call {
            // Rules that name MCP servers never count model calls, so the defaults of model limits never
            // start counting tool calls either.
            Called::Model(m) => {
                (self.mcp.is_empty() && (self.models.is_empty() || self.models.contains(m))).then_some(Cow::Borrowed(m))
            }
            Called::Tool { server, tool, behind } => {
                if self.mcp.is_empty() || !self.models.is_empty() {
                    return None;
                }
                let named = |(s, t): (&str, &str)| {
                    let pair = format!("{s}/{t}");
                    (self.mcp.contains(s) || self.mcp.contains(&pair)).then_some(Cow::Owned(pair))
                };
                named((server, tool)).or_else(|| behind.and_then(named))
            }
        }
    }
}

/// What a request is matched on.
pub struct RequestFacts<'a> {
    pub subject: &'a Subject,
    /// The teams the caller is in (empty for a virtual account).
    pub teams: &'a [String],
    pub call: Called<'a>,
    pub metadata: &'a BTreeMap<String, String>,
}

/// What a request calls.
#[derive(Clone, Copy, Debug)]
pub enum Called<'a> {
    /// `<account>/<model>` as the request named it.
    Model(&'a str),
    /// An MCP `tools/call`: the server and tool as the caller named them, and, through a virtual server, the
    /// remote server and tool behind it (a rule on the remote server counts calls that come either way).
    Tool { server: &'a str, tool: &'a str, behind: Option<(&'a str, &'a str)> },
}

/// One counter a request is charged against.
#[derive(Clone, Debug)]
pub struct Charge {
    pub rule: Arc<LimitRule>,
    /// Unique over every config and rule, and over the values the rule counts per.
    pub counter: String,
    /// The values of `applies_per`, in its order; `None` where the request has none (a user's request
    /// counted per virtual account, a missing metadata key): those share one counter.
    pub per: Vec<(AppliesPer, Option<String>)>,
    /// Whether this counter may refuse the request: the first matching rule of its config, and enforced.
    pub decides: bool,
}

/// The rate-limiting and budget rules of one published snapshot, in the order they apply.
#[derive(Debug, Default)]
pub struct LimitsTable {
    configs: Vec<Vec<Arc<LimitRule>>>,
    /// Every metadata key a rule matches on or counts per, sorted.
    metadata_keys: Vec<String>,
    /// Whether any rule is about a team: only then must a request say which teams its caller is in.
    names_teams: bool,
}

impl LimitsTable {
    pub fn compile(snapshot: &Snapshot) -> LimitsTable {
        let mut configs = Vec::new();
        for record in snapshot.resources().of_kind(ResourceKind::GatewayControls) {
            let ResourceSpec::GatewayControl(spec) = &record.spec else { continue };
            let rules: Vec<Arc<LimitRule>> = match spec {
                GatewayControlSpec::RateLimiting(c) => c
                    .rules
                    .iter()
                    .map(|r| {
                        let (measure, period, unit) = rate_unit(r.unit);
                        Arc::new(LimitRule {
                            kind: LimitKind::RateLimit,
                            config: c.name.to_string(),
                            rule: r.id.to_string(),
                            measure,
                            period,
                            limit: r.limit_to,
                            enforce: true,
                            alerts: Vec::new(),
                            applies_per: r.rate_limit_applies_per.clone(),
                            when: CompiledWhen::new(&r.when),
                            unit,
                            applied: applied(LimitKind::RateLimit, &c.name, &r.id),
                        })
                    })
                    .collect(),
                GatewayControlSpec::Budget(c) => c
                    .rules
                    .iter()
                    .map(|r| {
                        let (measure, period, unit) = budget_unit(r.unit);
                        let limit = match measure {
                            Measure::CostNanos => (r.limit_to * NANOS_PER_USD).round(),
                            Measure::Requests | Measure::Tokens => r.limit_to.round(),
                        };
                        Arc::new(LimitRule {
                            kind: LimitKind::Budget,
                            config: c.name.to_string(),
                            rule: r.id.to_string(),
                            measure,
                            period,
                            // Validation keeps limits finite and positive; `as` saturates.
                            limit: limit as u64,
                            enforce: r.mode == BudgetMode::Enforce,
                            alerts: r.alerts.as_ref().map(|a| a.thresholds.clone()).unwrap_or_default(),
                            applies_per: r.budget_applies_per.clone(),
                            when: CompiledWhen::new(&r.when),
                            unit,
                            applied: applied(LimitKind::Budget, &c.name, &r.id),
                        })
                    })
                    .collect(),
                GatewayControlSpec::Guardrails(_) | GatewayControlSpec::LoadBalancing(_) => continue,
            };
            configs.push(rules);
        }
        // Configs are independent; an order keeps answers (headers, listings) the same from run to run.
        configs.sort_by(|a, b| a.first().map(|r| &r.config).cmp(&b.first().map(|r| &r.config)));
        let mut metadata_keys: Vec<String> = configs
            .iter()
            .flatten()
            .flat_map(|r| {
                let counted = r.applies_per.iter().filter_map(|a| match a {
                    AppliesPer::Metadata(k) => Some(k.clone()),
                    AppliesPer::User | AppliesPer::VirtualAccount | AppliesPer::Model => None,
                });
                counted.chain(r.when.metadata.iter().map(|(k, _)| k.clone())).collect::<Vec<_>>()
            })
            .collect();
        metadata_keys.sort_unstable();
        metadata_keys.dedup();
        let names_teams = configs.iter().flatten().any(|r| !r.when.teams.is_empty());
        LimitsTable { configs, metadata_keys, names_teams }
    }

    /// Every metadata key some rule matches on (`when.metadata`) or counts per (`metadata.<key>`), sorted.
    pub fn metadata_keys(&self) -> &[String] {
        &self.metadata_keys
    }

    /// Whether `RequestFacts::teams` can change which rules match; when not, it may be left empty.
    pub fn names_teams(&self) -> bool {
        self.names_teams
    }

    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Every rule, config by config, in order.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<LimitRule>> {
        self.configs.iter().flatten()
    }

    /// The counters `request` is charged against.
    pub fn charges(&self, request: &RequestFacts<'_>) -> Vec<Charge> {
        let mut out = Vec::new();
        for rules in &self.configs {
            let mut first = true;
            for rule in rules {
                let Some(called) = rule.when.matches(request) else { continue };
                out.push(charge(rule, request, &called, first && rule.enforce));
                first = false;
                if rule.kind == LimitKind::RateLimit {
                    break;
                }
            }
        }
        out
    }
}

/// `called`: the model, or the `<server>/<tool>` the rule matched, which `applies_per: [model]` counts per.
fn charge(rule: &Arc<LimitRule>, r: &RequestFacts<'_>, called: &str, decides: bool) -> Charge {
    let per: Vec<(AppliesPer, Option<String>)> = rule
        .applies_per
        .iter()
        .map(|a| {
            let v = match a {
                AppliesPer::User => match r.subject {
                    Subject::User(e) => Some(e.to_string()),
                    Subject::Team(_) | Subject::VirtualAccount(_) => None,
                },
                AppliesPer::VirtualAccount => match r.subject {
                    Subject::VirtualAccount(v) => Some(v.to_string()),
                    Subject::User(_) | Subject::Team(_) => None,
                },
                AppliesPer::Model => Some(called.to_owned()),
                AppliesPer::Metadata(k) => r.metadata.get(k).cloned(),
            };
            (a.clone(), v)
        })
        .collect();
    Charge { counter: counter_key(rule, &per), rule: rule.clone(), per, decides }
}

/// `<kind>|<config>|<rule>|<unit>` then `|<per>=<value>` for each value, escaped so that no value can
/// forge another counter's key; a missing value is `-` (a present one is never just `-`: it is escaped).
pub fn counter_key(rule: &LimitRule, per: &[(AppliesPer, Option<String>)]) -> String {
    let mut k = String::with_capacity(64);
    k.push_str(rule.kind.as_str());
    for part in [&rule.config, &rule.rule, rule.unit] {
        k.push('|');
        escape(&mut k, part);
    }
    for (a, v) in per {
        let _ = write!(k, "|{a}=");
        match v {
            Some(v) => escape(&mut k, v),
            None => k.push('-'),
        }
    }
    k
}

fn escape(out: &mut String, s: &str) {
    if s == "-" {
        out.push_str("%2D");
        return;
    }
    // Names and most values have nothing to escape: copied whole.
    if !s.bytes().any(|b| matches!(b, b'%' | b'|' | b'=')) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            '=' => out.push_str("%3D"),
            c => out.push(c),
        }
    }
}

/// The period of a counter, read from its key's unit (the only part of a key that is never escaped
/// differently from how `counter_key` wrote it): how a sweeper knows when a counter has gone idle.
pub fn period_of_key(key: &str) -> Option<Period> {
    let unit = key.split('|').nth(3)?;
    let all_rates = [
        RateLimitUnit::RequestsPerMinute,
        RateLimitUnit::RequestsPerHour,
        RateLimitUnit::RequestsPerDay,
        RateLimitUnit::TokensPerMinute,
        RateLimitUnit::TokensPerHour,
        RateLimitUnit::TokensPerDay,
    ];
    let all_budgets = [
        BudgetUnit::CostPerDay,
        BudgetUnit::CostPerWeek,
        BudgetUnit::CostPerMonth,
        BudgetUnit::TokensPerDay,
        BudgetUnit::TokensPerWeek,
        BudgetUnit::TokensPerMonth,
    ];
    let rate = all_rates.into_iter().map(rate_unit);
    let budget = all_budgets.into_iter().map(budget_unit);
    rate.chain(budget).find(|(_, _, name)| *name == unit).map(|(_, p, _)| p)
}

fn rate_unit(u: RateLimitUnit) -> (Measure, Period, &'static str) {
    match u {
        RateLimitUnit::RequestsPerMinute => (Measure::Requests, Period::Sliding(60), "requests_per_minute"),
        RateLimitUnit::RequestsPerHour => (Measure::Requests, Period::Sliding(3600), "requests_per_hour"),
        RateLimitUnit::RequestsPerDay => (Measure::Requests, Period::Sliding(86_400), "requests_per_day"),
        RateLimitUnit::TokensPerMinute => (Measure::Tokens, Period::Sliding(60), "tokens_per_minute"),
        RateLimitUnit::TokensPerHour => (Measure::Tokens, Period::Sliding(3600), "tokens_per_hour"),
        RateLimitUnit::TokensPerDay => (Measure::Tokens, Period::Sliding(86_400), "tokens_per_day"),
    }
}

fn budget_unit(u: BudgetUnit) -> (Measure, Period, &'static str) {
    match u {
        BudgetUnit::CostPerDay => (Measure::CostNanos, Period::Day, "cost_per_day"),
        BudgetUnit::CostPerWeek => (Measure::CostNanos, Period::Week, "cost_per_week"),
        BudgetUnit::CostPerMonth => (Measure::CostNanos, Period::Month, "cost_per_month"),
        BudgetUnit::TokensPerDay => (Measure::Tokens, Period::Day, "tokens_per_day"),
        BudgetUnit::TokensPerWeek => (Measure::Tokens, Period::Week, "tokens_per_week"),
        BudgetUnit::TokensPerMonth => (Measure::Tokens, Period::Month, "tokens_per_month"),
    }
}

/// What a request is expected to use, reserved at admission and corrected when it settles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// When a request names no `max_tokens`, its answer is reserved as this many tokens.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 1024;

/// A prompt's tokens are estimated at one per four bytes (OpenAI's rule of thumb for English), rounded up.
pub fn estimate_input_tokens(prompt_bytes: usize) -> u64 {
    (prompt_bytes as u64).div_ceil(4)
}

/// The amount of `measure` that `tokens` at `pricing` (US dollars per million) come to.
pub fn amount(measure: Measure, input: u64, output: u64, pricing: Option<(f64, f64)>) -> u64 {
    match measure {
        Measure::Requests => 1,
        Measure::Tokens => input.saturating_add(output),
        Measure::CostNanos => match pricing {
            // Per million tokens in dollars is per token in thousandths of a nano-dollar: exact for
            // prices in whole micro-dollars per million tokens.
            Some((i, o)) => (input as f64 * i * 1000.0 + output as f64 * o * 1000.0).round().max(0.0) as u64,
            None => 0,
        },
    }
}

#[cfg(test)]
mod tests;
