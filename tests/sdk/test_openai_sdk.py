"""The official OpenAI Python SDK against the gateway: allowed calls succeed, forbidden ones get 403,
revoked tokens 401."""

import openai
import pytest


def client(world, token):
    return openai.OpenAI(base_url=world["gateway"] + "/v1", api_key=token, max_retries=0)


@pytest.mark.parametrize("model", ["mock-oai/gpt", "mock-ant/claude", "mock-bed/titan"])
def test_chat_through_every_upstream_shape(world, model):
    r = client(world, world["alice"]).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello there"}]
    )
    assert r.choices[0].message.content.startswith("mock reply to: hello there")
    assert r.model == model
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["mock-oai/gpt", "mock-ant/claude", "mock-bed/titan"])
def test_streaming_chat_with_usage(world, model):
    stream = client(world, world["alice"]).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        for c in chunk.choices:
            text += c.delta.content or ""
        usage = chunk.usage or usage
    assert text.startswith("mock reply to: stream please")
    assert usage is not None and usage.completion_tokens > 0


def test_tools_are_translated_for_anthropic(world):
    r = client(world, world["alice"]).chat.completions.create(
        model="mock-ant/claude",
        messages=[{"role": "user", "content": "what is the weather in Paris?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
    )
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "Paris" in call.function.arguments
    assert r.choices[0].finish_reason == "tool_calls"


def test_embeddings_and_completions(world):
    c = client(world, world["alice"])
    e = c.embeddings.create(model="mock-oai/emb", input=["a", "b"])
    assert len(e.data) == 2 and len(e.data[0].embedding) > 0
    t = c.completions.create(model="mock-oai/gpt", prompt="say hi")
    assert t.choices[0].text


def test_a_virtual_account_token_works(world):
    r = client(world, world["va"]).chat.completions.create(
        model="mock-oai/gpt", messages=[{"role": "user", "content": "from an app"}]
    )
    assert "from an app" in r.choices[0].message.content


def test_models_lists_exactly_what_the_caller_may_use(world):
    alice = sorted(m.id for m in client(world, world["alice"]).models.list())
    assert alice == ["mock-ant/claude", "mock-bed/titan", "mock-oai/emb", "mock-oai/gpt"]
    assert list(client(world, world["bob"]).models.list()) == []
    admin = sorted(m.id for m in client(world, world["admin"]).models.list())
    assert "private/gpt" in admin


def test_forbidden_models_get_the_same_403_whether_or_not_they_exist(world):
    bob = client(world, world["bob"])
    messages = [{"role": "user", "content": "hi"}]
    errors = []
    for model in ["mock-oai/gpt", "private/gpt", "private/nope", "nowhere/x"]:
        with pytest.raises(openai.PermissionDeniedError) as e:
            bob.chat.completions.create(model=model, messages=messages)
        errors.append(str(e.value).replace(model, "MODEL"))
    assert len(set(errors)) == 1, errors
    with pytest.raises(openai.PermissionDeniedError):
        client(world, world["alice"]).chat.completions.create(model="private/gpt", messages=messages)


def test_revoked_tokens_get_401(world):
    token = world["pat"]("alice@example.com")
    c = client(world, token)
    c.chat.completions.create(model="mock-oai/gpt", messages=[{"role": "user", "content": "ok"}])
    api = world["api"]
    tid = token.split("_")[2]
    status, _ = api.call("DELETE", f"/api/v1/personal-access-tokens/{tid}", token=token)
    assert status == 204
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="mock-oai/gpt", messages=[{"role": "user", "content": "ok"}])
