"""Rate limits and budgets as the official SDKs see them: a 429 of the kind each SDK recognises, with the
headers that make the OpenAI SDK back off by itself, and no retry of a refusal that waiting cannot cure.

Each test has a user, a provider account and controls of its own (the controls name the user), so the
session's other tests are not limited."""

import time
import uuid

import anthropic
import openai
import pytest

PROMPT = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def limited(world):
    """A fresh user with a PAT, a priced model only they may use, and a way to apply controls to them;
    the controls are removed afterwards."""
    api = world["api"]
    tag = uuid.uuid4().hex[:8]
    email = f"limited-{tag}@example.com"
    api.ok("POST", "/api/v1/users", {"email": email})
    account = f"priced-{tag}"
    api.ok("POST", "/api/v1/provider-accounts", {
        "type": "openai-compatible", "name": account, "base_url": world["mock"] + "/v1",
        "auth": {"api_key": "sk-mock-oai"},
        "collaborators": [{"subject": f"user:{email}", "role": "provider-account-user"}],
        "models": [{"name": "gpt", "model_id": "gpt-4o-tokens-7", "types": ["chat"],
                    "pricing": {"input_per_million_tokens": 1.0, "output_per_million_tokens": 2.0}}]})
    applied = []

    def control(kind: str, rule: dict) -> str:
        name = f"sdk-{tag}-{len(applied)}"
        rule = dict(rule, id="only", when={"subjects": [f"user:{email}"]})
        api.ok("PUT", "/api/v1/apply", {"type": kind, "name": name, "rules": [rule]})
        applied.append(name)
        return f"{name}/only"

    yield {"token": world["pat"](email), "model": f"{account}/gpt", "control": control}
    for name in applied:
        api.ok("DELETE", f"/api/v1/gateway-controls/{name}")


def counted_client(world, token, **kw):
    """An OpenAI client, and the list of statuses of every attempt it makes (its own retries included)."""
    attempts = []
    http = openai.DefaultHttpxClient(event_hooks={"response": [lambda r: attempts.append(r.status_code)]})
    return openai.OpenAI(base_url=world["gateway"] + "/v1", api_key=token, http_client=http, **kw), attempts


def logged_statuses(world, token, n):
    """The statuses of the caller's own request-log rows, oldest first, once the writer has stored `n`."""
    deadline = time.time() + 10
    while True:
        rows = world["api"].ok("GET", "/api/v1/request-logs", token=token)["requests"]
        if len(rows) >= n or time.time() > deadline:
            return [r["status"] for r in reversed(rows)]
        time.sleep(0.1)


def test_the_third_call_over_two_per_minute_is_an_openai_rate_limit_error(world, limited):
    rule = limited["control"]("gateway-rate-limiting-config", {"limit_to": 2, "unit": "requests_per_minute"})
    client, attempts = counted_client(world, limited["token"], max_retries=0)
    for _ in range(2):
        r = client.chat.completions.with_raw_response.create(model=limited["model"], messages=PROMPT)
        assert r.headers["x-ratelimit-limit-requests"] == "2"
        assert r.parse().choices[0].message.content.startswith("mock reply to")
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=limited["model"], messages=PROMPT)
    err = e.value
    assert err.status_code == 429 and err.response.status_code == 429
    assert err.code == "rate_limit_exceeded" and err.type == "rate_limit_error"
    assert rule in err.message
    h = err.response.headers
    retry_after = int(h["retry-after"])
    # A minute window keeps a request counted for 60 to 65 s (five-second buckets).
    assert 1 <= retry_after <= 65
    assert h["x-ratelimit-limit-requests"] == "2"
    assert h["x-ratelimit-remaining-requests"] == "0"
    assert h["x-ratelimit-reset-requests"] == f"{retry_after}s"
    assert "x-should-retry" not in h
    assert attempts == [200, 200, 429]
    assert logged_statuses(world, limited["token"], 3) == [200, 200, 429]


def test_the_openai_sdk_retries_a_rate_limit_by_itself_after_retry_after(world, limited, monkeypatch):
    limited["control"]("gateway-rate-limiting-config", {"limit_to": 2, "unit": "requests_per_minute"})
    # The SDK's own waits, recorded instead of slept: a minute window asks for up to 65 s each.
    waits = []
    monkeypatch.setattr(openai._base_client.time, "sleep", waits.append)
    client, attempts = counted_client(world, limited["token"])  # the SDK's default: 2 retries
    assert client.max_retries == 2
    for _ in range(2):
        client.chat.completions.create(model=limited["model"], messages=PROMPT)
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=limited["model"], messages=PROMPT)
    assert e.value.code == "rate_limit_exceeded"
    # One call, three attempts: the SDK retried twice on its own, each time waiting what the gateway said.
    assert attempts == [200, 200, 429, 429, 429]
    assert len(waits) == 2
    retry_after = int(e.value.response.headers["retry-after"])
    assert all(abs(w - retry_after) <= 1 for w in waits), (waits, retry_after)
    assert logged_statuses(world, limited["token"], 5) == [200, 200, 429, 429, 429]


def test_a_budget_refusal_is_not_retried_by_the_openai_sdk(world, limited, monkeypatch):
    # One call costs $0.000016 (2 prompt tokens at $1, 7 output tokens at $2 per million) and reserves its
    # estimate first (the body's size, plus max_tokens 10): $0.00005 admits one call and not a second.
    rule = limited["control"]("gateway-budget-config", {"limit_to": 0.00005, "unit": "cost_per_day"})
    waits = []
    monkeypatch.setattr(openai._base_client.time, "sleep", waits.append)
    client, attempts = counted_client(world, limited["token"])
    client.chat.completions.create(model=limited["model"], messages=PROMPT, max_tokens=10)
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=limited["model"], messages=PROMPT, max_tokens=10)
    err = e.value
    assert err.status_code == 429 and err.code == "budget_exceeded"
    assert rule in err.message
    assert err.response.headers["x-should-retry"] == "false"
    assert err.response.headers["x-ratelimit-limit-cost"] == "0.000050"
    # Exactly one attempt of the refused call reached the gateway, and the SDK never waited to retry.
    assert attempts == [200, 429] and waits == []
    assert logged_statuses(world, limited["token"], 2) == [200, 429]


def test_the_anthropic_sdk_sees_its_rate_limit_error_on_messages(world, limited):
    limited["control"]("gateway-rate-limiting-config", {"limit_to": 1, "unit": "requests_per_minute"})
    client = anthropic.Anthropic(base_url=world["gateway"], api_key=limited["token"], max_retries=0)
    r = client.messages.create(model=limited["model"], max_tokens=16, messages=PROMPT)
    assert r.content[0].text.startswith("mock reply to")
    with pytest.raises(anthropic.RateLimitError) as e:
        client.messages.create(model=limited["model"], max_tokens=16, messages=PROMPT)
    err = e.value
    assert err.status_code == 429
    assert err.type == "rate_limit_error"
    assert int(err.response.headers["retry-after"]) >= 1
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
