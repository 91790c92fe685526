//! Trying a routed request's steps in order: each target with its retries (backing off), then the next
//! one on a fallback status, a connection failure or a timeout. A stream counts as served once its first
//! chunk arrived, before anything reached the client: later failures are the stream's own (no fallback
//! can take back bytes the client already has).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gatehouse_core::spec::ModelType;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::dispatch::{self, Answer, Request};
use super::follow::Follow;
use super::resolve::{routed, Target};
use super::route::Step;
use crate::error::ApiError;
use crate::state::{App, Published};

/// One upstream attempt, for the request log.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// `<account>/<model>` tried.
    pub served: String,
    /// 200 when it served; else the upstream's status, 502 when it could not be reached, 504 on a timeout.
    pub status: u16,
    pub latency: Duration,
}

/// Why an attempt failed, as far as routing cares.
enum Failure {
    /// The upstream answered this error status.
    Status(u16),
    /// No answer in time (the time-to-first-token timeout or the gateway's own).
    Timeout,
    /// Unreachable, or no usable answer.
    Unreachable,
}

impl Failure {
    /// `None`: not the upstream's failure (the client's request cannot be sent anywhere): no fallback.
    fn of(e: &ApiError) -> Option<Failure> {
        if let ApiError::UpstreamStatus { status, .. } = e {
            return Some(Failure::Status(*status));
        }
        if let ApiError::GatewayTimeout(_) = e {
            return Some(Failure::Timeout);
        }
        if let ApiError::BadGateway(_) = e {
            return Some(Failure::Unreachable);
        }
        None
    }

    fn status(&self) -> u16 {
        match self {
            Failure::Status(s) => *s,
            Failure::Timeout => 504,
            Failure::Unreachable => 502,
        }
    }
}

/// The longest a retry waits, whatever the backoff says.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Tries `steps` in order for `request` (named `named` by the client, on a route serving `route_type`); the
/// answer and the target that served it. Every attempt is appended to `attempts`, as it ends. With
/// `follow`, each target's limits are charged before the call goes to it; a refusal moves on to the next
/// target, and is the answer (a 429) when none is left.
pub async fn run(
    app: &App,
    view: &Published,
    (named, route_type): (&str, ModelType),
    steps: &[Step],
    request: &Request,
    follow: Option<&Follow>,
    attempts: &mut Vec<Attempt>,
) -> Result<(Answer, Target), ApiError> {
    let mut last = None;
    for step in steps {
        // Deleting a model a routing names is refused, but a target of another type cannot serve this route.
        let Some(target) = routed(view, &step.served, named, route_type) else { continue };
        if let Some(f) = follow {
            match f.admit(&step.served).await {
                Ok(()) => {}
                Err(e @ ApiError::OverLimit(_)) => {
                    // Logged as an attempt refused by the gateway: nothing was sent to the target.
                    attempts.push(Attempt { served: step.served.clone(), status: 429, latency: Duration::ZERO });
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let req = with_overrides(request, &step.override_params)?;
        let mut retries = 0u32;
        loop {
            let started = Instant::now();
            let result = attempt(app, &target, req.clone(), step.ttft_timeout).await;
            let latency = started.elapsed();
            let e = match result {
                Ok(answer) => {
                    attempts.push(Attempt { served: step.served.clone(), status: 200, latency });
                    app.routing.served(&step.served, sample_ms(&answer, latency));
                    return Ok((answer, target));
                }
                Err(e) => e,
            };
            let Some(failure) = Failure::of(&e) else { return Err(e) };
            attempts.push(Attempt { served: step.served.clone(), status: failure.status(), latency });
            app.routing.failed(&step.served, app.now());
            if let Failure::Status(s) = failure {
                if step.retry.on_status_codes.contains(&s) && retries < step.retry.attempts {
                    let delay = Duration::from_millis(step.retry.delay_ms).saturating_mul(1 << retries.min(16));
                    tokio::time::sleep(delay.min(MAX_BACKOFF)).await;
                    retries += 1;
                    continue;
                }
            }
            let falls_back = match failure {
                Failure::Status(s) => step.fallback_status_codes.contains(&s),
                Failure::Timeout | Failure::Unreachable => true,
            };
            if !falls_back {
                return Err(e);
            }
            last = Some(e);
            break;
        }
    }
    Err(last.unwrap_or_else(|| ApiError::BadGateway(format!("no target of {named} can serve this request"))))
}

/// One attempt, under the step's time-to-first-token timeout. A stream is read up to its first chunk.
async fn attempt(app: &App, target: &Target, request: Request, ttft: Option<Duration>) -> Result<Answer, ApiError> {
    let go = async {
        match dispatch::dispatch(app, target, request).await? {
            Answer::Stream(mut s, encoder) => match s.next().await {
                Some(Err(e)) => Err(e),
                Some(Ok(first)) => {
                    Ok(Answer::Stream(Box::pin(futures_util::stream::iter([Ok(first)]).chain(s)), encoder))
                }
                None => Ok(Answer::Stream(Box::pin(futures_util::stream::empty()), encoder)),
            },
            whole @ Answer::Whole(..) => Ok(whole),
        }
    };
    match ttft {
        Some(limit) => match tokio::time::timeout(limit, go).await {
            Ok(r) => r,
            Err(_) => Err(ApiError::GatewayTimeout(format!(
                "{} did not answer within its time-to-first-token timeout ({} ms)",
                target.served,
                limit.as_millis()
            ))),
        },
        None => go.await,
    }
}

/// Milliseconds per output token of a whole answer (per answer when it reports none); a stream's time to
/// its first chunk.
fn sample_ms(answer: &Answer, latency: Duration) -> f64 {
    let ms = latency.as_secs_f64() * 1000.0;
    match answer {
        Answer::Whole(w, upstream) => match w.tokens() {
            Some((_, output)) if output > 0 => upstream.as_secs_f64() * 1000.0 / output as f64,
            Some(_) | None => upstream.as_secs_f64() * 1000.0,
        },
        Answer::Stream(..) => ms,
    }
}

/// `request` with a target's `override_params` set (validated when stored: only sampling and length
/// parameters, never the model, the messages or `stream`).
fn with_overrides(request: &Request, params: &BTreeMap<String, serde_json::Value>) -> Result<Request, ApiError> {
    if params.is_empty() {
        return Ok(request.clone());
    }
    Ok(match request {
        Request::Chat(r) => {
            let mut params = params.clone();
            // A chat request's output cap may be either field; the override replaces whichever it used.
            if let (Some(v), Some(_)) = (params.get("max_tokens").cloned(), r.max_completion_tokens) {
                params.insert("max_completion_tokens".into(), v);
            }
            Request::Chat(merge(r, &params)?)
        }
        Request::Completions(r) => Request::Completions(merge(r, params)?),
        // Embeddings take none of the overridable parameters.
        Request::Embeddings(r) => Request::Embeddings(r.clone()),
        Request::Messages(r) => {
            let mut params = params.clone();
            // The Messages API names its stop sequences differently and takes no penalties or seed.
            if let Some(stop) = params.remove("stop") {
                let list = if stop.is_string() { serde_json::Value::Array(vec![stop]) } else { stop };
                params.insert("stop_sequences".into(), list);
            }
            for k in ["presence_penalty", "frequency_penalty", "seed"] {
                params.remove(k);
            }
            Request::Messages(merge(r, &params)?)
        }
    })
}

fn merge<T: Serialize + DeserializeOwned>(r: &T, params: &BTreeMap<String, serde_json::Value>) -> Result<T, ApiError> {
    let mut v = serde_json::to_value(r).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        for (k, value) in params {
            o.insert(k.clone(), value.clone());
        }
    }
    serde_json::from_value(v).map_err(|e| ApiError::Internal(format!("override_params do not fit the request: {e}")))
}
