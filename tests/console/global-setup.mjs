// Starts the mock upstream and the gateway on free ports with a fresh SQLite database, bootstraps an
// admin with a password, and hands the addresses to the tests through the environment.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const target = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'debug');

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

export default async function globalSetup() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
  const [mockPort, port] = [await freePort(), await freePort()];
  const env = { ...process.env, GATEHOUSE_DATABASE_URL: `sqlite://${dir}/console.db`, RUST_LOG: 'warn',
    GATEHOUSE_SECRET_KEY: 'console-tests-passphrase-of-at-least-32-chars' };
  const mock = spawn(join(target, 'gatehouse-mock-upstream'), ['--listen', `127.0.0.1:${mockPort}`], { env, stdio: 'ignore' });
  const admin = execFileSync(join(target, 'gatehouse'), ['bootstrap', '--email', 'admin@example.com', '--password', 'admin-password-1'],
    { env }).toString().trim();
  const server = spawn(join(target, 'gatehouse'), ['--listen', `127.0.0.1:${port}`, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/healthz`, server, 'gatehouse');
  await waitFor(`http://127.0.0.1:${mockPort}/__mock/stats`, mock, 'the mock upstream');
  writeFileSync(join(dir, 'pids'), JSON.stringify([server.pid, mock.pid]));
  process.env.GATEHOUSE_E2E_DIR = dir;
  process.env.GATEHOUSE_E2E_URL = base;
  process.env.GATEHOUSE_E2E_MOCK = `http://127.0.0.1:${mockPort}`;
  process.env.GATEHOUSE_E2E_ADMIN = admin;
}
