//! Lists that scale: keyset pages (`limit`, `cursor`), search (`q`), filters and sort on users, teams and
//! virtual accounts, each limited to what the caller may read.

use serde_json::{json, Value};

use crate::common::TestServer;

/// Every page of `path` (which already has a `?`), following `next_cursor`; the emails or names in order.
async fn all_pages(s: &TestServer, token: &str, path: &str, key: &str) -> (Vec<String>, usize) {
    let mut seen = vec![];
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let r = s.get(&url, token).await;
        assert_eq!(r.status, 200, "{url}: {:?}", r.body);
        pages += 1;
        seen.extend(r.body["items"].as_array().unwrap().iter().map(|u| u[key].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (seen, pages),
        }
        assert!(pages < 100, "paging does not end");
    }
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v:?}"))
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect()
}

async fn users(s: &TestServer, n: usize, prefix: &str) {
    for i in 0..n {
        let r = s
            .post(
                "/api/v1/users",
                &s.admin,
                json!({"email": format!("{prefix}{i:02}@example.com"), "display_name": format!("Person {}", n - i), "role": "member"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

#[tokio::test]
async fn without_limit_or_cursor_the_list_is_the_whole_array_as_before() {
    let s = TestServer::start().await;
    users(&s, 3, "u").await;
    let all = s.get("/api/v1/users", &s.admin).await;
    assert_eq!(
        names(&all.body, "email"),
        ["admin@example.com", "u00@example.com", "u01@example.com", "u02@example.com"]
    );
    assert!(all.body[0]["etag"].is_string(), "items keep their version");
    // Filters and sort apply to the array too.
    let desc = s.get("/api/v1/users?sort=-email&q=U0", &s.admin).await;
    assert_eq!(names(&desc.body, "email"), ["u02@example.com", "u01@example.com", "u00@example.com"]);
}

#[tokio::test]
async fn paging_visits_every_user_exactly_once_in_every_sort() {
    let s = TestServer::start().await;
    users(&s, 23, "p").await;
    let everyone = names(&s.get("/api/v1/users", &s.admin).await.body, "email");
    assert_eq!(everyone.len(), 24);
    for sort in ["email", "-email", "display_name", "-display_name", "role", "-role"] {
        let (seen, pages) = all_pages(&s, &s.admin, &format!("/api/v1/users?limit=5&sort={sort}"), "email").await;
        assert_eq!(pages, 5, "{sort}: 24 users in pages of 5");
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 24, "{sort}: every user exactly once: {seen:?}");
        let whole = names(&s.get(&format!("/api/v1/users?sort={sort}"), &s.admin).await.body, "email");
        assert_eq!(seen, whole, "{sort}: pages follow the list's order");
    }
    // display_name sorts by the name, not the email: "Person 1" is p22, the last email.
    let first = s.get("/api/v1/users?limit=1&sort=display_name&q=person", &s.admin).await;
    assert_eq!(names(&first.body["items"], "email"), ["p22@example.com"]);
    let last = s.get("/api/v1/users?limit=500", &s.admin).await;
    assert_eq!(last.body["next_cursor"], Value::Null, "one page holds them all");
}

#[tokio::test]
async fn a_cursor_stays_put_when_users_are_added_and_removed_between_pages() {
    let s = TestServer::start().await;
    users(&s, 10, "c").await;
    let first = s.get("/api/v1/users?limit=4", &s.admin).await.body;
    assert_eq!(
        names(&first["items"], "email"),
        ["admin@example.com", "c00@example.com", "c01@example.com", "c02@example.com"]
    );
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // Before the cursor (an offset would now repeat c02) and after it (the next page must show it).
    for e in ["a0@example.com", "a1@example.com", "c03a@example.com"] {
        assert_eq!(s.post("/api/v1/users", &s.admin, json!({"email": e, "role": "member"})).await.status, 201);
    }
    assert_eq!(s.delete("/api/v1/users/c00@example.com", &s.admin).await.status, 204);
    let next = s.get(&format!("/api/v1/users?limit=4&cursor={cursor}"), &s.admin).await.body;
    assert_eq!(
        names(&next["items"], "email"),
        ["c03@example.com", "c03a@example.com", "c04@example.com", "c05@example.com"]
    );
    // Deleting the very item the cursor names changes nothing either.
    assert_eq!(s.delete("/api/v1/users/c02@example.com", &s.admin).await.status, 204);
    let again = s.get(&format!("/api/v1/users?limit=4&cursor={cursor}"), &s.admin).await.body;
    assert_eq!(again["items"], next["items"]);
}

#[tokio::test]
async fn users_filter_by_text_role_status_and_team() {
    let s = TestServer::start().await;
    for (e, name, role) in [
        ("ada@example.com", "Ada Lovelace", "member"),
        ("grace@example.com", "Grace HOPPER", "admin"),
        ("linus@example.com", "Linus", "member"),
    ] {
        let r = s.post("/api/v1/users", &s.admin, json!({"email": e, "display_name": name, "role": role})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let r = s
        .put(
            "/api/v1/users/linus@example.com",
            &s.admin,
            json!({"email": "linus@example.com", "role": "member", "active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    s.team("ml", &[], &["ada@example.com", "linus@example.com"]).await;
    let q = |p: &'static str| {
        let s = &s;
        async move { names(&s.get(&format!("/api/v1/users?{p}"), &s.admin).await.body, "email") }
    };
    assert_eq!(q("q=hopper").await, ["grace@example.com"], "display name, any case");
    assert_eq!(q("q=LOVE").await, ["ada@example.com"]);
    assert_eq!(q("q=ADA%40EX").await, ["ada@example.com"], "email, any case");
    assert_eq!(q("role=admin").await, ["admin@example.com", "grace@example.com"]);
    assert_eq!(q("status=deactivated").await, ["linus@example.com"]);
    assert_eq!(q("status=active&role=member").await, ["ada@example.com"]);
    assert_eq!(q("team=ml").await, ["ada@example.com", "linus@example.com"]);
    assert_eq!(q("team=ml&status=active").await, ["ada@example.com"]);
    assert!(q("team=nowhere").await.is_empty());
    let page = s.get("/api/v1/users?team=ml&limit=1", &s.admin).await.body;
    assert_eq!(names(&page["items"], "email"), ["ada@example.com"]);
    assert!(page["next_cursor"].is_string());
}

#[tokio::test]
async fn bad_limit_cursor_sort_and_filters_are_400s_naming_the_parameter() {
    let s = TestServer::start().await;
    for (path, param) in [
        ("/api/v1/users?limit=0", "limit"),
        ("/api/v1/users?limit=501", "limit"),
        ("/api/v1/users?limit=ten", "limit"),
        ("/api/v1/users?cursor=nonsense", "cursor"),
        ("/api/v1/users?cursor=7b7d", "cursor"),
        ("/api/v1/users?sort=password", "sort"),
        ("/api/v1/users?status=asleep", "status"),
        ("/api/v1/teams?limit=-1", "limit"),
        ("/api/v1/teams?cursor=zz", "cursor"),
        ("/api/v1/teams?sort=owner_team", "sort"),
        ("/api/v1/virtual-accounts?limit=1000", "limit"),
        ("/api/v1/virtual-accounts?cursor=00", "cursor"),
        ("/api/v1/virtual-accounts?sort=-members", "sort"),
    ] {
        let r = s.get(path, &s.admin).await;
        assert_eq!(r.status, 400, "{path}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{path}: {:?}", r.body);
    }
    // A cursor made under one sort means nothing under another.
    users(&s, 3, "b").await;
    let c = s.get("/api/v1/users?limit=1&sort=email", &s.admin).await.body["next_cursor"].as_str().unwrap().to_owned();
    let r = s.get(&format!("/api/v1/users?limit=1&sort=-email&cursor={c}"), &s.admin).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "cursor");
    // An unknown parameter is named, not ignored.
    let r = s.get("/api/v1/users?serch=x", &s.admin).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("serch"), "{:?}", r.body);
}

#[tokio::test]
async fn a_members_pages_show_only_what_they_may_see() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let alice = s.user("alice@example.com", "member").await;
    s.set_role_permissions(
        "team-manager",
        &["team:read", "team:manage", "virtual-account:read", "virtual-account:create"],
    )
    .await;
    users(&s, 6, "m").await;
    for i in 0..5 {
        let managers: &[&str] = if i % 2 == 0 { &["alice@example.com"] } else { &[] };
        s.team(&format!("t{i}"), managers, &[]).await;
        for j in 0..3 {
            let r = s
                .post(
                    "/api/v1/virtual-accounts",
                    &s.admin,
                    json!({"name": format!("va-{i}-{j}"), "owner_team": format!("t{i}")}),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
        }
    }
    // Without user:list alice sees herself only, paged or not, whatever she searches.
    let (mine, _) = all_pages(&s, &alice, "/api/v1/users?limit=1", "email").await;
    assert_eq!(mine, ["alice@example.com"]);
    assert!(names(&s.get("/api/v1/users?q=m0", &alice).await.body, "email").is_empty());
    // She manages t0, t2 and t4, and reads their virtual accounts only.
    let (teams, pages) = all_pages(&s, &alice, "/api/v1/teams?limit=1", "name").await;
    assert_eq!(teams, ["t0", "t2", "t4"]);
    assert_eq!(pages, 3);
    let (vas, _) = all_pages(&s, &alice, "/api/v1/virtual-accounts?limit=2&sort=-name", "name").await;
    assert_eq!(vas, ["va-4-2", "va-4-1", "va-4-0", "va-2-2", "va-2-1", "va-2-0", "va-0-2", "va-0-1", "va-0-0"]);
    let filtered = s.get("/api/v1/virtual-accounts?team=t1", &alice).await.body;
    assert!(names(&filtered, "name").is_empty(), "a team she cannot read shows nothing: {filtered:?}");
    // The admin reads everything.
    let (all, _) = all_pages(&s, &s.admin, "/api/v1/virtual-accounts?limit=4", "name").await;
    assert_eq!(all.len(), 15);
}

#[tokio::test]
async fn teams_and_virtual_accounts_search_filter_and_sort() {
    let s = TestServer::start().await;
    users(&s, 3, "t").await;
    s.team("zeta", &[], &["t00@example.com", "t01@example.com", "t02@example.com"]).await;
    s.team("alpha", &[], &["t00@example.com"]).await;
    let r = s.post("/api/v1/teams", &s.admin, json!({"name": "mid", "description": "Machine Learning", "members": ["t01@example.com", "t02@example.com"]})).await;
    assert_eq!(r.status, 201);
    let get = |p: &'static str| {
        let s = &s;
        async move { s.get(p, &s.admin).await.body }
    };
    assert_eq!(names(&get("/api/v1/teams").await, "name"), ["alpha", "mid", "zeta"]);
    assert_eq!(names(&get("/api/v1/teams?sort=-members").await, "name"), ["zeta", "mid", "alpha"]);
    assert_eq!(names(&get("/api/v1/teams?q=learn").await, "name"), ["mid"], "the description counts");
    let (by_size, _) = all_pages(&s, &s.admin, "/api/v1/teams?limit=1&sort=members", "name").await;
    assert_eq!(by_size, ["alpha", "mid", "zeta"]);

    for (name, team, expires) in [
        ("web-app", "zeta", Some("2030-01-01T00:00:00Z")),
        ("batch", "alpha", None),
        ("ml-job", "mid", Some("2029-01-01T00:00:00Z")),
        ("ml-serve", "zeta", None),
    ] {
        let r = s
            .post(
                "/api/v1/virtual-accounts",
                &s.admin,
                json!({"name": name, "owner_team": team, "expires_at": expires, "description": format!("for {team}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    assert_eq!(names(&get("/api/v1/virtual-accounts?team=zeta").await, "name"), ["ml-serve", "web-app"]);
    assert_eq!(names(&get("/api/v1/virtual-accounts?q=ML-").await, "name"), ["ml-job", "ml-serve"]);
    assert_eq!(names(&get("/api/v1/virtual-accounts?q=for%20alpha").await, "name"), ["batch"]);
    assert_eq!(
        names(&get("/api/v1/virtual-accounts?sort=expires_at").await, "name"),
        ["ml-job", "web-app", "batch", "ml-serve"],
        "soonest first, never-expiring last"
    );
    assert_eq!(
        names(&get("/api/v1/virtual-accounts?sort=-owner_team").await, "name"),
        ["web-app", "ml-serve", "ml-job", "batch"],
        "descending reverses the whole order, ties included"
    );
    let (paged, _) = all_pages(&s, &s.admin, "/api/v1/virtual-accounts?limit=3&sort=expires_at", "name").await;
    assert_eq!(paged, ["ml-job", "web-app", "batch", "ml-serve"]);
}

#[tokio::test]
async fn the_openapi_document_describes_the_list_parameters_and_both_shapes() {
    let s = TestServer::start().await;
    let doc = s.get("/openapi.json", &s.admin).await.body;
    for (path, params) in [
        ("/api/v1/users", &["limit", "cursor", "q", "role", "status", "team", "sort"][..]),
        ("/api/v1/teams", &["limit", "cursor", "q", "sort"][..]),
        ("/api/v1/virtual-accounts", &["limit", "cursor", "q", "team", "sort"][..]),
        ("/api/v1/provider-accounts", &["limit", "cursor", "q", "sort"][..]),
        ("/api/v1/agents", &["limit", "cursor", "q", "sort"][..]),
    ] {
        let op = &doc["paths"][path]["get"];
        let got: Vec<&str> = op["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(got, params, "{path}");
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let name = schema["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let shapes = doc["components"]["schemas"][name]["oneOf"].as_array().unwrap();
        assert_eq!(shapes.len(), 2, "{path}: the array or a page: {shapes:?}");
        assert_eq!(shapes[0]["type"], "array", "{path}");
        let page = shapes[1]["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let props = &doc["components"]["schemas"][page]["properties"];
        assert!(props["items"].is_object() && props["next_cursor"].is_object(), "{path}: {props:?}");
    }
}

#[tokio::test]
async fn provider_accounts_page_and_search_by_name_and_a_member_sees_only_their_grants() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let alice = s.user("alice@example.com", "member").await;
    for i in 0..7 {
        let collaborators = if i % 3 == 0 {
            json!([{"subject": "user:alice@example.com", "role": "provider-account-user"}])
        } else {
            json!([])
        };
        let r = s
            .post(
                "/api/v1/provider-accounts",
                &s.admin,
                crate::common::resources::openai_account(&format!("acct-{i}"), collaborators),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let whole = s.get("/api/v1/provider-accounts", &s.admin).await.body;
    assert_eq!(whole.as_array().unwrap().len(), 7, "still the array without limit or cursor");
    let (all, pages) = all_pages(&s, &s.admin, "/api/v1/provider-accounts?limit=3&sort=-name", "name").await;
    assert_eq!(all, ["acct-6", "acct-5", "acct-4", "acct-3", "acct-2", "acct-1", "acct-0"]);
    assert_eq!(pages, 3);
    assert_eq!(names(&s.get("/api/v1/provider-accounts?q=CT-5", &s.admin).await.body, "name"), ["acct-5"]);
    let (hers, _) = all_pages(&s, &alice, "/api/v1/provider-accounts?limit=1", "name").await;
    assert_eq!(hers, ["acct-0", "acct-3", "acct-6"]);
    let r = s.get("/api/v1/mcp-servers?cursor=x", &s.admin).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("cursor")));
    let r = s.get("/api/v1/agents?sort=owner", &s.admin).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("sort")));
    let doc = s.get("/openapi.json", &s.admin).await.body;
    let params = doc["paths"]["/api/v1/provider-accounts"]["get"]["parameters"].to_string();
    assert!(params.contains("\"cursor\"") && params.contains("\"limit\""), "{params}");
}
