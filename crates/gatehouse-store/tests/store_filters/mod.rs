//! The filters the usage pages use: the audit log by part of the actor, object or action (ignoring case,
//! with `%`, `_` and `!` matching only themselves), and the request log by request id, on both databases.

use gatehouse_store::{AuditFilter, AuditRecord, RequestLog, RequestLogFilter};

use crate::{all_events, all_requests, backends, events, numbers, record, request, requests};

#[tokio::test]
async fn audit_events_filter_by_part_of_a_name_or_action_ignoring_case() {
    for b in backends().await {
        let all = [
            record(0, "user:Alice@example.com", "team.create", "team", "ml-platform"),
            record(1, "user:bob@example.com", "team.delete", "team", "web"),
            record(2, "user:alice@example.com", "user.update", "user", "100%_real!@example.com"),
            record(3, "system", "role.create", "role", "mlxplatform"),
        ];
        b.store().commit(&[], &all).await.unwrap();
        let actions = |f: AuditFilter| {
            let b = &b;
            async move {
                let mut v: Vec<String> = events(b, f).await.into_iter().map(|e| e.record.action).collect();
                v.sort();
                v
            }
        };
        let part = |actor: Option<&str>, object: Option<&str>, action: Option<&str>| AuditFilter {
            actor_contains: actor.map(str::to_owned),
            object_contains: object.map(str::to_owned),
            action_contains: action.map(str::to_owned),
            ..all_events()
        };
        assert_eq!(actions(part(Some("ALICE"), None, None)).await, ["team.create", "user.update"], "{}", b.label);
        assert_eq!(actions(part(None, Some("Platform"), None)).await, ["role.create", "team.create"], "{}", b.label);
        // The object is `<kind>:<name>`.
        assert_eq!(actions(part(None, Some("team:ml"), None)).await, ["team.create"], "{}", b.label);
        assert_eq!(actions(part(None, None, Some("TEAM."))).await, ["team.create", "team.delete"], "{}", b.label);
        assert_eq!(actions(part(Some("alice"), None, Some("create"))).await, ["team.create"], "{}", b.label);
        // Wildcards and the escape character are plain text.
        assert_eq!(actions(part(None, Some("ml_platform"), None)).await, Vec::<String>::new(), "{}", b.label);
        assert_eq!(actions(part(None, Some("100%_real!"), None)).await, ["user.update"], "{}", b.label);
        assert_eq!(actions(part(None, Some("%"), None)).await, ["user.update"], "{}", b.label);
        assert_eq!(actions(part(None, None, Some("%"))).await, Vec::<String>::new(), "{}", b.label);
        assert_eq!(actions(part(None, Some("!"), None)).await, ["user.update"], "{}", b.label);
        // Beside the exact filters, and paged like them.
        let exact_and_part =
            AuditFilter { actor: Some("user:alice@example.com".into()), ..part(None, None, Some("update")) };
        assert_eq!(actions(exact_and_part).await, ["user.update"], "{}", b.label);
        let page = events(&b, AuditFilter { limit: 1, ..part(Some("alice"), None, None) }).await;
        let rest = events(&b, AuditFilter { before_id: Some(page[0].id), ..part(Some("alice"), None, None) }).await;
        let seen: Vec<AuditRecord> = page.into_iter().chain(rest).map(|e| e.record).collect();
        assert_eq!(seen, [all[2].clone(), all[0].clone()], "{}", b.label);
        b.finish().await;
    }
}

#[tokio::test]
async fn request_logs_filter_by_request_id() {
    for b in backends().await {
        let attempt = RequestLog {
            route: "chat:attempt".into(),
            token_id: "tok2-attempt".into(),
            ..request(2, "user:a@example.com", "x/m", 502)
        };
        let logs =
            [request(1, "user:a@example.com", "x/m", 200), request(2, "user:a@example.com", "x/m", 200), attempt];
        b.store().append_request_logs(&logs).await.unwrap();
        let by = |id: &str| RequestLogFilter { request_id: Some(id.into()), ..all_requests() };
        assert_eq!(numbers(&requests(&b, by("req-2")).await), ["tok2-attempt", "tok2"], "{}", b.label);
        assert_eq!(numbers(&requests(&b, by("req-1")).await), ["tok1"], "{}", b.label);
        assert!(requests(&b, by("req-")).await.is_empty(), "{}: exact, not a prefix", b.label);
        b.finish().await;
    }
}
