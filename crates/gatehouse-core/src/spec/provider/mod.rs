//! Provider accounts: `provider-account/<type>` manifests, split into a non-secret spec and an `auth` part.

#[cfg(test)]
mod tests;
mod validation;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::{
    check_collaborators, check_header_secret, check_subjects, expose_secret, expose_secret_opt, grants_on,
    no_duplicates, split_auth, Collaborator, FieldError, HttpUrl, LoadBalanceTarget, Lookup, ModelName, ModelPricing,
    ModelRef, RoutingStrategy,
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
    /// Not a provider: models that route to real models of other accounts (`routing_config`).
    #[serde(rename = "virtual-model")]
    VirtualModel,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::AwsBedrock,
        ProviderKind::AzureOpenAi,
        ProviderKind::OpenAiCompatible,
        ProviderKind::VirtualModel,
    ];

    /// `openai`, `anthropic`, `aws-bedrock`, `azure-openai` or `openai-compatible`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::AwsBedrock => "aws-bedrock",
            ProviderKind::AzureOpenAi => "azure-openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::VirtualModel => "virtual-model",
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
            ProviderKind::VirtualModel => "provider-account/virtual-model",
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
        !matches!(self, ProviderKind::OpenAiCompatible | ProviderKind::VirtualModel)
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
    /// Empty (and absent from manifests) for a virtual model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model_id: String,
    /// Required of real models; a virtual model serves the types its targets serve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<ModelType>,
    /// When set, only these subjects may use this model, instead of everyone with use of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_subjects: Option<Vec<Subject>>,
    /// What the provider charges, for the cost in usage reports; none when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<ModelPricing>,
    /// A virtual model's routing (and only a virtual model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<RoutingConfig>,
}

/// How a virtual model chooses among its targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtualStrategy {
    Weight,
    Priority,
    Latency,
}

impl VirtualStrategy {
    pub fn routing(self) -> RoutingStrategy {
        match self {
            VirtualStrategy::Weight => RoutingStrategy::WeightBasedRouting,
            VirtualStrategy::Priority => RoutingStrategy::PriorityBasedRouting,
            VirtualStrategy::Latency => RoutingStrategy::LatencyBasedRouting,
        }
    }
}

/// A virtual model's `routing_config`: its targets (real models of other accounts), as load-balancing rules
/// have them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    #[serde(rename = "type")]
    pub strategy: VirtualStrategy,
    pub targets: Vec<LoadBalanceTarget>,
    /// Weight only: the same caller goes to the same target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_timeout_ms: Option<u64>,
}

/// A `provider-account/virtual-model`: a group of virtual models, called as `<group>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualModelAccount {
    pub name: ResourceName,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
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
    VirtualModel(VirtualModelAccount),
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
            // No credentials: an `auth` field is an unknown field.
            ProviderKind::VirtualModel => ProviderAccountManifest {
                spec: ProviderAccountSpec::VirtualModel(VirtualModelAccount::deserialize(d)?),
                auth: None,
            },
        })
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
            ProviderAccountSpec::VirtualModel($a) => $e,
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
            ProviderKind::VirtualModel => ProviderAccountSpec::VirtualModel(VirtualModelAccount::deserialize(d)?),
        })
    }

    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderAccountSpec::OpenAi(_) => ProviderKind::OpenAi,
            ProviderAccountSpec::Anthropic(_) => ProviderKind::Anthropic,
            ProviderAccountSpec::AwsBedrock(_) => ProviderKind::AwsBedrock,
            ProviderAccountSpec::AzureOpenAi(_) => ProviderKind::AzureOpenAi,
            ProviderAccountSpec::OpenAiCompatible(_) => ProviderKind::OpenAiCompatible,
            ProviderAccountSpec::VirtualModel(_) => ProviderKind::VirtualModel,
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
            ProviderAccountSpec::VirtualModel(_) => None,
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
            | ProviderAccountSpec::OpenAiCompatible(_)
            | ProviderAccountSpec::VirtualModel(_) => {}
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

    /// The real models a virtual model group routes to, which must not disappear under it.
    pub fn model_refs(&self) -> Vec<&ModelRef> {
        self.models()
            .iter()
            .filter_map(|m| m.routing_config.as_ref())
            .flat_map(|r| r.targets.iter().map(|t| &t.target))
            .collect()
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
            ProviderKind::VirtualModel => {
                return Err(serde::de::Error::custom("virtual models have no credentials"));
            }
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
}
