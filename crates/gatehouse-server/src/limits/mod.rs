//! Rate limits and budgets on the gateway: the admit phase charges a request against its counters (the
//! core's `LimitsTable` says which), and the call settles the charge with the real usage when it ends.

pub mod admission;
pub mod alerts;
pub mod counters;
pub mod memory;
pub mod redis;
pub mod refusal;
pub mod seen;

pub use admission::{Admission, Limiter, OnFailure, Outcome, Settled};
pub use counters::{Ask, Correction, Counters, Held, Rebuild, RebuildFuture, Unavailable, Usage, Verdict};
pub use memory::MemoryCounters;
pub use redis::RedisCounters;
pub use refusal::OverLimit;

use std::sync::Arc;

use gatehouse_core::limits::Period;
use gatehouse_store::Store;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::ServerConfig;

/// The limiter the configuration asks for: counters in Redis when `redis_url` is set, else in process,
/// where budgets start from the spend the store holds for their current periods (a restart never resets
/// a month's budget).
pub async fn limiter(config: &ServerConfig, store: &Arc<dyn Store>, now: OffsetDateTime) -> Result<Limiter, ApiError> {
    if let Some(url) = &config.redis_url {
        // Lazily: a gateway started while Redis is down comes up, and follows its failure mode until
        // Redis answers.
        let redis = RedisCounters::connect_lazy(url.expose(), config.redis_prefix.clone())
            .await
            .map_err(|e| ApiError::Internal(format!("GATEHOUSE_REDIS_URL: {e}")))?;
        let store = store.clone();
        // A budget counter Redis lost (emptied, failed over) starts again from the spend the store holds.
        redis.set_rebuild(Arc::new(move |counter: &str, period_start: i64| -> RebuildFuture {
            let store = store.clone();
            let counter = counter.to_owned();
            Box::pin(async move {
                let spent = store.spend_of(&counter, period_start).await.map_err(|e| e.to_string())?;
                Ok(u64::try_from(spent).unwrap_or(0))
            })
        }));
        tracing::info!(prefix = %config.redis_prefix, "rate-limit and budget counters are kept in Redis");
        return Ok(Limiter::new(Arc::new(redis), config.limits_on_failure));
    }
    let memory = Arc::new(MemoryCounters::new());
    // Weeks can start in the previous month: the earlier of the two starts covers every current period.
    let since = Period::Month.start(now).min(Period::Week.start(now)).unix_timestamp();
    for row in store.spend_since(since).await? {
        let Some(period) = gatehouse_core::limits::period_of_key(&row.counter) else { continue };
        if period.slot(now) == row.period_start {
            memory.seed(&row.counter, period, row.period_start, u64::try_from(row.amount).unwrap_or(0));
        }
    }
    Ok(Limiter::new(memory.clone(), config.limits_on_failure).with_memory(memory))
}

/// What follows a call's settling: its budget spend on its way to the store, and alert thresholds.
pub async fn after_settle(app: &crate::state::App, settled: Settled) {
    for (counter, period_start, amount) in &settled.spend {
        if *amount > 0 {
            app.spend_ledger.record(counter, *period_start, i64::try_from(*amount).unwrap_or(i64::MAX));
        }
    }
    for (charge, period_start, used) in settled.alerts {
        alerts::check(app, &charge, period_start, used);
    }
}
