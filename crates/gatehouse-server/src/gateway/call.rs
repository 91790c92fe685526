//! One gateway call, from the authenticated request to the last byte of its answer, as named phases:
//!
//! authenticate (the auth middleware, before the handler) → resolve → admit → check input → dispatch →
//! check output → answer.
//!
//! The `Call` owns everything the request log needs and writes its entry exactly once, when it is
//! dropped: when a whole answer has been built, when a stream's body ends or the client leaves it, when a
//! phase refuses, or when the client goes away while the call waits on the upstream (the handler's future
//! is dropped with the call in it). Limits, guardrails and routing belong in the phases, not in handlers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use gatehouse_core::limits::{Called, Estimate, Measure, RequestFacts};
use gatehouse_core::spec::ModelType;
use gatehouse_core::token::Principal;
use gatehouse_core::Subject;
use gatehouse_store::RequestLog;
use time::OffsetDateTime;

use super::attempt::{self, Attempt};
use super::dispatch::{self, Answer, Request};
use super::follow::Follow;
use super::log::{count, keep, micros, Usage};
use super::resolve::{resolve, Target};
use super::route::{plan, Facts, Step};
use super::stream::{sse_response, Item};
use crate::error::ApiError;
use crate::guardrails::Guard;
use crate::limits::admission::APPLIED;
use crate::limits::{Admission, Outcome};
use crate::log_fields::BodyBuffer;
use crate::log_sizes::{counted, AnswerBytes, StreamedBytes};
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
    /// The name of the call's span.
    pub fn span_name(self) -> &'static str {
        match self {
            GatewayRoute::Chat => "gateway chat",
            GatewayRoute::Completions => "gateway completions",
            GatewayRoute::Embeddings => "gateway embeddings",
            GatewayRoute::Messages => "gateway messages",
        }
    }

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
    /// `x-gatehouse-metadata`, as parsed when the request arrived.
    metadata: Result<BTreeMap<String, String>, Option<ApiError>>,
    /// The counters the call was charged against, until it settles.
    admission: Option<Admission>,
    /// `<config>/<rule>` of the limit that refused the call.
    refused_by: Option<String>,
    /// The request body's size; the whole answer's, or, for a stream, its count as it leaves.
    request_bytes: Option<u64>,
    response_bytes: AnswerBytes,
    /// A routed call's targets in the order they are tried (empty: the resolved target, once), and what
    /// routed it.
    steps: Vec<Step>,
    routed_by: Option<String>,
    /// Every upstream attempt of a routed call, each logged as a row of its own.
    attempts: Vec<Attempt>,
    /// The guardrails that match the call, and what they did (shared with a stream's scanner).
    guard: Option<Arc<Guard>>,
    /// A routed call's limits on the targets it goes to, charged as it goes (see `follow`).
    follow: Option<Arc<Follow>>,
    /// The call's span, when spans are exported.
    span: Option<crate::observability::trace::Span>,
}

/// The header naming the real model that served: `<account>/<model>`.
pub const RESOLVED_MODEL: &str = "x-gatehouse-resolved-model";

impl Call {
    /// The call of an authenticated request (the authenticate phase has run: `principal` and `view` come
    /// from the auth middleware).
    pub fn new(
        app: App,
        view: Arc<Published>,
        principal: Principal,
        metadata: Result<BTreeMap<String, String>, ApiError>,
        route: GatewayRoute,
    ) -> Call {
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
            metadata: metadata.map_err(Some),
            admission: None,
            refused_by: None,
            request_bytes: None,
            response_bytes: AnswerBytes::Known(None),
            steps: Vec::new(),
            routed_by: None,
            attempts: Vec::new(),
            guard: None,
            follow: None,
            span: None,
        }
    }

    pub fn request_bytes(mut self, bytes: Option<u64>) -> Call {
        self.request_bytes = bytes;
        self
    }

    /// Runs the phases on `request` (or answers the error its parsing gave) and answers.
    pub async fn run(mut self, request: Result<Request, ApiError>) -> Response {
        self.span = crate::observability::trace::start(self.route.span_name(), opentelemetry::trace::SpanKind::Server);
        match self.phases(request).await {
            Ok(answer) => self.answer(answer),
            Err(e) => self.refuse(e),
        }
    }

    async fn phases(&mut self, request: Result<Request, ApiError>) -> Result<Answer, ApiError> {
        let request = request?;
        self.asked(&request);
        if let Err(e) = &mut self.metadata {
            return Err(e.take().unwrap_or_else(|| ApiError::Internal("metadata error taken twice".into())));
        }
        self.resolve(&request)?;
        self.route()?;
        self.admit(&request).await?;
        let mut request = request;
        self.check_input(&mut request).await?;
        let answer = self.dispatch(request).await?;
        self.check_output(answer).await
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
        let target =
            resolve(&self.app.metrics, &self.view, &self.principal, request.model(), self.route.model_type(), now)?;
        self.target = Some(target);
        Ok(())
    }

    /// The teams the caller is in, in the request's view.
    fn teams(&self) -> Vec<String> {
        match &self.principal.subject {
            Subject::User(e) => self
                .view
                .snapshot
                .user(e.as_str())
                .map(|u| u.member_of.iter().map(|t| t.to_string()).collect())
                .unwrap_or_default(),
            Subject::Team(_) | Subject::VirtualAccount(_) => Vec::new(),
        }
    }

    /// Route: a virtual model's routing, or the first load-balancing rule that names the requested model,
    /// decides which real models the call may go to, and in which order.
    fn route(&mut self) -> Result<(), ApiError> {
        let Some(target) = &self.target else { return Ok(()) };
        let caller = self.principal.subject.to_string();
        if target.is_virtual() {
            let name = target.name.clone();
            let Some(routing) = self.view.routes.virtual_model(&name) else {
                return Err(ApiError::BadGateway(format!("virtual model {name} has no routing")));
            };
            let route_type = self.route.model_type();
            // Only the targets that serve this route; none: the client asked for what it does not offer.
            let steps: Vec<Step> = plan(routing, &self.app.routing, self.app.now(), &caller)
                .into_iter()
                .filter(|s| super::resolve::routed(&self.view, &s.served, &name, route_type).is_some())
                .collect();
            if steps.is_empty() {
                return Err(ApiError::invalid("model", format!("{name} routes to no {route_type} model")));
            }
            self.steps = steps;
            self.routed_by = Some(format!("virtual-model:{name}"));
            return Ok(());
        }
        let teams = self.teams();
        let empty = BTreeMap::new();
        let metadata = self.metadata.as_ref().unwrap_or(&empty);
        let facts = Facts { subject: &self.principal.subject, teams: &teams, model: &target.name, metadata };
        let Some(routing) = self.view.routes.matching(&facts) else { return Ok(()) };
        self.steps = plan(routing, &self.app.routing, self.app.now(), &caller);
        self.routed_by = Some(format!("load-balancing:{}", routing.source));
        Ok(())
    }

    /// The model the call is charged on: the first target a routed call goes to (its price is corrected to
    /// the one that served when it settles).
    fn charged_model(&self) -> Option<(String, Option<(f64, f64)>)> {
        let price = |p: &gatehouse_core::spec::ModelPricing| (p.input_per_million_tokens, p.output_per_million_tokens);
        match self.steps.first() {
            Some(step) => {
                let pricing = self.view.gateway.model(&step.served).and_then(|(_, m)| m.pricing().map(price));
                Some((step.served.clone(), pricing))
            }
            None => self.target.as_ref().map(|t| (t.name.clone(), t.pricing().map(price))),
        }
    }

    /// Admit: whether the call may go ahead now under the rate limits and budgets that match it. Tokens and
    /// cost are reserved as an estimate, corrected when the call settles (on drop).
    async fn admit(&mut self, request: &Request) -> Result<(), ApiError> {
        let limits = &self.view.limits;
        if limits.is_empty() {
            return Ok(());
        }
        let Some((model, pricing)) = self.charged_model() else { return Ok(()) };
        // Only looked up when a rule is about a team.
        let teams = if limits.names_teams() { self.teams() } else { Vec::new() };
        let empty = BTreeMap::new();
        let metadata = self.metadata.as_ref().unwrap_or(&empty);
        // A routed call counts here against the rules of the name its caller used (a virtual model, or the
        // model a load-balancing rule spreads): a limit set on that name holds whichever target serves. Each
        // target's own rules are charged when the call goes to it (`Follow`), so they follow a fallback.
        let routed = !self.steps.is_empty();
        let charged = match (&self.target, routed) {
            (Some(t), true) => t.name.clone(),
            (Some(_) | None, _) => model,
        };
        let facts =
            RequestFacts { subject: &self.principal.subject, teams: &teams, call: Called::Model(&charged), metadata };
        let charges = limits.charges(&facts);
        if routed {
            self.follow = Some(Arc::new(Follow {
                app: self.app.clone(),
                view: self.view.clone(),
                subject: self.principal.subject.clone(),
                teams: teams.clone(),
                metadata: metadata.clone(),
                estimate: request.estimate(),
                charged: std::sync::Mutex::new(charges.iter().map(|c| c.counter.clone()).collect()),
                admissions: std::sync::Mutex::new(Vec::new()),
            }));
        }
        if charges.is_empty() {
            return Ok(());
        }
        if !metadata.is_empty() {
            self.app.limiter.note_metadata(&self.principal.subject, &charges, metadata, limits.metadata_keys());
        }
        let counts_tokens = charges.iter().any(|c| c.rule.measure != Measure::Requests);
        let estimate = if counts_tokens { request.estimate() } else { Estimate::default() };
        match self.app.limiter.admit(self.app.now(), charges, estimate, pricing).await {
            Ok(admission) => {
                self.admission = Some(admission);
                Ok(())
            }
            Err(e) => {
                if let ApiError::OverLimit(o) = &e {
                    self.refused_by = Some(o.rule.clone());
                }
                Err(e)
            }
        }
    }

    /// The headers that name the controls applied to the call: one `x-gatehouse-applied-controls`, the
    /// limits' entries then the guardrails'.
    fn control_headers(&self, resp: &mut Response) {
        let mut applied = Vec::new();
        if let Some(a) = &self.admission {
            for (name, value) in a.headers(self.app.now()) {
                if name == APPLIED {
                    applied.extend(value.to_str().ok().map(str::to_owned));
                } else {
                    resp.headers_mut().insert(name, value);
                }
            }
        }
        // The rules of the targets a routed call went to: named, without their `x-ratelimit-*` (the call's
        // own, above, are those of the name it used).
        if let Some(f) = &self.follow {
            for (_, a) in f.admissions.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let entries = a.headers(self.app.now()).into_iter().filter(|(n, _)| n == APPLIED);
                applied.extend(entries.filter_map(|(_, v)| v.to_str().ok().map(str::to_owned)));
            }
        }
        if let Some(g) = &self.guard {
            applied.extend(crate::guardrails::lock(&g.verdicts()).header_entries());
        }
        if let Ok(v) = HeaderValue::from_str(&applied.join(", ")) {
            if !applied.is_empty() {
                resp.headers_mut().insert(APPLIED, v);
            }
        }
        if let Some(routed_by) = &self.routed_by {
            let applied = crate::limits::admission::APPLIED;
            let value = match resp.headers().get(applied).and_then(|v| v.to_str().ok()) {
                Some(before) => format!("{before}, {routed_by}"),
                None => routed_by.clone(),
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(applied, v);
            }
        }
    }

    /// The header naming the model that served an answer.
    fn resolved_header(&self, resp: &mut Response) {
        if let Some(v) = self.target.as_ref().and_then(|t| HeaderValue::from_str(&t.served).ok()) {
            resp.headers_mut().insert(RESOLVED_MODEL, v);
        }
    }

    /// Settle: the call's counters corrected with its real usage, its spend recorded, alerts checked. Runs
    /// inline when the counters answer at once (in process), else as a task of its own.
    fn settle(&mut self) {
        let mut admissions: Vec<Admission> = self.admission.take().into_iter().collect();
        // A routed call's targets: the one that served settles with the call's usage, at its price; the
        // others it fell back from keep the request and give back what they reserved.
        let served = self.target.as_ref().filter(|_| self.status.is_some()).map(|t| t.served.clone());
        for (model, mut a) in self.follow.as_ref().map(|f| f.take()).unwrap_or_default() {
            if served.as_deref() != Some(model.as_str()) {
                a.unserve(|_| true);
            }
            admissions.push(a);
        }
        if admissions.is_empty() {
            return;
        }
        let outcome = match (self.usage.input, self.usage.output) {
            (Some(input), output) => Outcome::Used { input, output: output.unwrap_or(0) },
            (None, _) => match self.status {
                None | Some(200) => Outcome::Unknown,
                Some(_) => Outcome::Nothing,
            },
        };
        let app = self.app.clone();
        let now = app.now();
        let work = async move {
            for admission in admissions {
                let settled = app.limiter.settle(now, admission, outcome).await;
                crate::limits::after_settle(&app, settled).await;
            }
        };
        let mut work = Box::pin(work);
        if futures_util::FutureExt::now_or_never(&mut work).is_none() {
            tokio::spawn(work);
        }
    }

    /// Check input: the guardrails that match the call, on the request before it leaves. Redactions
    /// rewrite the request, so the upstream never sees what they removed; a block costs no upstream call.
    async fn check_input(&mut self, request: &mut Request) -> Result<(), ApiError> {
        let table = &self.view.guardrails;
        if table.is_empty() {
            return Ok(());
        }
        let Some(target) = &self.target else { return Ok(()) };
        let teams = self.teams();
        let empty = BTreeMap::new();
        let metadata = self.metadata.as_ref().unwrap_or(&empty);
        let facts = RequestFacts {
            subject: &self.principal.subject,
            teams: &teams,
            call: Called::Model(&target.name),
            metadata,
        };
        let rules = table.matching(&facts);
        if rules.is_empty() {
            return Ok(());
        }
        let http = super::upstream::http(&self.app);
        let signer = crate::guardrails::Signer::of(&self.app);
        let guard = Guard::new(rules, http, signer, target.name.clone(), self.principal.subject.to_string());
        let guard = Arc::new(guard.observed(self.app.metrics.clone()));
        self.guard = Some(guard.clone());
        guard.input(request).await?;
        // The log keeps what was sent upstream.
        if self.app.config.log_bodies {
            self.prompt = request.loggable();
        }
        Ok(())
    }

    /// Dispatch: the request to the upstream. The plan is one attempt on the resolved target; retries and
    /// fallbacks extend the plan here, each attempt through the same upstream interface.
    async fn dispatch(&mut self, request: Request) -> Result<Answer, ApiError> {
        if !self.steps.is_empty() {
            return self.dispatch_routed(request).await;
        }
        let Some(target) = &self.target else {
            return Err(ApiError::Internal("a gateway call was dispatched before it was resolved".into()));
        };
        let answer = dispatch::dispatch(&self.app, target, request).await?;
        if let Answer::Whole(_, upstream) = &answer {
            self.upstream = Some(*upstream);
        }
        Ok(answer)
    }

    /// A routed call: its steps in order, with retries and fallbacks (see `attempt`). The target that
    /// served becomes the call's: its price is the call's.
    async fn dispatch_routed(&mut self, request: Request) -> Result<Answer, ApiError> {
        let named = request.model().to_owned();
        let (steps, view) = (std::mem::take(&mut self.steps), self.view.clone());
        let route_type = self.route.model_type();
        let follow = self.follow.clone();
        let result = attempt::run(
            &self.app,
            &view,
            (&named, route_type),
            &steps,
            &request,
            follow.as_deref(),
            &mut self.attempts,
        )
        .await;
        self.steps = steps;
        if let Err(ApiError::OverLimit(o)) = &result {
            self.refused_by = Some(o.rule.clone());
        }
        let (answer, served) = result?;
        if let Some(a) = &mut self.admission {
            a.reprice(served.pricing().map(|p| (p.input_per_million_tokens, p.output_per_million_tokens)));
        }
        self.target = Some(served);
        if let Answer::Whole(_, upstream) = &answer {
            self.upstream = Some(*upstream);
        }
        Ok(answer)
    }

    /// Check output: the guardrails on the answer before the client sees it; a stream is checked as it
    /// flows (`scan`).
    async fn check_output(&mut self, answer: Answer) -> Result<Answer, ApiError> {
        let Some(guard) = self.guard.clone().filter(|g| g.checks_output()) else { return Ok(answer) };
        match answer {
            Answer::Whole(mut whole, upstream) => {
                // A refused answer still used its tokens: they settle the limits.
                self.usage = Usage::whole(whole.tokens());
                guard.output(&mut whole).await?;
                Ok(Answer::Whole(whole, upstream))
            }
            Answer::Stream(chunks, encoder) => Ok(Answer::Stream(super::scan::scan(chunks, guard), encoder)),
        }
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
                self.control_headers(&mut resp);
                self.resolved_header(&mut resp);
                self.status = Some(resp.status().as_u16());
                self.response_bytes = AnswerBytes::Known(resp.body().size_hint().exact());
                resp
            }
            Answer::Stream(chunks, encoder) => {
                // 200 goes out with the headers; a stream that breaks off later is logged as 502 (`failed`).
                self.status = Some(200);
                if self.app.config.log_bodies {
                    self.sent = Some(BodyBuffer::default());
                }
                let mut headers = Response::default();
                self.control_headers(&mut headers);
                let counter = StreamedBytes::new(&self.app);
                self.response_bytes = AnswerBytes::Streamed(counter.clone());
                self.resolved_header(&mut headers);
                let mut resp = sse_response(chunks, encoder, self);
                resp.headers_mut().extend(headers.into_parts().0.headers);
                counted(resp, counter)
            }
        }
    }

    fn refuse(mut self, e: ApiError) -> Response {
        if let Some(kind) = refusal(&e) {
            self.app.metrics.refusal(kind);
        }
        let mut resp = e.into_response();
        self.control_headers(&mut resp);
        self.status = Some(resp.status().as_u16());
        self.response_bytes = AnswerBytes::Known(resp.body().size_hint().exact());
        resp
    }

    /// A stream's items as they pass to the client: their usage, and the answer when bodies are stored.
    pub fn see(&mut self, items: &[Item]) {
        self.usage.see(items);
        if let Some(b) = &mut self.sent {
            keep(b, items);
        }
    }

    /// The stream broke off after its headers went out: the gateway's 502, or a guardrail's 400 when one
    /// ended it.
    pub fn failed(&mut self) {
        let blocked = self.guard.as_ref().is_some_and(|g| crate::guardrails::lock(&g.verdicts()).blocked_by.is_some());
        if blocked {
            self.app.metrics.refusal(crate::observability::Refusal::Guardrail);
        }
        self.status = Some(if blocked { 400 } else { 502 });
    }

    /// The call in the metrics, and its span ended with what it did.
    fn observe(&mut self) {
        let status = self.status.unwrap_or(CLIENT_CLOSED);
        let served = self.target.as_ref().map(|t| t.served.as_str());
        self.app.metrics.gateway_call(self.route.as_str(), served, status);
        if let Some(mut span) = self.span.take() {
            span.attribute("gatehouse.route", self.route.as_str());
            span.attribute("gen_ai.request.model", self.model.clone());
            if let Some(t) = &self.target {
                span.attribute("gatehouse.model", t.served.clone());
                span.attribute("gatehouse.provider_account", t.account().name().to_string());
            }
            span.status(status);
        }
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
            // At the price published with the request's view: the price in force when it ran.
            cost_usd: match (self.target.as_ref().and_then(|t| t.pricing()), self.usage.input) {
                (Some(p), Some(input)) => Some(p.cost_usd(count(input), self.usage.output.map(count).unwrap_or(0))),
                (Some(_) | None, _) => None,
            },
            refused_by: self.refused_by.take().or_else(|| {
                self.guard.as_ref().and_then(|g| crate::guardrails::lock(&g.verdicts()).blocked_by.clone())
            }),
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes.known(),
            guardrails: self
                .guard
                .as_ref()
                .map(|g| std::mem::take(&mut crate::guardrails::lock(&g.verdicts()).log))
                .unwrap_or_default(),
        }
    }
}

/// The control that refused a call, if one did.
fn refusal(e: &ApiError) -> Option<crate::observability::Refusal> {
    use crate::observability::Refusal;
    use gatehouse_core::limits::LimitKind;
    if let ApiError::OverLimit(o) = e {
        return Some(match o.kind {
            LimitKind::RateLimit => Refusal::RateLimit,
            LimitKind::Budget => Refusal::Budget,
        });
    }
    if let ApiError::GuardrailBlocked(_) = e {
        return Some(Refusal::Guardrail);
    }
    if let ApiError::LimitsUnavailable(_) = e {
        return Some(Refusal::LimitsUnavailable);
    }
    None
}

impl Drop for Call {
    /// Settles and logs, exactly once: `drop` runs once, whichever way the call ended.
    fn drop(&mut self) {
        self.settle();
        self.observe();
        let entry = self.entry();
        // Each attempt of a routed call is a row of its own, on the model it tried, routed as
        // `<route>:attempt`: the call's own row stays the one that counts (its tokens, its cost).
        let attempts: Vec<RequestLog> = std::mem::take(&mut self.attempts)
            .into_iter()
            .map(|a| RequestLog {
                model: a.served,
                route: format!("{}:attempt", entry.route),
                status: a.status,
                latency_us: micros(a.latency),
                upstream_latency_us: Some(micros(a.latency)),
                input_tokens: None,
                output_tokens: None,
                prompt: None,
                completion: None,
                cost_usd: None,
                refused_by: None,
                request_bytes: None,
                response_bytes: None,
                guardrails: Vec::new(),
                ..entry.clone()
            })
            .collect();
        for row in attempts {
            self.app.log_request(row);
        }
        match &self.response_bytes {
            // A stream's entry waits for its last bytes to be counted.
            AnswerBytes::Streamed(counter) => counter.park(entry),
            AnswerBytes::Known(_) => self.app.log_request(entry),
        }
    }
}
