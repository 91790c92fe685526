//! A provider account's model list, asked of the provider with the account's URL and credentials, as the
//! gateway would reach it: OpenAI-shaped `GET …/models`, Anthropic's `GET /v1/models`, Azure OpenAI's
//! `GET /openai/models`, Bedrock's `ListFoundationModels` (signed with SigV4).

use gatehouse_core::resource::{ResourceRecord, ResourceSpec};
use gatehouse_core::spec::{ProviderAccountSpec, ProviderAuth};
use gatehouse_providers::{anthropic, azure, bedrock, sigv4};
use reqwest::RequestBuilder;
use serde_json::Value;

use crate::gateway::table::{credentials_of, ANTHROPIC_BASE, OPENAI_BASE};
use crate::gateway::upstream::{read_json, send, ANTHROPIC_VERSION};
use crate::state::App;

/// The provider's model ids, or why they could not be listed (in words safe to show the caller).
pub async fn models(app: &App, rec: &ResourceRecord) -> Result<Vec<String>, String> {
    let ResourceSpec::ProviderAccount(spec) = &rec.spec else {
        return Err("not a provider account".into());
    };
    let auth = credentials_of(rec, spec, &app.key)?;
    let secrets = auth.as_deref().map(secret_values).unwrap_or_default();
    let hide = |text: String| secrets.iter().fold(text, |t, s| t.replace(s.as_str(), "****"));
    let rb = request(app, spec, auth.as_deref())?;
    let resp = send(app, rb).await.map_err(|e| hide(e.to_string()))?;
    let body: Value = read_json(app, resp).await.map_err(|e| hide(e.to_string()))?;
    ids(&body).ok_or_else(|| "the provider answered, but not with a list of models".to_owned())
}

/// `data[].id` (OpenAI, Anthropic, Azure) or `modelSummaries[].modelId` (Bedrock).
fn ids(body: &Value) -> Option<Vec<String>> {
    let (list, key) = match (body.get("data"), body.get("modelSummaries")) {
        (Some(Value::Array(l)), _) => (l, "id"),
        (_, Some(Value::Array(l))) => (l, "modelId"),
        _ => return None,
    };
    Some(list.iter().filter_map(|m| m.get(key).and_then(Value::as_str)).map(str::to_owned).collect())
}

fn wrong(kind: &str) -> String {
    format!("the credentials are not those of a {kind} account")
}

fn get(app: &App, url: &str) -> Result<RequestBuilder, String> {
    let url = reqwest::Url::parse(url).map_err(|e| format!("the provider's URL is invalid: {e}"))?;
    Ok(crate::gateway::upstream::http(app).get(url))
}

/// The listing request of each kind of account, authenticated as its calls are.
fn request(app: &App, spec: &ProviderAccountSpec, auth: Option<&ProviderAuth>) -> Result<RequestBuilder, String> {
    match spec {
        ProviderAccountSpec::VirtualModel(_) => {
            Err("a virtual-model account routes to other accounts' models: it has no upstream of its own to ask".into())
        }
        ProviderAccountSpec::OpenAi(_) | ProviderAccountSpec::OpenAiCompatible(_) => {
            let base = spec.base_url().map(|u| u.as_str()).unwrap_or(OPENAI_BASE);
            let rb = get(app, &format!("{}/models", base.trim_end_matches('/')))?;
            match auth {
                Some(ProviderAuth::OpenAi(k)) => Ok(rb.bearer_auth(k.api_key.expose())),
                Some(ProviderAuth::OpenAiCompatible(k)) => Ok(match &k.api_key {
                    Some(key) => rb.bearer_auth(key.expose()),
                    None => rb,
                }),
                None => Ok(rb),
                Some(ProviderAuth::Anthropic(_) | ProviderAuth::AwsBedrock(_) | ProviderAuth::AzureOpenAi(_)) => {
                    Err(wrong(spec.kind().as_str()))
                }
            }
        }
        ProviderAccountSpec::Anthropic(a) => {
            let Some(ProviderAuth::Anthropic(k)) = auth else { return Err(wrong("anthropic")) };
            let base = a.base_url.as_ref().map(|u| u.as_str()).unwrap_or(ANTHROPIC_BASE);
            Ok(get(app, &format!("{}/v1/models", base.trim_end_matches('/')))?
                .header(anthropic::API_KEY_HEADER, k.api_key.expose().as_str())
                .header(anthropic::VERSION_HEADER, ANTHROPIC_VERSION))
        }
        ProviderAccountSpec::AzureOpenAi(a) => {
            let Some(ProviderAuth::AzureOpenAi(k)) = auth else { return Err(wrong("azure-openai")) };
            let base = a.base_url.as_ref().unwrap_or(&a.endpoint);
            let url = format!("{}/openai/models", base.as_str().trim_end_matches('/'));
            Ok(get(app, &url)?
                .query(&[("api-version", a.api_version.as_str())])
                .header(azure::API_KEY_HEADER, k.api_key.expose().as_str()))
        }
        ProviderAccountSpec::AwsBedrock(a) => {
            let Some(ProviderAuth::AwsBedrock(k)) = auth else { return Err(wrong("aws-bedrock")) };
            // The model list is the control plane's (`bedrock.`), not the runtime's (`bedrock-runtime.`).
            let base = a.base_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned());
            let base = base.unwrap_or_else(|| format!("https://bedrock.{}.amazonaws.com", a.region));
            let url = format!("{base}/foundation-models");
            let credentials = sigv4::Credentials {
                access_key_id: k.access_key_id.expose().clone(),
                secret_access_key: k.secret_access_key.expose().clone(),
                session_token: k.session_token.as_ref().map(|t| t.expose().clone()),
            };
            let request = sigv4::Request { method: "GET", url: &url, headers: &[], body: &[] };
            // Wall-clock time: AWS refuses signatures more than a few minutes off real time.
            let signed = sigv4::sign(
                &request,
                &credentials,
                &a.region,
                bedrock::SIGNING_SERVICE,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| e.to_string())?;
            let mut rb = get(app, &url)?;
            for (name, value) in signed {
                rb = rb.header(name, value);
            }
            Ok(rb)
        }
    }
}

/// Every credential value long enough that finding it in an upstream's message means it was echoed.
fn secret_values(auth: &ProviderAuth) -> Vec<String> {
    let all: Vec<&String> = match auth {
        ProviderAuth::OpenAi(k) | ProviderAuth::Anthropic(k) | ProviderAuth::AzureOpenAi(k) => vec![k.api_key.expose()],
        ProviderAuth::OpenAiCompatible(k) => k.api_key.iter().map(|s| s.expose()).collect(),
        ProviderAuth::AwsBedrock(k) => {
            let mut v = vec![k.access_key_id.expose(), k.secret_access_key.expose()];
            v.extend(k.session_token.iter().map(|t| t.expose()));
            v
        }
    };
    all.into_iter().filter(|s| s.len() >= 6).cloned().collect()
}
