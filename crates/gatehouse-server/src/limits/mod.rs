//! Rate limits and budgets on the gateway: the admit phase charges a request against its counters (the
//! core's `LimitsTable` says which), and the call settles the charge with the real usage when it ends.

pub mod counters;
pub mod memory;
pub mod redis;

pub use counters::{Ask, Correction, Counters, Held, Rebuild, RebuildFuture, Unavailable, Verdict};
pub use memory::MemoryCounters;
pub use redis::RedisCounters;
