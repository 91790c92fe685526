// Not a check: renders the main pages into docs/screenshots/ for the README. The config runs it only with
// GATEHOUSE_SCREENSHOTS=1 (bash scripts/screenshots.sh).
import { test, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { admin, base, mock, ok, signIn, user } from './lib.mjs';
import { startFreshServer } from './server.mjs';

const out = resolve(import.meta.dirname, '..', '..', 'docs', 'screenshots');

test('render the main pages', async ({ browser }) => {
  test.setTimeout(120_000);
  mkdirSync(out, { recursive: true });
  const alice = 'alice@example.com', bob = 'bob@example.com', carol = 'carol@example.com';
  const tokens = {};
  for (const e of [alice, bob, carol]) tokens[e] = await user(e);
  await ok('POST', '/api/v1/roles', admin(), { name: 'ml-engineer', display_name: 'ML Engineer', description: 'Uses models and reads gateway controls', permissions: ['provider-account:read', 'gateway-controls:list', 'team:read', 'user:list'] });
  await ok('PUT', `/api/v1/users/${bob}`, admin(), { email: bob, display_name: 'Bob Builder', role: 'ml-engineer', active: true });
  await ok('POST', '/api/v1/teams', admin(), { name: 'ml-platform', description: 'Models in production', managers: [alice], members: [bob] });
  await ok('POST', '/api/v1/virtual-accounts', admin(), { name: 'checkout-service', owner_team: 'ml-platform', description: 'The checkout backend', expires_at: '2027-06-30T00:00:00Z' });
  await ok('POST', '/api/v1/provider-accounts', admin(), { type: 'openai-compatible', name: 'openai-main', base_url: `${mock()}/v1`, auth: { api_key: 'sk-demo' },
    models: [{ name: 'gpt-4o', model_id: 'gpt-4o', types: ['chat'], pricing: { input_per_million_tokens: 2.5, output_per_million_tokens: 10 } },
      { name: 'gpt-4o-mini', model_id: 'gpt-4o-mini', types: ['chat'], pricing: { input_per_million_tokens: 0.15, output_per_million_tokens: 0.6 } }],
    collaborators: [{ subject: 'team:ml-platform', role: 'provider-account-user' }, { subject: `user:${alice}`, role: 'provider-account-manager' }] });
  await ok('POST', '/api/v1/gateway-controls', admin(), { type: 'gateway-rate-limiting-config', name: 'default-limits', rules: [{ id: 'per-user', when: { subjects: ['team:ml-platform'], models: ['openai-main/gpt-4o'] }, limit_to: 100, unit: 'requests_per_minute', rate_limit_applies_per: ['user'] }] });
  for (const [who, model, n] of [[alice, 'gpt-4o', 6], [bob, 'gpt-4o-mini', 9], [bob, 'gpt-4o', 3]]) {
    for (let i = 0; i < n; i++) {
      await fetch(`${base()}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: `openai-main/${model}`, messages: [{ role: 'user', content: 'Summarise this ticket in one line.' }] }) });
    }
  }
  await expect.poll(async () => (await ok('GET', '/api/v1/usage', admin())).usage.reduce((n, r) => n + r.requests, 0)).toBeGreaterThanOrEqual(18);

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 820 } })).newPage();
  await page.goto(`${base()}/#/signin`);
  await page.screenshot({ path: join(out, 'signin.png') });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  const shots = [
    ['users', '#/access/users'], ['user-why', `#/access/users/${encodeURIComponent(bob)}`], ['roles-create', '#/access/roles/new'],
    ['team', '#/access/teams/ml-platform'], ['virtual-account', '#/access/virtual-accounts/checkout-service'],
    ['provider-account', '#/integrations/provider-accounts/openai-main'], ['gateway-control', '#/gateway/controls/default-limits'],
    ['usage', '#/gateway/usage'], ['audit', '#/audit'], ['provider-account-form', '#/integrations/provider-accounts/openai-main/edit'],
  ];
  for (const [name, hash] of shots) {
    await page.goto(`${base()}/${hash}`);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: !['roles-create', 'audit'].includes(name) });
  }
  // The playground: a streamed answer with its timings, tokens and the controls that applied.
  await page.goto(`${base()}/#/gateway/playground`);
  await page.getByLabel('Message').fill('Summarise this ticket in one line.');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.locator('[data-fact="Time to first token"]')).toHaveText(/ms$/);
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: join(out, 'playground.png'), fullPage: true });
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await signIn(phone, 'admin@example.com', 'admin-password-1');
  await phone.goto(`${base()}/#/access/users`);
  await phone.waitForLoadState('networkidle');
  await phone.screenshot({ path: join(out, 'phone-users.png') });
  await phone.goto(`${base()}/#/integrations/provider-accounts/openai-main`);
  await expect(phone.getByRole('heading', { name: 'Collaborators' })).toBeVisible();
  await phone.waitForLoadState('networkidle');
  await phone.getByRole('heading', { name: 'Collaborators' }).scrollIntoViewIfNeeded();
  await phone.screenshot({ path: join(out, 'phone-collaborators.png') });

  // The dark theme follows the system setting.
  await page.emulateMedia({ colorScheme: 'dark' });
  for (const [name, hash] of [['users-dark', '#/access/users'], ['usage-dark', '#/gateway/usage']]) {
    await page.goto(`${base()}/${hash}`);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: join(out, `${name}.png`) });
  }

  // What a member sees: only the sections their role and grants open, and the team they manage.
  const member = await (await browser.newContext({ viewport: { width: 1280, height: 820 } })).newPage();
  await signIn(member, alice);
  await member.waitForLoadState('networkidle');
  await member.screenshot({ path: join(out, 'member.png') });
});

test('render the first-run sign-in page', async ({ browser }) => {
  const fresh = await startFreshServer();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(`${fresh.base}/#/signin`);
    await expect(page.getByRole('heading', { name: 'Set up Gatehouse: create the first admin' })).toBeVisible();
    await page.screenshot({ path: join(out, 'first-run.png'), fullPage: true });
  } finally {
    await fresh.stop();
  }
});
