//! The `gatehouse` binary itself, as an operator runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/g.db", dir.path().display());
    let server = common::Gatehouse::start(dir.path(), &db, &[]).await;
    let (exit, log) = server.terminate().await;
    // Ended by its own hand, not by the signal: it finished requests and stored the request log first.
    assert!(exit.success(), "{exit:?}\n{log}");
    assert!(log.contains("shutting down"), "{log}");
}
