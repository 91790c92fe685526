//! MCP sessions shared by replicas: written by one store, read, updated, expired and deleted through
//! another on the same database; only the id's hash is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_store::{McpSessionRecord, SqlStore, Store};

use crate::{at, backends};

fn record(hash: &str) -> McpSessionRecord {
    McpSessionRecord {
        id_hash: hash.to_owned(),
        server: "github".into(),
        owner_subject: "user:alice@example.com".into(),
        owner_identity: Some("u-1".into()),
        protocol: None,
        upstreams: BTreeMap::new(),
        created_at: at(1),
        last_used: at(1),
    }
}

#[tokio::test]
async fn mcp_sessions_are_shared_updated_and_expired() {
    for b in backends().await {
        let other = Arc::new(SqlStore::connect(&b.url).await.unwrap());
        let mut s = record("a1");
        b.store().put_mcp_session(&s).await.unwrap();
        assert_eq!(other.mcp_session("a1").await.unwrap().as_ref(), Some(&s), "{}", b.label);
        assert_eq!(other.mcp_session("zz").await.unwrap(), None, "{}", b.label);

        // Replaced whole, bar who owns it and where.
        s.protocol = Some("2025-06-18".into());
        s.upstreams.insert("github".into(), Some("up-1".into()));
        s.upstreams.insert("jira".into(), None);
        s.last_used = at(2);
        let mut hijack = s.clone();
        hijack.owner_subject = "user:mallory@example.com".into();
        hijack.server = "jira".into();
        other.put_mcp_session(&hijack).await.unwrap();
        assert_eq!(b.store().mcp_session("a1").await.unwrap().as_ref(), Some(&s), "{}", b.label);

        // Touch only moves forward.
        b.store().touch_mcp_session("a1", at(5)).await.unwrap();
        b.store().touch_mcp_session("a1", at(3)).await.unwrap();
        assert_eq!(other.mcp_session("a1").await.unwrap().unwrap().last_used, at(5), "{}", b.label);

        // Expiry takes the idle ones only.
        b.store().put_mcp_session(&record("b2")).await.unwrap();
        assert_eq!(other.expire_mcp_sessions(at(4)).await.unwrap(), 1, "{}", b.label);
        assert_eq!(b.store().mcp_session("b2").await.unwrap(), None, "{}", b.label);
        assert!(b.store().mcp_session("a1").await.unwrap().is_some(), "{}", b.label);

        assert!(other.delete_mcp_session("a1").await.unwrap(), "{}", b.label);
        assert!(!b.store().delete_mcp_session("a1").await.unwrap(), "{}", b.label);
        assert_eq!(b.store().mcp_session("a1").await.unwrap(), None, "{}", b.label);
        assert_eq!(b.scalar("SELECT COUNT(*) FROM mcp_sessions").await, 0, "{}", b.label);
        other.close().await;
        b.finish().await;
    }
}
