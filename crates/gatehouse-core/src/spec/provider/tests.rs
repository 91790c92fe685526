use serde_json::{json, Value};

use super::super::test_world::{fails_at, world};
use super::*;

fn manifest(kind: ProviderKind, v: Value) -> Result<ProviderAccountManifest, serde_json::Error> {
    ProviderAccountManifest::deserialize_for(kind, v)
}

/// docs/manifests.md's example, without `type`.
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

/// One manifest per kind (docs/manifests.md), and its auth as it serializes.
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
    // A real model without `model_id` or `types` reads (virtual models have neither) and fails validation.
    let w = world();
    let no_id = manifest(ProviderKind::OpenAi, json!({"name": "acct", "models": [{"name": "m", "types": ["chat"]}]}));
    fails_at(no_id.unwrap().validate(&w), "models[0].model_id");
    let no_types = manifest(ProviderKind::OpenAi, json!({"name": "acct", "models": [{"name": "m", "model_id": "m"}]}));
    fails_at(no_types.unwrap().validate(&w), "models[0].types");
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
        ProviderKind::VirtualModel => json!({"name": "acct"}),
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
    let msg = fails_at(v(json!([{"subject": "team:ml-platform", "role": "mcp-server-user"}])), "collaborators[0].role");
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

#[test]
fn virtual_model_rules() {
    let w = world();
    let group = |models: Value| {
        manifest(ProviderKind::VirtualModel, json!({"name": "smart", "models": models})).unwrap().validate(&w)
    };
    let routing = |r: Value| group(json!([{"name": "chat", "routing_config": r}]));
    let weight = json!({"type": "weight", "sticky": true, "targets": [
        {"target": "openai-main/gpt-4o", "weight": 70}, {"target": "anthropic-main/claude-3-5-sonnet", "weight": 30}]});
    assert!(routing(weight).is_ok());
    let msg = fails_at(
        routing(json!({"type": "weight", "targets": [{"target": "openai-main/gpt-4o", "weight": 70}]})),
        "models[0].routing_config.targets",
    );
    assert_eq!(msg, "weights add up to 70, not 100");
    let msg = fails_at(
        routing(json!({"type": "priority", "targets": [{"target": "openai-main/gpt-4o", "weight": 100}]})),
        "models[0].routing_config.targets[0].weight",
    );
    assert_eq!(msg, "is used only by weight");
    fails_at(routing(json!({"type": "priority", "targets": []})), "models[0].routing_config.targets");
    fails_at(
        routing(json!({"type": "latency", "sticky": true, "targets": [{"target": "openai-main/gpt-4o"}]})),
        "models[0].routing_config.sticky",
    );
    fails_at(group(json!([{"name": "chat"}])), "models[0].routing_config");
    let real_fields = json!([{"name": "chat", "model_id": "gpt-4o",
        "routing_config": {"type": "priority", "targets": [{"target": "openai-main/gpt-4o"}]}}]);
    fails_at(group(real_fields), "models[0].model_id");
    // A virtual model group takes no credentials; a real model takes no routing.
    let e = manifest(ProviderKind::VirtualModel, json!({"name": "smart", "auth": {"api_key": "k"}})).unwrap_err();
    assert!(e.to_string().starts_with("unknown field `auth`"), "{e}");
    let mut m = model("m");
    m["routing_config"] = json!({"type": "priority", "targets": [{"target": "openai-main/gpt-4o"}]});
    fails_at(spec(ProviderKind::OpenAi, json!({"models": [m]})).validate(&w), "models[0].routing_config");
}
