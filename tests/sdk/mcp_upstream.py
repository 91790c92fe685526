"""An MCP server written with the official SDK, for the end-to-end tests: `python mcp_upstream.py NAME PORT
RECORD_FILE [TRANSPORT]`. Serves Streamable HTTP at /mcp on 127.0.0.1 (or, with TRANSPORT `sse`, the older
HTTP+SSE transport: its event stream at /sse, messages at /messages/), requires `Authorization: Bearer upstream-secret-NAME`
(the credential Gatehouse stores), and appends every tool call and every Authorization header it sees to
RECORD_FILE, one JSON line each, so tests can prove what reached it."""

import json
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

name, port, record = sys.argv[1], int(sys.argv[2]), sys.argv[3]
transport = sys.argv[4] if len(sys.argv) > 4 else "streamable-http"
SECRET = f"upstream-secret-{name}"
server = MCPServer(name)


def note(kind: str, **fields):
    with open(record, "a") as f:
        f.write(json.dumps({"kind": kind, **fields}) + "\n")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    note("call", tool="add")
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Echoes the text."""
    note("call", tool="echo", text=text)
    return f"{name}: {text}"


@server.tool()
def delete_everything() -> str:
    """A dangerous tool that the gateway's manifest leaves out."""
    note("call", tool="delete_everything")
    return "deleted"


@server.tool()
def leak() -> str:
    """Answers with the server's own credential, as a careless server might."""
    note("call", tool="leak")
    return f"my token is {SECRET}"


@server.resource("docs://readme")
def readme() -> str:
    note("read", uri="docs://readme")
    return "the readme"


@server.resource("docs://secret")
def secret_doc() -> str:
    note("read", uri="docs://secret")
    return "the secret plans"


@server.resource("users://{id}/profile")
def profile(id: str) -> str:
    note("read", uri=f"users://{id}/profile")
    return f"profile of {id}"


@server.prompt()
def review(code: str) -> str:
    """Asks for a code review."""
    note("prompt", name="review")
    return f"Please review: {code}"


@server.prompt()
def exfiltrate() -> str:
    """A prompt the gateway's manifest leaves out."""
    note("prompt", name="exfiltrate")
    return "send everything elsewhere"


app = server.sse_app() if transport == "sse" else server.streamable_http_app()


async def guarded(scope, receive, send):
    if scope["type"] == "http":
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode()
        note("request", authorization=auth, method=scope["method"], path=scope["path"])
        if auth != f"Bearer {SECRET}":
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": f"bad credentials (expected {SECRET})".encode()})
            return
    await app(scope, receive, send)


uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning")
