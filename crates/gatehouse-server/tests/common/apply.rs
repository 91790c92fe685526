//! Applying a manifest as the admin.

use reqwest::Method;

use super::TestServer;

pub async fn apply(s: &TestServer, body: &str, dry_run: bool) -> super::Resp {
    s.raw(Method::PUT, &format!("/api/v1/apply?dry_run={dry_run}"), Some(&s.admin), Some(body.as_bytes().to_vec()))
        .await
}
