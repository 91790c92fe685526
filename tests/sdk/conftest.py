"""Starts the mock upstream and the gateway (the real binaries) on free ports, bootstraps an admin, and
configures provider accounts, users, a team, a virtual account and their grants through the admin API."""

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("authorization", f"Bearer {token or self.token}")
        req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read().decode()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "null")

    def ok(self, method: str, path: str, body=None, token=None):
        status, out = self.call(method, path, body, token)
        assert status < 300, f"{method} {path}: {status} {out}"
        return out


def wait_for(url: str, proc: subprocess.Popen, what: str):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up at {url}")


@pytest.fixture(scope="session")
def world():
    tmp = tempfile.TemporaryDirectory()
    mock_port, gw_port = free_port(), free_port()
    mock = subprocess.Popen(
        [str(TARGET / "gatehouse-mock-upstream"), "--listen", f"127.0.0.1:{mock_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = f"sqlite://{tmp.name}/gatehouse.db"
    env = dict(os.environ, GATEHOUSE_DATABASE_URL=db, RUST_LOG="warn")
    gw = subprocess.Popen(
        [str(TARGET / "gatehouse"), "--listen", f"127.0.0.1:{gw_port}", "serve"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        mock_url, gw_url = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{gw_port}"
        wait_for(mock_url + "/__mock/stats", mock, "the mock upstream")
        wait_for(gw_url + "/healthz", gw, "the gateway")
        admin = subprocess.run(
            [str(TARGET / "gatehouse"), "bootstrap", "--email", "admin@example.com"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()
        assert re.fullmatch(r"gh_pat_[0-9a-f]{16}_[0-9a-f]{64}", admin), admin
        api = Api(gw_url, admin)
        # The running server picks up the bootstrap within its poll interval.
        deadline = time.time() + 10
        while api.call("GET", "/api/v1/me")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)

        for email in ["alice@example.com", "bob@example.com"]:
            api.ok("POST", "/api/v1/users", {"email": email})
        api.ok("POST", "/api/v1/teams", {"name": "ml", "members": ["alice@example.com"]})
        api.ok("POST", "/api/v1/virtual-accounts", {"name": "checkout", "owner_team": "ml"})
        users = [{"subject": "team:ml", "role": "provider-account-user"},
                 {"subject": "virtualaccount:checkout", "role": "provider-account-user"}]
        api.ok("POST", "/api/v1/provider-accounts", {
            "type": "openai-compatible", "name": "mock-oai", "base_url": mock_url + "/v1",
            "auth": {"api_key": "sk-mock-oai"}, "collaborators": users,
            "models": [{"name": "gpt", "model_id": "gpt-4o", "types": ["chat", "completion"]},
                       {"name": "emb", "model_id": "text-embedding-3-small", "types": ["embedding"]}]})
        api.ok("POST", "/api/v1/provider-accounts", {
            "type": "anthropic", "name": "mock-ant", "base_url": mock_url,
            "auth": {"api_key": "sk-ant-mock"}, "collaborators": users,
            "models": [{"name": "claude", "model_id": "claude-3-5-sonnet-20241022", "types": ["chat"]}]})
        api.ok("POST", "/api/v1/provider-accounts", {
            "type": "aws-bedrock", "name": "mock-bed", "base_url": mock_url, "region": "us-east-1",
            "auth": {"access_key_id": "AKIDMOCK", "secret_access_key": "mock-secret"}, "collaborators": users,
            "models": [{"name": "titan", "model_id": "amazon.titan-text-express-v1", "types": ["chat"]}]})
        # Nobody is granted this one: it exists, and non-admins must get the same 403 as for a missing model.
        api.ok("POST", "/api/v1/provider-accounts", {
            "type": "openai-compatible", "name": "private", "base_url": mock_url + "/v1",
            "auth": {"api_key": "sk-private"}, "models": [{"name": "gpt", "model_id": "gpt-4o", "types": ["chat"]}]})

        def pat(email: str) -> str:
            api.ok("POST", f"/api/v1/users/{email}/password", {"password": "password-123"})
            status, session = api.call("POST", "/api/v1/auth/login", {"email": email, "password": "password-123"})
            assert status == 200, session
            return api.ok("POST", "/api/v1/personal-access-tokens", {"name": "sdk"}, token=session["token"])["token"]

        va = api.ok("POST", "/api/v1/virtual-accounts/checkout/tokens", {})["token"]
        yield {"gateway": gw_url, "mock": mock_url, "api": api, "admin": admin,
               "alice": pat("alice@example.com"), "bob": pat("bob@example.com"), "va": va, "pat": pat}
    finally:
        for p in (gw, mock):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        tmp.cleanup()
