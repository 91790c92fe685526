// The MCP server page: the URL through Gatehouse, a client configuration without any real token, and the
// tools the viewer may call, listed through the gateway from a real MCP server (the official Python SDK's,
// tests/sdk/mcp_upstream.py, in the project's .venv).
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { admin, base, nav, ok, signIn, unique } from './lib.mjs';

const root = resolve(import.meta.dirname, '..', '..');
// The upstream accepts only `Bearer upstream-secret-<its name>`: the credential Gatehouse stores.
const UPSTREAM = 'console';
const SECRET = `upstream-secret-${UPSTREAM}`;

function freePort() {
  return new Promise((ok_, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok_(port)); });
    s.on('error', fail);
  });
}

let upstream;
let upstreamUrl;
let dir;

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-mcp-'));
  const port = await freePort();
  upstream = spawn(join(root, '.venv', 'bin', 'python'), [join(root, 'tests', 'sdk', 'mcp_upstream.py'), UPSTREAM, String(port), join(dir, 'record')],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  upstreamUrl = `http://127.0.0.1:${port}/mcp`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (upstream.exitCode !== null) throw new Error(`the MCP upstream exited with ${upstream.exitCode}`);
    // Up when it answers at all (401 without its credential).
    try { await fetch(upstreamUrl); break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error('the MCP upstream did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
});

test.afterAll(async () => {
  if (upstream && upstream.exitCode === null) upstream.kill('SIGINT');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('an MCP server page shows the URL through Gatehouse, a client configuration and the tools', async ({ page }) => {
  const name = unique('calc');
  await ok('POST', '/api/v1/mcp-servers', admin(), { type: 'remote', name, url: upstreamUrl, tools: ['add', 'echo'],
    auth: { type: 'bearer', token: SECRET } });
  // Slowed on its way, so that the page is seen while it waits.
  let release;
  const held = new Promise((r) => { release = r; });
  await page.route(`**/api/v1/mcp-servers/${name}/tools`, async (route) => { await held; await route.continue(); });

  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'MCP Servers');
  await page.getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();

  const connect = page.getByRole('region', { name: 'Connect' });
  const url = `${base()}/mcp/${name}`;
  await expect(connect.getByTestId('mcp-url')).toHaveText(url);
  const snippet = connect.getByLabel('Client configuration', { exact: true });
  const config = JSON.parse(await snippet.textContent());
  expect(config).toEqual({ mcpServers: { [name]: { type: 'http', url, headers: { Authorization: 'Bearer <your token>' } } } });
  await expect(connect.getByRole('button', { name: 'Copy the client configuration' })).toBeVisible();

  const tools = page.getByRole('region', { name: 'Tools you may call' });
  await expect(tools.getByRole('status')).toHaveText('Asking the server for its tools…');
  release();
  const rows = tools.getByRole('row');
  await expect(rows.filter({ hasText: 'add' })).toContainText('Adds two numbers.');
  await expect(rows.filter({ hasText: 'add' }).locator('.badge')).toHaveText(['a', 'b']);
  await expect(rows.filter({ hasText: 'echo' }).locator('.badge')).toHaveText(['text']);
  // Left out by the manifest, so not the viewer's to call; the server's credential shown nowhere.
  await expect(tools).not.toContainText('delete_everything');
  await expect(tools.getByRole('status')).toHaveCount(0);
  await expect(page.locator('body')).not.toContainText(SECRET);

  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
  expect(bad).toEqual([]);
});

test('an MCP server that cannot be reached: the page says so, and can ask again', async ({ page }) => {
  const name = unique('gone');
  const port = await freePort();
  await ok('POST', '/api/v1/mcp-servers', admin(), { type: 'remote', name, url: `http://127.0.0.1:${port}/mcp` });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await page.goto(`${base()}/#/integrations/mcp-servers/${name}`);
  const tools = page.getByRole('region', { name: 'Tools you may call' });
  await expect(tools.getByRole('alert')).toContainText(`Could not list the tools: MCP server ${name} could not be reached`);
  // The address through Gatehouse is there all the same.
  await expect(page.getByTestId('mcp-url')).toHaveText(`${base()}/mcp/${name}`);
  await tools.getByRole('button', { name: 'Try again' }).click();
  await expect(tools.getByRole('alert')).toContainText('could not be reached');
});
