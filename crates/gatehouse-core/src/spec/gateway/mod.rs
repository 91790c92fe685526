//! Gateway controls: rate limits, budgets, guardrails and load balancing, each a named list of rules that
//! apply to the requests their `when` matches.

mod mcp_ref;
#[cfg(test)]
mod tests;
mod validation;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{check_description, check_subjects, no_duplicates, Collaborator, FieldError, Lookup, ModelRef, RuleId};
use crate::ids::ResourceName;
use crate::model::{Resource, ResourceKind, Subject};
pub use mcp_ref::McpToolRef;
pub use validation::{check_targets, check_ttft, metadata_key};

/// The manifest `type` of a gateway control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GatewayControlKind {
    RateLimiting,
    Budget,
    Guardrails,
    LoadBalancing,
}

impl GatewayControlKind {
    pub const ALL: [GatewayControlKind; 4] = [
        GatewayControlKind::RateLimiting,
        GatewayControlKind::Budget,
        GatewayControlKind::Guardrails,
        GatewayControlKind::LoadBalancing,
    ];

    pub const fn manifest_type(self) -> &'static str {
        match self {
            GatewayControlKind::RateLimiting => "gateway-rate-limiting-config",
            GatewayControlKind::Budget => "gateway-budget-config",
            GatewayControlKind::Guardrails => "gateway-guardrails-config",
            GatewayControlKind::LoadBalancing => "gateway-load-balancing-config",
        }
    }

    pub fn from_manifest_type(s: &str) -> Option<GatewayControlKind> {
        GatewayControlKind::ALL.into_iter().find(|k| k.manifest_type() == s)
    }
}

impl fmt::Display for GatewayControlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.manifest_type())
    }
}

/// Which requests a rule applies to. Every listed condition must hold; within a list, any entry may match.
/// An empty list (or map) does not restrict, so an empty `when` matches every request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The caller, or a team the caller is in.
    #[serde(default)]
    pub subjects: Vec<Subject>,
    #[serde(default)]
    pub models: Vec<ModelRef>,
    /// MCP servers (`<server>`) or tools (`<server>/<tool>`): a rule that lists any applies to those tool
    /// calls and to no model call; one that lists none applies to model calls only. Rate-limiting and
    /// guardrails rules only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<McpToolRef>,
    /// Request metadata that must be present with exactly these values.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl When {
    pub fn matches_everything(&self) -> bool {
        self.subjects.is_empty() && self.models.is_empty() && self.mcp_servers.is_empty() && self.metadata.is_empty()
    }
}

/// What a limit is counted per: `user`, `virtualaccount`, `model` or `metadata.<key>`. A rule that lists
/// several keeps one counter per combination; one that lists none keeps a single shared counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AppliesPer {
    User,
    VirtualAccount,
    Model,
    Metadata(String),
}

impl fmt::Display for AppliesPer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppliesPer::User => f.write_str("user"),
            AppliesPer::VirtualAccount => f.write_str("virtualaccount"),
            AppliesPer::Model => f.write_str("model"),
            AppliesPer::Metadata(k) => write!(f, "metadata.{k}"),
        }
    }
}

impl FromStr for AppliesPer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "user" => Ok(AppliesPer::User),
            "virtualaccount" => Ok(AppliesPer::VirtualAccount),
            "model" => Ok(AppliesPer::Model),
            _ => match s.strip_prefix("metadata.") {
                Some(k) => metadata_key(k).map(|()| AppliesPer::Metadata(k.to_owned())).map_err(str::to_owned),
                None => Err(format!("{s:?} is not one of user, virtualaccount, model, metadata.<key>")),
            },
        }
    }
}

impl Serialize for AppliesPer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AppliesPer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitUnit {
    RequestsPerMinute,
    RequestsPerHour,
    RequestsPerDay,
    TokensPerMinute,
    TokensPerHour,
    TokensPerDay,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    pub id: RuleId,
    #[serde(default)]
    pub when: When,
    pub limit_to: u64,
    pub unit: RateLimitUnit,
    #[serde(default)]
    pub rate_limit_applies_per: Vec<AppliesPer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingConfig {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    pub rules: Vec<RateLimitRule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetUnit {
    CostPerDay,
    CostPerWeek,
    CostPerMonth,
    TokensPerDay,
    TokensPerWeek,
    TokensPerMonth,
}

impl BudgetUnit {
    pub fn counts_tokens(self) -> bool {
        matches!(self, BudgetUnit::TokensPerDay | BudgetUnit::TokensPerWeek | BudgetUnit::TokensPerMonth)
    }
}

/// `enforce` refuses requests over the budget; `audit` only records and alerts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetMode {
    #[default]
    Enforce,
    Audit,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetAlerts {
    /// Percentages of the limit, 1 to 100, strictly increasing.
    pub thresholds: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetRule {
    pub id: RuleId,
    #[serde(default)]
    pub when: When,
    /// In US dollars for cost units.
    pub limit_to: f64,
    pub unit: BudgetUnit,
    #[serde(default)]
    pub budget_applies_per: Vec<AppliesPer>,
    #[serde(default)]
    pub mode: BudgetMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<BudgetAlerts>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    pub rules: Vec<BudgetRule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiEntity {
    Email,
    Phone,
    CreditCard,
    Ssn,
    Iban,
}

impl PiiEntity {
    pub const ALL: [PiiEntity; 5] =
        [PiiEntity::Email, PiiEntity::Phone, PiiEntity::CreditCard, PiiEntity::Ssn, PiiEntity::Iban];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiEntity::Email => "email",
            PiiEntity::Phone => "phone",
            PiiEntity::CreditCard => "credit_card",
            PiiEntity::Ssn => "ssn",
            PiiEntity::Iban => "iban",
        }
    }

    fn all() -> Vec<PiiEntity> {
        PiiEntity::ALL.to_vec()
    }
}

impl fmt::Display for PiiEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check does with what it finds: refuse the request (or end the answer), or replace each finding
/// with `[REDACTED:<kind>]` and let the rest through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailAction {
    #[default]
    Block,
    Redact,
}

impl GuardrailAction {
    fn is_block(&self) -> bool {
        *self == GuardrailAction::Block
    }
}

/// How a guardrail's verdict is enforced. `enforce` blocks (or rewrites) on a violation and blocks when the
/// guardrail itself fails (a webhook that times out); `enforce_but_ignore_on_error` lets the request through
/// when the guardrail fails; `audit` records what it would have done and never blocks or changes anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailStrategy {
    #[default]
    Enforce,
    EnforceButIgnoreOnError,
    Audit,
}

impl GuardrailStrategy {
    fn is_enforce(&self) -> bool {
        *self == GuardrailStrategy::Enforce
    }
}

/// One check on a request's input or a response's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Guardrail {
    /// Any of the keywords anywhere in the text (a substring match, case-insensitive unless asked).
    BlockKeywords {
        keywords: Vec<String>,
        #[serde(default)]
        case_sensitive: bool,
        #[serde(default, skip_serializing_if = "GuardrailAction::is_block")]
        action: GuardrailAction,
        #[serde(default, skip_serializing_if = "GuardrailStrategy::is_enforce")]
        strategy: GuardrailStrategy,
    },
    /// The core cannot compile the pattern (it has no regex engine); the server must, and report a failure
    /// at the path `GuardrailsConfig::regex_patterns` gives.
    BlockRegex {
        pattern: String,
        #[serde(default, skip_serializing_if = "GuardrailAction::is_block")]
        action: GuardrailAction,
        #[serde(default, skip_serializing_if = "GuardrailStrategy::is_enforce")]
        strategy: GuardrailStrategy,
    },
    /// Input only: a response's length is the model's business, bounded by max_tokens.
    MaxInputChars {
        limit: u64,
        #[serde(default, skip_serializing_if = "GuardrailStrategy::is_enforce")]
        strategy: GuardrailStrategy,
    },
    /// The first form of PII redaction, kept as it was written: `pii` with `action: redact`.
    RedactPii {
        entities: Vec<PiiEntity>,
        #[serde(default, skip_serializing_if = "GuardrailStrategy::is_enforce")]
        strategy: GuardrailStrategy,
    },
    /// Personal data; every entity unless `entities` narrows it.
    Pii {
        #[serde(default = "PiiEntity::all")]
        entities: Vec<PiiEntity>,
        #[serde(default)]
        action: GuardrailAction,
        #[serde(default, skip_serializing_if = "GuardrailStrategy::is_enforce")]
        strategy: GuardrailStrategy,
    },
    /// Credentials: cloud and LLM API keys, tokens, private keys, JWTs, Gatehouse's own tokens.
    Secrets {
        #[serde(default)]
        action: GuardrailAction,
        #[serde(default, skip_serializing_if = "GuardrailStrategy::is_enforce")]
        strategy: GuardrailStrategy,
    },
    /// An external guardrail: the messages are POSTed to `url` as JSON; it answers allow, block or a
    /// rewritten text within `timeout_ms`, or the guardrail has failed (see `strategy`).
    Webhook {
        url: String,
        #[serde(default = "Guardrail::default_timeout_ms")]
        timeout_ms: u64,
        #[serde(default, skip_serializing_if = "GuardrailStrategy::is_enforce")]
        strategy: GuardrailStrategy,
    },
}

impl Guardrail {
    pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
    pub const MAX_TIMEOUT_MS: u64 = 30_000;

    fn default_timeout_ms() -> u64 {
        Guardrail::DEFAULT_TIMEOUT_MS
    }

    pub fn strategy(&self) -> GuardrailStrategy {
        match self {
            Guardrail::BlockKeywords { strategy, .. }
            | Guardrail::BlockRegex { strategy, .. }
            | Guardrail::MaxInputChars { strategy, .. }
            | Guardrail::RedactPii { strategy, .. }
            | Guardrail::Pii { strategy, .. }
            | Guardrail::Secrets { strategy, .. }
            | Guardrail::Webhook { strategy, .. } => *strategy,
        }
    }

    /// The manifest `type`, as errors and verdicts name the check.
    pub fn type_name(&self) -> &'static str {
        match self {
            Guardrail::BlockKeywords { .. } => "block-keywords",
            Guardrail::BlockRegex { .. } => "block-regex",
            Guardrail::MaxInputChars { .. } => "max-input-chars",
            Guardrail::RedactPii { .. } => "redact-pii",
            Guardrail::Pii { .. } => "pii",
            Guardrail::Secrets { .. } => "secrets",
            Guardrail::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailRule {
    pub id: RuleId,
    #[serde(default)]
    pub when: When,
    #[serde(default)]
    pub input_guardrails: Vec<Guardrail>,
    #[serde(default)]
    pub output_guardrails: Vec<Guardrail>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailsConfig {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    pub rules: Vec<GuardrailRule>,
}

impl GuardrailsConfig {
    /// Every guardrail with its field path (`rules[0].input_guardrails[1]`).
    pub fn guardrails(&self) -> impl Iterator<Item = (String, &Guardrail)> {
        self.rules.iter().enumerate().flat_map(|(r, rule)| {
            let input = rule.input_guardrails.iter().enumerate().map(move |(g, x)| ("input_guardrails", g, x));
            let output = rule.output_guardrails.iter().enumerate().map(move |(g, x)| ("output_guardrails", g, x));
            input.chain(output).map(move |(list, g, x)| (format!("rules[{r}].{list}[{g}]"), x))
        })
    }

    /// Every `block-regex` pattern with its field path, for the server to compile and to name in an error.
    pub fn regex_patterns(&self) -> impl Iterator<Item = (String, &str)> {
        self.guardrails().filter_map(|(path, g)| match g {
            Guardrail::BlockRegex { pattern, .. } => Some((format!("{path}.pattern"), pattern.as_str())),
            Guardrail::BlockKeywords { .. }
            | Guardrail::MaxInputChars { .. }
            | Guardrail::RedactPii { .. }
            | Guardrail::Pii { .. }
            | Guardrail::Secrets { .. }
            | Guardrail::Webhook { .. } => None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingStrategy {
    WeightBasedRouting,
    LatencyBasedRouting,
    PriorityBasedRouting,
}

/// Retries on the same target before falling back to the next one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "RetryConfig::default_attempts")]
    pub attempts: u32,
    #[serde(default = "RetryConfig::default_delay_ms")]
    pub delay_ms: u64,
    #[serde(default = "RetryConfig::default_status_codes")]
    pub on_status_codes: Vec<u16>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: RetryConfig::default_attempts(),
            delay_ms: RetryConfig::default_delay_ms(),
            on_status_codes: RetryConfig::default_status_codes(),
        }
    }
}

impl RetryConfig {
    // The usual gateway defaults: a couple of quick retries on rate limiting and transient server errors.
    fn default_attempts() -> u32 {
        2
    }
    fn default_delay_ms() -> u64 {
        100
    }
    fn default_status_codes() -> Vec<u16> {
        vec![429, 500, 502, 503]
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalanceTarget {
    pub target: ModelRef,
    /// Weight-based routing only: a share out of 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Priority-based routing only: lower goes first; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_config: Option<RetryConfig>,
    /// Answers from this target that send the request on to the next one; `None`: the gateway's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_status_codes: Option<Vec<u16>>,
    /// Whether a request that failed on another target may fall back to this one; `None`: yes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_candidate: Option<bool>,
    /// Request parameters set on the request this target is sent (see `OVERRIDABLE_PARAMS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_params: Option<BTreeMap<String, serde_json::Value>>,
    /// How long this target may take to its first byte (a whole answer: to its end) before the request
    /// falls back; `None`: the rule's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_timeout_ms: Option<u64>,
}

impl LoadBalanceTarget {
    pub fn priority(&self) -> u32 {
        self.priority.unwrap_or(0)
    }

    pub fn fallback_candidate(&self) -> bool {
        self.fallback_candidate.unwrap_or(true)
    }

    /// The status codes that fall back to the next target.
    pub fn fallback_status_codes(&self) -> Vec<u16> {
        self.fallback_status_codes.clone().unwrap_or_else(|| DEFAULT_FALLBACK_STATUS_CODES.to_vec())
    }
}

/// The answers that send a request on to the next target when a target does not say otherwise.
pub const DEFAULT_FALLBACK_STATUS_CODES: [u16; 7] = [401, 403, 404, 429, 500, 502, 503];

/// The request parameters `override_params` may set, with what each must be.
pub const OVERRIDABLE_PARAMS: [(&str, ParamKind); 7] = [
    ("temperature", ParamKind::Number),
    ("top_p", ParamKind::Number),
    ("presence_penalty", ParamKind::Number),
    ("frequency_penalty", ParamKind::Number),
    ("max_tokens", ParamKind::Count),
    ("seed", ParamKind::Count),
    ("stop", ParamKind::Stop),
];

/// What an overridable parameter's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Number,
    /// A whole number from 1 up.
    Count,
    /// A string or a list of strings.
    Stop,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancingRule {
    pub id: RuleId,
    #[serde(default)]
    pub when: When,
    #[serde(rename = "type")]
    pub strategy: RoutingStrategy,
    pub load_balance_targets: Vec<LoadBalanceTarget>,
    /// The time-to-first-token timeout of targets without their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_timeout_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancingConfig {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    pub rules: Vec<LoadBalancingRule>,
}

/// A gateway control. Serializes as the manifest's fields without `type` (see `kind`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GatewayControlSpec {
    RateLimiting(RateLimitingConfig),
    Budget(BudgetConfig),
    Guardrails(GuardrailsConfig),
    LoadBalancing(LoadBalancingConfig),
}

impl GatewayControlSpec {
    /// Reads the manifest's fields (without `type`, which chose `kind`).
    pub fn deserialize_for<'de, D: Deserializer<'de>>(kind: GatewayControlKind, d: D) -> Result<Self, D::Error> {
        Ok(match kind {
            GatewayControlKind::RateLimiting => GatewayControlSpec::RateLimiting(Deserialize::deserialize(d)?),
            GatewayControlKind::Budget => GatewayControlSpec::Budget(Deserialize::deserialize(d)?),
            GatewayControlKind::Guardrails => GatewayControlSpec::Guardrails(Deserialize::deserialize(d)?),
            GatewayControlKind::LoadBalancing => GatewayControlSpec::LoadBalancing(Deserialize::deserialize(d)?),
        })
    }

    pub fn kind(&self) -> GatewayControlKind {
        match self {
            GatewayControlSpec::RateLimiting(_) => GatewayControlKind::RateLimiting,
            GatewayControlSpec::Budget(_) => GatewayControlKind::Budget,
            GatewayControlSpec::Guardrails(_) => GatewayControlKind::Guardrails,
            GatewayControlSpec::LoadBalancing(_) => GatewayControlKind::LoadBalancing,
        }
    }

    pub fn manifest_type(&self) -> &'static str {
        self.kind().manifest_type()
    }

    pub fn name(&self) -> &ResourceName {
        match self {
            GatewayControlSpec::RateLimiting(c) => &c.name,
            GatewayControlSpec::Budget(c) => &c.name,
            GatewayControlSpec::Guardrails(c) => &c.name,
            GatewayControlSpec::LoadBalancing(c) => &c.name,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            GatewayControlSpec::RateLimiting(c) => &c.description,
            GatewayControlSpec::Budget(c) => &c.description,
            GatewayControlSpec::Guardrails(c) => &c.description,
            GatewayControlSpec::LoadBalancing(c) => &c.description,
        }
    }

    /// `gateway-controls:<name>`; the four kinds share one name space.
    pub fn resource(&self) -> Resource {
        Resource::new(ResourceKind::GatewayControls, self.name().as_str())
    }

    /// Always empty: gateway controls are governed by the tenant permissions `gateway-controls:*` alone.
    pub fn collaborators(&self) -> &[Collaborator] {
        &[]
    }

    /// Every model the control names: in its rules' conditions and as load-balancing targets.
    pub fn model_refs(&self) -> Vec<&ModelRef> {
        let mut out: Vec<&ModelRef> = self.rules().into_iter().flat_map(|(_, w)| w.models.iter()).collect();
        if let GatewayControlSpec::LoadBalancing(c) = self {
            out.extend(c.rules.iter().flat_map(|r| r.load_balance_targets.iter().map(|t| &t.target)));
        }
        out
    }

    /// Every MCP server and tool the control's rules name.
    pub fn mcp_refs(&self) -> Vec<&McpToolRef> {
        self.rules().into_iter().flat_map(|(_, w)| w.mcp_servers.iter()).collect()
    }

    /// Each rule's id and `when`, in order, whatever the kind.
    pub fn rules(&self) -> Vec<(&RuleId, &When)> {
        match self {
            GatewayControlSpec::RateLimiting(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
            GatewayControlSpec::Budget(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
            GatewayControlSpec::Guardrails(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
            GatewayControlSpec::LoadBalancing(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
        }
    }
}
