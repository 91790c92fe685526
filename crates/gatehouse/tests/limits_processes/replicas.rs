//! Two `gatehouse serve` processes on one Postgres database and one Redis: a limit of N admits N in total,
//! not N per process.

use gatehouse_mock_upstream::MockConfig;
use gatehouse_store::testing;
use serde_json::json;
use tokio::task::JoinSet;

use crate::common::{self, redis_server, Api, Gatehouse};

const LIMIT: usize = 25;
const REQUESTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_sharing_redis_admit_the_limit_once_in_total() {
    let Some(redis_url) = redis_server::shared("two_servers_sharing_redis") else { return };
    let Some(pg) = std::env::var(testing::POSTGRES_ENV).ok().filter(|u| !u.is_empty()) else {
        println!("skipping two_servers_sharing_redis: {} is not set", testing::POSTGRES_ENV);
        return;
    };
    let db = testing::postgres(&pg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let admin = common::bootstrap(&db.url);
    // Its own key prefix on the shared Redis: parallel and repeated runs never count against each other.
    let own = redis_server::OwnPrefix::new(&redis_url);
    let prefix = own.prefix.clone();
    let env = [("GATEHOUSE_REDIS_URL", redis_url.as_str()), ("GATEHOUSE_REDIS_PREFIX", prefix.as_str())];
    let one = Gatehouse::start(dir.path(), &db.url, &env).await;
    let two = Gatehouse::start(dir.path(), &db.url, &env).await;
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let (a, b) = (Api::new(&one.base, &admin), Api::new(&two.base, &admin));
    // Slow enough that the admitted requests are all in flight together, on both servers.
    a.provider_account("acct", &mock.base_url(), "mock-slow-700ms-tokens-7", (1.0, 2.0)).await;
    let r = a
        .apply(&json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
            {"id": "all", "limit_to": LIMIT, "unit": "requests_per_minute"}]}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The second server learns of the account and the limit from the shared database.
    common::eventually(std::time::Duration::from_secs(20), "the second server to load the limit", || async {
        let control = b.get("/api/v1/gateway-controls/rl").await.status == 200;
        let models = b.get("/v1/models").await.body.to_string();
        (control && models.contains("acct/m")).then_some(())
    })
    .await;

    let http = reqwest::Client::builder().pool_max_idle_per_host(REQUESTS).build().unwrap();
    let mut calls = JoinSet::new();
    for i in 0..REQUESTS {
        let server = i % 2;
        let base = [&one.base, &two.base][server];
        let req =
            http.post(format!("{base}/v1/chat/completions")).bearer_auth(&admin).json(&common::chat_body("acct/m", 10));
        calls.spawn(async move { (server, common::send(req).await) });
    }
    let answers = calls.join_all().await;
    let ok: Vec<usize> = answers.iter().filter(|(_, r)| r.status == 200).map(|(s, _)| *s).collect();
    let limited = answers.iter().filter(|(_, r)| r.status == 429 && r.code() == "rate_limit_exceeded").count();
    let others: Vec<_> = answers.iter().filter(|(_, r)| ![200, 429].contains(&r.status)).collect();
    assert!(others.is_empty(), "{others:?}");
    let by_server = [ok.iter().filter(|s| **s == 0).count(), ok.iter().filter(|s| **s == 1).count()];
    println!("admitted by server one and two: {by_server:?}");
    assert_eq!((ok.len(), limited), (LIMIT, REQUESTS - LIMIT), "admitted per server: {by_server:?}");
    let refusal = &answers.iter().find(|(_, r)| r.status == 429).unwrap().1;
    assert!(refusal.body["error"]["message"].as_str().unwrap().contains("rl/all"), "{:?}", refusal.body);
    assert_eq!(refusal.header("x-ratelimit-limit-requests"), "25");
    assert_eq!(refusal.header("x-ratelimit-remaining-requests"), "0");
    // Both processes counted in Redis, under this run's prefix.
    let keys = redis_server::keys(&redis_url, &prefix).await;
    assert_eq!(keys.len(), 1, "one shared counter: {keys:?}");
    assert!(one.log().contains("counters are kept in Redis") && two.log().contains("counters are kept in Redis"));
}
