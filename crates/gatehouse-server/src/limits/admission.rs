//! Admitting a call against its counters, and settling what it reserved once its real usage is known.
//!
//! Tokens and cost are not known before the answer, so admission reserves an estimate (the prompt's size
//! plus the output cap) and settling corrects it. A counter is never pushed past its limit by an
//! admission; it can end above it only by what calls already admitted used beyond their estimates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use gatehouse_core::limits::{amount, Charge, Estimate, LimitKind, Measure};
use gatehouse_core::spec::AppliesPer;
use gatehouse_core::Subject;
use time::OffsetDateTime;

use super::counters::{Ask, Correction, Counters, Held, Verdict};
use super::memory::MemoryCounters;
use super::refusal::OverLimit;
use super::seen::SeenMetadata;
use crate::error::ApiError;

/// What the gateway does when the counters cannot be reached (`GATEHOUSE_LIMITS_ON_STORE_FAILURE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Refuse with 503 `limits_unavailable`: no request goes through unchecked.
    #[default]
    Closed,
    /// Admit without counting, and log it.
    Open,
}

impl std::str::FromStr for OnFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "closed" => Ok(OnFailure::Closed),
            "open" => Ok(OnFailure::Open),
            other => Err(format!("{other:?} is not one of closed, open")),
        }
    }
}

/// The gateway's limits: the counters and what to do without them.
pub struct Limiter {
    pub counters: Arc<dyn Counters>,
    pub on_failure: OnFailure,
    /// Set while the counters are unreachable, so the log says so once and says when it ends.
    down: AtomicBool,
    /// The in-process counters, when they are the ones in use: swept of idle counters now and then.
    memory: Option<Arc<MemoryCounters>>,
    /// When the in-process counters were last swept (Unix seconds).
    swept: AtomicI64,
    /// The metadata values each subject's requests were counted under, for reports of their counters.
    pub seen: SeenMetadata,
}

/// A call's charges, from admission to settling.
pub struct Admission {
    charges: Vec<Charge>,
    reserved: Vec<u64>,
    held: Vec<Held>,
    pricing: Option<(f64, f64)>,
    /// Counters that may not refuse this call but that it took past their limit (audit-mode budgets,
    /// budgets that are not their config's first match).
    over: Vec<usize>,
    /// The counters were unreachable and the gateway failed open: nothing was charged.
    unchecked: bool,
    /// Counters charged for a target that did not serve the call (a routed call fell back from it): they
    /// keep the request but give back the tokens and cost reserved.
    unserved: Vec<bool>,
}

/// How a call ended, for settling.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// The upstream reported this usage.
    Used { input: u64, output: u64 },
    /// No upstream usage arrived although the call may have consumed some (a stream cut short): the
    /// reservation stands.
    Unknown,
    /// Nothing reached an upstream, or it refused: the reservation is given back.
    Nothing,
}

/// What settling leaves to do after the counters are corrected: spend to store, alerts to check.
pub struct Settled {
    /// `(counter, period start, amount)` of each budget counter, at the real amount.
    pub spend: Vec<(String, i64, u64)>,
    /// Budget counters with alert thresholds: `(charge, period start, used now)`.
    pub alerts: Vec<(Charge, i64, u64)>,
}

impl Limiter {
    pub fn new(counters: Arc<dyn Counters>, on_failure: OnFailure) -> Limiter {
        Limiter {
            counters,
            on_failure,
            down: AtomicBool::new(false),
            memory: None,
            swept: AtomicI64::new(0),
            seen: SeenMetadata::new(),
        }
    }

    pub fn with_memory(mut self, memory: Arc<MemoryCounters>) -> Limiter {
        self.memory = Some(memory);
        self
    }

    /// Forgets in-process counters with nothing left in their window (Redis expires its own keys); at
    /// most once a minute, since it visits every counter.
    pub fn sweep(&self, now: OffsetDateTime) {
        let t = now.unix_timestamp();
        let last = self.swept.load(Ordering::Relaxed);
        if t - last < 60 || self.swept.compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        if let Some(m) = &self.memory {
            m.sweep(now, gatehouse_core::limits::period_of_key);
        }
    }

    /// Indexes the metadata `subject`'s request was counted under (narrowed to `keys`, the ones rules use),
    /// when some of its counters are kept per a metadata value: reports list those counters from it.
    pub fn note_metadata(
        &self,
        subject: &Subject,
        charges: &[Charge],
        metadata: &BTreeMap<String, String>,
        keys: &[String],
    ) {
        let per_value = |(a, v): &(AppliesPer, Option<String>)| match a {
            AppliesPer::Metadata(_) => v.is_some(),
            AppliesPer::User | AppliesPer::VirtualAccount | AppliesPer::Model => false,
        };
        if !charges.iter().any(|c| c.per.iter().any(per_value)) {
            return;
        }
        let narrowed: BTreeMap<String, String> = metadata
            .iter()
            .filter(|(k, _)| keys.binary_search(k).is_ok())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.seen.record(&subject.to_string(), narrowed);
    }

    /// Charges `charges` with `estimate` (at `pricing`, US dollars per million input and output tokens).
    pub async fn admit(
        &self,
        now: OffsetDateTime,
        charges: Vec<Charge>,
        estimate: Estimate,
        pricing: Option<(f64, f64)>,
    ) -> Result<Admission, ApiError> {
        let reserved: Vec<u64> = charges
            .iter()
            .map(|c| amount(c.rule.measure, estimate.input_tokens, estimate.output_tokens, pricing))
            .collect();
        let asks: Vec<Ask<'_>> = charges
            .iter()
            .zip(&reserved)
            .map(|(c, a)| Ask {
                counter: &c.counter,
                period: c.rule.period,
                limit: c.rule.limit,
                amount: *a,
                decides: c.decides,
            })
            .collect();
        let verdict = self.counters.admit(now, &asks).await;
        drop(asks);
        match verdict {
            Ok(Verdict::Admitted(held)) => {
                self.up();
                let over =
                    (0..charges.len()).filter(|i| !charges[*i].decides && held[*i].used > charges[*i].rule.limit);
                let over = over.collect();
                let unserved = vec![false; charges.len()];
                Ok(Admission { charges, reserved, held, pricing, over, unchecked: false, unserved })
            }
            Ok(Verdict::Refused { index, full }) => {
                self.up();
                let c = &charges[index];
                Err(ApiError::OverLimit(Box::new(OverLimit {
                    kind: c.rule.kind,
                    rule: c.rule.name(),
                    measure: c.rule.measure,
                    period: c.rule.period,
                    limit: c.rule.limit,
                    used: full.used,
                    asked: reserved[index],
                    retry_after: full.retry_after,
                })))
            }
            Err(e) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::error!(backend = self.counters.backend(), error = %e, on_failure = ?self.on_failure,
                        "limit counters unreachable: requests under rate limits or budgets are {}",
                        match self.on_failure { OnFailure::Closed => "refused (503)", OnFailure::Open => "admitted unchecked" });
                }
                match self.on_failure {
                    OnFailure::Closed => Err(ApiError::LimitsUnavailable(e.0)),
                    OnFailure::Open => {
                        tracing::warn!(error = %e, "admitted a request without checking its limits (fail open)");
                        let unserved = vec![false; charges.len()];
                        Ok(Admission {
                            charges,
                            reserved,
                            held: Vec::new(),
                            pricing,
                            over: Vec::new(),
                            unchecked: true,
                            unserved,
                        })
                    }
                }
            }
        }
    }

    fn up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(backend = self.counters.backend(), "limit counters reachable again");
        }
    }

    /// Corrects the counters with the call's real usage; what is left to do (spend, alerts) is returned.
    pub async fn settle(&self, now: OffsetDateTime, admission: Admission, outcome: Outcome) -> Settled {
        let Admission { charges, reserved, held, pricing, unchecked, unserved, .. } = admission;
        let actual: Vec<u64> = charges
            .iter()
            .zip(&reserved)
            .zip(&unserved)
            .map(|((c, r), unserved)| match (c.rule.measure, outcome) {
                // A request counts as made, whatever came of it.
                (Measure::Requests, _) => *r,
                // Tried on a target that did not serve: it used nothing there.
                (_, _) if *unserved => 0,
                (m, Outcome::Used { input, output }) => amount(m, input, output, pricing),
                (_, Outcome::Unknown) => *r,
                (_, Outcome::Nothing) => 0,
            })
            .collect();
        let mut settled = Settled { spend: Vec::new(), alerts: Vec::new() };
        if unchecked {
            return settled;
        }
        let corrections: Vec<(usize, Correction<'_>)> = charges
            .iter()
            .enumerate()
            .filter(|(i, _)| actual[*i] != reserved[*i])
            .map(|(i, c)| {
                let delta =
                    i64::try_from(actual[i]).unwrap_or(i64::MAX) - i64::try_from(reserved[i]).unwrap_or(i64::MAX);
                (i, Correction { counter: &c.counter, period: c.rule.period, slot: held[i].slot, delta })
            })
            .collect();
        let mut used: Vec<u64> = held.iter().map(|h| h.used).collect();
        if !corrections.is_empty() {
            let list: Vec<Correction<'_>> = corrections.iter().map(|(_, c)| *c).collect();
            match self.counters.settle(now, &list).await {
                Ok(after) => {
                    for ((i, _), u) in corrections.iter().zip(after) {
                        used[*i] = u;
                    }
                }
                // The reservation stays counted: an outage errs towards refusing, not overspending.
                Err(e) => tracing::warn!(error = %e, "could not settle a call's limit counters"),
            }
        }
        drop(corrections);
        for (i, mut c) in charges.into_iter().enumerate() {
            if c.rule.kind != LimitKind::Budget {
                continue;
            }
            if c.rule.alerts.is_empty() {
                settled.spend.push((std::mem::take(&mut c.counter), held[i].slot, actual[i]));
            } else {
                settled.spend.push((c.counter.clone(), held[i].slot, actual[i]));
                settled.alerts.push((c, held[i].slot, used[i]));
            }
        }
        settled
    }
}

impl Admission {
    /// The price the call settles at: a routed call is charged at the model that served it, which may
    /// not be the one its reservation was priced at.
    pub fn reprice(&mut self, pricing: Option<(f64, f64)>) {
        self.pricing = pricing;
    }

    /// The counters charged.
    pub fn counters(&self) -> impl Iterator<Item = &str> {
        self.charges.iter().map(|c| c.counter.as_str())
    }

    /// Marks the charges whose counter `unserved` names as charged for a target that did not serve: when
    /// the call settles they keep the request and give back the tokens and cost.
    pub fn unserve(&mut self, unserved: impl Fn(&str) -> bool) {
        for (c, u) in self.charges.iter().zip(self.unserved.iter_mut()) {
            *u = unserved(&c.counter);
        }
    }

    /// `x-gatehouse-applied-controls`: `<kind>:<config>/<rule>` for every counter charged, `;exceeded` on
    /// those over their limit that could not refuse (audit mode), `;unchecked` when the counters were
    /// down and the gateway failed open. OpenAI's `x-ratelimit-*` for the tightest rate limit per measure.
    pub fn headers(&self, now: OffsetDateTime) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        if self.charges.is_empty() {
            return out;
        }
        let mut applied = String::with_capacity(self.charges.iter().map(|c| c.rule.applied().len() + 12).sum());
        for (i, c) in self.charges.iter().enumerate() {
            if i > 0 {
                applied.push_str(", ");
            }
            applied.push_str(c.rule.applied());
            if self.unchecked {
                applied.push_str(";unchecked");
            } else if self.over.contains(&i) {
                applied.push_str(";exceeded");
            }
        }
        if let Ok(v) = HeaderValue::try_from(applied) {
            out.push((HeaderName::from_static(APPLIED), v));
        }
        if self.unchecked {
            return out;
        }
        for measure in [Measure::Requests, Measure::Tokens] {
            let tightest = self
                .charges
                .iter()
                .zip(&self.held)
                .filter(|(c, _)| c.rule.kind == LimitKind::RateLimit && c.decides && c.rule.measure == measure)
                .min_by_key(|(c, h)| c.rule.limit.saturating_sub(h.used));
            let (Some((c, h)), Some([limit, remaining, reset])) = (tightest, ratelimit_headers(measure)) else {
                continue;
            };
            let left = (c.rule.period.expires(h.slot) - now.unix_timestamp()).max(0);
            out.push((limit, HeaderValue::from(c.rule.limit)));
            out.push((remaining, HeaderValue::from(c.rule.limit.saturating_sub(h.used))));
            if let Ok(v) = HeaderValue::try_from(format!("{left}s")) {
                out.push((reset, v));
            }
        }
        out
    }
}

/// OpenAI's `x-ratelimit-limit-*`, `-remaining-*` and `-reset-*` for a rate limit's measure (cost is
/// for budgets, which answers do not report).
fn ratelimit_headers(measure: Measure) -> Option<[HeaderName; 3]> {
    match measure {
        Measure::Requests => Some([
            HeaderName::from_static("x-ratelimit-limit-requests"),
            HeaderName::from_static("x-ratelimit-remaining-requests"),
            HeaderName::from_static("x-ratelimit-reset-requests"),
        ]),
        Measure::Tokens => Some([
            HeaderName::from_static("x-ratelimit-limit-tokens"),
            HeaderName::from_static("x-ratelimit-remaining-tokens"),
            HeaderName::from_static("x-ratelimit-reset-tokens"),
        ]),
        Measure::CostNanos => None,
    }
}

pub const APPLIED: &str = "x-gatehouse-applied-controls";
