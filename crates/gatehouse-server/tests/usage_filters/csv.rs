//! The request log as CSV: the filtered rows, quoted as RFC 4180 has it, with formulas defused.

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};

use super::{flushed, logged, world};
use crate::common::TestServer;

/// Splits CSV text into records of cells, honouring quotes (a test's own reader, independent of the writer).
fn parse(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(cell.is_empty() && record.is_empty(), "the last record is not CRLF-terminated");
    records
}

async fn csv(s: &TestServer, token: &str, q: &str) -> (reqwest::header::HeaderMap, Vec<Vec<String>>) {
    let r = s.get(&format!("/api/v1/request-logs.csv?{q}"), token).await;
    assert_eq!(r.status, 200, "{q}: {:?}", r.body);
    let text = r.body.as_str().unwrap_or_else(|| panic!("not text: {:?}", r.body)).to_owned();
    (r.headers, parse(&text))
}

#[tokio::test]
async fn the_csv_export_holds_the_filtered_log_quoted_and_with_formulas_defused() {
    let s = TestServer::start().await;
    let (bob, _) = world(&s).await;
    let mut hostile = logged(&s, "user:bob@example.com", "oa/gpt", "=HYPERLINK(\"http://x\",\"y\")");
    hostile.refused_by = Some("limits/per, user".into());
    hostile.token_id = "@evil".into();
    hostile.status = 429;
    s.app.log_request(hostile);
    flushed(&s, 6).await;

    let (headers, rows) = csv(&s, &s.admin, "").await;
    assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"), "{headers:?}");
    assert!(headers[CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"), "{headers:?}");
    assert!(headers.get("x-gatehouse-next-before-id").is_none());
    let header = &rows[0];
    assert_eq!(header[..4], ["id", "at", "subject", "virtual_account"]);
    assert_eq!(rows.len(), 7, "a header and six rows: {rows:?}");
    assert!(rows.iter().all(|r| r.len() == header.len()), "{rows:?}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // Newest first; a formula is shown as text, a comma or quote stays inside its cell.
    let first = &rows[1];
    assert_eq!(first[col("request_id")], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(first[col("token_id")], "'@evil");
    assert_eq!(first[col("refused_by")], "limits/per, user");
    assert_eq!(first[col("status")], "429");
    assert_eq!(first[col("subject")], "user:bob@example.com");
    assert_eq!(first[col("input_tokens")], "10");
    assert_eq!(rows[2][col("virtual_account")], "web-app");

    // The filters of the request log.
    let (_, rows) = csv(&s, &s.admin, "team=ml&model=oa/gpt").await;
    let mut subjects: Vec<&str> = rows[1..].iter().map(|r| r[col("subject")].as_str()).collect();
    subjects.sort();
    assert_eq!(subjects, ["user:alice@example.com", "user:bob@example.com", "user:bob@example.com"]);
    // What a member may read, and no more.
    let (_, rows) = csv(&s, &bob, "").await;
    assert_eq!(rows.len(), 3);
    assert!(rows[1..].iter().all(|r| r[col("subject")] == "user:bob@example.com"));

    // A limit cuts the export and says where the rest start.
    let (headers, rows) = csv(&s, &s.admin, "limit=2").await;
    assert_eq!(rows.len(), 3);
    let next = headers["x-gatehouse-next-before-id"].to_str().unwrap().to_owned();
    assert_eq!(next, rows[2][col("id")]);
    let (_, rest) = csv(&s, &s.admin, &format!("before_id={next}")).await;
    assert_eq!(rest.len(), 5);
    for q in ["limit=0", "limit=50001", "since=yesterday", "format=xlsx"] {
        assert_eq!(s.get(&format!("/api/v1/request-logs.csv?{q}"), &s.admin).await.status, 400, "{q}");
    }
    // Like every route, not without a credential.
    assert_eq!(s.raw(reqwest::Method::GET, "/api/v1/request-logs.csv", None, None).await.status, 401);
}
