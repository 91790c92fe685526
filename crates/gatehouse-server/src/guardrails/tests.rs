use std::collections::BTreeMap;

use gatehouse_core::limits::{Called, RequestFacts};
use gatehouse_core::spec::GuardrailsConfig;
use gatehouse_core::Subject;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn guard(output: Value) -> Guard {
    let config: GuardrailsConfig =
        serde_json::from_value(json!({"name": "t", "rules": [{"id": "r", "output_guardrails": output}]})).unwrap();
    let table = GuardrailsTable::from_configs(vec![&config]);
    let subject: Subject = "user:a@example.com".parse().unwrap();
    let metadata = BTreeMap::new();
    let facts = RequestFacts { subject: &subject, teams: &[], call: Called::Model("a/b"), metadata: &metadata };
    Guard::new(table.matching(&facts), reqwest::Client::new(), None, "a/b".into(), subject.to_string())
}

/// Feeds `pieces` to the guard as one choice of a stream; what was sent after each piece, and at the end.
fn stream(g: &Guard, pieces: &[&str]) -> Result<Vec<String>, String> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let mut held = Held::default();
        let mut sent = Vec::new();
        for p in pieces {
            sent.push(g.advance(&mut held, p, false).await.map_err(|e| e.to_string())?);
        }
        sent.push(g.advance(&mut held, "", true).await.map_err(|e| e.to_string())?);
        Ok(sent)
    })
}

fn redacting() -> Guard {
    guard(json!([{"type": "pii", "action": "redact"}, {"type": "secrets", "action": "redact"}]))
}

#[test]
fn a_secret_split_across_pieces_is_held_until_whole_then_redacted() {
    let g = redacting();
    let sent = stream(&g, &["your key is AK", "IAIOSFOD", "NN7EXAM", "PLE, keep it", " safe"]).unwrap();
    assert_eq!(sent[0], "your key is ", "{sent:?}");
    assert_eq!((sent[1].as_str(), sent[2].as_str()), ("", ""), "nothing of the key goes early");
    assert_eq!(sent.concat(), "your key is [REDACTED:secret], keep it safe");
    // Ordinary words go as soon as the next piece shows where they end.
    let sent = stream(&g, &["Hello", " wor", "ld and", " more"]).unwrap();
    assert_eq!(sent, vec!["", "Hello ", "world ", "and ", "more"]);
}

#[test]
fn a_block_ends_the_text_before_the_value_is_sent() {
    let g = guard(json!([{"type": "pii", "entities": ["credit_card"]}]));
    let e = stream(&g, &["card 4111 ", "1111 1111 ", "1111 exp", "ires"]).unwrap_err();
    assert_eq!(e, "guardrail t/r blocked the output: the pii check (output_guardrails[0]) found credit_card");
    assert_eq!(lock(&g.verdicts()).blocked_by.as_deref(), Some("t/r"));
}

#[test]
fn keywords_hold_only_what_could_begin_one() {
    let g = guard(json!([{"type": "block-keywords", "keywords": ["Project Falcon", "zeta"], "action": "redact"}]));
    let sent = stream(&g, &["The pro", "ject fal", "con is", " late; a pro", "blem"]).unwrap();
    assert_eq!(sent[0], "The ", "{sent:?}");
    assert_eq!(sent.concat(), "The [REDACTED:keyword] is late; a problem");
    // Text that cannot begin a keyword is not held at all.
    let sent = stream(&g, &["Hello there ", "friend. "]).unwrap();
    assert_eq!(sent, vec!["Hello there ", "friend. ", ""]);
}

#[test]
fn patterns_are_held_for_a_bounded_window() {
    let g = guard(json!([{"type": "block-regex", "pattern": "ticket-[0-9]+", "action": "redact"}]));
    let long = "x".repeat(REGEX_HOLD + 10);
    let sent = stream(&g, &[&long, " ticket-", "123 done"]).unwrap();
    assert_eq!(sent[0].len(), 10, "all but the window goes");
    assert_eq!(sent.concat(), format!("{long} [REDACTED:pattern] done"));
}

#[test]
fn audit_checks_change_nothing_and_flag() {
    let g = guard(
        json!([{"type": "secrets", "action": "redact", "strategy": "audit"}, {"type": "pii", "strategy": "audit"}]),
    );
    let text = "key AKIAIOSFODNN7EXAMPLE for a@example.com";
    assert_eq!(stream(&g, &[text]).unwrap().concat(), text);
    assert_eq!(lock(&g.verdicts()).header_entries(), vec!["guardrail:t/r;flagged"]);
}

fn value() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "AKIAIOSFODNN7EXAMPLE",
        "jane.doe@example.com",
        "(555) 123-4567",
        "4111 1111 1111 1111",
        "078-05-1120",
        "DE89 3704 0044 0532 0130 00",
        "Bearer abcdef123456",
        "sk-ant-api03-Xy9_zQ1wXy9_zQ1wXy9_zQ1w",
        "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
    ])
}

proptest! {
    /// However a stream cuts the text, no found value leaves, and the result is what the whole answer
    /// would have become.
    #[test]
    fn any_split_of_a_stream_redacts_as_the_whole_text(
        before in "[a-zA-Z ,.]{0,30}",
        v in value(),
        after in "[a-zA-Z ,.]{0,30}",
        cuts in prop::collection::vec(1usize..9, 1..40),
    ) {
        let text = format!("{before} {v} {after}");
        let mut pieces = Vec::new();
        let mut at = 0;
        for c in cuts.iter().cycle() {
            if at >= text.len() {
                break;
            }
            let end = (at + c).min(text.len());
            pieces.push(&text[at..end]);
            at = end;
        }
        let g = redacting();
        let streamed = stream(&g, &pieces).unwrap().concat();
        let whole = stream(&g, &[&text]).unwrap().concat();
        prop_assert!(!streamed.contains(v), "{v:?} sent in {streamed:?}");
        prop_assert_eq!(streamed, whole);
    }
}

/// Anthropic's thinking is text to the output checks, whole and streamed: a key split across thinking
/// deltas is held until whole, and goes out redacted before the signature that closes the block.
#[test]
fn thinking_is_checked_whole_and_streamed() {
    use futures_util::StreamExt;
    use gatehouse_providers::anthropic::{BlockDelta, ContentBlock, MessagesResponse, StreamEvent};

    use crate::gateway::dispatch::Whole;
    use crate::gateway::stream::Item;

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let g = std::sync::Arc::new(redacting());
    let mut whole = Whole::Messages(
        serde_json::from_value::<MessagesResponse>(json!({"id": "m", "model": "x", "content": [
            {"type": "thinking", "thinking": "the key AKIAIOSFODNN7EXAMPLE is", "signature": "s"},
            {"type": "text", "text": "done"}]}))
        .unwrap(),
    );
    rt.block_on(g.output(&mut whole)).unwrap();
    let Whole::Messages(m) = &whole else { panic!() };
    assert!(
        matches!(&m.content[0], ContentBlock::Thinking { thinking, .. } if thinking == "the key [REDACTED:secret] is")
    );

    let ev = |e: StreamEvent| Ok(vec![Item::Anthropic(e)]);
    let think =
        |t: &str| StreamEvent::ContentBlockDelta { index: 0, delta: BlockDelta::ThinkingDelta { thinking: t.into() } };
    let events = vec![
        ev(StreamEvent::ContentBlockStart {
            index: 0,
            content_block: ContentBlock::Thinking { thinking: String::new(), signature: None },
        }),
        ev(think("key AKIAIOSF")),
        ev(think("ODNN7EXAMPLE")),
        ev(StreamEvent::ContentBlockDelta { index: 0, delta: BlockDelta::SignatureDelta { signature: "s".into() } }),
        ev(StreamEvent::ContentBlockStop { index: 0 }),
    ];
    let out: Vec<Item> = rt.block_on(async {
        let s = crate::gateway::scan::scan(Box::pin(futures_util::stream::iter(events)), g.clone());
        s.map(|r| r.unwrap()).collect::<Vec<_>>().await.into_iter().flatten().collect()
    });
    let mut thinking = String::new();
    let mut order = Vec::new();
    for item in out {
        let Item::Anthropic(e) = item else { panic!() };
        match e {
            StreamEvent::ContentBlockDelta { delta: BlockDelta::ThinkingDelta { thinking: t }, .. } => {
                thinking.push_str(&t);
                order.push("thinking");
            }
            StreamEvent::ContentBlockDelta { delta: BlockDelta::SignatureDelta { .. }, .. } => order.push("signature"),
            _ => {}
        }
    }
    assert_eq!(thinking, "key [REDACTED:secret]");
    assert_eq!(order.last(), Some(&"signature"), "{order:?}");
}
