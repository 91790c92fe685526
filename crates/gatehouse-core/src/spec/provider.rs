//! Provider accounts: `provider-account/<type>` manifests, split into a non-secret spec and an `auth` part.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::{
    check_collaborators, check_header_secret, check_subjects, expose_secret, expose_secret_opt, grants_on,
    no_duplicates, split_auth, Collaborator, FieldError, HttpUrl, Lookup, ModelName, ModelPricing,
};
use crate::ids::ResourceName;
use crate::model::{Grant, Resource, ResourceKind, Subject};
use crate::secret::Secret;

/// The `<type>` of `provider-account/<type>`; REST bodies carry it as `"type": "<type>"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "aws-bedrock")]
    AwsBedrock,
    #[serde(rename = "azure-openai")]
    AzureOpenAi,
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 5] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::AwsBedrock,
        ProviderKind::AzureOpenAi,
        ProviderKind::OpenAiCompatible,
    ];

    /// `openai`, `anthropic`, `aws-bedrock`, `azure-openai` or `openai-compatible`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::AwsBedrock => "aws-bedrock",
            ProviderKind::AzureOpenAi => "azure-openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
        }
    }

    /// The manifest `type`: `provider-account/openai`, ...
    pub const fn manifest_type(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "provider-account/openai",
            ProviderKind::Anthropic => "provider-account/anthropic",
            ProviderKind::AwsBedrock => "provider-account/aws-bedrock",
            ProviderKind::AzureOpenAi => "provider-account/azure-openai",
            ProviderKind::OpenAiCompatible => "provider-account/openai-compatible",
        }
    }

    /// From `openai` (a REST body's `type`).
    pub fn from_type(s: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// From `provider-account/openai` (a manifest's `type`).
    pub fn from_manifest_type(s: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.manifest_type() == s)
    }

    /// Whether creating an account of this kind needs `auth`. An OpenAI-compatible server (vLLM, Ollama, a
    /// local proxy) often takes no key at all.
    pub const fn auth_required(self) -> bool {
        !matches!(self, ProviderKind::OpenAiCompatible)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Either form: `openai` or `provider-account/openai`.
impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProviderKind::from_type(s).or_else(|| ProviderKind::from_manifest_type(s)).ok_or_else(|| {
            let all: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown provider type {s:?}; expected one of {}", all.join(", "))
        })
    }
}

/// What a model can be called for; each maps to gateway routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    Chat,
    Completion,
    Embedding,
}

impl fmt::Display for ModelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelType::Chat => "chat",
            ModelType::Completion => "completion",
            ModelType::Embedding => "embedding",
        })
    }
}

/// One model of an account, called as `<account>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: ModelName,
    /// The provider's own id, sent upstream: `gpt-4o`, `anthropic.claude-3-5-sonnet-20241022-v2:0`, an ARN...
    pub model_id: String,
    pub types: Vec<ModelType>,
    /// When set, only these subjects may use this model, instead of everyone with use of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_subjects: Option<Vec<Subject>>,
    /// What the provider charges, for the cost in usage reports; none when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<ModelPricing>,
}

/// The fields of `openai` and `anthropic` accounts, which have no settings of their own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardAccount {
    pub name: ResourceName,
    /// Overrides the provider's default API base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<HttpUrl>,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsBedrockAccount {
    pub name: ResourceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<HttpUrl>,
    /// `us-east-1`, ...
    pub region: String,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureOpenAiAccount {
    pub name: ResourceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<HttpUrl>,
    /// The resource endpoint, `https://<resource>.openai.azure.com`.
    pub endpoint: HttpUrl,
    /// `2024-10-21`, `2025-01-01-preview`, ...
    pub api_version: String,
    /// Model name -> Azure deployment name; a model without an entry is deployed under its `model_id`.
    #[serde(default)]
    pub deployments: BTreeMap<ModelName, String>,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiCompatibleAccount {
    pub name: ResourceName,
    /// Required: there is no default server to talk to.
    pub base_url: HttpUrl,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
}

/// A provider account without its credentials: what reads and export return, and what the engine and the
/// gateway are told. Serializes as the manifest's fields without `type` and without `auth`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ProviderAccountSpec {
    OpenAi(StandardAccount),
    Anthropic(StandardAccount),
    AwsBedrock(AwsBedrockAccount),
    AzureOpenAi(AzureOpenAiAccount),
    OpenAiCompatible(OpenAiCompatibleAccount),
}

/// The credentials of a provider account. Debug prints `****` for every value; Serialize writes the values
/// themselves (without `type`), for the server to encrypt and to send upstream, and for nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ProviderAuth {
    OpenAi(ApiKeyAuth),
    Anthropic(ApiKeyAuth),
    AwsBedrock(AwsBedrockAuth),
    AzureOpenAi(ApiKeyAuth),
    OpenAiCompatible(OpenAiCompatibleAuth),
}

/// `auth` of `openai`, `anthropic` and `azure-openai`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyAuth {
    #[serde(serialize_with = "expose_secret")]
    pub api_key: Secret<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsBedrockAuth {
    #[serde(serialize_with = "expose_secret")]
    pub access_key_id: Secret<String>,
    #[serde(serialize_with = "expose_secret")]
    pub secret_access_key: Secret<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "expose_secret_opt")]
    pub session_token: Option<Secret<String>>,
}

/// `auth: {}` is meaningful: on an update it replaces a stored key with none, where a missing `auth` keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiCompatibleAuth {
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "expose_secret_opt")]
    pub api_key: Option<Secret<String>>,
}

/// A whole `provider-account/<type>` manifest (or REST body). Deliberately not Serialize: the spec and the
/// auth are written out separately, so that a read can never include the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderAccountManifest {
    pub spec: ProviderAccountSpec,
    /// `None` when the manifest has no `auth` (or `auth: null`): on an update, keep the stored one.
    pub auth: Option<ProviderAuth>,
}

impl ProviderAccountManifest {
    /// Reads the manifest's fields (without `type`, which chose `kind`), with `auth` among them.
    pub fn deserialize_for<'de, D: Deserializer<'de>>(kind: ProviderKind, d: D) -> Result<Self, D::Error> {
        Ok(match kind {
            ProviderKind::OpenAi => {
                let (spec, auth) = split_auth(d)?;
                ProviderAccountManifest {
                    spec: ProviderAccountSpec::OpenAi(spec),
                    auth: auth.map(ProviderAuth::OpenAi),
                }
            }
            ProviderKind::Anthropic => {
                let (spec, auth) = split_auth(d)?;
                ProviderAccountManifest {
                    spec: ProviderAccountSpec::Anthropic(spec),
                    auth: auth.map(ProviderAuth::Anthropic),
                }
            }
            ProviderKind::AwsBedrock => {
                let (spec, auth) = split_auth(d)?;
                ProviderAccountManifest {
                    spec: ProviderAccountSpec::AwsBedrock(spec),
                    auth: auth.map(ProviderAuth::AwsBedrock),
                }
            }
            ProviderKind::AzureOpenAi => {
                let (spec, auth) = split_auth(d)?;
                ProviderAccountManifest {
                    spec: ProviderAccountSpec::AzureOpenAi(spec),
                    auth: auth.map(ProviderAuth::AzureOpenAi),
                }
            }
            ProviderKind::OpenAiCompatible => {
                let (spec, auth) = split_auth(d)?;
                ProviderAccountManifest {
                    spec: ProviderAccountSpec::OpenAiCompatible(spec),
                    auth: auth.map(ProviderAuth::OpenAiCompatible),
                }
            }
        })
    }

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

/// The accessors below, over whichever variant.
macro_rules! each_account {
    ($self:expr, $a:ident => $e:expr) => {
        match $self {
            ProviderAccountSpec::OpenAi($a) | ProviderAccountSpec::Anthropic($a) => $e,
            ProviderAccountSpec::AwsBedrock($a) => $e,
            ProviderAccountSpec::AzureOpenAi($a) => $e,
            ProviderAccountSpec::OpenAiCompatible($a) => $e,
        }
    };
}

impl ProviderAccountSpec {
    /// Reads a stored or sent spec (the manifest's fields without `type`); an `auth` field is refused.
    pub fn deserialize_for<'de, D: Deserializer<'de>>(kind: ProviderKind, d: D) -> Result<Self, D::Error> {
        Ok(match kind {
            ProviderKind::OpenAi => ProviderAccountSpec::OpenAi(StandardAccount::deserialize(d)?),
            ProviderKind::Anthropic => ProviderAccountSpec::Anthropic(StandardAccount::deserialize(d)?),
            ProviderKind::AwsBedrock => ProviderAccountSpec::AwsBedrock(AwsBedrockAccount::deserialize(d)?),
            ProviderKind::AzureOpenAi => ProviderAccountSpec::AzureOpenAi(AzureOpenAiAccount::deserialize(d)?),
            ProviderKind::OpenAiCompatible => {
                ProviderAccountSpec::OpenAiCompatible(OpenAiCompatibleAccount::deserialize(d)?)
            }
        })
    }

    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderAccountSpec::OpenAi(_) => ProviderKind::OpenAi,
            ProviderAccountSpec::Anthropic(_) => ProviderKind::Anthropic,
            ProviderAccountSpec::AwsBedrock(_) => ProviderKind::AwsBedrock,
            ProviderAccountSpec::AzureOpenAi(_) => ProviderKind::AzureOpenAi,
            ProviderAccountSpec::OpenAiCompatible(_) => ProviderKind::OpenAiCompatible,
        }
    }

    /// `provider-account/<type>`.
    pub fn manifest_type(&self) -> &'static str {
        self.kind().manifest_type()
    }

    pub fn name(&self) -> &ResourceName {
        each_account!(self, a => &a.name)
    }

    pub fn base_url(&self) -> Option<&HttpUrl> {
        match self {
            ProviderAccountSpec::OpenAi(a) | ProviderAccountSpec::Anthropic(a) => a.base_url.as_ref(),
            ProviderAccountSpec::AwsBedrock(a) => a.base_url.as_ref(),
            ProviderAccountSpec::AzureOpenAi(a) => a.base_url.as_ref(),
            ProviderAccountSpec::OpenAiCompatible(a) => Some(&a.base_url),
        }
    }

    /// The fields that decide where the account's credentials are sent: its type (each has its own default
    /// host), `base_url`, and Bedrock's `region` or Azure's `endpoint`. Azure's `api_version` and
    /// deployments only change the path on the same host, so they are not part of it.
    pub fn destination(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut out =
            vec![("the provider type", Some(self.manifest_type())), ("base_url", self.base_url().map(|u| u.as_str()))];
        match self {
            ProviderAccountSpec::AwsBedrock(a) => out.push(("region", Some(a.region.as_str()))),
            ProviderAccountSpec::AzureOpenAi(a) => out.push(("endpoint", Some(a.endpoint.as_str()))),
            ProviderAccountSpec::OpenAi(_)
            | ProviderAccountSpec::Anthropic(_)
            | ProviderAccountSpec::OpenAiCompatible(_) => {}
        }
        out
    }

    pub fn models(&self) -> &[ModelSpec] {
        each_account!(self, a => &a.models)
    }

    pub fn models_mut(&mut self) -> &mut Vec<ModelSpec> {
        each_account!(self, a => &mut a.models)
    }

    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models().iter().find(|m| m.name.as_str() == name)
    }

    pub fn collaborators(&self) -> &[Collaborator] {
        each_account!(self, a => &a.collaborators)
    }

    /// `provider-account:<name>`.
    pub fn resource(&self) -> Resource {
        Resource::new(ResourceKind::ProviderAccount, self.name().as_str())
    }

    /// The collaborator grants, on `provider-account:<name>`.
    pub fn grants(&self) -> impl Iterator<Item = Grant> + '_ {
        grants_on(self.collaborators(), self.resource())
    }

    /// Each model with its `authorized_subjects` (`None`: everyone who may use the account).
    pub fn model_access(&self) -> impl Iterator<Item = (&ModelName, Option<&[Subject]>)> {
        self.models().iter().map(|m| (&m.name, m.authorized_subjects.as_deref()))
    }

    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
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
            | ProviderAccountSpec::OpenAiCompatible(_) => Ok(()),
        }
    }
}

impl ProviderAuth {
    /// Reads a stored (decrypted) auth of an account of `kind`.
    pub fn deserialize_for<'de, D: Deserializer<'de>>(kind: ProviderKind, d: D) -> Result<Self, D::Error> {
        Ok(match kind {
            ProviderKind::OpenAi => ProviderAuth::OpenAi(ApiKeyAuth::deserialize(d)?),
            ProviderKind::Anthropic => ProviderAuth::Anthropic(ApiKeyAuth::deserialize(d)?),
            ProviderKind::AwsBedrock => ProviderAuth::AwsBedrock(AwsBedrockAuth::deserialize(d)?),
            ProviderKind::AzureOpenAi => ProviderAuth::AzureOpenAi(ApiKeyAuth::deserialize(d)?),
            ProviderKind::OpenAiCompatible => ProviderAuth::OpenAiCompatible(OpenAiCompatibleAuth::deserialize(d)?),
        })
    }

    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderAuth::OpenAi(_) => ProviderKind::OpenAi,
            ProviderAuth::Anthropic(_) => ProviderKind::Anthropic,
            ProviderAuth::AwsBedrock(_) => ProviderKind::AwsBedrock,
            ProviderAuth::AzureOpenAi(_) => ProviderKind::AzureOpenAi,
            ProviderAuth::OpenAiCompatible(_) => ProviderKind::OpenAiCompatible,
        }
    }

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

fn check_models(models: &[ModelSpec], world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, m) in models.iter().enumerate() {
        check_model(m, world).map_err(|e| e.within(&format!("models[{i}]")))?;
    }
    no_duplicates(models.iter().enumerate().map(|(i, m)| (format!("models[{i}].name"), &m.name)))
}

fn check_model(m: &ModelSpec, world: &dyn Lookup) -> Result<(), FieldError> {
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
fn check_region(v: &str) -> Result<(), FieldError> {
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
fn check_api_version(v: &str) -> Result<(), FieldError> {
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
fn check_deployment(field: &str, v: &str) -> Result<(), FieldError> {
    if v.is_empty() || v.len() > 64 {
        return Err(FieldError::new(field, "must be 1 to 64 characters"));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(FieldError::new(field, "only letters, digits, hyphens, underscores and dots are allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::test_world::{fails_at, world};
    use super::*;

    fn manifest(kind: ProviderKind, v: Value) -> Result<ProviderAccountManifest, serde_json::Error> {
        ProviderAccountManifest::deserialize_for(kind, v)
    }

    /// CONTRACT.md's example, without `type`.
    fn openai() -> Value {
        json!({
            "name": "openai-main",
            "base_url": "http://127.0.0.1:9000/v1",
            "auth": {"api_key": "sk-test"},
            "models": [{"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat"]}],
            "collaborators": [
                {"subject": "team:ml-platform", "role": "provider-account-user"},
                {"subject": "virtualaccount:checkout-service", "role": "provider-account-user"},
                {"subject": "user:alice@example.com", "role": "provider-account-manager"}
            ]
        })
    }

    fn without_auth(mut v: Value) -> Value {
        v.as_object_mut().unwrap().remove("auth");
        v
    }

    /// One CONTRACT-style manifest per kind, and its auth as it serializes.
    fn examples() -> Vec<(ProviderKind, Value, Value)> {
        vec![
            (ProviderKind::OpenAi, openai(), json!({"api_key": "sk-test"})),
            (
                ProviderKind::Anthropic,
                json!({
                    "name": "anthropic-main",
                    "auth": {"api_key": "sk-ant-test"},
                    "models": [{"name": "claude-3-5-sonnet-20241022", "model_id": "claude-3-5-sonnet-20241022",
                                "types": ["chat"], "authorized_subjects": ["team:ml-platform"]}],
                    "collaborators": [{"subject": "team:ml-platform", "role": "provider-account-user"}]
                }),
                json!({"api_key": "sk-ant-test"}),
            ),
            (
                ProviderKind::AwsBedrock,
                json!({
                    "name": "bedrock",
                    "region": "us-east-1",
                    "auth": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret", "session_token": "tok"},
                    "models": [{"name": "claude-3-5-sonnet", "model_id": "anthropic.claude-3-5-sonnet-20241022-v2:0",
                                "types": ["chat"],
                                "pricing": {"input_per_million_tokens": 3.0, "output_per_million_tokens": 15.0}},
                               {"name": "titan-embed", "model_id": "amazon.titan-embed-text-v2:0",
                                "types": ["embedding"]}]
                }),
                json!({"access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret", "session_token": "tok"}),
            ),
            (
                ProviderKind::AzureOpenAi,
                json!({
                    "name": "azure-east",
                    "endpoint": "https://my-resource.openai.azure.com",
                    "api_version": "2024-10-21",
                    "deployments": {"gpt-4o": "gpt4o-prod"},
                    "auth": {"api_key": "azure-key"},
                    "models": [{"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat", "completion"]}]
                }),
                json!({"api_key": "azure-key"}),
            ),
            (
                ProviderKind::OpenAiCompatible,
                json!({
                    "name": "local-ollama",
                    "base_url": "http://127.0.0.1:11434/v1",
                    "auth": {},
                    "models": [{"name": "llama3.1:8b", "model_id": "llama3.1:8b", "types": ["chat"]}]
                }),
                json!({}),
            ),
        ]
    }

    #[test]
    fn kinds() {
        for k in ProviderKind::ALL {
            assert_eq!(ProviderKind::from_type(k.as_str()), Some(k));
            assert_eq!(ProviderKind::from_manifest_type(k.manifest_type()), Some(k));
            assert_eq!(k.manifest_type(), format!("provider-account/{k}"));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
            assert_eq!(k.as_str().parse::<ProviderKind>(), Ok(k));
            assert_eq!(k.manifest_type().parse::<ProviderKind>(), Ok(k));
        }
        assert!(ProviderKind::from_type("provider-account/openai").is_none());
        assert!("cohere".parse::<ProviderKind>().is_err());
        assert!(!ProviderKind::OpenAiCompatible.auth_required() && ProviderKind::OpenAi.auth_required());
    }

    #[test]
    fn every_kind_parses_and_serializes_back_without_auth() {
        let w = world();
        for (kind, v, auth) in examples() {
            let m = manifest(kind, v.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(m.spec.kind(), kind);
            m.validate(&w).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let a = m.auth.clone().unwrap();
            assert_eq!(a.kind(), kind);
            let out = serde_json::to_value(&m.spec).unwrap();
            assert!(out.get("auth").is_none() && out.get("type").is_none(), "{out}");
            // Serialization writes out the defaults that the examples leave out.
            let mut expected = without_auth(v);
            for (k, default) in [("models", json!([])), ("collaborators", json!([]))] {
                expected.as_object_mut().unwrap().entry(k).or_insert(default);
            }
            assert_eq!(out, expected, "{kind}");
            // What reads return reads back as the same spec, and the auth round-trips on its own.
            assert_eq!(ProviderAccountSpec::deserialize_for(kind, out.clone()).unwrap(), m.spec);
            assert_eq!(manifest(kind, out).unwrap(), ProviderAccountManifest { spec: m.spec.clone(), auth: None });
            let sealed = serde_json::to_value(&a).unwrap();
            assert_eq!(sealed, auth, "{kind}");
            assert_eq!(ProviderAuth::deserialize_for(kind, sealed).unwrap(), a);
        }
    }

    #[test]
    fn secrets_never_print() {
        for (kind, v, _) in examples() {
            let m = manifest(kind, v).unwrap();
            let shown = format!("{m:?}");
            for secret in ["sk-test", "sk-ant-test", "AKIAEXAMPLE", "azure-key", "\"tok\""] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }

    #[test]
    fn missing_auth_is_none_and_null_is_too() {
        let m = manifest(ProviderKind::OpenAi, without_auth(openai())).unwrap();
        assert!(m.auth.is_none());
        let mut v = openai();
        v["auth"] = Value::Null;
        assert!(manifest(ProviderKind::OpenAi, v).unwrap().auth.is_none());
        // An empty openai-compatible auth is an explicit "no key", unlike a missing one.
        let (_, v, _) = examples().remove(4);
        let m = manifest(ProviderKind::OpenAiCompatible, v).unwrap();
        assert_eq!(m.auth, Some(ProviderAuth::OpenAiCompatible(OpenAiCompatibleAuth { api_key: None })));
    }

    #[test]
    fn unknown_and_missing_fields_are_rejected() {
        let cases: Vec<(ProviderKind, Value, &str)> = vec![
            (ProviderKind::OpenAi, json!({"region": "us-east-1"}), "unknown field `region`"),
            (ProviderKind::OpenAi, json!({"auth": {"api_key": "k", "org": "x"}}), "unknown field `org`"),
            (ProviderKind::OpenAi, json!({"auth": {"token": "k"}}), "unknown field `token`"),
            (ProviderKind::OpenAi, json!({"auth": {}}), "missing field `api_key`"),
            (ProviderKind::Anthropic, json!({"auth": {"access_key_id": "k"}}), "unknown field `access_key_id`"),
            (ProviderKind::OpenAi, json!({"name": "Open AI"}), "resource name \"Open AI\" is invalid"),
            (ProviderKind::OpenAi, json!({"base_url": "ftp://x"}), "URL \"ftp://x\" is invalid"),
            (
                ProviderKind::OpenAi,
                json!({"models": [{"name": "m", "model_id": "m", "types": ["chat"], "x": 1}]}),
                "unknown field `x`",
            ),
            (
                ProviderKind::OpenAi,
                json!({"models": [{"name": "m", "model_id": "m", "types": ["image"]}]}),
                "unknown variant `image`",
            ),
            (ProviderKind::OpenAi, json!({"models": [{"name": "m", "types": ["chat"]}]}), "missing field `model_id`"),
            (ProviderKind::OpenAi, json!({"models": [{"name": "m", "model_id": "m"}]}), "missing field `types`"),
            (
                ProviderKind::OpenAi,
                json!({"models": [{"name": "m", "model_id": "m", "types": ["chat"],
                                   "authorized_subjects": ["group:x"]}]}),
                "unknown kind \"group\"",
            ),
            (
                ProviderKind::OpenAi,
                json!({"collaborators": [{"subject": "team:ml-platform", "role": "owner"}]}),
                "unknown variant `owner`",
            ),
            (ProviderKind::AwsBedrock, json!({"region": null}), "invalid type: null"),
            (ProviderKind::AwsBedrock, json!({"endpoint": "https://x.openai.azure.com"}), "unknown field `endpoint`"),
            (ProviderKind::AzureOpenAi, json!({"region": "us-east-1"}), "unknown field `region`"),
            (ProviderKind::OpenAiCompatible, json!({"base_url": null}), "invalid type: null"),
        ];
        for (kind, patch, expected) in cases {
            let mut v = required(kind);
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            let e = manifest(kind, v.clone()).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{kind} {v}: {e}");
        }
        for kind in ProviderKind::ALL {
            let all = required(kind);
            assert!(manifest(kind, all.clone()).is_ok(), "{kind}");
            for field in all.as_object().unwrap().keys() {
                let mut v = all.clone();
                v.as_object_mut().unwrap().remove(field);
                let e = manifest(kind, v).unwrap_err();
                assert_eq!(e.to_string(), format!("missing field `{field}`"), "{kind}");
            }
        }
        // A stored spec never holds credentials.
        let e = ProviderAccountSpec::deserialize_for(ProviderKind::OpenAi, openai()).unwrap_err();
        assert!(e.to_string().starts_with("unknown field `auth`"), "{e}");
    }

    /// Exactly the fields a kind requires.
    fn required(kind: ProviderKind) -> Value {
        match kind {
            ProviderKind::OpenAi | ProviderKind::Anthropic => json!({"name": "acct"}),
            ProviderKind::AwsBedrock => json!({"name": "acct", "region": "us-east-1"}),
            ProviderKind::AzureOpenAi => {
                json!({"name": "acct", "endpoint": "https://x.openai.azure.com", "api_version": "2024-10-21"})
            }
            ProviderKind::OpenAiCompatible => json!({"name": "acct", "base_url": "http://127.0.0.1:8000/v1"}),
        }
    }

    fn spec(kind: ProviderKind, patch: Value) -> ProviderAccountManifest {
        let mut v = examples().into_iter().find(|(k, _, _)| *k == kind).unwrap().1;
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        manifest(kind, v).unwrap()
    }

    fn model(name: &str) -> Value {
        json!({"name": name, "model_id": name, "types": ["chat"]})
    }

    #[test]
    fn model_rules() {
        let w = world();
        let v = |models: Value| spec(ProviderKind::OpenAi, json!({"models": models})).validate(&w);
        assert!(v(json!([])).is_ok());
        let msg = fails_at(v(json!([model("gpt-4o"), model("o1"), model("gpt-4o")])), "models[2].name");
        assert_eq!(msg, "gpt-4o appears twice");
        let with = |k: &str, x: Value| {
            let mut m = model("m");
            m[k] = x;
            v(json!([model("a"), m]))
        };
        assert_eq!(fails_at(with("model_id", json!("")), "models[1].model_id"), "must not be empty");
        fails_at(with("model_id", json!("gpt 4o")), "models[1].model_id");
        fails_at(with("model_id", json!("x".repeat(513))), "models[1].model_id");
        assert!(with("model_id", json!("arn:aws:bedrock:us-east-1:1:inference-profile/us.x-v1:0")).is_ok());
        fails_at(with("types", json!([])), "models[1].types");
        let msg = fails_at(with("types", json!(["chat", "embedding", "chat"])), "models[1].types[2]");
        assert_eq!(msg, "chat appears twice");
        assert!(with("authorized_subjects", json!([])).is_ok());
        let msg = fails_at(
            with("authorized_subjects", json!(["team:ml-platform", "user:carol@example.com"])),
            "models[1].authorized_subjects[1]",
        );
        assert_eq!(msg, "user:carol@example.com does not exist");
        fails_at(
            with("authorized_subjects", json!(["team:ml-platform", "team:ml-platform"])),
            "models[1].authorized_subjects[1]",
        );
        let priced = |input: Value, output: Value| {
            with("pricing", json!({"input_per_million_tokens": input, "output_per_million_tokens": output}))
        };
        assert!(priced(json!(2.5), json!(10)).is_ok());
        assert!(priced(json!(0), json!(0)).is_ok());
        let msg = fails_at(priced(json!(-1), json!(10)), "models[1].pricing.input_per_million_tokens");
        assert!(msg.starts_with("must be a finite number"), "{msg}");
        fails_at(priced(json!(1), json!(-0.5)), "models[1].pricing.output_per_million_tokens");
        // Both prices are needed, and nothing else is taken.
        for pricing in [
            json!({"input_per_million_tokens": 1}),
            json!({"input_per_million_tokens": 1,
                         "output_per_million_tokens": 1, "currency": "EUR"}),
            json!({"input_per_million_tokens": "1",
                         "output_per_million_tokens": 1}),
        ] {
            let mut m = model("m");
            m["pricing"] = pricing;
            assert!(manifest(ProviderKind::OpenAi, json!({"name": "acct", "models": [m]})).is_err());
        }
    }

    #[test]
    fn collaborator_rules() {
        let w = world();
        let v = |c: Value| spec(ProviderKind::OpenAi, json!({"collaborators": c})).validate(&w);
        let msg =
            fails_at(v(json!([{"subject": "team:ml-platform", "role": "mcp-server-user"}])), "collaborators[0].role");
        assert!(msg.ends_with("use provider-account-manager or provider-account-user"), "{msg}");
        fails_at(v(json!([{"subject": "team:ghosts", "role": "provider-account-user"}])), "collaborators[0].subject");
        fails_at(
            v(json!([
                {"subject": "user:alice@example.com", "role": "provider-account-user"},
                {"subject": "user:Alice@Example.com", "role": "provider-account-manager"}
            ])),
            "collaborators[1].subject",
        );
    }

    #[test]
    fn kind_specific_rules() {
        let w = world();
        let bedrock = |region: &str| spec(ProviderKind::AwsBedrock, json!({"region": region})).validate(&w);
        for ok in ["us-east-1", "us-gov-west-1", "ap-southeast-2", "eu-central-1", "il-central-1"] {
            assert!(bedrock(ok).is_ok(), "{ok}");
        }
        for bad in ["", "us-east", "US-EAST-1", "us_east_1", "useast1", "u-east-1", "us--1", "us-east-1a"] {
            fails_at(bedrock(bad), "region");
        }
        let azure = |patch: Value| spec(ProviderKind::AzureOpenAi, patch).validate(&w);
        for ok in ["2024-10-21", "2025-01-01-preview", "preview", "v1"] {
            assert!(azure(json!({"api_version": ok})).is_ok(), "{ok}");
        }
        for bad in ["", "2024/10/21", "2024-10-21&x=1", &"1".repeat(33)] {
            fails_at(azure(json!({"api_version": bad})), "api_version");
        }
        let msg = fails_at(azure(json!({"deployments": {"gpt-4o": "a", "gpt-5": "b"}})), "deployments.gpt-5");
        assert_eq!(msg, "gpt-5 is not one of this account's models");
        fails_at(azure(json!({"deployments": {"gpt-4o": "my deployment"}})), "deployments.gpt-4o");
        fails_at(azure(json!({"deployments": {"gpt-4o": ""}})), "deployments.gpt-4o");
        // Deployment keys are model names, checked as such while parsing.
        let mut v = examples().remove(3).1;
        v["deployments"] = json!({"gpt/4o": "x"});
        assert!(manifest(ProviderKind::AzureOpenAi, v).is_err());
    }

    #[test]
    fn auth_rules() {
        let w = world();
        let v = |kind: ProviderKind, auth: Value| spec(kind, json!({"auth": auth})).validate(&w);
        assert_eq!(fails_at(v(ProviderKind::OpenAi, json!({"api_key": ""})), "auth.api_key"), "must not be empty");
        fails_at(v(ProviderKind::Anthropic, json!({"api_key": "sk-ant\n"})), "auth.api_key");
        fails_at(v(ProviderKind::AzureOpenAi, json!({"api_key": "a b"})), "auth.api_key");
        let aws = |a: &str, s: &str, t: Option<&str>| {
            let mut auth = json!({"access_key_id": a, "secret_access_key": s});
            if let Some(t) = t {
                auth["session_token"] = json!(t);
            }
            v(ProviderKind::AwsBedrock, auth)
        };
        assert!(aws("AKIA", "s", None).is_ok());
        fails_at(aws("", "s", None), "auth.access_key_id");
        fails_at(aws("AKIA", "", None), "auth.secret_access_key");
        fails_at(aws("AKIA", "s", Some("")), "auth.session_token");
        fails_at(v(ProviderKind::OpenAiCompatible, json!({"api_key": ""})), "auth.api_key");
        assert!(v(ProviderKind::OpenAiCompatible, json!({"api_key": "k"})).is_ok());
        // Built by hand, an auth can disagree with its spec.
        let mut m = spec(ProviderKind::OpenAi, json!({}));
        m.auth = Some(ProviderAuth::Anthropic(ApiKeyAuth { api_key: Secret::new("k".into()) }));
        assert_eq!(fails_at(m.validate(&w), "auth"), "holds credentials for anthropic, not for openai");
    }

    #[test]
    fn what_the_engine_is_told() {
        let m = spec(ProviderKind::Anthropic, json!({}));
        let s = &m.spec;
        assert_eq!(s.name().as_str(), "anthropic-main");
        assert_eq!(s.manifest_type(), "provider-account/anthropic");
        assert_eq!(s.resource().to_string(), "provider-account:anthropic-main");
        assert!(s.base_url().is_none());
        let access: Vec<(String, Option<Vec<String>>)> = s
            .model_access()
            .map(|(n, subjects)| (n.to_string(), subjects.map(|l| l.iter().map(|x| x.to_string()).collect())))
            .collect();
        assert_eq!(access, vec![("claude-3-5-sonnet-20241022".to_owned(), Some(vec!["team:ml-platform".to_owned()]))]);
        assert!(s.model("claude-3-5-sonnet-20241022").is_some() && s.model("gpt-4o").is_none());
        let grants: Vec<String> = s.grants().map(|g| format!("{} {} {}", g.resource, g.subject, g.role)).collect();
        assert_eq!(grants, ["provider-account:anthropic-main team:ml-platform provider-account-user"]);
        let c = spec(ProviderKind::OpenAiCompatible, json!({}));
        assert_eq!(c.spec.base_url().map(|u| u.as_str()), Some("http://127.0.0.1:11434/v1"));
        assert_eq!(spec(ProviderKind::OpenAi, json!({})).spec.collaborators().len(), 3);
    }
}
