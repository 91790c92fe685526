//! Budget spend and alerts: totals added to by many writers at once, read back by period, and alerts
//! claimed once; and the request log's cost and refusal columns.

use std::sync::Arc;

use gatehouse_store::{GuardrailVerdict, RequestLog, RequestLogFilter, SpendDelta, SqlStore, Store};
use time::OffsetDateTime;

use crate::{at, backends, request};

fn delta(counter: &str, period_start: i64, amount: i64) -> SpendDelta {
    SpendDelta { counter: counter.to_owned(), period_start, amount }
}

#[tokio::test]
async fn concurrent_additions_from_several_stores_sum_exactly() {
    const TASKS: i64 = 8;
    const ROUNDS: i64 = 20;
    for b in backends().await {
        // Two stores on one database stand for two replicas, each with its own pool.
        let other = Arc::new(SqlStore::connect(&b.url).await.unwrap());
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store: Arc<SqlStore> = if t % 2 == 0 { b.store.clone() } else { other.clone() };
                tokio::spawn(async move {
                    for r in 0..ROUNDS {
                        // Every call touches the shared rows, in an order of its own, and one of them twice.
                        let mut deltas = vec![
                            delta("budget/a", 100, t + 1),
                            delta("budget/b", 100, 1_000),
                            delta("budget/a", 100, r),
                        ];
                        if (t + r) % 2 == 0 {
                            deltas.reverse();
                        }
                        deltas.push(delta(&format!("budget/own-{t}"), 200, 7));
                        store.add_spend(&deltas).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let want_a = ROUNDS * (1..=TASKS).sum::<i64>() + TASKS * (0..ROUNDS).sum::<i64>();
        assert_eq!(b.store().spend_of("budget/a", 100).await.unwrap(), want_a, "{}", b.label);
        assert_eq!(b.store().spend_of("budget/b", 100).await.unwrap(), TASKS * ROUNDS * 1_000, "{}", b.label);
        let all = b.store().spend_since(i64::MIN).await.unwrap();
        assert_eq!(all.len(), 2 + TASKS as usize, "{}", b.label);
        for t in 0..TASKS {
            let own = all.iter().find(|d| d.counter == format!("budget/own-{t}")).unwrap();
            assert_eq!((own.period_start, own.amount), (200, ROUNDS * 7), "{}", b.label);
        }
        other.close().await;
        b.finish().await;
    }
}

#[tokio::test]
async fn spend_is_read_back_per_period_from_a_start() {
    for b in backends().await {
        assert_eq!(b.store().spend_of("budget/a", 100).await.unwrap(), 0, "{}: nothing added yet", b.label);
        b.store().add_spend(&[]).await.unwrap();
        let deltas = [
            delta("budget/b", 300, 3),
            delta("budget/a", 100, 1),
            delta("budget/a", 200, 2),
            delta("budget/a", 300, -1),
            delta("budget/a", 300, 5),
        ];
        b.store().add_spend(&deltas).await.unwrap();
        assert_eq!(
            b.store().spend_since(200).await.unwrap(),
            [delta("budget/a", 200, 2), delta("budget/a", 300, 4), delta("budget/b", 300, 3)],
            "{}: since is inclusive, rows ordered by counter then period",
            b.label
        );
        assert!(b.store().spend_since(301).await.unwrap().is_empty(), "{}", b.label);
        assert_eq!(b.store().spend_of("budget/a", 100).await.unwrap(), 1, "{}", b.label);
        assert_eq!(b.store().spend_of("budget/a", 150).await.unwrap(), 0, "{}", b.label);
        assert_eq!(b.store().spend_of("budget/c", 300).await.unwrap(), 0, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn a_failed_addition_adds_nothing() {
    for b in backends().await {
        b.store().add_spend(&[delta("budget/a", 100, 10)]).await.unwrap();
        b.store().add_spend(&[delta("budget/z", 100, i64::MAX)]).await.unwrap();
        // Sorted, `budget/a` is written first; `budget/z` then overflows its total, which must undo it.
        let failed = b.store().add_spend(&[delta("budget/z", 100, 1), delta("budget/a", 100, 5)]).await;
        assert!(failed.is_err(), "{}: {failed:?}", b.label);
        assert_eq!(b.store().spend_of("budget/a", 100).await.unwrap(), 10, "{}", b.label);
        assert_eq!(b.store().spend_of("budget/z", 100).await.unwrap(), i64::MAX, "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn an_alert_is_claimed_once_per_counter_period_and_threshold() {
    for b in backends().await {
        let other = Arc::new(SqlStore::connect(&b.url).await.unwrap());
        let claims: Vec<_> = (0..10i64)
            .map(|i| {
                let store: Arc<SqlStore> = if i % 2 == 0 { b.store.clone() } else { other.clone() };
                tokio::spawn(async move {
                    (i, store.claim_alert("budget/a", 100, 80, at(i), &alert_event()).await.unwrap())
                })
            })
            .collect();
        let mut winners = Vec::new();
        for c in claims {
            let (i, won) = c.await.unwrap();
            if won {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "{}: {winners:?}", b.label);
        let fired_at = b.scalar("SELECT fired_at FROM limit_alerts").await;
        assert_eq!(i128::from(fired_at), at(winners[0]).unix_timestamp_nanos(), "{}: the winner's time", b.label);
        // The audit event came with the claim, once.
        let events = b.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'budget.alert'").await;
        assert_eq!(events, 1, "{}", b.label);

        let later = OffsetDateTime::UNIX_EPOCH;
        assert!(!b.store().claim_alert("budget/a", 100, 80, later, &alert_event()).await.unwrap(), "{}", b.label);
        assert!(
            b.store().claim_alert("budget/a", 100, 100, later, &alert_event()).await.unwrap(),
            "{}: another threshold",
            b.label
        );
        assert!(
            b.store().claim_alert("budget/a", 200, 80, later, &alert_event()).await.unwrap(),
            "{}: another period",
            b.label
        );
        assert!(
            b.store().claim_alert("budget/b", 100, 80, later, &alert_event()).await.unwrap(),
            "{}: another counter",
            b.label
        );
        assert!(!other.claim_alert("budget/b", 100, 80, later, &alert_event()).await.unwrap(), "{}", b.label);
        assert!(b.store().claim_alert("budget/a", 100, u32::MAX, later, &alert_event()).await.is_err(), "{}", b.label);
        other.close().await;
        b.finish().await;
    }
}

#[tokio::test]
async fn request_log_cost_and_refusal_round_trip() {
    for b in backends().await {
        let logs = [
            // Not a sum of powers of two: the stored value must still be the same double.
            RequestLog {
                cost_usd: Some(0.1 + 0.2),
                refused_by: None,
                ..request(1, "user:a@example.com", "oa/gpt", 200)
            },
            RequestLog {
                cost_usd: None,
                refused_by: Some("limits/per-user".to_owned()),
                ..request(2, "user:a@example.com", "oa/gpt", 429)
            },
            RequestLog { cost_usd: Some(0.0), refused_by: None, ..request(3, "user:a@example.com", "oa/gpt", 200) },
            RequestLog { cost_usd: None, refused_by: None, ..request(4, "user:a@example.com", "oa/gpt", 200) },
        ];
        b.store().append_request_logs(&logs).await.unwrap();
        let filter = RequestLogFilter { limit: RequestLogFilter::MAX_LIMIT, ..RequestLogFilter::default() };
        let mut got: Vec<RequestLog> =
            b.store().request_logs(&filter).await.unwrap().into_iter().map(|(_, l)| l).collect();
        got.reverse();
        assert_eq!(got, logs, "{}", b.label);
        assert_eq!(got[0].cost_usd.map(f64::to_bits), Some((0.1f64 + 0.2).to_bits()), "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn request_log_guardrail_verdicts_round_trip() {
    let verdict = |rule: &str, check: &str, hook: &str, outcome: &str, count: u64| GuardrailVerdict {
        config: "safety".into(),
        rule: rule.into(),
        check: check.into(),
        kind: "pii".into(),
        hook: hook.into(),
        outcome: outcome.into(),
        count,
    };
    for b in backends().await {
        let logs = [
            RequestLog {
                guardrails: vec![
                    verdict("prod", "input_guardrails[0]", "input", "redacted", 3),
                    verdict("prod", "output_guardrails[1]", "output", "flagged", 1),
                    verdict("all", "input_guardrails[2]", "input", "error_ignored", 1),
                ],
                ..request(1, "user:a@example.com", "oa/gpt", 200)
            },
            RequestLog {
                refused_by: Some("safety/prod".into()),
                guardrails: vec![verdict("prod", "input_guardrails[0]", "input", "blocked", 1)],
                ..request(2, "user:a@example.com", "oa/gpt", 400)
            },
            RequestLog { guardrails: Vec::new(), ..request(3, "user:a@example.com", "oa/gpt", 200) },
        ];
        b.store().append_request_logs(&logs).await.unwrap();
        let filter = RequestLogFilter { limit: RequestLogFilter::MAX_LIMIT, ..RequestLogFilter::default() };
        let mut got: Vec<RequestLog> =
            b.store().request_logs(&filter).await.unwrap().into_iter().map(|(_, l)| l).collect();
        got.reverse();
        assert_eq!(got, logs, "{}", b.label);
        // A call no guardrail acted on stores nothing, not an empty list.
        assert_eq!(b.scalar("SELECT COUNT(*) FROM request_logs WHERE guardrails IS NULL").await, 1, "{}", b.label);
        b.finish().await;
    }
}

fn alert_event() -> gatehouse_store::AuditRecord {
    gatehouse_store::AuditRecord {
        at: time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        actor: "system".into(),
        action: "budget.alert".into(),
        object_kind: "gateway-controls".into(),
        object_name: "money".into(),
        changes: "{}".into(),
        request_id: None,
    }
}
