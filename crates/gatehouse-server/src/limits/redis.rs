//! Counters in Redis, shared by every replica: N replicas together admit N, not N x replicas.
//!
//! A counter is a hash `<prefix><counter key>` whose fields are slots (`Period::slot`) and values the
//! amounts counted in them; the key expires when its newest slot stops counting. Each admission is one Lua
//! script over all of the request's counters, so checking and charging are one atomic step however many
//! replicas race. The time arithmetic stays in Rust (the core's `Period`): the scripts get slot numbers and
//! expiry times, and do the same steps as `Tally` on the hash.
//!
//! Counts are exact up to 2^53 (Redis's Lua counts in doubles): nine million US dollars in nano-dollars.
//! Asks on one counter share its period (the counter key names the unit). Needs Redis 5 or newer (scripts
//! replicated by their effects, so that they may read Redis's clock before writing).
//!
//! Every operation is bounded (`OP_TIMEOUT`): a Redis that is down or stuck turns into `Unavailable`
//! quickly and never holds a request. The connection manager reconnects by itself once Redis is back. An
//! operation cut short by the bound may still have been carried out by Redis: a request refused as
//! unavailable may have been charged, so a failure can only overcount, never undercount.
//!
//! Calendar counters (budgets) lost with Redis's data are rebuilt from the store: see `Counters::set_rebuild`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script, ScriptInvocation, Value};
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use gatehouse_core::limits::{Full, Period};
use time::OffsetDateTime;

use super::counters::{Ask, Correction, Counters, Held, Rebuild, Unavailable, Usage, Verdict};

/// The key prefix unless configured otherwise.
pub const DEFAULT_PREFIX: &str = "gatehouse:limits:";

/// The longest one Redis operation may take, connecting included, before the counters count as unavailable.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);

/// The longest rebuilding one lost calendar counter from the store may take.
pub const REBUILD_TIMEOUT: Duration = Duration::from_secs(2);

const COMMON: &str = include_str!("redis/common.lua");

pub struct RedisCounters {
    conn: ConnectionManager,
    prefix: String,
    admit: Script,
    settle: Script,
    seed: Script,
    rebuild: ArcSwapOption<Rebuild>,
}

/// What the admission script answered.
enum Answer {
    Verdict(Verdict),
    /// These asks' calendar counters are missing.
    Missing(Vec<usize>),
}

impl RedisCounters {
    /// Connects to `url`, failing within `OP_TIMEOUT` when Redis cannot be reached.
    pub async fn connect(url: &str, prefix: String) -> Result<RedisCounters, Unavailable> {
        let counters = RedisCounters::connect_lazy(url, prefix).await?;
        counters.ping().await?;
        Ok(counters)
    }

    /// Sets up the connection without waiting for Redis: a gateway started while Redis is down comes up,
    /// answers as its failure mode says, and starts counting once Redis is there.
    pub async fn connect_lazy(url: &str, prefix: String) -> Result<RedisCounters, Unavailable> {
        let client = Client::open(url).map_err(|e| Unavailable(format!("invalid Redis URL: {e}")))?;
        // One connection attempt per reconnection, no backoff: while Redis is down each request fails at
        // once (a refused connection) or within OP_TIMEOUT (an unreachable host) instead of waiting out
        // retries, and the first request after Redis returns starts the connection that succeeds.
        // Concurrent requests share one attempt, so a down Redis is not flooded with connections.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(0);
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| Unavailable(format!("Redis: {e}")))?;
        Ok(RedisCounters {
            conn,
            prefix,
            admit: Script::new(&format!("{COMMON}\n{}", include_str!("redis/admit.lua"))),
            settle: Script::new(&format!("{COMMON}\n{}", include_str!("redis/settle.lua"))),
            seed: Script::new(&format!("{COMMON}\n{}", include_str!("redis/seed.lua"))),
            rebuild: ArcSwapOption::empty(),
        })
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), Unavailable> {
        let mut conn = self.conn.clone();
        bounded(::redis::cmd("PING").query_async::<String>(&mut conn)).await.map(|_| ())
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, counter: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + counter.len());
        k.push_str(&self.prefix);
        k.push_str(counter);
        k
    }

    async fn run_admit(
        &self,
        plan: &Plan<'_>,
        now: i64,
        asks: &[Ask<'_>],
        report_missing: bool,
    ) -> Result<Answer, Unavailable> {
        let mut inv = self.admit.prepare_invoke();
        for k in &plan.keys {
            inv.key(k);
        }
        inv.arg(now).arg(u8::from(report_missing));
        for ((ask, &slot), &k) in asks.iter().zip(&plan.slots).zip(&plan.key_of) {
            inv.arg(k + 1)
                .arg(slot)
                .arg(ask.period.oldest_counted(slot))
                .arg(ask.period.expires(slot))
                .arg(ask.limit)
                .arg(redis_amount(ask.amount))
                .arg(u8::from(ask.decides))
                .arg(ask.period.bucket_secs().unwrap_or(0));
        }
        let answer = self.invoke(&inv).await?;
        parse_admit(&answer, &plan.slots)
            .ok_or_else(|| Unavailable(format!("unexpected answer from Redis: {answer:?}")))
    }

    /// Asks the store for what the missing calendar counters held, and seeds those still missing.
    async fn rebuild_missing(
        &self,
        rebuild: &Rebuild,
        plan: &Plan<'_>,
        asks: &[Ask<'_>],
        missing: &[usize],
    ) -> Result<(), Unavailable> {
        let mut inv = self.seed.prepare_invoke();
        let mut done: Vec<usize> = Vec::with_capacity(missing.len());
        for &i in missing {
            let (Some(ask), Some(&k), Some(&slot)) = (asks.get(i), plan.key_of.get(i), plan.slots.get(i)) else {
                continue;
            };
            if done.contains(&k) {
                continue;
            }
            done.push(k);
            let amount = tokio::time::timeout(REBUILD_TIMEOUT, rebuild(ask.counter, slot))
                .await
                .map_err(|_| Unavailable(format!("rebuilding counter {} from the store took too long", ask.counter)))?
                .map_err(|e| Unavailable(format!("rebuilding counter {} from the store: {e}", ask.counter)))?;
            tracing::info!(
                counter = ask.counter,
                period_start = slot,
                amount,
                "limits: counter missing in Redis, rebuilt from the store"
            );
            inv.key(&plan.keys[k]).arg(slot).arg(redis_amount(amount)).arg(ask.period.expires(slot));
        }
        if done.is_empty() {
            return Ok(());
        }
        self.invoke(&inv).await.map(|_| ())
    }

    async fn invoke(&self, inv: &ScriptInvocation<'_>) -> Result<Value, Unavailable> {
        let mut conn = self.conn.clone();
        // EVALSHA, and on NOSCRIPT (a restarted or emptied Redis) SCRIPT LOAD and EVALSHA again.
        bounded(inv.invoke_async::<Value>(&mut conn)).await
    }
}

/// The request's distinct counters (Redis keys), and for each ask (or correction) its counter's index and
/// the slot `now` falls in.
struct Plan<'a> {
    keys: Vec<String>,
    counters: Vec<&'a str>,
    key_of: Vec<usize>,
    slots: Vec<i64>,
}

impl<'a> Plan<'a> {
    fn new(redis: &RedisCounters, now: OffsetDateTime, charges: impl Iterator<Item = (&'a str, Period)>) -> Plan<'a> {
        let mut plan = Plan { keys: Vec::new(), counters: Vec::new(), key_of: Vec::new(), slots: Vec::new() };
        for (counter, period) in charges {
            let k = match plan.counters.iter().position(|c| *c == counter) {
                Some(k) => k,
                None => {
                    plan.counters.push(counter);
                    plan.keys.push(redis.key(counter));
                    plan.counters.len() - 1
                }
            };
            plan.key_of.push(k);
            plan.slots.push(period.slot(now));
        }
        plan
    }
}

/// HINCRBY takes signed 64-bit amounts; nothing real comes near the bound.
fn redis_amount(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

async fn bounded<T>(op: impl Future<Output = ::redis::RedisResult<T>>) -> Result<T, Unavailable> {
    match tokio::time::timeout(OP_TIMEOUT, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Unavailable(format!("Redis: {e}"))),
        Err(_) => Err(Unavailable(format!("Redis did not answer within {} ms", OP_TIMEOUT.as_millis()))),
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

fn count(v: &Value) -> Option<u64> {
    int(v).map(|n| u64::try_from(n).unwrap_or(0))
}

fn parse_admit(v: &Value, slots: &[i64]) -> Option<Answer> {
    let Value::Array(parts) = v else { return None };
    match (parts.first().and_then(int)?, parts.get(1)) {
        (1, Some(Value::Array(used))) if used.len() == slots.len() => {
            let held = used
                .iter()
                .zip(slots)
                .map(|(u, slot)| Some(Held { slot: *slot, used: count(u)? }))
                .collect::<Option<_>>()?;
            Some(Answer::Verdict(Verdict::Admitted(held)))
        }
        (0, Some(index)) => {
            let index = usize::try_from(int(index)?).ok()?;
            let used = count(parts.get(2)?)?;
            let retry = int(parts.get(3)?)?;
            let full = Full { used, retry_after: (retry >= 0).then_some(retry) };
            Some(Answer::Verdict(Verdict::Refused { index, full }))
        }
        (2, Some(Value::Array(missing))) => Some(Answer::Missing(
            missing.iter().map(|i| int(i).and_then(|i| usize::try_from(i).ok())).collect::<Option<_>>()?,
        )),
        _ => None,
    }
}

#[async_trait]
impl Counters for RedisCounters {
    async fn admit(&self, now: OffsetDateTime, asks: &[Ask<'_>]) -> Result<Verdict, Unavailable> {
        if asks.is_empty() {
            return Ok(Verdict::Admitted(Vec::new()));
        }
        let plan = Plan::new(self, now, asks.iter().map(|a| (a.counter, a.period)));
        let t = now.unix_timestamp();
        let rebuild = self.rebuild.load_full();
        let missing = match self.run_admit(&plan, t, asks, rebuild.is_some()).await? {
            Answer::Verdict(v) => return Ok(v),
            Answer::Missing(missing) => missing,
        };
        if let Some(rebuild) = rebuild {
            self.rebuild_missing(&rebuild, &plan, asks, &missing).await?;
        }
        // Once rebuilt, a counter missing again (wiped meanwhile) counts from zero rather than looping.
        match self.run_admit(&plan, t, asks, false).await? {
            Answer::Verdict(v) => Ok(v),
            Answer::Missing(_) => Err(Unavailable("Redis reported missing counters it was not asked about".into())),
        }
    }

    async fn settle(&self, now: OffsetDateTime, corrections: &[Correction<'_>]) -> Result<Vec<u64>, Unavailable> {
        if corrections.is_empty() {
            return Ok(Vec::new());
        }
        let plan = Plan::new(self, now, corrections.iter().map(|c| (c.counter, c.period)));
        let mut inv = self.settle.prepare_invoke();
        for k in &plan.keys {
            inv.key(k);
        }
        inv.arg(u8::from(self.rebuild.load().is_some()));
        for ((c, &now_slot), &k) in corrections.iter().zip(&plan.slots).zip(&plan.key_of) {
            inv.arg(k + 1)
                .arg(c.slot)
                .arg(c.period.oldest_counted(now_slot))
                .arg(c.period.expires(c.slot))
                .arg(c.delta)
                .arg(u8::from(c.period.bucket_secs().is_none()));
        }
        let answer = self.invoke(&inv).await?;
        match &answer {
            Value::Array(sums) if sums.len() == corrections.len() => sums.iter().map(count).collect::<Option<_>>(),
            _ => None,
        }
        .ok_or_else(|| Unavailable(format!("unexpected answer from Redis: {answer:?}")))
    }

    async fn usage(&self, now: OffsetDateTime, counters: &[(&str, Period)]) -> Result<Vec<Usage>, Unavailable> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for (counter, _) in counters {
            pipe.cmd("HGETALL").arg(self.key(counter));
        }
        let mut conn = self.conn.clone();
        let hashes: Vec<HashMap<i64, u64>> = bounded(pipe.query_async(&mut conn)).await?;
        Ok(counters
            .iter()
            .zip(hashes)
            .map(|((_, period), slots)| {
                let from = period.oldest_counted(period.slot(now));
                let live = slots.iter().filter(|(s, n)| **s >= from && **n > 0);
                Usage {
                    used: live.clone().fold(0u64, |a, (_, n)| a.saturating_add(*n)),
                    oldest: live.map(|(s, _)| *s).min(),
                }
            })
            .collect())
    }

    fn set_rebuild(&self, rebuild: Rebuild) {
        self.rebuild.store(Some(std::sync::Arc::new(rebuild)));
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests;
