"""The official OpenAI and Anthropic SDKs through a virtual model: it routes (falling back past a failing
target) to a real model its caller has no access to; streaming included."""

import anthropic
import openai
import pytest


@pytest.fixture(scope="module")
def vm(world):
    api, mock = world["api"], world["mock"]
    # Nobody is granted this account: only the virtual model's users reach it, and only through it.
    api.ok("POST", "/api/v1/provider-accounts", {
        "type": "openai-compatible", "name": "flaky", "base_url": mock + "/v1", "auth": {"api_key": "sk-flaky"},
        "models": [{"name": "down", "model_id": "down-fail-503", "types": ["chat"]},
                   {"name": "gpt", "model_id": "gpt-4o", "types": ["chat"]}]})
    api.ok("POST", "/api/v1/provider-accounts", {
        "type": "virtual-model", "name": "vm",
        "collaborators": [{"subject": "team:ml", "role": "provider-account-user"}],
        "models": [{"name": "chat", "routing_config": {"type": "priority", "targets": [
            {"target": "flaky/down", "priority": 0, "retry_config": {"attempts": 0}},
            {"target": "flaky/gpt", "priority": 1}]}}]})
    return world


def oai(world, token):
    return openai.OpenAI(base_url=world["gateway"] + "/v1", api_key=token, max_retries=0)


def test_openai_sdk_whole_answer_names_what_served(vm):
    raw = oai(vm, vm["alice"]).chat.completions.with_raw_response.create(
        model="vm/chat", messages=[{"role": "user", "content": "hello there"}])
    assert raw.headers["x-gatehouse-resolved-model"] == "flaky/gpt"
    r = raw.parse()
    assert r.model == "vm/chat"
    assert r.choices[0].message.content.startswith("mock reply to: hello there")


def test_openai_sdk_streams_through_a_fallback(vm):
    stream = oai(vm, vm["alice"]).chat.completions.create(
        model="vm/chat", messages=[{"role": "user", "content": "stream please"}], stream=True,
        stream_options={"include_usage": True})
    text, usage = "", None
    for chunk in stream:
        for c in chunk.choices:
            text += c.delta.content or ""
        usage = chunk.usage or usage
    assert text.startswith("mock reply to: stream please")
    assert usage is not None and usage.completion_tokens > 0


def test_access_is_on_the_virtual_model(vm):
    alice = oai(vm, vm["alice"])
    assert "vm/chat" in [m.id for m in alice.models.list()]
    with pytest.raises(openai.PermissionDeniedError):
        alice.chat.completions.create(model="flaky/gpt", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.PermissionDeniedError):
        oai(vm, vm["bob"]).chat.completions.create(model="vm/chat", messages=[{"role": "user", "content": "hi"}])


def test_anthropic_sdk_through_a_virtual_model(vm):
    client = anthropic.Anthropic(base_url=vm["gateway"], api_key=vm["alice"], max_retries=0)
    r = client.messages.create(model="vm/chat", max_tokens=50, messages=[{"role": "user", "content": "hello there"}])
    assert r.model == "vm/chat"
    assert r.content[0].text.startswith("mock reply to: hello there")
    with client.messages.stream(model="vm/chat", max_tokens=50,
                                messages=[{"role": "user", "content": "stream please"}]) as s:
        text = "".join(s.text_stream)
    assert text.startswith("mock reply to: stream please")
