//! The external guardrail: the texts POSTed as JSON to a team's service (Presidio, Llama Guard, their
//! own), which answers allow, block or a rewritten text.
//!
//! Request: `{"hook": "input"|"output", "config", "rule", "model", "subject", "messages": [{"role",
//! "content"}]}`, one message per text the guardrail sees. Answer: `{"action": "allow"}`,
//! `{"action": "block", "reason"?}`, or `{"action": "rewrite", "text"}` (the last message's new text) /
//! `{"action": "rewrite", "texts": [...]}` (every message's, in order). Anything else, a status other than
//! 2xx, or no answer within the timeout is a failure of the guardrail, which its strategy handles.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use gatehouse_core::clock::Clock;
use gatehouse_core::Secret;
use serde::{Deserialize, Serialize};

/// An answer larger than this is a failure: a rewrite is text, not a download.
const MAX_ANSWER: usize = 4 << 20;
/// A webhook's reason is shown to the caller, bounded and stripped of anything that looks like PII or a
/// credential (a reason could quote the text it refused).
const MAX_REASON: usize = 200;

pub struct Webhook {
    pub url: String,
    pub timeout: Duration,
}

/// What signs a webhook's requests (`GATEHOUSE_GUARDRAIL_WEBHOOK_SECRET`): `x-gatehouse-signature`, as
/// budget alerts are signed, so one verification serves both. The time is the app's clock.
pub struct Signer {
    pub secret: Secret<String>,
    pub clock: Arc<dyn Clock>,
}

impl Signer {
    /// The deployment's webhook signer, if a secret is configured: one for model and tool calls alike.
    pub fn of(app: &crate::state::App) -> Option<Arc<Signer>> {
        let secret = app.config.guardrail_webhook_secret.as_ref()?;
        Some(Arc::new(Signer { secret: secret.clone(), clock: app.clock.clone() }))
    }
}

/// The header a signed request carries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE: &str = "x-gatehouse-signature";

#[derive(Serialize)]
pub struct Message<'a> {
    pub role: &'a str,
    pub content: &'a str,
}

#[derive(Serialize)]
pub struct Payload<'a> {
    pub hook: &'static str,
    pub config: &'a str,
    pub rule: &'a str,
    pub model: &'a str,
    pub subject: &'a str,
    pub messages: Vec<Message<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Allow,
    Block,
    Rewrite,
}

#[derive(Deserialize)]
struct Answer {
    action: Action,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    texts: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
}

/// What the webhook decided.
pub enum Reply {
    Allow,
    Block(Option<String>),
    /// The new text of every message, in order.
    Rewrite(Vec<String>),
}

impl Webhook {
    /// Asks the webhook about `payload`; `Err` says how the guardrail failed, without the URL (which may
    /// carry a key in its query).
    pub async fn call(
        &self,
        http: &reqwest::Client,
        signer: Option<&Signer>,
        payload: &Payload<'_>,
    ) -> Result<Reply, String> {
        let texts: Vec<&str> = payload.messages.iter().map(|m| m.content).collect();
        let body = serde_json::to_vec(payload).map_err(|e| format!("the payload cannot be encoded: {e}"))?;
        let mut req = http.post(&self.url).header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(s) = signer {
            let t = s.clock.now().unix_timestamp();
            req = req.header(SIGNATURE, crate::limits::alerts::signature(s.secret.expose(), t, &body));
        }
        let work = async {
            let resp = req.body(body).send().await.map_err(|e| e.without_url().to_string())?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("the webhook answered {}", status.as_u16()));
            }
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.without_url().to_string())?;
                if body.len() + chunk.len() > MAX_ANSWER {
                    return Err(format!("the webhook's answer is over {MAX_ANSWER} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            let answer: Answer =
                serde_json::from_slice(&body).map_err(|e| format!("the webhook's answer is not understood: {e}"))?;
            reply(answer, &texts)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(format!("the webhook did not answer within {} ms", self.timeout.as_millis())),
        }
    }
}

fn reply(answer: Answer, texts: &[&str]) -> Result<Reply, String> {
    match answer.action {
        Action::Allow => Ok(Reply::Allow),
        Action::Block => Ok(Reply::Block(answer.reason.map(|r| reason(&r)))),
        Action::Rewrite => match (answer.text, answer.texts) {
            (_, Some(all)) if all.len() == texts.len() => Ok(Reply::Rewrite(all)),
            (_, Some(all)) => Err(format!("the webhook rewrote {} texts of {}", all.len(), texts.len())),
            (Some(last), None) if !texts.is_empty() => {
                let mut all: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
                if let Some(l) = all.last_mut() {
                    *l = last;
                }
                Ok(Reply::Rewrite(all))
            }
            (Some(_) | None, None) => Err("the webhook asked for a rewrite without `text` or `texts`".to_owned()),
        },
    }
}

fn reason(r: &str) -> String {
    let clean = gatehouse_core::guard::redact_all(r, &gatehouse_core::spec::PiiEntity::ALL);
    crate::log_fields::bounded(&clean, MAX_REASON)
}
