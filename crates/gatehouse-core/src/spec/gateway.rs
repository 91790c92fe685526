//! Gateway controls: rate limits, budgets, guardrails and load balancing, each a named list of rules that
//! apply to the requests their `when` matches.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{check_description, check_subjects, no_duplicates, Collaborator, FieldError, Lookup, ModelRef, RuleId};
use crate::ids::ResourceName;
use crate::model::{Resource, ResourceKind, Subject};

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
    /// Request metadata that must be present with exactly these values.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl When {
    pub fn matches_everything(&self) -> bool {
        self.subjects.is_empty() && self.models.is_empty() && self.metadata.is_empty()
    }

    /// Paths are relative to the `when`.
    fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_subjects("subjects", &self.subjects, world)?;
        check_models("models", &self.models, world)?;
        for (k, v) in &self.metadata {
            check_metadata_key(&format!("metadata.{k}"), k)?;
            if v.chars().count() > 256 {
                return Err(FieldError::new(format!("metadata.{k}"), "must be at most 256 characters"));
            }
        }
        Ok(())
    }
}

/// Existing models, none twice.
fn check_models(field: &str, list: &[ModelRef], world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, m) in list.iter().enumerate() {
        check_model(&format!("{field}[{i}]"), m, world)?;
    }
    no_duplicates(list.iter().enumerate().map(|(i, m)| (format!("{field}[{i}]"), m)))
}

fn check_model(field: &str, m: &ModelRef, world: &dyn Lookup) -> Result<(), FieldError> {
    if world.model_exists(m.account.as_str(), m.model.as_str()) {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("model {m} does not exist")))
    }
}

/// Metadata keys as clients send them (`X-Gatehouse-Metadata`-style JSON objects): a short identifier.
fn metadata_key(k: &str) -> Result<(), &'static str> {
    if k.is_empty() || k.len() > 64 {
        return Err("a metadata key must be 1 to 64 characters");
    }
    if !k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("a metadata key may hold only letters, digits, underscores, hyphens and dots");
    }
    Ok(())
}

fn check_metadata_key(field: &str, k: &str) -> Result<(), FieldError> {
    metadata_key(k).map_err(|m| FieldError::new(field, m))
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

fn check_applies_per(field: &str, list: &[AppliesPer]) -> Result<(), FieldError> {
    for (i, a) in list.iter().enumerate() {
        if let AppliesPer::Metadata(k) = a {
            check_metadata_key(&format!("{field}[{i}]"), k)?;
        }
    }
    no_duplicates(list.iter().enumerate().map(|(i, a)| (format!("{field}[{i}]"), a)))
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
}

impl fmt::Display for PiiEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PiiEntity::Email => "email",
            PiiEntity::Phone => "phone",
            PiiEntity::CreditCard => "credit_card",
            PiiEntity::Ssn => "ssn",
        })
    }
}

/// One check on a request's input or a response's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Guardrail {
    BlockKeywords {
        keywords: Vec<String>,
        #[serde(default)]
        case_sensitive: bool,
    },
    /// The core cannot compile the pattern (it has no regex engine); the server must, and report a failure
    /// at the path `GuardrailsConfig::regex_patterns` gives.
    BlockRegex {
        pattern: String,
    },
    /// Input only: a response's length is the model's business, bounded by max_tokens.
    MaxInputChars {
        limit: u64,
    },
    RedactPii {
        entities: Vec<PiiEntity>,
    },
}

impl Guardrail {
    /// Paths are relative to the guardrail.
    fn validate(&self, input: bool) -> Result<(), FieldError> {
        match self {
            Guardrail::BlockKeywords { keywords, .. } => {
                if keywords.is_empty() {
                    return Err(FieldError::new("keywords", "must list at least one keyword"));
                }
                for (i, k) in keywords.iter().enumerate() {
                    if k.trim().is_empty() {
                        return Err(FieldError::new(format!("keywords[{i}]"), "must not be empty"));
                    }
                }
                no_duplicates(keywords.iter().enumerate().map(|(i, k)| (format!("keywords[{i}]"), k)))
            }
            Guardrail::BlockRegex { pattern } => {
                if pattern.is_empty() {
                    return Err(FieldError::new("pattern", "must not be empty"));
                }
                // Bounds what the server's regex compiler is handed.
                if pattern.len() > 4096 {
                    return Err(FieldError::new("pattern", "must be at most 4096 bytes"));
                }
                Ok(())
            }
            Guardrail::MaxInputChars { limit } => {
                if !input {
                    return Err(FieldError::new("type", "max-input-chars applies to input_guardrails only"));
                }
                if *limit == 0 {
                    return Err(FieldError::new("limit", "must be greater than 0"));
                }
                Ok(())
            }
            Guardrail::RedactPii { entities } => {
                if entities.is_empty() {
                    return Err(FieldError::new(
                        "entities",
                        "must list at least one of email, phone, credit_card, ssn",
                    ));
                }
                no_duplicates(entities.iter().enumerate().map(|(i, e)| (format!("entities[{i}]"), e)))
            }
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
    /// Every `block-regex` pattern with its field path, for the server to compile and to name in an error.
    pub fn regex_patterns(&self) -> impl Iterator<Item = (String, &str)> {
        self.rules.iter().enumerate().flat_map(|(r, rule)| {
            let input = rule.input_guardrails.iter().enumerate().map(move |(g, x)| ("input_guardrails", g, x));
            let output = rule.output_guardrails.iter().enumerate().map(move |(g, x)| ("output_guardrails", g, x));
            input.chain(output).filter_map(move |(list, g, x)| match x {
                Guardrail::BlockRegex { pattern } => {
                    Some((format!("rules[{r}].{list}[{g}].pattern"), pattern.as_str()))
                }
                _ => None,
            })
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
}

impl LoadBalanceTarget {
    pub fn priority(&self) -> u32 {
        self.priority.unwrap_or(0)
    }
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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancingConfig {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    pub rules: Vec<LoadBalancingRule>,
}

/// Retries wait at most this long: longer outlasts any client's timeout.
const MAX_RETRY_DELAY_MS: u64 = 60_000;
const MAX_RETRY_ATTEMPTS: u32 = 10;

fn check_status_codes(field: &str, codes: &[u16]) -> Result<(), FieldError> {
    for (i, c) in codes.iter().enumerate() {
        if !(100..=599).contains(c) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("{c} is not an HTTP status code (100 to 599)"),
            ));
        }
    }
    no_duplicates(codes.iter().enumerate().map(|(i, c)| (format!("{field}[{i}]"), c)))
}

impl LoadBalancingRule {
    /// Paths are relative to the rule.
    fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        let targets = &self.load_balance_targets;
        if targets.is_empty() {
            return Err(FieldError::new("load_balance_targets", "must list at least one target"));
        }
        let weighted = self.strategy == RoutingStrategy::WeightBasedRouting;
        let prioritized = self.strategy == RoutingStrategy::PriorityBasedRouting;
        let mut total: u64 = 0;
        for (i, t) in targets.iter().enumerate() {
            let at = |f: &str| format!("load_balance_targets[{i}].{f}");
            check_model(&at("target"), &t.target, world)?;
            // A weight or priority that the strategy ignores would look as if it did something.
            match (weighted, t.weight) {
                (true, None) => return Err(FieldError::new(at("weight"), "is required for weight-based-routing")),
                (true, Some(w)) if w > 100 => return Err(FieldError::new(at("weight"), "must be 0 to 100")),
                (true, Some(w)) => total += u64::from(w),
                (false, Some(_)) => {
                    return Err(FieldError::new(at("weight"), "is used only by weight-based-routing"));
                }
                (false, None) => {}
            }
            if !prioritized && t.priority.is_some() {
                return Err(FieldError::new(at("priority"), "is used only by priority-based-routing"));
            }
            if let Some(r) = &t.retry_config {
                if r.attempts > MAX_RETRY_ATTEMPTS {
                    return Err(FieldError::new(at("retry_config.attempts"), "must be 0 to 10"));
                }
                if r.delay_ms > MAX_RETRY_DELAY_MS {
                    return Err(FieldError::new(at("retry_config.delay_ms"), "must be at most 60000"));
                }
                check_status_codes(&at("retry_config.on_status_codes"), &r.on_status_codes)?;
            }
            if let Some(codes) = &t.fallback_status_codes {
                check_status_codes(&at("fallback_status_codes"), codes)?;
            }
        }
        no_duplicates(
            targets.iter().enumerate().map(|(i, t)| (format!("load_balance_targets[{i}].target"), &t.target)),
        )?;
        if weighted && total != 100 {
            return Err(FieldError::new("load_balance_targets", format!("weights add up to {total}, not 100")));
        }
        Ok(())
    }
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

    /// Each rule's id and `when`, in order, whatever the kind.
    /// Every model the control names: in its rules' conditions and as load-balancing targets.
    pub fn model_refs(&self) -> Vec<&ModelRef> {
        let mut out: Vec<&ModelRef> = self.rules().into_iter().flat_map(|(_, w)| w.models.iter()).collect();
        if let GatewayControlSpec::LoadBalancing(c) = self {
            out.extend(c.rules.iter().flat_map(|r| r.load_balance_targets.iter().map(|t| &t.target)));
        }
        out
    }

    pub fn rules(&self) -> Vec<(&RuleId, &When)> {
        match self {
            GatewayControlSpec::RateLimiting(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
            GatewayControlSpec::Budget(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
            GatewayControlSpec::Guardrails(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
            GatewayControlSpec::LoadBalancing(c) => c.rules.iter().map(|r| (&r.id, &r.when)).collect(),
        }
    }

    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_description("description", self.description())?;
        let rules = self.rules();
        if rules.is_empty() {
            return Err(FieldError::new("rules", "must have at least one rule"));
        }
        for (i, (_, when)) in rules.iter().enumerate() {
            when.validate(world).map_err(|e| e.within(&format!("rules[{i}].when")))?;
        }
        let per_rule = |i: usize, r: Result<(), FieldError>| r.map_err(|e| e.within(&format!("rules[{i}]")));
        match self {
            GatewayControlSpec::RateLimiting(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, check_rate_limit(r))?;
                }
            }
            GatewayControlSpec::Budget(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, check_budget(r))?;
                }
            }
            GatewayControlSpec::Guardrails(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, check_guardrails(r))?;
                }
            }
            GatewayControlSpec::LoadBalancing(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, r.validate(world))?;
                }
            }
        }
        no_duplicates(rules.iter().enumerate().map(|(i, (id, _))| (format!("rules[{i}].id"), *id)))
    }
}

fn check_rate_limit(r: &RateLimitRule) -> Result<(), FieldError> {
    if r.limit_to == 0 {
        return Err(FieldError::new("limit_to", "must be greater than 0"));
    }
    check_applies_per("rate_limit_applies_per", &r.rate_limit_applies_per)
}

fn check_budget(r: &BudgetRule) -> Result<(), FieldError> {
    if !(r.limit_to.is_finite() && r.limit_to > 0.0) {
        return Err(FieldError::new("limit_to", "must be a number greater than 0"));
    }
    if r.unit.counts_tokens() && r.limit_to.fract() != 0.0 {
        return Err(FieldError::new("limit_to", "must be a whole number of tokens"));
    }
    check_applies_per("budget_applies_per", &r.budget_applies_per)?;
    if let Some(a) = &r.alerts {
        if a.thresholds.is_empty() {
            return Err(FieldError::new("alerts.thresholds", "must list at least one percentage"));
        }
        for (i, t) in a.thresholds.iter().enumerate() {
            let field = format!("alerts.thresholds[{i}]");
            if !(1..=100).contains(t) {
                return Err(FieldError::new(field, "must be a percentage from 1 to 100"));
            }
            if i > 0 && a.thresholds[i - 1] >= *t {
                return Err(FieldError::new(field, "thresholds must be strictly increasing"));
            }
        }
    }
    Ok(())
}

fn check_guardrails(r: &GuardrailRule) -> Result<(), FieldError> {
    if r.input_guardrails.is_empty() && r.output_guardrails.is_empty() {
        return Err(FieldError::new("input_guardrails", "a rule needs at least one input or output guardrail"));
    }
    for (i, g) in r.input_guardrails.iter().enumerate() {
        g.validate(true).map_err(|e| e.within(&format!("input_guardrails[{i}]")))?;
    }
    for (i, g) in r.output_guardrails.iter().enumerate() {
        g.validate(false).map_err(|e| e.within(&format!("output_guardrails[{i}]")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::test_world::{fails_at, world};
    use super::*;

    fn parse(kind: GatewayControlKind, v: Value) -> Result<GatewayControlSpec, serde_json::Error> {
        GatewayControlSpec::deserialize_for(kind, v)
    }

    /// CONTRACT.md's example, without `type`.
    fn rate_limits() -> Value {
        json!({
            "name": "default-limits",
            "rules": [{
                "id": "per-user",
                "when": {"subjects": ["team:ml-platform"], "models": ["openai-main/gpt-4o"]},
                "limit_to": 100,
                "unit": "requests_per_minute",
                "rate_limit_applies_per": ["user"]
            }]
        })
    }

    fn budgets() -> Value {
        json!({
            "name": "monthly-budgets",
            "description": "Spend caps",
            "rules": [
                {"id": "team-cap", "when": {"subjects": ["team:ml-platform"]}, "limit_to": 250.5,
                 "unit": "cost_per_month", "budget_applies_per": ["user", "metadata.project"],
                 "alerts": {"thresholds": [50, 80, 100]}},
                {"id": "token-audit", "limit_to": 1000000, "unit": "tokens_per_day", "mode": "audit"}
            ]
        })
    }

    fn guardrails() -> Value {
        json!({
            "name": "safety",
            "rules": [{
                "id": "prod",
                "when": {"metadata": {"env": "prod"}},
                "input_guardrails": [
                    {"type": "block-keywords", "keywords": ["password", "api key"]},
                    {"type": "block-regex", "pattern": "(?i)sk-[a-z0-9]{20,}"},
                    {"type": "max-input-chars", "limit": 20000}
                ],
                "output_guardrails": [{"type": "redact-pii", "entities": ["email", "credit_card"]}]
            }]
        })
    }

    fn load_balancing() -> Value {
        json!({
            "name": "gpt-4o-routing",
            "rules": [
                {"id": "split", "when": {"models": ["openai-main/gpt-4o"]}, "type": "weight-based-routing",
                 "load_balance_targets": [
                     {"target": "openai-main/gpt-4o", "weight": 70,
                      "retry_config": {"attempts": 2, "delay_ms": 100, "on_status_codes": [429, 503]}},
                     {"target": "openai-main/gpt-4o-mini", "weight": 30, "fallback_status_codes": [429, 500]}
                 ]},
                {"id": "failover", "when": {"models": ["anthropic-main/claude-3-5-sonnet"]},
                 "type": "priority-based-routing",
                 "load_balance_targets": [
                     {"target": "anthropic-main/claude-3-5-sonnet", "priority": 0},
                     {"target": "openai-main/gpt-4o", "priority": 1, "retry_config": {}}
                 ]},
                {"id": "fastest", "type": "latency-based-routing",
                 "load_balance_targets": [{"target": "openai-main/gpt-4o"}, {"target": "openai-main/gpt-4o-mini"}]}
            ]
        })
    }

    fn examples() -> [(GatewayControlKind, Value); 4] {
        [
            (GatewayControlKind::RateLimiting, rate_limits()),
            (GatewayControlKind::Budget, budgets()),
            (GatewayControlKind::Guardrails, guardrails()),
            (GatewayControlKind::LoadBalancing, load_balancing()),
        ]
    }

    #[test]
    fn kinds() {
        for k in GatewayControlKind::ALL {
            assert_eq!(GatewayControlKind::from_manifest_type(k.manifest_type()), Some(k));
            assert_eq!(k.to_string(), k.manifest_type());
        }
        assert!(GatewayControlKind::from_manifest_type("gateway-controls").is_none());
    }

    #[test]
    fn examples_parse_validate_and_round_trip() {
        let w = world();
        for (kind, v) in examples() {
            let c = parse(kind, v).unwrap_or_else(|e| panic!("{kind}: {e}"));
            c.validate(&w).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(c.kind(), kind);
            assert_eq!(c.manifest_type(), kind.manifest_type());
            assert!(c.collaborators().is_empty());
            assert_eq!(c.resource().to_string(), format!("gateway-controls:{}", c.name()));
            let out = serde_json::to_value(&c).unwrap();
            assert!(out.get("type").is_none());
            assert_eq!(parse(kind, out).unwrap(), c, "{kind}");
        }
    }

    #[test]
    fn defaults() {
        let GatewayControlSpec::Budget(b) = parse(GatewayControlKind::Budget, budgets()).unwrap() else { panic!() };
        assert_eq!(b.rules[0].mode, BudgetMode::Enforce);
        assert_eq!(b.rules[1].mode, BudgetMode::Audit);
        assert!(b.rules[1].when.matches_everything() && b.rules[1].budget_applies_per.is_empty());
        assert_eq!(b.rules[0].budget_applies_per[1], AppliesPer::Metadata("project".into()));
        assert!(b.rules[1].unit.counts_tokens() && !b.rules[0].unit.counts_tokens());
        let GatewayControlSpec::LoadBalancing(l) = parse(GatewayControlKind::LoadBalancing, load_balancing()).unwrap()
        else {
            panic!()
        };
        let t = &l.rules[1].load_balance_targets[1];
        assert_eq!(
            t.retry_config,
            Some(RetryConfig { attempts: 2, delay_ms: 100, on_status_codes: vec![429, 500, 502, 503] })
        );
        assert_eq!((t.priority(), l.rules[2].load_balance_targets[0].priority()), (1, 0));
        let GatewayControlSpec::Guardrails(g) = parse(GatewayControlKind::Guardrails, guardrails()).unwrap() else {
            panic!()
        };
        assert_eq!(
            g.rules[0].input_guardrails[0],
            Guardrail::BlockKeywords { keywords: vec!["password".into(), "api key".into()], case_sensitive: false }
        );
        let patterns: Vec<(String, &str)> = g.regex_patterns().collect();
        assert_eq!(patterns, [("rules[0].input_guardrails[1].pattern".to_owned(), "(?i)sk-[a-z0-9]{20,}")]);
        let c = parse(GatewayControlKind::RateLimiting, rate_limits()).unwrap();
        assert_eq!(c.description(), "");
        assert_eq!(c.rules()[0].0.as_str(), "per-user");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        let cases = [
            (GatewayControlKind::RateLimiting, "/rules/0/when/teams", json!([]), "unknown field `teams`"),
            (GatewayControlKind::RateLimiting, "/rules/0/burst", json!(5), "unknown field `burst`"),
            (GatewayControlKind::RateLimiting, "/owner", json!("x"), "unknown field `owner`"),
            (GatewayControlKind::RateLimiting, "/rules/0/unit", json!("requests_per_second"), "unknown variant"),
            (GatewayControlKind::RateLimiting, "/rules/0/limit_to", json!(-1), "invalid value: integer `-1`"),
            (GatewayControlKind::RateLimiting, "/rules/0/rate_limit_applies_per/0", json!("team"), "\"team\" is not"),
            (
                GatewayControlKind::RateLimiting,
                "/rules/0/rate_limit_applies_per/0",
                json!("metadata."),
                "a metadata key",
            ),
            (
                GatewayControlKind::RateLimiting,
                "/rules/0/when/models/0",
                json!("gpt-4o"),
                "model \"gpt-4o\" is invalid",
            ),
            (GatewayControlKind::RateLimiting, "/rules/0/id", json!("Per User"), "rule id \"Per User\" is invalid"),
            (GatewayControlKind::Budget, "/rules/0/mode", json!("warn"), "unknown variant `warn`"),
            (GatewayControlKind::Budget, "/rules/0/alerts/emails", json!([]), "unknown field `emails`"),
            (
                GatewayControlKind::Guardrails,
                "/rules/0/input_guardrails/0/type",
                json!("block-words"),
                "unknown variant",
            ),
            (GatewayControlKind::Guardrails, "/rules/0/input_guardrails/2/chars", json!(1), "unknown field `chars`"),
            (
                GatewayControlKind::Guardrails,
                "/rules/0/output_guardrails/0/entities/0",
                json!("name"),
                "unknown variant",
            ),
            (GatewayControlKind::LoadBalancing, "/rules/0/type", json!("round-robin"), "unknown variant"),
            (
                GatewayControlKind::LoadBalancing,
                "/rules/0/load_balance_targets/0/retry_config/backoff",
                json!(2),
                "unknown field `backoff`",
            ),
            (GatewayControlKind::LoadBalancing, "/rules/0/load_balance_targets/0/weight", json!(-5), "invalid value"),
        ];
        for (kind, pointer, value, expected) in cases {
            let mut v = examples().into_iter().find(|(k, _)| *k == kind).unwrap().1;
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = v.pointer_mut(parent).unwrap();
            match target {
                Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
                _ => target[key] = value,
            }
            let e = parse(kind, v).unwrap_err().to_string();
            assert!(e.contains(expected), "{pointer}: {e}");
        }
        let e = parse(GatewayControlKind::Budget, json!({"name": "b"})).unwrap_err();
        assert_eq!(e.to_string(), "missing field `rules`");
    }

    /// Validates the example of `kind` after `edit`.
    fn check(kind: GatewayControlKind, edit: impl FnOnce(&mut Value)) -> Result<(), FieldError> {
        let mut v = examples().into_iter().find(|(k, _)| *k == kind).unwrap().1;
        edit(&mut v);
        parse(kind, v).unwrap().validate(&world())
    }

    fn rule0(kind: GatewayControlKind, key: &str, value: Value) -> Result<(), FieldError> {
        check(kind, |v| v["rules"][0][key] = value)
    }

    #[test]
    fn rule_lists() {
        for kind in GatewayControlKind::ALL {
            assert_eq!(fails_at(check(kind, |v| v["rules"] = json!([])), "rules"), "must have at least one rule");
            let count = examples().into_iter().find(|(k, _)| *k == kind).unwrap().1["rules"].as_array().unwrap().len();
            let msg = fails_at(
                check(kind, |v| {
                    let first = v["rules"][0].clone();
                    v["rules"].as_array_mut().unwrap().push(first);
                }),
                &format!("rules[{count}].id"),
            );
            assert!(msg.ends_with("appears twice"), "{msg}");
            fails_at(check(kind, |v| v["description"] = json!("x".repeat(2001))), "description");
        }
    }

    #[test]
    fn when_rules() {
        let rl = GatewayControlKind::RateLimiting;
        let when = |w: Value| rule0(rl, "when", w);
        assert!(when(json!({})).is_ok());
        let msg = fails_at(when(json!({"subjects": ["team:ml-platform", "team:sre"]})), "rules[0].when.subjects[1]");
        assert_eq!(msg, "team:sre does not exist");
        fails_at(when(json!({"subjects": ["team:ml-platform", "team:ml-platform"]})), "rules[0].when.subjects[1]");
        let msg = fails_at(when(json!({"models": ["openai-main/gpt-5"]})), "rules[0].when.models[0]");
        assert_eq!(msg, "model openai-main/gpt-5 does not exist");
        fails_at(when(json!({"models": ["openai-main/gpt-4o", "openai-main/gpt-4o"]})), "rules[0].when.models[1]");
        fails_at(when(json!({"metadata": {"bad key": "x"}})), "rules[0].when.metadata.bad key");
        fails_at(when(json!({"metadata": {"env": "x".repeat(257)}})), "rules[0].when.metadata.env");
        // The same checks hold for every kind.
        let msg = fails_at(
            check(GatewayControlKind::LoadBalancing, |v| v["rules"][2]["when"] = json!({"subjects": ["user:x@y.z"]})),
            "rules[2].when.subjects[0]",
        );
        assert_eq!(msg, "user:x@y.z does not exist");
    }

    #[test]
    fn rate_limit_rules() {
        let rl = GatewayControlKind::RateLimiting;
        assert_eq!(fails_at(rule0(rl, "limit_to", json!(0)), "rules[0].limit_to"), "must be greater than 0");
        let msg = fails_at(
            rule0(rl, "rate_limit_applies_per", json!(["user", "model", "user"])),
            "rules[0].rate_limit_applies_per[2]",
        );
        assert_eq!(msg, "user appears twice");
        assert!(rule0(rl, "rate_limit_applies_per", json!(["virtualaccount", "metadata.a", "metadata.b"])).is_ok());
        // Built by hand, a metadata key can bypass parsing.
        let mut c = parse(rl, rate_limits()).unwrap();
        if let GatewayControlSpec::RateLimiting(cfg) = &mut c {
            cfg.rules[0].rate_limit_applies_per = vec![AppliesPer::Metadata("a b".into())];
        }
        fails_at(c.validate(&world()), "rules[0].rate_limit_applies_per[0]");
    }

    #[test]
    fn budget_rules() {
        let b = GatewayControlKind::Budget;
        for bad in [json!(0), json!(-1.5)] {
            fails_at(rule0(b, "limit_to", bad), "rules[0].limit_to");
        }
        let mut c = parse(b, budgets()).unwrap();
        if let GatewayControlSpec::Budget(cfg) = &mut c {
            cfg.rules[0].limit_to = f64::INFINITY;
        }
        fails_at(c.validate(&world()), "rules[0].limit_to");
        let tokens = |limit: Value| check(b, |v| v["rules"][1]["limit_to"] = limit);
        assert_eq!(fails_at(tokens(json!(10.5)), "rules[1].limit_to"), "must be a whole number of tokens");
        assert!(tokens(json!(10.0)).is_ok());
        fails_at(rule0(b, "budget_applies_per", json!(["model", "model"])), "rules[0].budget_applies_per[1]");
        let alerts = |t: Value| rule0(b, "alerts", json!({"thresholds": t}));
        fails_at(alerts(json!([])), "rules[0].alerts.thresholds");
        fails_at(alerts(json!([0, 50])), "rules[0].alerts.thresholds[0]");
        fails_at(alerts(json!([50, 101])), "rules[0].alerts.thresholds[1]");
        let msg = fails_at(alerts(json!([50, 80, 80])), "rules[0].alerts.thresholds[2]");
        assert_eq!(msg, "thresholds must be strictly increasing");
        fails_at(alerts(json!([80, 50])), "rules[0].alerts.thresholds[1]");
        assert!(alerts(json!([1, 100])).is_ok());
    }

    #[test]
    fn guardrail_rules() {
        let g = GatewayControlKind::Guardrails;
        let msg = fails_at(
            check(g, |v| {
                v["rules"][0]["input_guardrails"] = json!([]);
                v["rules"][0]["output_guardrails"] = json!([]);
            }),
            "rules[0].input_guardrails",
        );
        assert_eq!(msg, "a rule needs at least one input or output guardrail");
        assert!(check(g, |v| v["rules"][0]["input_guardrails"] = json!([])).is_ok());
        let input = |x: Value| rule0(g, "input_guardrails", json!([x]));
        fails_at(input(json!({"type": "block-keywords", "keywords": []})), "rules[0].input_guardrails[0].keywords");
        fails_at(
            input(json!({"type": "block-keywords", "keywords": ["a", " "]})),
            "rules[0].input_guardrails[0].keywords[1]",
        );
        fails_at(
            input(json!({"type": "block-keywords", "keywords": ["a", "a"]})),
            "rules[0].input_guardrails[0].keywords[1]",
        );
        assert!(input(json!({"type": "block-keywords", "keywords": ["a"], "case_sensitive": true})).is_ok());
        fails_at(input(json!({"type": "block-regex", "pattern": ""})), "rules[0].input_guardrails[0].pattern");
        fails_at(
            input(json!({"type": "block-regex", "pattern": "a".repeat(4097)})),
            "rules[0].input_guardrails[0].pattern",
        );
        fails_at(input(json!({"type": "max-input-chars", "limit": 0})), "rules[0].input_guardrails[0].limit");
        fails_at(input(json!({"type": "redact-pii", "entities": []})), "rules[0].input_guardrails[0].entities");
        fails_at(
            input(json!({"type": "redact-pii", "entities": ["ssn", "ssn"]})),
            "rules[0].input_guardrails[0].entities[1]",
        );
        let msg = fails_at(
            rule0(g, "output_guardrails", json!([{"type": "max-input-chars", "limit": 10}])),
            "rules[0].output_guardrails[0].type",
        );
        assert_eq!(msg, "max-input-chars applies to input_guardrails only");
        assert!(rule0(g, "output_guardrails", json!([{"type": "block-keywords", "keywords": ["x"]}])).is_ok());
    }

    #[test]
    fn load_balancing_rules() {
        let lb = GatewayControlKind::LoadBalancing;
        let target = |rule: usize, i: usize, key: &str, value: Value| {
            check(lb, |v| v["rules"][rule]["load_balance_targets"][i][key] = value)
        };
        let msg = fails_at(target(0, 1, "weight", json!(20)), "rules[0].load_balance_targets");
        assert_eq!(msg, "weights add up to 90, not 100");
        fails_at(target(0, 1, "weight", json!(101)), "rules[0].load_balance_targets[1].weight");
        assert!(check(lb, |v| {
            v["rules"][0]["load_balance_targets"][0]["weight"] = json!(100);
            v["rules"][0]["load_balance_targets"][1]["weight"] = json!(0);
        })
        .is_ok());
        let msg = fails_at(
            check(lb, |v| {
                v["rules"][0]["load_balance_targets"][1].as_object_mut().unwrap().remove("weight");
            }),
            "rules[0].load_balance_targets[1].weight",
        );
        assert_eq!(msg, "is required for weight-based-routing");
        let msg = fails_at(target(2, 0, "weight", json!(50)), "rules[2].load_balance_targets[0].weight");
        assert_eq!(msg, "is used only by weight-based-routing");
        let msg = fails_at(target(0, 0, "priority", json!(1)), "rules[0].load_balance_targets[0].priority");
        assert_eq!(msg, "is used only by priority-based-routing");
        let msg =
            fails_at(target(1, 1, "target", json!("openai-main/gpt-5")), "rules[1].load_balance_targets[1].target");
        assert_eq!(msg, "model openai-main/gpt-5 does not exist");
        let msg = fails_at(
            target(1, 1, "target", json!("anthropic-main/claude-3-5-sonnet")),
            "rules[1].load_balance_targets[1].target",
        );
        assert_eq!(msg, "anthropic-main/claude-3-5-sonnet appears twice");
        fails_at(check(lb, |v| v["rules"][2]["load_balance_targets"] = json!([])), "rules[2].load_balance_targets");
        let retry = |r: Value| target(1, 0, "retry_config", r);
        assert!(retry(json!({"attempts": 10, "delay_ms": 60000, "on_status_codes": []})).is_ok());
        fails_at(retry(json!({"attempts": 11})), "rules[1].load_balance_targets[0].retry_config.attempts");
        fails_at(retry(json!({"delay_ms": 60001})), "rules[1].load_balance_targets[0].retry_config.delay_ms");
        let msg = fails_at(
            retry(json!({"on_status_codes": [429, 600]})),
            "rules[1].load_balance_targets[0].retry_config.on_status_codes[1]",
        );
        assert_eq!(msg, "600 is not an HTTP status code (100 to 599)");
        fails_at(
            retry(json!({"on_status_codes": [429, 429]})),
            "rules[1].load_balance_targets[0].retry_config.on_status_codes[1]",
        );
        fails_at(
            target(1, 0, "fallback_status_codes", json!([99])),
            "rules[1].load_balance_targets[0].fallback_status_codes[0]",
        );
    }
}
