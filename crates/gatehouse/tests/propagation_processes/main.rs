//! Several `gatehouse serve` processes on one Postgres database, as a team that outgrows one machine runs
//! them: a change committed through one is enforced by the others within a second (signalled by the
//! database's notifications, applied as deltas), and a database that goes away and comes back is ridden
//! out from the last snapshot, without losing anything acknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod lag;
mod outage;
mod pg_cluster;
