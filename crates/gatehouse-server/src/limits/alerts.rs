//! Budget alerts: when a budget counter reaches one of its rule's thresholds, an audit event (`budget.alert`)
//! and, where a webhook is configured, a signed POST. Each fires once per counter, period and threshold,
//! across every replica: the store's claim decides who fires, in the same transaction as the audit event.

use std::time::Duration;

use gatehouse_core::limits::{Charge, Measure, NANOS_PER_USD};
use gatehouse_core::Secret;
use gatehouse_store::AuditRecord;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::state::App;

/// Where alerts are posted (`GATEHOUSE_ALERT_WEBHOOK_URL`), signed with `GATEHOUSE_ALERT_WEBHOOK_SECRET`.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub url: reqwest::Url,
    pub secret: Secret<String>,
}

/// Attempts per alert; the waits between them double from one second.
const ATTEMPTS: u32 = 4;

/// Thresholds already fired (or being fired) by this process, so a busy counter past its threshold does
/// not ask the store on every call.
#[derive(Default)]
pub struct Fired {
    seen: papaya::HashSet<(String, i64, u32)>,
}

/// Fires the thresholds of `charge` that `used` has reached, in the background.
pub fn check(app: &App, charge: &Charge, period_start: i64, used: u64) {
    let rule = &charge.rule;
    if rule.limit == 0 {
        return;
    }
    for &threshold in &rule.alerts {
        // used / limit >= threshold / 100, in integers.
        if u128::from(used) * 100 < u128::from(rule.limit) * u128::from(threshold) {
            break;
        }
        let key = (charge.counter.clone(), period_start, threshold);
        if !app.alerts.seen.pin().insert(key) {
            continue;
        }
        let app = app.clone();
        let charge = charge.clone();
        tokio::spawn(async move { fire(&app, &charge, period_start, threshold, used).await });
    }
}

async fn fire(app: &App, charge: &Charge, period_start: i64, threshold: u32, used: u64) {
    let now = app.now();
    let event = payload(charge, period_start, threshold, used, now);
    let audit = AuditRecord {
        at: now,
        actor: "system".into(),
        action: "budget.alert".into(),
        object_kind: "gateway-controls".into(),
        object_name: charge.rule.config.clone(),
        changes: event.to_string(),
        request_id: None,
    };
    match app.store.claim_alert(&charge.counter, period_start, threshold, now, &audit).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            // Let a later call try again.
            app.alerts.seen.pin().remove(&(charge.counter.clone(), period_start, threshold));
            tracing::warn!(error = %e, rule = %charge.rule.name(), threshold, "could not record a budget alert");
            return;
        }
    }
    tracing::warn!(rule = %charge.rule.name(), threshold, "budget alert");
    if let Some(hook) = &app.config.alert_webhook {
        post(app, hook, &event).await;
    }
}

/// What an alert says: the rule, the counter's values, the threshold, the limit and what is used, in US
/// dollars for cost budgets.
pub fn payload(
    charge: &Charge,
    period_start: i64,
    threshold: u32,
    used: u64,
    now: OffsetDateTime,
) -> serde_json::Value {
    let rule = &charge.rule;
    let show = |n: u64| match rule.measure {
        Measure::CostNanos => json!(n as f64 / NANOS_PER_USD),
        Measure::Requests | Measure::Tokens => json!(n),
    };
    let per: serde_json::Map<String, serde_json::Value> = charge
        .per
        .iter()
        .map(|(a, v)| (a.to_string(), v.clone().map_or(serde_json::Value::Null, |v| json!(v))))
        .collect();
    let start = OffsetDateTime::from_unix_timestamp(period_start).unwrap_or(now);
    let fmt = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    json!({
        "type": "budget.alert",
        "config": rule.config,
        "rule": rule.rule,
        "applies_to": per,
        "threshold_percent": threshold,
        "unit": match rule.measure { Measure::CostNanos => "usd", Measure::Tokens => "tokens", Measure::Requests => "requests" },
        "limit": show(rule.limit),
        "used": show(used),
        "mode": if rule.enforce { "enforce" } else { "audit" },
        "period_start": fmt(start),
        "period_end": fmt(rule.period.end(start)),
        "at": fmt(now),
    })
}

/// `x-gatehouse-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver recomputes
/// it with the shared secret and rejects old timestamps, so a captured alert cannot be replayed later.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(app: &App, hook: &Webhook, event: &serde_json::Value) {
    let body = event.to_string();
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        let sig = signature(hook.secret.expose(), app.now().unix_timestamp(), body.as_bytes());
        let sent = app
            .http
            .post(hook.url.clone())
            .header("content-type", "application/json")
            .header("x-gatehouse-signature", sig)
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(status = r.status().as_u16(), attempt, "the alert webhook refused a budget alert"),
            Err(e) => tracing::warn!(error = %e.without_url(), attempt, "could not deliver a budget alert"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::error!("gave up delivering a budget alert to the webhook after {ATTEMPTS} attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_body() {
        // RFC 4231 test case 2's key and data, with our framing: computed independently with
        // `printf '1700000000.what do ya want for nothing?' | openssl dgst -sha256 -hmac Jefe`.
        let s = signature("Jefe", 1_700_000_000, b"what do ya want for nothing?");
        assert_eq!(s, "t=1700000000,v1=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e");
    }
}
