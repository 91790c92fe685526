//! The gateway's compiled table: every provider account with its upstream URLs parsed and its credentials
//! opened, and every `<account>/<model>` pointing into it. Compiled when a snapshot is published, off the
//! request path, and published with that snapshot (`state::Published`), so a request that loaded one view
//! sees the accounts of the same version as its access checks.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_core::resource::{ResourceRecord, ResourceSpec};
use gatehouse_core::spec::{ModelPricing, ModelSpec, ProviderAccountSpec, ProviderAuth, ProviderKind};
use gatehouse_core::{ResourceKind, Snapshot};
use gatehouse_providers::{anthropic, azure, bedrock};

use crate::crypto::SecretKey;
use crate::error::ApiError;

pub const OPENAI_BASE: &str = "https://api.openai.com/v1";
pub const ANTHROPIC_BASE: &str = "https://api.anthropic.com";

/// The upstream operations, each with its own URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Messages,
    Converse,
    ConverseStream,
}

impl Endpoint {
    const ALL: [Endpoint; 6] = [
        Endpoint::Chat,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::Messages,
        Endpoint::Converse,
        Endpoint::ConverseStream,
    ];

    fn index(self) -> usize {
        match self {
            Endpoint::Chat => 0,
            Endpoint::Completions => 1,
            Endpoint::Embeddings => 2,
            Endpoint::Messages => 3,
            Endpoint::Converse => 4,
            Endpoint::ConverseStream => 5,
        }
    }

    /// The path of an OpenAI-shaped operation.
    fn openai_path(self) -> Option<&'static str> {
        match self {
            Endpoint::Chat => Some("chat/completions"),
            Endpoint::Completions => Some("completions"),
            Endpoint::Embeddings => Some("embeddings"),
            Endpoint::Messages | Endpoint::Converse | Endpoint::ConverseStream => None,
        }
    }
}

/// What compiling an account's part can leave for its requests: a 502 naming the account, for that
/// account only.
type Compiled<T> = Result<T, String>;

/// A model of an account, with the URL of each operation its provider offers.
pub struct Model {
    pub spec: ModelSpec,
    kind: ProviderKind,
    urls: [Option<Compiled<reqwest::Url>>; 6],
}

impl Model {
    pub fn pricing(&self) -> Option<&ModelPricing> {
        self.spec.pricing.as_ref()
    }

    /// The URL of `endpoint`; an operation the provider does not offer, or a URL that does not parse, is a
    /// 502.
    pub fn url(&self, endpoint: Endpoint) -> Result<&reqwest::Url, ApiError> {
        match &self.urls[endpoint.index()] {
            Some(Ok(u)) => Ok(u),
            Some(Err(message)) => Err(ApiError::BadGateway(message.clone())),
            None => Err(ApiError::BadGateway(format!("{} accounts have no {endpoint:?} endpoint", self.kind))),
        }
    }
}

/// A provider account as the gateway calls it.
pub struct Account {
    /// The record this was compiled from: an unchanged record (the same allocation) is not compiled again.
    record: Arc<ResourceRecord>,
    pub spec: ProviderAccountSpec,
    /// Opened once per stored version. `None`: an OpenAI-compatible account without a key.
    auth: Compiled<Option<Arc<ProviderAuth>>>,
    pub models: Vec<Arc<Model>>,
}

impl Account {
    pub fn kind(&self) -> ProviderKind {
        self.spec.kind()
    }

    /// The account's credentials; unreadable or missing ones are the operator's mistake, a 502.
    pub fn credentials(&self) -> Result<Option<&ProviderAuth>, ApiError> {
        match &self.auth {
            Ok(auth) => Ok(auth.as_deref()),
            Err(message) => Err(ApiError::BadGateway(message.clone())),
        }
    }
}

/// Every account, and every model by `<account>/<model>`.
#[derive(Default)]
pub struct GatewayTable {
    models: HashMap<String, (Arc<Account>, Arc<Model>)>,
    accounts: HashMap<String, Arc<Account>>,
}

impl GatewayTable {
    /// Compiles the table of `snapshot`, reusing what `previous` compiled from the very same records.
    pub fn compile(snapshot: &Snapshot, key: &SecretKey, previous: Option<&GatewayTable>) -> GatewayTable {
        let mut table = GatewayTable::default();
        for record in snapshot.resources().of_kind(ResourceKind::ProviderAccount) {
            let ResourceSpec::ProviderAccount(spec) = &record.spec else { continue };
            let name = spec.name().to_string();
            let reused =
                previous.and_then(|p| p.accounts.get(&name)).filter(|a| Arc::ptr_eq(&a.record, record)).cloned();
            let account = reused.unwrap_or_else(|| Arc::new(compile_account(record, spec, key)));
            for m in &account.models {
                table.models.insert(format!("{name}/{}", m.spec.name), (account.clone(), m.clone()));
            }
            table.accounts.insert(name, account);
        }
        table
    }

    /// The account and the model named `<account>/<model>`.
    pub fn model(&self, name: &str) -> Option<&(Arc<Account>, Arc<Model>)> {
        self.models.get(name)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.accounts.values()
    }
}

fn compile_account(record: &Arc<ResourceRecord>, spec: &ProviderAccountSpec, key: &SecretKey) -> Account {
    let models = spec
        .models()
        .iter()
        .map(|m| Arc::new(Model { spec: m.clone(), kind: spec.kind(), urls: urls(spec, m) }))
        .collect();
    Account { record: record.clone(), spec: spec.clone(), auth: open(record, spec, key), models }
}

fn open(record: &ResourceRecord, spec: &ProviderAccountSpec, key: &SecretKey) -> Compiled<Option<Arc<ProviderAuth>>> {
    let kind = spec.kind();
    let Some(sealed) = &record.sealed_auth else {
        if kind.auth_required() {
            return Err(format!("provider account {} has no credentials configured", spec.name()));
        }
        return Ok(None);
    };
    let resource = record.resource().to_string();
    let plain = key.open(&resource, &sealed.0).map_err(|e| format!("{resource}: {e}"))?;
    let mut de = serde_json::Deserializer::from_slice(plain.expose());
    // The error names a field at most, never a value, so it is safe to show.
    let auth = ProviderAuth::deserialize_for(kind, &mut de)
        .map_err(|e| format!("{resource}: stored credentials are unreadable: {e}"))?;
    Ok(Some(Arc::new(auth)))
}

/// The text of each URL the account's provider offers for `model`.
fn url_text(spec: &ProviderAccountSpec, model: &ModelSpec, endpoint: Endpoint) -> Option<String> {
    match spec {
        ProviderAccountSpec::VirtualModel(_) => None,
        ProviderAccountSpec::AzureOpenAi(a) => {
            let deployment = a.deployments.get(&model.name).map(String::as_str).unwrap_or(&model.model_id);
            let endpoint_base = a.base_url.as_ref().unwrap_or(&a.endpoint);
            let path = endpoint.openai_path()?;
            Some(azure::Deployment::new(endpoint_base.as_str(), deployment, Some(&a.api_version)).url(path))
        }
        ProviderAccountSpec::AwsBedrock(a) => {
            let base = a.base_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned());
            let base = base.unwrap_or_else(|| bedrock::runtime_endpoint(&a.region));
            match endpoint {
                Endpoint::Converse => Some(format!("{base}{}", bedrock::converse_path(&model.model_id))),
                Endpoint::ConverseStream => Some(format!("{base}{}", bedrock::converse_stream_path(&model.model_id))),
                Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings | Endpoint::Messages => None,
            }
        }
        ProviderAccountSpec::Anthropic(a) => (endpoint == Endpoint::Messages)
            .then(|| anthropic::messages_url(a.base_url.as_ref().map(|u| u.as_str()).unwrap_or(ANTHROPIC_BASE))),
        acct @ (ProviderAccountSpec::OpenAi(_) | ProviderAccountSpec::OpenAiCompatible(_)) => {
            let base = acct.base_url().map(|u| u.as_str()).unwrap_or(OPENAI_BASE);
            Some(format!("{}/{}", base.trim_end_matches('/'), endpoint.openai_path()?))
        }
    }
}

fn urls(spec: &ProviderAccountSpec, model: &ModelSpec) -> [Option<Compiled<reqwest::Url>>; 6] {
    Endpoint::ALL.map(|e| {
        url_text(spec, model, e).map(|text| {
            reqwest::Url::parse(&text)
                .map_err(|err| format!("provider account {}: its upstream URL is invalid: {err}", spec.name()))
        })
    })
}

/// The credentials a provider account record holds, opened (for a connection test of an unsaved account).
pub fn credentials_of(
    record: &ResourceRecord,
    spec: &ProviderAccountSpec,
    key: &SecretKey,
) -> Result<Option<Arc<ProviderAuth>>, String> {
    open(record, spec, key)
}
