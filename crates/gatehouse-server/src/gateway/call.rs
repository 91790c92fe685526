//! One gateway call, from the authenticated request to the last byte of its answer, as named phases:
//!
//! authenticate (the auth middleware, before the handler) → resolve → admit → check input → dispatch →
//! check output → answer.
//!
//! The `Call` owns everything the request log needs and writes its entry exactly once, when it is
//! dropped: when a whole answer has been built, when a stream's body ends or the client leaves it, when a
//! phase refuses, or when the client goes away while the call waits on the upstream (the handler's future
//! is dropped with the call in it). Limits, guardrails and routing belong in the phases, not in handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use gatehouse_core::spec::ModelType;
use gatehouse_core::token::Principal;
use gatehouse_core::Subject;
use gatehouse_store::RequestLog;
use time::OffsetDateTime;

use super::dispatch::{self, Answer, Request};
use super::log::{count, keep, micros, Usage};
use super::resolve::{resolve, Target};
use super::stream::{sse_response, Item};
use crate::error::ApiError;
use crate::log_fields::BodyBuffer;
use crate::state::{App, Published};

/// The status logged for a call whose client went away before it was answered (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

/// The gateway's routes that call an upstream, as the request log names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayRoute {
    /// `/v1/chat/completions`
    Chat,
    /// `/v1/completions`
    Completions,
    /// `/v1/embeddings`
    Embeddings,
    /// `/v1/messages`
    Messages,
}

impl GatewayRoute {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayRoute::Chat => "chat",
            GatewayRoute::Completions => "completions",
            GatewayRoute::Embeddings => "embeddings",
            GatewayRoute::Messages => "messages",
        }
    }

    /// The type a model must have to be served on this route (`/v1/messages` serves chat models).
    pub fn model_type(self) -> ModelType {
        match self {
            GatewayRoute::Chat | GatewayRoute::Messages => ModelType::Chat,
            GatewayRoute::Completions => ModelType::Completion,
            GatewayRoute::Embeddings => ModelType::Embedding,
        }
    }
}

/// A gateway call in flight. See the module comment.
pub struct Call {
    app: App,
    /// The one view the request was authenticated against; every later phase reads this one.
    view: Arc<Published>,
    principal: Principal,
    route: GatewayRoute,
    /// When the request arrived, by the app's clock (the log's time) and by the monotonic one (latency).
    at: OffsetDateTime,
    started: Instant,
    /// Taken on arrival: a stream is logged from its body, outside the request's task.
    request_id: Option<String>,
    /// `<account>/<model>` as the client named it, bounded for the log.
    model: String,
    prompt: Option<String>,
    target: Option<Target>,
    usage: Usage,
    upstream: Option<Duration>,
    /// `None` until the call is answered: dropped without one, the client went away.
    status: Option<u16>,
    completion: Option<String>,
    /// A streamed answer as it passes, when the operator stores bodies.
    sent: Option<BodyBuffer>,
}

impl Call {
    /// The call of an authenticated request (the authenticate phase has run: `principal` and `view` come
    /// from the auth middleware).
    pub fn new(app: App, view: Arc<Published>, principal: Principal, route: GatewayRoute) -> Call {
        Call {
            at: app.now(),
            started: Instant::now(),
            request_id: crate::request_id::current().map(|r| r.to_string()),
            app,
            view,
            principal,
            route,
            model: String::new(),
            prompt: None,
            target: None,
            usage: Usage::default(),
            upstream: None,
            status: None,
            completion: None,
            sent: None,
        }
    }

    /// Runs the phases on `request` (or answers the error its parsing gave) and answers.
    pub async fn run(mut self, request: Result<Request, ApiError>) -> Response {
        match self.phases(request).await {
            Ok(answer) => self.answer(answer),
            Err(e) => self.refuse(e),
        }
    }

    async fn phases(&mut self, request: Result<Request, ApiError>) -> Result<Answer, ApiError> {
        let request = request?;
        self.asked(&request);
        self.resolve(&request)?;
        self.admit()?;
        self.check_input(&request)?;
        let answer = self.dispatch(request).await?;
        self.check_output(&answer)?;
        Ok(answer)
    }

    /// What the log keeps of the request, before anything can refuse it.
    fn asked(&mut self, request: &Request) {
        self.model = crate::log_fields::loggable_model(request.model());
        if self.app.config.log_bodies {
            self.prompt = request.loggable();
        }
    }

    /// Resolve: the body's `model` to a target the caller may use, in the request's view.
    fn resolve(&mut self, request: &Request) -> Result<(), ApiError> {
        let now = self.app.now();
        let target = resolve(&self.view, &self.principal, request.model(), self.route.model_type(), now)?;
        self.target = Some(target);
        Ok(())
    }

    /// Admit: whether the call may go ahead now (rate limits and budgets go here, consuming an estimate that
    /// settling corrects). Nothing limits calls yet.
    fn admit(&mut self) -> Result<(), ApiError> {
        Ok(())
    }

    /// Check input: guardrails on the request before it leaves (none yet).
    fn check_input(&mut self, _request: &Request) -> Result<(), ApiError> {
        Ok(())
    }

    /// Dispatch: the request to the upstream. The plan is one attempt on the resolved target; retries and
    /// fallbacks extend the plan here, each attempt through the same upstream interface.
    async fn dispatch(&mut self, request: Request) -> Result<Answer, ApiError> {
        let Some(target) = &self.target else {
            return Err(ApiError::Internal("a gateway call was dispatched before it was resolved".into()));
        };
        let answer = dispatch::dispatch(&self.app, target, request).await?;
        if let Answer::Whole(_, upstream) = &answer {
            self.upstream = Some(*upstream);
        }
        Ok(answer)
    }

    /// Check output: guardrails on the answer before the client sees it (none yet; a stream is seen as it
    /// passes, in `see`).
    fn check_output(&mut self, _answer: &Answer) -> Result<(), ApiError> {
        Ok(())
    }

    /// Answer: a whole answer with `server-timing: gateway;dur=<ms>` (the time spent here, not upstream),
    /// or a stream whose body owns the call.
    fn answer(mut self, answer: Answer) -> Response {
        match answer {
            Answer::Whole(whole, upstream) => {
                self.usage = Usage::whole(whole.tokens());
                if self.app.config.log_bodies {
                    self.completion = whole.loggable();
                }
                let mut resp = whole.response();
                let overhead = self.started.elapsed().saturating_sub(upstream);
                let value = format!("gateway;dur={:.3}", overhead.as_secs_f64() * 1000.0);
                if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.headers_mut().insert("server-timing", v);
                }
                self.status = Some(resp.status().as_u16());
                resp
            }
            Answer::Stream(chunks, encoder) => {
                // 200 goes out with the headers; a stream that breaks off later is logged as 502 (`failed`).
                self.status = Some(200);
                if self.app.config.log_bodies {
                    self.sent = Some(BodyBuffer::default());
                }
                sse_response(chunks, encoder, self)
            }
        }
    }

    fn refuse(mut self, e: ApiError) -> Response {
        let resp = e.into_response();
        self.status = Some(resp.status().as_u16());
        resp
    }

    /// A stream's items as they pass to the client: their usage, and the answer when bodies are stored.
    pub fn see(&mut self, items: &[Item]) {
        self.usage.see(items);
        if let Some(b) = &mut self.sent {
            keep(b, items);
        }
    }

    /// The stream broke off after its headers went out: the gateway's 502.
    pub fn failed(&mut self) {
        self.status = Some(502);
    }

    fn entry(&mut self) -> RequestLog {
        let p = &self.principal;
        RequestLog {
            at: self.at,
            subject: p.subject.to_string(),
            // The identity in the request's view: a stream logged later still belongs to whoever made it.
            subject_id: self.view.snapshot.identity(&p.subject).map(|id| id.to_string()),
            token_id: p.token().map(|(id, _)| id.to_string()).unwrap_or_default(),
            virtual_account: match &p.subject {
                Subject::VirtualAccount(v) => Some(v.to_string()),
                Subject::User(_) | Subject::Team(_) => None,
            },
            model: std::mem::take(&mut self.model),
            route: self.route.as_str().to_owned(),
            status: self.status.unwrap_or(CLIENT_CLOSED),
            latency_us: micros(self.started.elapsed()),
            upstream_latency_us: self.upstream.map(micros),
            input_tokens: self.usage.input.map(count),
            output_tokens: self.usage.output.map(count),
            request_id: self.request_id.take(),
            prompt: self.prompt.take(),
            completion: self.completion.take().or_else(|| self.sent.take().map(BodyBuffer::into_text)),
            cost_usd: None,
            refused_by: None,
        }
    }
}

impl Drop for Call {
    /// Settles and logs, exactly once: `drop` runs once, whichever way the call ended.
    fn drop(&mut self) {
        let entry = self.entry();
        self.app.log_request(entry);
    }
}
