//! A budget's spend is money: a graceful restart, a crash after the spend ledger's flush, or a Redis that
//! lost the counter must not give any of it back.
//!
//! Prices are chosen so that each call's reservation equals its real cost: only output tokens are priced,
//! at $1000 per million, and each call asks for `max_tokens: 7` of a model that answers exactly 7 tokens,
//! so each costs exactly $0.007 from admission on. A $0.0525 budget takes 7 calls; an eighth would need
//! $0.056, and is refused.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_mock_upstream::{MockConfig, MockHandle};
use gatehouse_store::Store;
use serde_json::json;

use crate::common::{self, redis_server, Api, Gatehouse};

const PRICES: (f64, f64) = (0.0, 1000.0);
const MAX_TOKENS: u64 = 7;
const CALL_NANOS: i64 = 7_000_000;
const CALLS_IN_BUDGET: usize = 7;

/// A SQLite database with an admin, a priced model and a $0.0525 monthly budget, and the first server on it.
struct World {
    dir: tempfile::TempDir,
    db_url: String,
    admin: String,
    env: Vec<(String, String)>,
    mock: MockHandle,
    store: Arc<dyn Store>,
}

impl World {
    async fn new(env: &[(&str, &str)]) -> (World, Gatehouse) {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}/g.db", dir.path().display());
        let admin = common::bootstrap(&db_url);
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
        let store = gatehouse_store::open(&db_url).await.unwrap();
        let world = World { dir, db_url, admin, env, mock, store };
        let server = world.serve().await;
        let api = world.api(&server);
        api.provider_account("acct", &world.mock.base_url(), "mock-tokens-7", PRICES).await;
        let r = api
            .apply(&json!({"type": "gateway-budget-config", "name": "money", "rules": [
                {"id": "month", "limit_to": 0.0525, "unit": "cost_per_month"}]}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        (world, server)
    }

    async fn serve(&self) -> Gatehouse {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Gatehouse::start(self.dir.path(), &self.db_url, &env).await
    }

    fn api(&self, server: &Gatehouse) -> Api {
        Api::new(&server.base, &self.admin)
    }

    /// The spend the store holds, over every counter and period.
    async fn stored(&self) -> i64 {
        self.store.spend_since(i64::MIN).await.unwrap().iter().map(|d| d.amount).sum()
    }

    /// Waits (bounded) until the store holds `calls` calls' spend: the ledger flushes every 200 ms.
    async fn until_stored(&self, calls: usize) {
        let want = CALL_NANOS * calls as i64;
        common::eventually(Duration::from_secs(15), &format!("{want} nano-dollars in the store"), || async {
            (self.stored().await == want).then_some(())
        })
        .await;
    }
}

async fn spend(api: &Api, calls: usize) {
    for _ in 0..calls {
        let r = api.chat("acct/m", MAX_TOKENS).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.header("x-gatehouse-applied-controls"), "budget:money/month");
    }
}

async fn refused(api: &Api) {
    let r = api.chat("acct/m", MAX_TOKENS).await;
    assert_eq!((r.status, r.code()), (429, "budget_exceeded"), "{:?}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("money/month"), "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_keeps_the_spend_of_in_process_budgets() {
    let (world, server) = World::new(&[]).await;
    spend(&world.api(&server), 3).await;
    // Straight after the last answer: stopping stores whatever the ledger still holds.
    let (exit, log) = server.terminate().await;
    assert!(exit.success(), "{exit:?}\n{log}");
    assert_eq!(world.stored().await, 3 * CALL_NANOS);
    let server = world.serve().await;
    let api = world.api(&server);
    spend(&api, CALLS_IN_BUDGET - 3).await;
    refused(&api).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_flush_keeps_the_spend_of_in_process_budgets() {
    let (world, server) = World::new(&[]).await;
    spend(&world.api(&server), 3).await;
    world.until_stored(3).await;
    let log = server.kill();
    assert!(!log.contains("shutting down"), "killed, not stopped: {log}");
    let server = world.serve().await;
    let api = world.api(&server);
    spend(&api, CALLS_IN_BUDGET - 3).await;
    refused(&api).await;
    // Seven calls in all, each stored once: nothing was counted twice across the crash either.
    world.until_stored(CALLS_IN_BUDGET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_in_redis_are_rebuilt_from_the_store_after_a_restart_and_after_losing_their_key() {
    let Some(redis_url) = redis_server::shared("budgets_in_redis_are_rebuilt") else { return };
    let own = redis_server::OwnPrefix::new(&redis_url);
    let prefix = own.prefix.clone();
    let (world, server) =
        World::new(&[("GATEHOUSE_REDIS_URL", redis_url.as_str()), ("GATEHOUSE_REDIS_PREFIX", prefix.as_str())]).await;
    spend(&world.api(&server), 3).await;
    assert_eq!(redis_server::keys(&redis_url, &prefix).await.len(), 1, "the budget is counted in Redis");
    let (exit, log) = server.terminate().await;
    assert!(exit.success(), "{exit:?}\n{log}");
    assert_eq!(world.stored().await, 3 * CALL_NANOS);
    // Redis loses this deployment's keys (a flush, a failover to an empty replica) while the gateway is down.
    assert_eq!(redis_server::forget(&redis_url, &prefix).await, 1);
    let server = world.serve().await;
    let api = world.api(&server);
    spend(&api, 2).await;
    // And again while it runs, once the ledger has stored the last calls.
    world.until_stored(5).await;
    assert_eq!(redis_server::forget(&redis_url, &prefix).await, 1);
    spend(&api, CALLS_IN_BUDGET - 5).await;
    refused(&api).await;
    let rebuilt = server.log().matches("counter missing in Redis, rebuilt from the store").count();
    assert_eq!(rebuilt, 2, "{}", server.log());
}
