"""The official Anthropic Python SDK against the gateway's /v1/messages: native to an Anthropic upstream,
translated to the others."""

import anthropic
import pytest


def client(world, token):
    return anthropic.Anthropic(base_url=world["gateway"], api_key=token, max_retries=0)


@pytest.mark.parametrize("model", ["mock-ant/claude", "mock-oai/gpt", "mock-bed/titan"])
def test_messages(world, model):
    r = client(world, world["alice"]).messages.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "hello claude"}]
    )
    assert r.content[0].type == "text"
    assert r.content[0].text.startswith("mock reply to: hello claude")
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["mock-ant/claude", "mock-oai/gpt"])
def test_streaming_messages(world, model):
    with client(world, world["alice"]).messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "stream to me"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("mock reply to: stream to me")
    assert final.usage.output_tokens > 0


def test_forbidden_and_revoked(world):
    with pytest.raises(anthropic.PermissionDeniedError):
        client(world, world["bob"]).messages.create(
            model="mock-ant/claude", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(anthropic.AuthenticationError):
        client(world, "gh_pat_0000000000000000_" + "0" * 64).messages.create(
            model="mock-ant/claude", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
