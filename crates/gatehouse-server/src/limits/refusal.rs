//! A limit's refusal as the client sees it: OpenAI's 429 with the headers its SDKs act on.

use std::fmt;

use axum::http::HeaderName;
use gatehouse_core::limits::{LimitKind, Measure, Period, NANOS_PER_USD};

/// A request a rate limit or a budget refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    pub kind: LimitKind,
    /// `<config>/<rule>`.
    pub rule: String,
    pub measure: Measure,
    pub period: Period,
    pub limit: u64,
    pub used: u64,
    /// What this request needed.
    pub asked: u64,
    /// Seconds until it would fit; `None` when it never can (it alone exceeds the limit).
    pub retry_after: Option<i64>,
}

impl OverLimit {
    pub fn code(&self) -> &'static str {
        match self.kind {
            LimitKind::RateLimit => "rate_limit_exceeded",
            LimitKind::Budget => "budget_exceeded",
        }
    }

    /// `Retry-After` and OpenAI's `x-ratelimit-*-<requests|tokens>` (cost budgets use `-cost`, in US
    /// dollars). A refusal that waiting cannot cure says `x-should-retry: false`, which the official SDKs
    /// obey, instead of letting them retry into the same answer.
    pub fn headers(&self) -> Vec<(HeaderName, String)> {
        let mut out = Vec::new();
        let m = self.measure.header_name();
        let show = |n: u64| match self.measure {
            Measure::CostNanos => format!("{:.6}", n as f64 / NANOS_PER_USD),
            Measure::Requests | Measure::Tokens => n.to_string(),
        };
        let named = |prefix: &str| HeaderName::try_from(format!("{prefix}-{m}")).ok();
        if let Some(h) = named("x-ratelimit-limit") {
            out.push((h, show(self.limit)));
        }
        if let Some(h) = named("x-ratelimit-remaining") {
            out.push((h, show(self.limit.saturating_sub(self.used))));
        }
        match self.retry_after {
            Some(secs) => {
                if let Some(h) = named("x-ratelimit-reset") {
                    out.push((h, format!("{secs}s")));
                }
                out.push((axum::http::header::RETRY_AFTER, secs.to_string()));
                if self.kind == LimitKind::Budget {
                    out.push((HeaderName::from_static("x-should-retry"), "false".into()));
                }
            }
            None => out.push((HeaderName::from_static("x-should-retry"), "false".into())),
        }
        out
    }
}

fn amount(measure: Measure, n: u64) -> String {
    match measure {
        Measure::Requests => format!("{n} requests"),
        Measure::Tokens => format!("{n} tokens"),
        Measure::CostNanos => format!("${:.6}", n as f64 / NANOS_PER_USD),
    }
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, verb) = match self.kind {
            LimitKind::RateLimit => ("rate limit", "used"),
            LimitKind::Budget => ("budget", "spent"),
        };
        write!(
            f,
            "{what} {} reached: {} of {} {verb} per {}",
            self.rule,
            amount(self.measure, self.used),
            amount(self.measure, self.limit),
            self.period.describe()
        )?;
        match self.retry_after {
            Some(s) => write!(f, "; this request needs {}, try again in {s} s", amount(self.measure, self.asked)),
            None => write!(f, "; this request alone needs {}, more than the limit", amount(self.measure, self.asked)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_refusal_names_the_rule_and_carries_openai_headers() {
        let o = OverLimit {
            kind: LimitKind::RateLimit,
            rule: "team-limits/per-user".into(),
            measure: Measure::Requests,
            period: Period::Sliding(60),
            limit: 2,
            used: 2,
            asked: 1,
            retry_after: Some(17),
        };
        assert_eq!(o.code(), "rate_limit_exceeded");
        assert_eq!(
            o.to_string(),
            "rate limit team-limits/per-user reached: 2 requests of 2 requests used per minute; this request needs 1 requests, try again in 17 s"
        );
        let h: Vec<(String, String)> = o.headers().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert!(h.contains(&("x-ratelimit-limit-requests".into(), "2".into())));
        assert!(h.contains(&("x-ratelimit-remaining-requests".into(), "0".into())));
        assert!(h.contains(&("x-ratelimit-reset-requests".into(), "17s".into())));
        assert!(h.contains(&("retry-after".into(), "17".into())));
        assert!(!h.iter().any(|(k, _)| k == "x-should-retry"));
    }

    #[test]
    fn a_budget_refusal_tells_sdks_not_to_retry() {
        let o = OverLimit {
            kind: LimitKind::Budget,
            rule: "money/monthly".into(),
            measure: Measure::CostNanos,
            period: Period::Month,
            limit: 1_500_000_000,
            used: 1_600_000_000,
            asked: 2_000,
            retry_after: Some(86_400),
        };
        assert_eq!(o.code(), "budget_exceeded");
        assert!(o.to_string().starts_with("budget money/monthly reached: $1.600000 of $1.500000 spent per UTC month"));
        let h: Vec<(String, String)> = o.headers().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert!(h.contains(&("x-should-retry".into(), "false".into())));
        assert!(h.contains(&("x-ratelimit-remaining-cost".into(), "0.000000".into())));
    }
}
