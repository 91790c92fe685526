//! Rate limits and budgets across `gatehouse serve` processes, as operators run them: replicas sharing Redis
//! admit a limit once in total, a budget's spend survives restarts and crashes (and an emptied Redis), and a
//! Redis that goes away and comes back is followed without restarting the gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod outage;
mod replicas;
mod restart;
