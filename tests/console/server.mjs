// Starts the real binaries for the console tests: the mock upstream and the gateway, on free ports, with a
// fresh SQLite database and a bootstrapped admin who has a password.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const target = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'debug');
export const ADMIN_PASSWORD = 'admin-password-1';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
    s.on('error', fail);
  });
}

async function waitFor(url, child, what) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try { const r = await fetch(url); if (r.status < 500) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up at ${url}`);
}

/** `env`: extra settings for the gateway, e.g. `{ GATEHOUSE_SESSION_TTL: '3s' }`. */
export async function startServers(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
  const [mockPort, port] = [await freePort(), await freePort()];
  const all = { ...process.env, GATEHOUSE_DATABASE_URL: `sqlite://${dir}/console.db`, RUST_LOG: 'warn',
    GATEHOUSE_SECRET_KEY: 'console-tests-passphrase-of-at-least-32-chars', ...env };
  const mock = spawn(join(target, 'gatehouse-mock-upstream'), ['--listen', `127.0.0.1:${mockPort}`], { env: all, stdio: 'ignore' });
  const admin = execFileSync(join(target, 'gatehouse'), ['bootstrap', '--email', 'admin@example.com', '--password', ADMIN_PASSWORD],
    { env: all }).toString().trim();
  const server = spawn(join(target, 'gatehouse'), ['--listen', `127.0.0.1:${port}`, 'serve'], { env: all, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  const mockUrl = `http://127.0.0.1:${mockPort}`;
  try {
    await waitFor(`${base}/healthz`, server, 'gatehouse');
    await waitFor(`${mockUrl}/__mock/stats`, mock, 'the mock upstream');
  } catch (e) {
    server.kill(); mock.kill();
    throw e;
  }
  return {
    dir, base, mock: mockUrl, admin, pids: [server.pid, mock.pid],
    async stop() {
      server.kill('SIGINT'); mock.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 200));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A gateway on a fresh database that nobody has bootstrapped, for first-run setup: resolves once it
 * answers, with the one-time setup code read from its standard error.
 */
export async function startFreshServer(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-fresh-'));
  const port = await freePort();
  const all = { ...process.env, GATEHOUSE_DATABASE_URL: `sqlite://${dir}/fresh.db`, RUST_LOG: 'warn',
    GATEHOUSE_SECRET_KEY: 'console-tests-passphrase-of-at-least-32-chars', ...env };
  const server = spawn(join(target, 'gatehouse'), ['--listen', `127.0.0.1:${port}`, 'serve'], { env: all, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (d) => { stderr += d.toString(); });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${base}/healthz`, server, 'gatehouse');
    const deadline = Date.now() + 10_000;
    while (!/first-run setup code: (\S+)/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } catch (e) {
    server.kill();
    throw e;
  }
  const found = stderr.match(/first-run setup code: (\S+)/);
  return {
    base, code: found ? found[1] : null, stderr: () => stderr,
    async stop() {
      server.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 200));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
