//! Checking a provider account: its models, its collaborators, and the fields each provider kind needs.

use super::*;
use crate::field::FieldPath;
use crate::spec::{check_targets, check_ttft};

impl ProviderAccountManifest {
    /// The spec's rules, and the auth's when present (which must be for the same kind).
    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        self.spec.validate(world)?;
        match &self.auth {
            Some(a) if a.kind() != self.spec.kind() => Err(FieldError::new(
                "auth",
                format!("holds credentials for {}, not for {}", a.kind(), self.spec.kind()),
            )),
            Some(a) => a.validate().map_err(|e| e.within("auth")),
            None => Ok(()),
        }
    }
}

impl ProviderAccountSpec {
    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        if let ProviderAccountSpec::VirtualModel(v) = self {
            check_virtual_models(&v.models, world)?;
            return check_collaborators(self.collaborators(), ResourceKind::ProviderAccount, world);
        }
        check_models(self.models(), world)?;
        check_collaborators(self.collaborators(), ResourceKind::ProviderAccount, world)?;
        match self {
            ProviderAccountSpec::AwsBedrock(a) => check_region(&a.region),
            ProviderAccountSpec::AzureOpenAi(a) => {
                check_api_version(&a.api_version)?;
                for (model, deployment) in &a.deployments {
                    let field = format!("deployments.{model}");
                    if !a.models.iter().any(|m| m.name == *model) {
                        return Err(FieldError::new(field, format!("{model} is not one of this account's models")));
                    }
                    check_deployment(&field, deployment)?;
                }
                Ok(())
            }
            ProviderAccountSpec::OpenAi(_)
            | ProviderAccountSpec::Anthropic(_)
            | ProviderAccountSpec::OpenAiCompatible(_)
            | ProviderAccountSpec::VirtualModel(_) => Ok(()),
        }
    }
}

/// A virtual model has a `routing_config` and nothing a real model has (no `model_id`, `types` or
/// `pricing`: it serves, and is priced, as the target that serves).
pub(super) fn check_virtual_models(models: &[ModelSpec], world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, m) in models.iter().enumerate() {
        let within = |e: FieldError| e.within(FieldPath::default().key("models").index(i));
        for (field, set) in
            [("model_id", !m.model_id.is_empty()), ("types", !m.types.is_empty()), ("pricing", m.pricing.is_some())]
        {
            if set {
                return Err(within(FieldError::new(field, "a virtual model has none: it is its targets'")));
            }
        }
        let Some(r) = &m.routing_config else {
            return Err(within(FieldError::new("routing_config", "a virtual model needs a routing_config")));
        };
        let strategy = r.strategy.routing();
        let check = || -> Result<(), FieldError> {
            check_ttft("ttft_timeout_ms", r.ttft_timeout_ms)?;
            if r.sticky == Some(true) && strategy != RoutingStrategy::WeightBasedRouting {
                return Err(FieldError::new("sticky", "is used only by weight routing"));
            }
            check_targets("targets", strategy, &r.targets, world, ["weight", "priority"])
        };
        check().map_err(|e| within(e.within("routing_config")))?;
        if let Some(list) = &m.authorized_subjects {
            check_subjects("authorized_subjects", list, world).map_err(within)?;
        }
    }
    no_duplicates(models.iter().enumerate().map(|(i, m)| (format!("models[{i}].name"), &m.name)))
}

impl ProviderAuth {
    /// Field paths are relative to `auth`.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            ProviderAuth::OpenAi(a) | ProviderAuth::Anthropic(a) | ProviderAuth::AzureOpenAi(a) => {
                check_header_secret("api_key", &a.api_key)
            }
            ProviderAuth::AwsBedrock(a) => {
                check_header_secret("access_key_id", &a.access_key_id)?;
                check_header_secret("secret_access_key", &a.secret_access_key)?;
                match &a.session_token {
                    Some(t) => check_header_secret("session_token", t),
                    None => Ok(()),
                }
            }
            ProviderAuth::OpenAiCompatible(a) => match &a.api_key {
                Some(k) => check_header_secret("api_key", k),
                None => Ok(()),
            },
        }
    }
}

pub(super) fn check_models(models: &[ModelSpec], world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, m) in models.iter().enumerate() {
        check_model(m, world).map_err(|e| e.within(FieldPath::default().key("models").index(i)))?;
    }
    no_duplicates(models.iter().enumerate().map(|(i, m)| (format!("models[{i}].name"), &m.name)))
}

pub(super) fn check_model(m: &ModelSpec, world: &dyn Lookup) -> Result<(), FieldError> {
    if m.routing_config.is_some() {
        return Err(FieldError::new("routing_config", "only models of a provider-account/virtual-model route"));
    }
    if m.model_id.is_empty() {
        return Err(FieldError::new("model_id", "must not be empty"));
    }
    if m.model_id.len() > 512 {
        return Err(FieldError::new("model_id", "must be at most 512 characters"));
    }
    // The id goes into upstream URLs and bodies as it is; whitespace there is always a copy-paste slip.
    if m.model_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new("model_id", "must not contain spaces or control characters"));
    }
    if m.types.is_empty() {
        return Err(FieldError::new("types", "must list at least one of chat, completion, embedding"));
    }
    no_duplicates(m.types.iter().enumerate().map(|(i, t)| (format!("types[{i}]"), t)))?;
    if let Some(p) = &m.pricing {
        p.validate().map_err(|e| e.within("pricing"))?;
    }
    match &m.authorized_subjects {
        Some(list) => check_subjects("authorized_subjects", list, world),
        None => Ok(()),
    }
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-2`: two letters, words, then a number.
pub(super) fn check_region(v: &str) -> Result<(), FieldError> {
    let parts: Vec<&str> = v.split('-').collect();
    let letters = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    let ok = parts.len() >= 3
        && parts.first().is_some_and(|p| p.len() == 2 && letters(p))
        && parts[1..parts.len() - 1].iter().all(letters)
        && parts.last().is_some_and(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("region", format!("{v:?} is not an AWS region like us-east-1")))
    }
}

/// Azure versions are dates with an optional suffix (`2024-10-21`, `2025-01-01-preview`), and the v1 API
/// takes words (`preview`, `latest`); all go into a query string, so only safe characters are allowed.
pub(super) fn check_api_version(v: &str) -> Result<(), FieldError> {
    if v.is_empty() || v.len() > 32 {
        return Err(FieldError::new("api_version", "must be 1 to 32 characters, e.g. 2024-10-21"));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return Err(FieldError::new(
            "api_version",
            "only letters, digits, hyphens and dots are allowed, e.g. 2024-10-21",
        ));
    }
    Ok(())
}

/// Azure's own rule for deployment names; they become a URL path segment.
pub(super) fn check_deployment(field: &str, v: &str) -> Result<(), FieldError> {
    if v.is_empty() || v.len() > 64 {
        return Err(FieldError::new(field, "must be 1 to 64 characters"));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(FieldError::new(field, "only letters, digits, hyphens, underscores and dots are allowed"));
    }
    Ok(())
}
