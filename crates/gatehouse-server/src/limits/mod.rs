//! Rate limits and budgets on the gateway: the admit phase charges a request against its counters (the
//! core's `LimitsTable` says which), and the call settles the charge with the real usage when it ends.

pub mod admission;
pub mod alerts;
pub mod counters;
pub mod memory;
pub mod refusal;

pub use admission::{Admission, Limiter, OnFailure, Outcome, Settled};
pub use counters::{Ask, Correction, Counters, Held, Unavailable, Verdict};
pub use memory::MemoryCounters;
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
pub async fn limiter(config: &ServerConfig, store: &dyn Store, now: OffsetDateTime) -> Result<Limiter, ApiError> {
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
