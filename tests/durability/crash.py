#!/usr/bin/env python3
"""kill -9 of the real server under a steady write load, then a restart and a check that nothing
acknowledged is lost and no half-applied batch is visible.

    crash.py --binary target/debug/gatehouse --mock target/debug/gatehouse-mock-upstream
             [--rounds N] [--seconds S] [--postgres URL]

Each round: writers create users (POST /api/v1/users), apply three-object manifests (a role, a team and a
user that only make sense together: PUT /api/v1/apply) and call the gateway (each call writes a request-log
entry, asynchronously, in batches). After S seconds the server is killed with SIGKILL mid-load and
restarted on the same database. Then:
  - every write answered 2xx must be there (lost acknowledged writes must be 0);
  - for every manifest, acknowledged or in flight, its three objects are all there or none is;
  - request-log entries of acknowledged gateway calls that are missing are counted (the log is written
    after the answer, so a crash may lose the last unflushed batch; the figure is reported, not failed).
Postgres: a fresh database on the given server per run, dropped at the end (the server is never stopped).
"""
import argparse, json, os, secrets, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.request, urllib.error


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def http(method, url, token, body=None, ctype="application/json", timeout=10):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("content-type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception:
        return None, b""


class Server:
    def __init__(self, binary, db_url, workdir):
        self.binary, self.db_url, self.workdir = binary, db_url, workdir
        self.port = free_port(); self.base = f"http://127.0.0.1:{self.port}"; self.proc = None
        self.env = dict(os.environ, GATEHOUSE_DATABASE_URL=db_url, RUST_LOG="warn",
                        GATEHOUSE_SECRET_KEY=secrets.token_hex(32))

    def start(self):
        log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "--listen", f"127.0.0.1:{self.port}", "serve"],
                                     env=self.env, stdout=log, stderr=log)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1); return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("the server did not start; see server.log")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL); self.proc.wait()

    def bootstrap(self):
        out = subprocess.run([self.binary, "bootstrap", "--email", "admin@example.com"], env=self.env,
                             capture_output=True, check=True)
        token = out.stdout.decode().strip()
        # The running server picks the new admin up at its next poll of the store.
        for _ in range(100):
            if http("GET", f"{self.base}/api/v1/me", token)[0] == 200: return token
            time.sleep(0.1)
        raise SystemExit("the bootstrap token was not accepted")


def run_round(srv, token, seconds, rnd, writers):
    acked_users, acked_applies, inflight_applies, acked_calls = [], [], [], [0]
    stop = threading.Event(); lock = threading.Lock(); refused = []

    def user_writer(w):
        i = 0
        while not stop.is_set():
            email = f"u{rnd}-{w}-{i}@example.com"; i += 1
            st, _ = http("POST", f"{srv.base}/api/v1/users", token, {"email": email, "role": "member"})
            if st == 201:
                with lock: acked_users.append(email)

    def apply_writer(w):
        i = 0
        while not stop.is_set():
            n = f"r{rnd}w{w}n{i}"; i += 1
            doc = (f"type: role\nname: {n}\ndisplay_name: {n}\ndescription: crash test\npermissions: [gateway-controls:list]\n---\n"
                   f"type: user\nemail: {n}@example.com\nrole: {n}\n---\n"
                   f"type: team\nname: {n}\nmembers: [{n}@example.com]\n")
            with lock: inflight_applies.append(n)
            st, body = http("PUT", f"{srv.base}/api/v1/apply", token, doc.encode(), "application/yaml")
            if st == 200:
                with lock: acked_applies.append(n)
            elif st is not None and not refused:
                refused.append(body[:300]); print(f"  apply refused ({st}): {body[:300]!r}", flush=True)

    def gateway_caller(w):
        while not stop.is_set():
            st, _ = http("POST", f"{srv.base}/v1/chat/completions", token,
                         {"model": "mock/gpt", "messages": [{"role": "user", "content": "hi"}]})
            if st == 200:
                with lock: acked_calls[0] += 1

    threads = [threading.Thread(target=f, args=(w,)) for w in range(writers)
               for f in (user_writer, apply_writer, gateway_caller)]
    for t in threads: t.start()
    time.sleep(seconds)
    srv.kill9()  # mid-load: requests are in flight
    stop.set()
    for t in threads: t.join()
    return acked_users, acked_applies, inflight_applies, acked_calls[0]


def count_logs(srv, token):
    total, before = 0, None
    while True:
        q = "limit=1000" + (f"&before_id={before}" if before else "")
        st, body = http("GET", f"{srv.base}/api/v1/request-logs?{q}", token)
        if st != 200: raise SystemExit(f"request-logs: {st} {body[:200]}")
        page = json.loads(body)
        total += len(page["requests"])
        before = page.get("next_before_id")
        if not before: return total


def check(srv, token, users, applies, inflight):
    lost = [u for u in users if http("GET", f"{srv.base}/api/v1/users/{u}", token)[0] != 200]
    for n in applies:
        if http("GET", f"{srv.base}/api/v1/teams/{n}", token)[0] != 200: lost.append(n)
    half = []
    for n in inflight:
        seen = [http("GET", f"{srv.base}/api/v1/{p}", token)[0] == 200
                for p in (f"roles/{n}", f"users/{n}@example.com", f"teams/{n}")]
        if any(seen) and not all(seen): half.append((n, seen))
    return lost, half


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True); ap.add_argument("--mock", required=True)
    ap.add_argument("--rounds", type=int, default=3); ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--writers", type=int, default=3); ap.add_argument("--postgres")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gatehouse-crash-")
    mock_port = free_port()
    mock = subprocess.Popen([a.mock, "--listen", f"127.0.0.1:{mock_port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    dbname = None
    try:
        if a.postgres:
            dbname = f"gatehouse_crash_{os.getpid()}_{int(time.time())}"
            subprocess.run(["psql", a.postgres, "-qc", f"CREATE DATABASE {dbname}"], check=True)
            db_url = a.postgres.rsplit("/", 1)[0] + "/" + dbname
        else:
            db_url = f"sqlite://{work}/crash.db"
        srv = Server(os.path.abspath(a.binary), db_url, work)
        srv.start(); token = srv.bootstrap()
        http("POST", f"{srv.base}/api/v1/provider-accounts", token, {
            "type": "openai-compatible", "name": "mock", "base_url": f"http://127.0.0.1:{mock_port}/v1",
            "auth": {"api_key": "sk"}, "models": [{"name": "gpt", "model_id": "mock-gpt", "types": ["chat"]}]})
        totals = dict(users=0, applies=0, calls=0, lost=0, half=0, log_lost=0, log_lost_max=0)
        logs_before = count_logs(srv, token)
        for rnd in range(a.rounds):
            users, applies, inflight, calls = run_round(srv, token, a.seconds, rnd, a.writers)
            srv.start()
            lost, half = check(srv, token, users, applies, inflight)
            logs_after = count_logs(srv, token)
            log_lost = max(0, calls - (logs_after - logs_before)); logs_before = logs_after
            print(f"round {rnd + 1}: acked {len(users)} users, {len(applies)} applies ({len(inflight)} sent), "
                  f"{calls} gateway calls; lost acknowledged writes {len(lost)}, half-applied {len(half)}, "
                  f"request-log entries lost {log_lost}", flush=True)
            for x in lost[:5]: print(f"  LOST {x}")
            for x in half[:5]: print(f"  HALF {x}")
            totals["users"] += len(users); totals["applies"] += len(applies); totals["calls"] += calls
            totals["lost"] += len(lost); totals["half"] += len(half); totals["log_lost"] += log_lost
            totals["log_lost_max"] = max(totals["log_lost_max"], log_lost)
        srv.kill9()
        kind = "postgres" if a.postgres else "sqlite"
        print(f"crash summary ({kind}): {a.rounds} kill -9 rounds; acknowledged {totals['users']} users, "
              f"{totals['applies']} applies, {totals['calls']} gateway calls; lost acknowledged writes "
              f"{totals['lost']}; half-applied batches {totals['half']}; request-log entries lost "
              f"{totals['log_lost']} (at most {totals['log_lost_max']} in one crash)")
        # A run that acknowledged nothing proved nothing.
        idle = not (totals["users"] and totals["applies"] and totals["calls"])
        if idle: print("crash: the load acknowledged no users, applies or calls; nothing was checked")
        return 1 if totals["lost"] or totals["half"] or idle else 0
    finally:
        mock.kill(); mock.wait()
        if dbname:
            subprocess.run(["psql", a.postgres, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"])


if __name__ == "__main__":
    sys.exit(main())
