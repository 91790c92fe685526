//! The one resolution step: the body's `model` names `<provider-account>/<model>`; that one value is what
//! the access check sees, where the request is routed, and what the answer calls the model.

use std::sync::Arc;

use gatehouse_core::spec::{ModelSpec, ModelType, ProviderAccountSpec, ProviderKind};
use gatehouse_core::token::Principal;
use gatehouse_core::{Action, Resource, ResourceKind, Subject};
use time::OffsetDateTime;

use super::table::{Account, Endpoint, Model};
use crate::error::{ApiError, Forbidden};
use crate::state::Published;

/// A model the caller may use, resolved once in the request's view. Holds the compiled account, so a
/// concurrent edit of the account cannot change the destination half-way through a request.
pub struct Target {
    /// `<account>/<model>` (or a virtual model), as the client named it and as answers name it.
    pub name: String,
    /// `<account>/<model>` of the real model the request goes to: `name` unless it was routed.
    pub served: String,
    account: Arc<Account>,
    model: Arc<Model>,
}

impl Target {
    pub fn account(&self) -> &ProviderAccountSpec {
        &self.account.spec
    }

    pub fn compiled(&self) -> &Account {
        &self.account
    }

    pub fn kind(&self) -> ProviderKind {
        self.account.kind()
    }

    /// A model of a `provider-account/virtual-model`, which is routed, never called.
    pub fn is_virtual(&self) -> bool {
        self.kind() == ProviderKind::VirtualModel
    }

    pub fn model(&self) -> &ModelSpec {
        &self.model.spec
    }

    /// The provider's own id for the model, which is what goes upstream.
    pub fn model_id(&self) -> &str {
        &self.model().model_id
    }

    /// The model's price as published with this view: what its calls cost is what was in force when they
    /// ran.
    pub fn pricing(&self) -> Option<&gatehouse_core::spec::ModelPricing> {
        self.model.pricing()
    }

    /// The URL of `endpoint` for this model.
    pub fn url(&self, endpoint: Endpoint) -> Result<&reqwest::Url, ApiError> {
        self.model.url(endpoint)
    }
}

/// The same refusal for a model that does not exist and one the caller may not use: no existence oracle.
fn refused(principal: &Principal, model: &str) -> ApiError {
    ApiError::Forbidden(Forbidden::Model { subject: principal.subject.to_string(), model: model.to_owned() })
}

/// Resolves `model` for `principal` on a route serving `route_type` (`/v1/messages` serves chat models).
/// The access check comes before any lookup, so a refusal costs the same whether or not the model exists.
pub fn resolve(
    metrics: &crate::observability::Metrics,
    view: &Published,
    principal: &Principal,
    model: &str,
    route_type: ModelType,
    now: OffsetDateTime,
) -> Result<Target, ApiError> {
    if model.len() > crate::log_fields::MAX_MODEL {
        // No model this long can exist, for anyone: refusing it says nothing about what does.
        return Err(ApiError::invalid(
            "model",
            format!("must be at most {} characters: <provider-account>/<model>", crate::log_fields::MAX_MODEL),
        ));
    }
    if !model.contains('/') {
        return Err(refused(principal, model));
    }
    let resource = Resource::new(ResourceKind::Model, model);
    let verdict = view.snapshot.verdict(&principal.subject, Action::Use, &resource, now);
    metrics.decision(crate::observability::DecisionSource::Gateway, &verdict);
    if !verdict.is_allowed() {
        return Err(refused(principal, model));
    }
    let (account, found) = view.gateway.model(model).ok_or_else(|| refused(principal, model))?;
    let target =
        Target { name: model.to_owned(), served: model.to_owned(), account: account.clone(), model: found.clone() };
    // A virtual model serves what its targets serve: the route phase finds those that serve this route.
    if !target.is_virtual() && !target.model().types.contains(&route_type) {
        let types: Vec<String> = target.model().types.iter().map(|t| t.to_string()).collect();
        return Err(ApiError::invalid(
            "model",
            format!("{model} is not a {route_type} model (its types: {})", types.join(", ")),
        ));
    }
    Ok(target)
}

/// The real model `served` as a target of a request for `named`, without an access check: routing to it
/// was decided by whoever configured the routing. `None` when it is gone or does not serve the route.
pub fn routed(view: &Published, served: &str, named: &str, route_type: ModelType) -> Option<Target> {
    let (account, found) = view.gateway.model(served)?;
    let target =
        Target { name: named.to_owned(), served: served.to_owned(), account: account.clone(), model: found.clone() };
    (!target.is_virtual() && target.model().types.contains(&route_type)).then_some(target)
}

/// Every `<account>/<model>` `subject` may use, sorted, with its account.
pub fn usable_models(view: &Published, subject: &Subject, now: OffsetDateTime) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for account in view.gateway.accounts() {
        let p = &account.spec;
        for m in p.models() {
            let id = format!("{}/{}", p.name(), m.name);
            let resource = Resource::new(ResourceKind::Model, &id);
            if view.snapshot.verdict(subject, Action::Use, &resource, now).is_allowed() {
                out.push((id, p.name().to_string()));
            }
        }
    }
    out.sort();
    out
}
