// Gateway > Usage and Governance > Audit Log: filters by user, team, virtual account and model, the CSV
// download, a request's detail view, chart axes, tables at laptop width, and the audit log's part-of filters.
import { readFileSync } from 'node:fs';
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { admin, base, mock, ok, role, signIn, unique, user } from './lib.mjs';

const ADMIN_PASSWORD = 'admin-password-1';

async function chat(token, model, requestId) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  if (requestId) headers['x-request-id'] = requestId;
  const r = await fetch(`${base()}/v1/chat/completions`, { method: 'POST', headers,
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
  expect(r.status, await r.clone().text()).toBe(200);
}

/** Two users, a team with one of them and a virtual account, all calling one model of this test's own. */
async function world() {
  const caller = unique('use-role');
  await role(caller, ['user:list']);
  const alice = `${unique('use-a')}@example.com`;
  const bob = `${unique('use-b')}@example.com`;
  const alicePat = await user(alice, caller);
  const bobPat = await user(bob, caller);
  const team = unique('use-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team, managers: [], members: [alice] });
  const va = unique('use-va');
  await ok('POST', '/api/v1/virtual-accounts', admin(), { name: va, owner_team: team });
  const vaToken = (await ok('POST', `/api/v1/virtual-accounts/${va}/tokens`, admin(), {})).token;
  const acct = unique('use-acct');
  await ok('POST', '/api/v1/provider-accounts', admin(), {
    type: 'openai-compatible', name: acct, base_url: `${mock()}/v1`, auth: { api_key: 'sk-e2e' },
    models: [{ name: 'gpt', model_id: 'gpt-4o', types: ['chat'], pricing: { input_per_million_tokens: 2.5, output_per_million_tokens: 10 } }],
    collaborators: [{ subject: `user:${alice}`, role: 'provider-account-user' }, { subject: `user:${bob}`, role: 'provider-account-user' },
      { subject: `virtualaccount:${va}`, role: 'provider-account-user' }],
  });
  const model = `${acct}/gpt`;
  const marker = `-${unique('csv')}`;
  await chat(alicePat, model, marker);
  await chat(alicePat, model);
  await chat(bobPat, model);
  await chat(vaToken, model);
  return { alice, bob, team, va, model, marker };
}

/** The subjects of the recent-requests table. */
async function recentSubjects(page) {
  const table = page.locator('.usage-log table');
  await expect(table).toBeVisible();
  return (await table.locator('tbody tr td:nth-child(2)').allTextContents()).sort();
}

test('usage filters by user, team, virtual account and model; CSV download; a request\'s details', async ({ page }) => {
  const w = await world();
  await page.setViewportSize({ width: 1280, height: 900 });
  await signIn(page, 'admin@example.com', ADMIN_PASSWORD);
  // The log is written in the background: wait until all four calls are listed.
  await expect(async () => {
    await page.goto(`${base()}/?r=${Date.now()}#/gateway/usage?model=${encodeURIComponent(w.model)}`);
    expect(await recentSubjects(page)).toHaveLength(4);
  }).toPass({ timeout: 15_000 });

  const filters = page.getByRole('search', { name: 'Usage filters' });
  const show = async (values) => {
    for (const [label, v] of Object.entries(values)) await filters.getByLabel(label, { exact: true }).fill(v);
    await filters.getByRole('button', { name: 'Show' }).click();
  };
  await show({ User: w.alice });
  await expect(page).toHaveURL(/user=/);
  expect(await recentSubjects(page)).toEqual([`user:${w.alice}`, `user:${w.alice}`]);
  await show({ User: '', Team: w.team });
  expect(await recentSubjects(page)).toEqual([`user:${w.alice}`, `user:${w.alice}`, `virtualaccount:${w.va}`]);
  await show({ Team: '', 'Virtual account': w.va });
  expect(await recentSubjects(page)).toEqual([`virtualaccount:${w.va}`]);
  // The totals follow the same filters.
  await expect(page.getByRole('table').first()).toContainText(`virtualaccount:${w.va}`);
  await expect(page.getByRole('table').first()).not.toContainText(`user:${w.bob}`);
  // A bad filter is named at its field.
  await show({ 'Virtual account': '', Team: 'no-such-team-anywhere' });
  await expect(filters.getByRole('alert')).toContainText('no team named');
  await expect(filters.getByLabel('Team', { exact: true })).toHaveAttribute('aria-invalid', 'true');

  // CSV of the filtered log: every call of this model, the caller's request id defused as text.
  await show({ Team: '' });
  expect(await recentSubjects(page)).toHaveLength(4);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
  expect(download.suggestedFilename()).toBe('request-log.csv');
  const csv = readFileSync(await download.path(), 'utf8');
  const lines = csv.trimEnd().split('\r\n');
  const header = lines[0].split(',');
  expect(header.slice(0, 3)).toEqual(['id', 'at', 'subject']);
  expect(lines).toHaveLength(5);
  const subjects = lines.slice(1).map((l) => l.split(',')[header.indexOf('subject')]).sort();
  expect(subjects).toEqual([`user:${w.alice}`, `user:${w.alice}`, `user:${w.bob}`, `virtualaccount:${w.va}`].sort());
  expect(csv).toContain(`,'${w.marker},`);
  expect(lines.slice(1).every((l) => l.split(',')[header.indexOf('model')] === w.model)).toBe(true);

  // A row opens every field of the request; Escape closes it and gives focus back.
  const opener = page.locator('.usage-log tbody tr').filter({ hasText: `virtualaccount:${w.va}` }).getByRole('button');
  await opener.click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading', { name: /^Request \d+$/ })).toBeVisible();
  for (const label of ['Subject', 'Virtual account', 'Model', 'Route', 'Status', 'Latency', 'Input tokens', 'Output tokens', 'Cost', 'Request id', 'Guardrail verdicts', 'Upstream attempts']) {
    await expect(dialog).toContainText(label);
  }
  await expect(dialog).toContainText(w.va);
  await expect(dialog).toContainText('One attempt');
  const a11y = await new AxeBuilder({ page }).analyze();
  expect(a11y.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(opener).toBeFocused();

  // Readable at 1280 px: the request table fits without scrolling sideways.
  const fits = await page.locator('.usage-log .table-wrap').evaluate((el) => el.scrollWidth <= el.clientWidth + 1);
  expect(fits).toBe(true);
  // Chart axes carry their unit, and their ticks are round: multiples of 1, 2 or 5 times a power of ten.
  const charts = page.locator('figure.chart');
  await expect(charts).toHaveCount(3);
  for (const unit of ['requests', 'tokens', 'US dollars']) await expect(page.locator('svg text.unit', { hasText: unit })).toHaveCount(1);
  for (let i = 0; i < 3; i++) {
    const ticks = (await charts.nth(i).locator('svg text.tick').allTextContents()).map((t) => Number(t.replace(/[$,]/g, '')));
    expect(ticks[0]).toBe(0);
    const step = ticks[1] - ticks[0];
    const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toFixed(6));
    expect([1, 2, 5]).toContain(mantissa);
    ticks.forEach((t, k) => expect(Math.abs(t - k * step)).toBeLessThan(step / 1000));
  }
});

test('audit log filters take part of a name, ignoring case, and an action', async ({ page }) => {
  const team = unique('audit-part-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team, managers: [], members: [] });
  await ok('DELETE', `/api/v1/teams/${team}`, admin());
  await page.setViewportSize({ width: 1280, height: 900 });
  await signIn(page, 'admin@example.com', ADMIN_PASSWORD);
  await page.goto(`${base()}/#/audit`);
  const filters = page.getByRole('search', { name: 'Audit filters' });
  // The middle of the name, in capitals.
  await filters.getByLabel('Object').fill(team.slice(6).toUpperCase());
  await filters.getByRole('button', { name: 'Filter' }).click();
  const rows = page.locator('.audit-log tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText('team.delete');
  await expect(rows.nth(1)).toContainText('team.create');
  await filters.getByLabel('Action').fill('team.create');
  await filters.getByLabel('Actor').fill('ADMIN@');
  await filters.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=team\.create/);
  await expect(rows).toHaveCount(1);
  await expect(rows.nth(0)).toContainText(`team:${team}`);
  await expect(rows.nth(0)).toContainText('user:admin@example.com');
  await filters.getByLabel('Actor').fill('nobody-acts-like-this');
  await filters.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByText('No events match.')).toBeVisible();

  // Unfiltered, the whole log stays readable at 1280 px: no sideways scrolling.
  await page.goto(`${base()}/#/audit`);
  await expect(rows.first()).toBeVisible();
  const fits = await page.locator('.audit-log').evaluate((el) => el.scrollWidth <= el.clientWidth + 1);
  expect(fits).toBe(true);
});
