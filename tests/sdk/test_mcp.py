"""The MCP gateway with the official MCP Python SDK on both sides: an SDK client talking to Gatehouse's
/mcp/<server>, and upstream servers written with the SDK (mcp_upstream.py), started here on 127.0.0.1."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp.shared.exceptions import MCPError

from conftest import free_port

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def mcp_world(world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp")
    procs, records, urls = [], {}, {}
    # alpha and beta speak Streamable HTTP; gamma the older HTTP+SSE transport.
    for name, transport in [("alpha", "streamable-http"), ("beta", "streamable-http"), ("gamma", "sse")]:
        port = free_port()
        records[name] = tmp / f"{name}.jsonl"
        records[name].write_text("")
        procs.append(subprocess.Popen(
            [sys.executable, str(HERE / "mcp_upstream.py"), name, str(port), str(records[name]), transport]))
        urls[name] = f"http://127.0.0.1:{port}" + ("/sse" if transport == "sse" else "/mcp")
    for name, url in urls.items():
        deadline = time.time() + 30
        while True:
            try:
                httpx2.get(url.rsplit("/", 1)[0] + "/nothing", timeout=1)
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
    api = world["api"]
    # alpha: a user grant to alice; its `tools` list leaves delete_everything out.
    api.ok("POST", "/api/v1/mcp-servers", {
        "type": "remote", "name": "alpha", "url": urls["alpha"],
        "auth": {"type": "bearer", "token": "upstream-secret-alpha"},
        "tools": ["add", "echo", "leak"],
        "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"},
                          {"subject": "virtualaccount:checkout", "role": "mcp-server-user"}]})
    # beta: the team ml (alice's) only.
    api.ok("POST", "/api/v1/mcp-servers", {
        "type": "remote", "name": "beta", "url": urls["beta"],
        "auth": {"type": "headers", "headers": {"Authorization": "Bearer upstream-secret-beta"}},
        "collaborators": [{"subject": "team:ml", "role": "mcp-server-user"}]})
    # gamma: over SSE, a user grant to alice, the team ml and the virtual account; echo left out.
    api.ok("POST", "/api/v1/mcp-servers", {
        "type": "remote", "name": "gamma", "url": urls["gamma"], "transport": "sse",
        "auth": {"type": "bearer", "token": "upstream-secret-gamma"},
        "tools": ["add", "leak"],
        "collaborators": [{"subject": "user:bob@example.com", "role": "mcp-server-user"},
                          {"subject": "team:ml", "role": "mcp-server-user"},
                          {"subject": "virtualaccount:checkout", "role": "mcp-server-user"}]})
    yield {**world, "records": records}
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def calls(record: Path) -> list:
    return [json.loads(l) for l in record.read_text().splitlines() if l.strip()]


async def session_for(gw: str, server: str, token: str):
    client = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30)
    return client, streamable_http_client(f"{gw}/mcp/{server}", http_client=client)


def run(coro):
    return asyncio.run(coro)


async def list_and_call(gw, server, token, tool, args):
    client = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30)
    async with client, streamable_http_client(f"{gw}/mcp/{server}", http_client=client) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            tools = sorted(t.name for t in (await s.list_tools()).tools)
            result = await s.call_tool(tool, args)
            return tools, result


def failure(coro) -> str:
    """The MCP errors the coroutine failed with (the SDK raises them inside exception groups)."""
    try:
        run(coro)
    except BaseException as e:  # noqa: BLE001
        found, todo = [], [e]
        while todo:
            x = todo.pop()
            if isinstance(x, MCPError):
                found.append(str(x))
            todo.extend(getattr(x, "exceptions", []))
            if x.__cause__ is not None:
                todo.append(x.__cause__)
        return " | ".join(found) or repr(e)
    raise AssertionError("expected the call to fail")


def text_of(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def test_user_team_member_and_virtual_account_list_and_call(mcp_world):
    gw = mcp_world["gateway"]
    for token in [mcp_world["alice"], mcp_world["va"], mcp_world["admin"]]:
        tools, result = run(list_and_call(gw, "alpha", token, "add", {"a": 2, "b": 3}))
        # The manifest's list: delete_everything is never shown.
        assert tools == ["add", "echo", "leak"], tools
        assert not result.is_error and text_of(result) == "5", result
    # alice reaches beta as a member of team ml; every tool of beta is there.
    tools, result = run(list_and_call(gw, "beta", mcp_world["alice"], "echo", {"text": "hi"}))
    assert tools == ["add", "delete_everything", "echo", "leak"]
    assert text_of(result) == "beta: hi"


def test_refused_alike_whether_or_not_the_server_exists(mcp_world):
    gw = mcp_world["gateway"]
    for server, token in [("alpha", mcp_world["bob"]), ("beta", mcp_world["va"]), ("nosuch", mcp_world["bob"])]:
        r = httpx2.post(f"{gw}/mcp/{server}", headers={"authorization": f"Bearer {token}"},
                        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "mcp_server_access_denied"
        assert f"MCP server {server} or MCP server does not exist" in r.json()["error"]["message"]
    # The SDK client sees a failure too.
    with pytest.raises(Exception):
        run(list_and_call(gw, "alpha", mcp_world["bob"], "add", {"a": 1, "b": 1}))
    # No token: 401 pointing at the protected-resource metadata, which is served.
    r = httpx2.post(f"{gw}/mcp/alpha", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer resource_metadata="') and challenge.endswith('/.well-known/oauth-protected-resource/mcp/alpha"')
    meta = httpx2.get(challenge.split('"')[1]).json()
    assert meta["resource"] == f"{gw}/mcp/alpha" and meta["bearer_methods_supported"] == ["header"]


def test_a_filtered_tool_never_reaches_the_upstream(mcp_world):
    gw, record = mcp_world["gateway"], mcp_world["records"]["alpha"]
    before = [c for c in calls(record) if c["kind"] == "call"]
    assert "tool delete_everything is not available on MCP server alpha" in failure(
        list_and_call(gw, "alpha", mcp_world["alice"], "delete_everything", {}))
    # A tool that does not exist gets the same answer.
    assert "tool nope is not available on MCP server alpha" in failure(
        list_and_call(gw, "alpha", mcp_world["alice"], "nope", {}))
    after = [c for c in calls(record) if c["kind"] == "call"]
    assert [c for c in after if c["tool"] == "delete_everything"] == []
    assert len(after) == len(before)


def test_credentials_never_leak(mcp_world):
    gw, record = mcp_world["gateway"], mcp_world["records"]["alpha"]
    tokens = [mcp_world["alice"], mcp_world["va"], mcp_world["admin"], mcp_world["bob"]]
    _, result = run(list_and_call(gw, "alpha", mcp_world["alice"], "leak", {}))
    assert "upstream-secret-alpha" not in text_of(result) and "****" in text_of(result)
    # The upstream saw only its own credential, never a caller's token.
    seen = {c["authorization"] for c in calls(record) if c["kind"] == "request" and c["path"] == "/mcp"}
    assert seen == {"Bearer upstream-secret-alpha"}, seen
    assert not any(t in json.dumps(calls(record)) for t in tokens)
    # Reads and exports show no credential.
    api = mcp_world["api"]
    for path in ["/api/v1/mcp-servers/alpha", "/api/v1/mcp-servers/beta", "/api/v1/mcp-servers"]:
        assert "upstream-secret" not in json.dumps(api.ok("GET", path))


def test_a_grant_revoked_mid_session_stops_the_next_call(mcp_world):
    gw, api = mcp_world["gateway"], mcp_world["api"]
    api.ok("POST", "/api/v1/users", {"email": "carol@example.com"})
    carol = mcp_world["pat"]("carol@example.com")
    server = api.ok("GET", "/api/v1/mcp-servers/alpha")
    grants = server["collaborators"] + [{"subject": "user:carol@example.com", "role": "mcp-server-user"}]

    def put(collaborators):
        body = {k: v for k, v in server.items() if k not in ("collaborators", "auth_configured")}
        api.ok("PUT", "/api/v1/mcp-servers/alpha", {**body, "collaborators": collaborators})

    put(grants)

    async def scenario():
        client = httpx2.AsyncClient(headers={"authorization": f"Bearer {carol}"}, timeout=30)
        async with client, streamable_http_client(f"{gw}/mcp/alpha", http_client=client) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                first = await s.call_tool("add", {"a": 1, "b": 1})
                put(server["collaborators"])
                with pytest.raises(Exception):
                    await s.call_tool("add", {"a": 2, "b": 2})
                return first

    first = run(scenario())
    assert text_of(first) == "2"


def test_tool_calls_are_in_the_request_log(mcp_world):
    api = mcp_world["api"]
    time.sleep(0.5)
    logs = api.ok("GET", "/api/v1/request-logs?limit=200")
    rows = logs["requests"]
    mcp_rows = [r for r in rows if r.get("route") == "mcp"]
    assert any(r["model"] == "alpha/add" and r["status"] == 200 for r in mcp_rows), mcp_rows[:5]
    assert any(r["model"] == "alpha/delete_everything" and r["status"] == 403 for r in mcp_rows)


def test_a_virtual_server_exposes_chosen_tools_of_two_servers(mcp_world):
    gw, api, records = mcp_world["gateway"], mcp_world["api"], mcp_world["records"]
    api.ok("POST", "/api/v1/users", {"email": "dave@example.com"})
    dave = mcp_world["pat"]("dave@example.com")
    # dave may use neither alpha nor beta: only the virtual server.
    api.ok("POST", "/api/v1/mcp-servers", {
        "type": "virtual", "name": "combo",
        "tools": [{"server": "alpha", "tool": "add"}, {"server": "beta", "tool": "echo", "as": "say"},
                  {"server": "alpha", "tool": "delete_everything"}],
        "collaborators": [{"subject": "user:dave@example.com", "role": "mcp-server-user"}]})
    before = len([c for c in calls(records["beta"]) if c["kind"] == "call"])
    tools, result = run(list_and_call(gw, "combo", dave, "say", {"text": "via combo"}))
    # alpha's manifest disables delete_everything: a virtual server cannot bring it back.
    assert tools == ["alpha__add", "say"], tools
    assert text_of(result) == "beta: via combo"
    assert len([c for c in calls(records["beta"]) if c["kind"] == "call"]) == before + 1
    _, result = run(list_and_call(gw, "combo", dave, "alpha__add", {"a": 20, "b": 22}))
    assert text_of(result) == "42"
    assert "not available on MCP server combo" in failure(list_and_call(gw, "combo", dave, "alpha__delete_everything", {}))
    assert "not available on MCP server combo" in failure(list_and_call(gw, "combo", dave, "echo", {"text": "x"}))
    # The underlying servers stay closed to dave.
    r = httpx2.post(f"{gw}/mcp/alpha", headers={"authorization": f"Bearer {dave}"},
                    json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    assert r.status_code == 403
    # Writing a virtual server over a server one may not use is refused (no way to give away access).
    api.ok("PUT", "/api/v1/roles/member", {"name": "member", "display_name": "Member", "description": "m",
                                           "permissions": ["user:list", "team:read", "role:list", "mcp-server:create"]})
    status, out = api.call("POST", "/api/v1/mcp-servers", {
        "type": "virtual", "name": "sneaky", "tools": [{"server": "alpha", "tool": "add"}],
        "collaborators": [{"subject": "user:dave@example.com", "role": "mcp-server-manager"}]}, token=dave)
    assert status == 403 and "mcp-server:use" in out["error"]["message"], out


def test_a_server_over_sse_through_the_gateway(mcp_world):
    """gamma speaks the older HTTP+SSE transport; the SDK client still speaks Streamable HTTP to Gatehouse."""
    gw, record = mcp_world["gateway"], mcp_world["records"]["gamma"]
    # A user grant (bob), a team member (alice, of ml) and a virtual account.
    for token in [mcp_world["bob"], mcp_world["alice"], mcp_world["va"]]:
        tools, result = run(list_and_call(gw, "gamma", token, "add", {"a": 40, "b": 2}))
        assert tools == ["add", "leak"], tools
        assert not result.is_error and text_of(result) == "42", result
    # A tool outside the list never reaches the server.
    assert "tool echo is not available on MCP server gamma" in failure(
        list_and_call(gw, "gamma", mcp_world["alice"], "echo", {"text": "x"}))
    assert [c for c in calls(record) if c["kind"] == "call" and c["tool"] == "echo"] == []
    # The server's credential, echoed in an answer, is masked; it saw nothing but its own credential.
    _, result = run(list_and_call(gw, "gamma", mcp_world["bob"], "leak", {}))
    assert "upstream-secret-gamma" not in text_of(result) and "****" in text_of(result)
    # (The fixture's readiness probe, /nothing, is the only request not from Gatehouse.)
    requests = [c for c in calls(record) if c["kind"] == "request" and c["path"] != "/nothing"]
    assert {c["path"] for c in requests} == {"/sse", "/messages/"}, requests
    assert {c["authorization"] for c in requests} == {"Bearer upstream-secret-gamma"}
    tokens = [mcp_world[k] for k in ["alice", "bob", "va", "admin"]]
    assert not any(t in json.dumps(calls(record)) for t in tokens)
    # Others are refused as for any server.
    api = mcp_world["api"]
    api.ok("POST", "/api/v1/users", {"email": "erin@example.com"})
    erin = mcp_world["pat"]("erin@example.com")
    with pytest.raises(Exception):
        run(list_and_call(gw, "gamma", erin, "add", {"a": 1, "b": 1}))
    r = httpx2.post(f"{gw}/mcp/gamma", headers={"authorization": f"Bearer {erin}"},
                    json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "mcp_server_access_denied", r.text
    assert "upstream-secret" not in json.dumps(api.ok("GET", "/api/v1/mcp-servers/gamma"))


def docs_server(api, name, **fields):
    """Another gateway server on alpha's upstream (which has resources and prompts too)."""
    url = api.ok("GET", "/api/v1/mcp-servers/alpha")["url"]
    api.ok("POST", "/api/v1/mcp-servers", {
        "type": "remote", "name": name, "url": url, "auth": {"type": "bearer", "token": "upstream-secret-alpha"},
        "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"}], **fields})


def test_resources_and_prompts_follow_the_tools_rule(mcp_world):
    api, gw, alice = mcp_world["api"], mcp_world["gateway"], mcp_world["alice"]
    docs_server(api, "docs", resources=["docs://readme", "users://{id}/profile"], prompts=["review"])
    record = mcp_world["records"]["alpha"]

    async def browse():
        client = httpx2.AsyncClient(headers={"authorization": f"Bearer {alice}"}, timeout=30)
        async with client, streamable_http_client(f"{gw}/mcp/docs", http_client=client) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                resources = sorted(str(r.uri) for r in (await s.list_resources()).resources)
                templates = sorted(t.uri_template for t in (await s.list_resource_templates()).resource_templates)
                prompts = sorted(p.name for p in (await s.list_prompts()).prompts)
                readme = (await s.read_resource("docs://readme")).contents[0].text
                profile = (await s.read_resource("users://7/profile")).contents[0].text
                review = (await s.get_prompt("review", {"code": "x = 1"})).messages[0].content.text
                return resources, templates, prompts, readme, profile, review

    resources, templates, prompts, readme, profile, review = run(browse())
    assert resources == ["docs://readme"]
    assert templates == ["users://{id}/profile"]
    assert prompts == ["review"]
    assert (readme, profile) == ("the readme", "profile of 7")
    assert review == "Please review: x = 1"

    async def read(uri):
        client = httpx2.AsyncClient(headers={"authorization": f"Bearer {alice}"}, timeout=30)
        async with client, streamable_http_client(f"{gw}/mcp/docs", http_client=client) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                await s.read_resource(uri)

    async def prompt(name):
        client = httpx2.AsyncClient(headers={"authorization": f"Bearer {alice}"}, timeout=30)
        async with client, streamable_http_client(f"{gw}/mcp/docs", http_client=client) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                await s.get_prompt(name)

    assert "resource docs://secret is not available on MCP server docs" in failure(read("docs://secret"))
    assert "prompt exfiltrate is not available on MCP server docs" in failure(prompt("exfiltrate"))
    seen = calls(record)
    assert not [c for c in seen if c.get("uri") == "docs://secret" or c.get("name") == "exfiltrate"]
    assert [c["uri"] for c in seen if c["kind"] == "read"][-2:] == ["docs://readme", "users://7/profile"]


def test_guardrails_on_tool_arguments_and_results(mcp_world):
    api, gw, alice = mcp_world["api"], mcp_world["gateway"], mcp_world["alice"]
    docs_server(api, "guarded", tools=["echo"])
    record = mcp_world["records"]["alpha"]
    api.ok("POST", "/api/v1/gateway-controls", {
        "type": "gateway-guardrails-config", "name": "tool-guard", "rules": [
            {"id": "echo", "when": {"mcp_servers": ["guarded/echo"]},
             "input_guardrails": [{"type": "block-keywords", "keywords": ["rm -rf"]},
                                  {"type": "redact-pii", "entities": ["email"]}],
             "output_guardrails": [{"type": "block-keywords", "keywords": ["TOPSECRET"]},
                                   {"type": "redact-pii", "entities": ["credit_card"]}]}]})
    try:
        _, result = run(list_and_call(gw, "guarded", alice, "echo", {"text": "write to bob@example.com"}))
        assert text_of(result) == "alpha: write to [REDACTED:email]"
        assert [c["text"] for c in calls(record) if c.get("tool") == "echo"][-1] == "write to [REDACTED:email]"

        _, result = run(list_and_call(gw, "guarded", alice, "echo", {"text": "card 4111 1111 1111 1111"}))
        assert text_of(result) == "alpha: card [REDACTED:credit_card]"

        before = len([c for c in calls(record) if c.get("tool") == "echo"])
        message = failure(list_and_call(gw, "guarded", alice, "echo", {"text": "please rm -rf /"}))
        assert "guardrail tool-guard/echo blocked the input: the block-keywords check" in message, message
        assert "rm -rf" not in message
        assert len([c for c in calls(record) if c.get("tool") == "echo"]) == before, "a blocked call reached it"

        message = failure(list_and_call(gw, "guarded", alice, "echo", {"text": "TOPSECRET plan"}))
        assert "guardrail tool-guard/echo blocked the output" in message, message
        assert "plan" not in message

        # The request log is written in batches: wait for the last one.
        deadline = time.time() + 10
        while True:
            logs = api.ok("GET", "/api/v1/request-logs?limit=50")["requests"]
            blocked = [r for r in logs if r["model"] == "guarded/echo" and r.get("refused_by") == "tool-guard/echo"]
            if len(blocked) >= 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert len(blocked) == 2 and all(r["status"] == 400 for r in blocked), blocked
    finally:
        api.ok("DELETE", "/api/v1/gateway-controls/tool-guard")
