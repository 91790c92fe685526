//! The one resolution step: the body's `model` names `<provider-account>/<model>`; that one value is what
//! the access check sees, where the request is routed, and what the answer calls the model.

use std::sync::Arc;

use gatehouse_core::resource::{ResourceRecord, ResourceSpec};
use gatehouse_core::spec::{ModelSpec, ModelType, ProviderAccountSpec, ProviderAuth, ProviderKind};
use gatehouse_core::token::Principal;
use gatehouse_core::{Action, Resource, ResourceKind, Snapshot};

use crate::error::{ApiError, Forbidden};
use crate::state::App;

/// A model the caller may use, resolved once. Holds the account's record, so a concurrent edit of the
/// account cannot change the destination half-way through a request.
pub struct Target {
    /// `<account>/<model>`, as the client named it and as answers name it.
    pub name: String,
    record: Arc<ResourceRecord>,
    model: usize,
}

impl Target {
    pub fn account(&self) -> &ProviderAccountSpec {
        match &self.record.spec {
            ResourceSpec::ProviderAccount(p) => p,
            // `find` only builds a target from a provider account's record.
            _ => unreachable!("gateway target built from a record that is not a provider account"),
        }
    }

    pub fn kind(&self) -> ProviderKind {
        self.account().kind()
    }

    pub fn model(&self) -> &ModelSpec {
        &self.account().models()[self.model]
    }

    /// The provider's own id for the model, which is what goes upstream.
    pub fn model_id(&self) -> &str {
        &self.model().model_id
    }

    /// The account's credentials, decrypted once per stored version. `None` for an OpenAI-compatible
    /// account without a key; a kind that needs credentials and has none is the operator's mistake, reported
    /// as 502.
    pub fn credentials(&self, app: &App) -> Result<Option<Arc<ProviderAuth>>, ApiError> {
        let kind = self.kind();
        let Some(sealed) = &self.record.sealed_auth else {
            if kind.auth_required() {
                return Err(ApiError::BadGateway(format!(
                    "provider account {} has no credentials configured",
                    self.account().name()
                )));
            }
            return Ok(None);
        };
        let open = || {
            let resource = self.record.resource().to_string();
            let plain =
                app.key.open(&resource, &sealed.0).map_err(|e| ApiError::BadGateway(format!("{resource}: {e}")))?;
            let mut de = serde_json::Deserializer::from_slice(plain.expose());
            // The error names a field at most, never a value, so it is safe to show.
            ProviderAuth::deserialize_for(kind, &mut de)
                .map_err(|e| ApiError::BadGateway(format!("{resource}: stored credentials are unreadable: {e}")))
        };
        app.credentials.get(self.account().name().as_str(), sealed, open).map(Some)
    }
}

/// The same refusal for a model that does not exist and one the caller may not use: no existence oracle.
fn refused(principal: &Principal, model: &str) -> ApiError {
    ApiError::Forbidden(Forbidden::Model { subject: principal.subject.to_string(), model: model.to_owned() })
}

/// Resolves `model` for `principal` on a route serving `route_type` (`/v1/messages` serves chat models).
/// The access check comes before any lookup, so a refusal costs the same whether or not the model exists.
pub fn resolve(app: &App, principal: &Principal, model: &str, route_type: ModelType) -> Result<Target, ApiError> {
    if model.len() > crate::log_fields::MAX_MODEL {
        // No model this long can exist, for anyone: refusing it says nothing about what does.
        return Err(ApiError::invalid(
            "model",
            format!("must be at most {} characters: <provider-account>/<model>", crate::log_fields::MAX_MODEL),
        ));
    }
    let snap = app.snapshot();
    let now = app.now();
    let Some((account, model_name)) = model.split_once('/') else {
        return Err(refused(principal, model));
    };
    let resource = Resource::new(ResourceKind::Model, model);
    if !snap.verdict(&principal.subject, Action::Use, &resource, now).is_allowed() {
        return Err(refused(principal, model));
    }
    let (record, index) = find(&snap, account, model_name).ok_or_else(|| refused(principal, model))?;
    let target = Target { name: model.to_owned(), record, model: index };
    if !target.model().types.contains(&route_type) {
        let types: Vec<String> = target.model().types.iter().map(|t| t.to_string()).collect();
        return Err(ApiError::invalid(
            "model",
            format!("{model} is not a {route_type} model (its types: {})", types.join(", ")),
        ));
    }
    Ok(target)
}

fn find(snap: &Snapshot, account: &str, model: &str) -> Option<(Arc<ResourceRecord>, usize)> {
    let record = snap.resources().get(&Resource::new(ResourceKind::ProviderAccount, account))?;
    let ResourceSpec::ProviderAccount(p) = &record.spec else { return None };
    let index = p.models().iter().position(|m| m.name.as_str() == model)?;
    Some((record.clone(), index))
}

/// Every `<account>/<model>` the caller may use, sorted, with its account.
pub fn usable_models(app: &App, principal: &Principal) -> Vec<(String, String)> {
    let snap = app.snapshot();
    let now = app.now();
    let mut out = Vec::new();
    for record in snap.resources().of_kind(ResourceKind::ProviderAccount) {
        let ResourceSpec::ProviderAccount(p) = &record.spec else { continue };
        for m in p.models() {
            let id = format!("{}/{}", p.name(), m.name);
            let resource = Resource::new(ResourceKind::Model, &id);
            if snap.verdict(&principal.subject, Action::Use, &resource, now).is_allowed() {
                out.push((id, p.name().to_string()));
            }
        }
    }
    out.sort();
    out
}
