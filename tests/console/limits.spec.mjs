// Gateway Controls shows usage against each rate-limit and budget rule: the viewer's own counters, and for
// those who may read gateway controls, anyone's.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { admin, api, base, mock, nav, ok, role, signIn, unique, user } from './lib.mjs';

async function chat(token, model) {
  const r = await fetch(`${base()}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
  expect(r.status, await r.clone().text()).toBe(200);
  return r;
}

test('usage against a rate limit and a budget, for the caller and for an admin picking them', async ({ page }) => {
  // A role of this test's own: the built-in member's permissions are changed by other tests.
  const caller = unique('caller');
  await role(caller, ['user:list']);
  const email = `${unique('limited')}@example.com`;
  const pat = await user(email, caller);
  const acct = unique('limited');
  await ok('POST', '/api/v1/provider-accounts', admin(), {
    type: 'openai-compatible', name: acct, base_url: `${mock()}/v1`, auth: { api_key: 'sk-e2e' },
    models: [{ name: 'gpt', model_id: 'gpt-4o', types: ['chat'], pricing: { input_per_million_tokens: 2.5, output_per_million_tokens: 10 } }],
    collaborators: [{ subject: `user:${email}`, role: 'provider-account-user' }],
  });
  const model = `${acct}/gpt`;
  // Both name this test's model only, so the other tests' calls on the shared server are not limited.
  const rl = unique('per-user-limits');
  await ok('POST', '/api/v1/gateway-controls', admin(), { type: 'gateway-rate-limiting-config', name: rl, rules: [
    { id: 'per-user', when: { models: [model] }, limit_to: 5, unit: 'requests_per_minute', rate_limit_applies_per: ['user'] }] });
  const budget = unique('spend');
  await ok('POST', '/api/v1/gateway-controls', admin(), { type: 'gateway-budget-config', name: budget, rules: [
    { id: 'daily', when: { models: [model] }, limit_to: 1, unit: 'cost_per_day', budget_applies_per: ['user'] }] });
  for (let i = 0; i < 3; i++) {
    const r = await chat(pat, model);
    expect(r.headers.get('x-gatehouse-applied-controls')).toContain(`rate-limit:${rl}/per-user`);
  }

  // The caller, who may not list gateway controls, still sees the rules that count them.
  await signIn(page, email);
  // Hold the counters back a moment: the panel says it is loading meanwhile.
  let release;
  const held = new Promise((r) => { release = r; });
  await page.route('**/api/v1/limits*', async (route) => { await held; await route.continue(); });
  await nav(page, 'Gateway Controls');
  const panel = page.getByRole('region', { name: 'Your usage against limits' });
  await expect(panel.getByRole('status')).toHaveText('Loading usage…');
  release();
  // Other tests' controls may count this caller too: look at this test's two.
  await expect(panel.getByRole('status')).toHaveText(/^\d+ counters for you\.$/);
  await page.unroute('**/api/v1/limits*');
  const rate = panel.getByRole('table', { name: `${rl}: usage by rule` }).getByRole('row', { name: /per-user/ });
  await expect(rate).toContainText('3 / 5 requests');
  await expect(rate).toContainText(`user ${email}`);
  await expect(rate).toContainText('per minute');
  await expect(rate).toContainText('enforce');
  const meter = rate.getByRole('meter', { name: `${rl}/per-user: 60% used` });
  await expect(meter).toHaveAttribute('value', '3');
  await expect(meter).toHaveAttribute('max', '5');
  // Resets when the first call leaves the sliding minute: a time is shown, not "Nothing counted".
  await expect(rate.locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);
  const spend = panel.getByRole('table', { name: `${budget}: usage by rule` }).getByRole('row', { name: /daily/ });
  await expect(spend).toContainText(/\$0\.\d+ \/ \$1\.00/);
  await expect(spend).toContainText('per UTC day');
  // Without List Gateway Controls, nobody else's: no picker.
  await expect(panel.getByLabel('Subject')).toHaveCount(0);

  // On the config's own page the admin sees their own counter of it (admins may use the model too), and
  // picks the caller.
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await page.goto(`${base()}/#/gateway/controls/${rl}`);
  const mine = page.getByRole('region', { name: 'Your usage against limits' });
  await expect(mine.getByRole('status')).toHaveText('1 counter for you.');
  await expect(mine.getByRole('row', { name: /per-user/ })).toContainText('0 / 5 requests');
  await expect(mine.getByRole('row', { name: /per-user/ })).toContainText('Nothing counted');
  await mine.getByLabel('Subject').fill(`user:${email}`);
  await mine.getByRole('button', { name: 'Show usage' }).click();
  await expect(page).toHaveURL(/subject=user%3A/);
  const theirs = page.getByRole('region', { name: `Usage against limits: user:${email}` });
  await expect(theirs.getByRole('row', { name: /per-user/ })).toContainText('3 / 5 requests');
  // Only this config on its own page.
  await expect(theirs.getByRole('row', { name: /daily/ })).toHaveCount(0);
  // The tables, meters and picker are labelled for screen readers.
  const axe = await new AxeBuilder({ page }).include('section[aria-labelledby="limits-h"]').analyze();
  expect(axe.passes.map((p) => p.id)).toContain('label');
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`)).toEqual([]);

  // One more call shows on the next load.
  await chat(pat, model);
  await page.reload();
  await expect(page.getByRole('region', { name: `Usage against limits: user:${email}` }).getByRole('row', { name: /per-user/ })).toContainText('4 / 5 requests');

  // A subject that does not exist: the panel says why, the rest of the page stays.
  await page.goto(`${base()}/#/gateway/controls?subject=user:nobody-${Date.now()}@example.com`);
  await expect(page.getByRole('alert')).toContainText('Usage is not available: no such subject');
  await expect(page.getByRole('link', { name: rl }).first()).toBeVisible();

  for (const name of [rl, budget]) expect((await api('DELETE', `/api/v1/gateway-controls/${name}`, admin())).status).toBe(204);
});
