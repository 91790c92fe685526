//! Usage reports cost each request at the price in force when it ran (stored with it), so a later price
//! change leaves requests already logged alone; only rows logged before costs were stored are priced now.

use gatehouse_store::RequestLog;
use serde_json::{json, Value};

use super::gateway_request;
use crate::common::TestServer;

fn account(pricing: Option<(f64, f64)>) -> Value {
    let mut gpt = json!({"name": "gpt", "model_id": "gpt-4o", "types": ["chat"]});
    if let Some((input, output)) = pricing {
        gpt["pricing"] = json!({"input_per_million_tokens": input, "output_per_million_tokens": output});
    }
    json!({"type": "openai", "name": "oa", "models": [gpt]})
}

/// (subject, model, cost_usd) of each /usage row.
async fn usage_costs(s: &TestServer) -> Vec<(String, String, Value)> {
    let r = s.get("/api/v1/usage", &s.admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (u["subject"].as_str().unwrap().to_owned(), u["model"].as_str().unwrap().to_owned(), u["cost_usd"].clone())
        })
        .collect()
}

/// (key, cost_usd) of each point of the hourly series per model.
async fn series_costs(s: &TestServer) -> Vec<(String, Value)> {
    let r = s.get("/api/v1/usage/series", &s.admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap().to_owned(), p["cost_usd"].clone()))
        .collect()
}

fn rows(list: &[(&str, &str, Value)]) -> Vec<(String, String, Value)> {
    list.iter().map(|(s, m, c)| ((*s).to_owned(), (*m).to_owned(), c.clone())).collect()
}

#[tokio::test]
async fn a_price_change_leaves_the_cost_of_logged_requests_alone() {
    let s = TestServer::start().await;
    let r = s.post("/api/v1/provider-accounts", &s.admin, account(Some((2.5, 10.0)))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let costed = |subject: &str, model: &str, tokens: (i64, i64), cost: f64| RequestLog {
        cost_usd: Some(cost),
        ..gateway_request(&s, subject, model, 200, Some(tokens))
    };
    let logs = [
        // Costed when it ran, at 2.5 per million input tokens.
        costed("user:alice@example.com", "oa/gpt", (1_000_000, 0), 2.5),
        // Logged before costs were stored: priced at the model's current pricing.
        gateway_request(&s, "user:alice@example.com", "oa/gpt", 200, Some((1_000_000, 100_000))),
        gateway_request(&s, "user:bob@example.com", "oa/gpt", 200, Some((2_000_000, 0))),
        // A model without pricing now, whose request was costed when it ran.
        costed("user:bob@example.com", "an/claude", (10, 10), 0.75),
    ];
    // Written as the gateway's writer would, with the costs given.
    s.app.store.append_request_logs(&logs).await.unwrap();

    let at_first = rows(&[
        ("user:alice@example.com", "oa/gpt", json!(2.5 + 3.5)),
        ("user:bob@example.com", "an/claude", json!(0.75)),
        ("user:bob@example.com", "oa/gpt", json!(5.0)),
    ]);
    assert_eq!(usage_costs(&s).await, at_first);
    assert_eq!(series_costs(&s).await, [("an/claude".to_owned(), json!(0.75)), ("oa/gpt".to_owned(), json!(11.0))]);

    // Prices double: the costed request stays at 2.5; the uncosted ones follow the new price.
    let r = s.put("/api/v1/provider-accounts/oa", &s.admin, account(Some((5.0, 20.0)))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        usage_costs(&s).await,
        rows(&[
            ("user:alice@example.com", "oa/gpt", json!(2.5 + 7.0)),
            ("user:bob@example.com", "an/claude", json!(0.75)),
            ("user:bob@example.com", "oa/gpt", json!(10.0)),
        ])
    );
    assert_eq!(series_costs(&s).await, [("an/claude".to_owned(), json!(0.75)), ("oa/gpt".to_owned(), json!(19.5))]);

    // Pricing removed: what was costed keeps its cost; a group with nothing priced has none.
    let r = s.put("/api/v1/provider-accounts/oa", &s.admin, account(None)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        usage_costs(&s).await,
        rows(&[
            ("user:alice@example.com", "oa/gpt", json!(2.5)),
            ("user:bob@example.com", "an/claude", json!(0.75)),
            ("user:bob@example.com", "oa/gpt", json!(null)),
        ])
    );
    assert_eq!(series_costs(&s).await, [("an/claude".to_owned(), json!(0.75)), ("oa/gpt".to_owned(), json!(2.5))]);
}
