import { test, expect } from '@playwright/test';
import { admin, api, base, check, mock, nav, ok, role, signIn, unique, user } from './lib.mjs';

async function providerAccount(name, collaborators = []) {
  return ok('POST', '/api/v1/provider-accounts', admin(), {
    type: 'openai-compatible', name, base_url: `${mock()}/v1`, auth: { api_key: 'sk-e2e' },
    models: [{ name: 'gpt', model_id: 'gpt-4o', types: ['chat'], pricing: { input_per_million_tokens: 2.5, output_per_million_tokens: 10 } }],
    collaborators,
  });
}

test('seed: give a team User access to a provider account with the collaborators form', async ({ page }) => {
  const member = `${unique('dev')}@example.com`;
  await user(member);
  const team = unique('ml-platform');
  await ok('POST', '/api/v1/teams', admin(), { name: team, members: [member] });
  const acct = unique('openai-main');
  await providerAccount(acct);
  expect(await check(`user:${member}`, 'use', `model:${acct}/gpt`)).toBe(false);

  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Provider Accounts');
  await page.getByRole('link', { name: acct }).click();
  const form = page.getByRole('region', { name: 'Collaborators' });
  await form.getByLabel('Kind').selectOption('team');
  await form.getByLabel('Who').fill(team);
  await form.getByLabel('Role', { exact: true }).selectOption({ label: 'User' });
  await form.getByRole('button', { name: 'Add' }).click();
  await form.getByRole('button', { name: 'Save collaborators' }).click();
  await expect(form.getByText('Collaborators saved.')).toBeVisible();

  const rec = await ok('GET', `/api/v1/provider-accounts/${acct}`, admin());
  expect(rec.collaborators).toEqual([{ subject: `team:${team}`, role: 'provider-account-user' }]);
  expect(await check(`user:${member}`, 'use', `model:${acct}/gpt`)).toBe(true);
  // The credentials were kept through the save.
  expect(rec.auth_configured).toBe(true);

  // Why: who can use it, and through which grant.
  await page.reload();
  const who = page.getByRole('region', { name: 'Why: who can use it' });
  await expect(who).toContainText(`user:${member}`);
  await expect(who).toContainText(`team:${team}`);
});

test('seed FAQ: someone with only mcp-server:create creates an MCP server and manages only that one', async ({ page }) => {
  const r = unique('mcp-creator');
  await role(r, ['mcp-server:create']);
  const email = `${unique('maker')}@example.com`;
  await user(email, r);
  const other = unique('someone-elses');
  await ok('POST', '/api/v1/mcp-servers', admin(), { name: other, url: 'https://mcp.example.com/other' });

  await signIn(page, email);
  await nav(page, 'MCP Servers');
  await expect(page.getByRole('link', { name: other })).toHaveCount(0);
  await page.getByRole('button', { name: 'New MCP server' }).click();
  const name = unique('github');
  await page.getByRole('tab', { name: 'YAML' }).click();
  await page.getByLabel('Manifest (YAML)').fill(`type: mcp-server/remote\nname: ${name}\nurl: https://mcp.example.com/github\ncollaborators:\n  - {subject: "user:${email}", role: mcp-server-manager}\n`);
  await page.getByRole('button', { name: 'Validate' }).click();
  await expect(page.getByText(`mcp-server/remote ${name}: would be created`)).toBeVisible();
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();

  const rec = await ok('GET', `/api/v1/mcp-servers/${name}`, admin());
  expect(rec.collaborators).toEqual([{ subject: `user:${email}`, role: 'mcp-server-manager' }]);
  expect(await check(`user:${email}`, 'mcp-server:manage', `mcp-server:${name}`)).toBe(true);
  expect(await check(`user:${email}`, 'mcp-server:manage', `mcp-server:${other}`)).toBe(false);
  // Deleting needs mcp-server:delete, which this role lacks: the button says so.
  await expect(page.getByRole('button', { name: 'Delete MCP server' })).toBeDisabled();
});

test('seed: let members list gateway controls; only managers may change them; errors show in place', async ({ page }) => {
  const email = `${unique('viewer')}@example.com`;
  await user(email);
  const control = unique('limits');
  const member = await ok('GET', '/api/v1/roles/member', admin());

  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Gateway Controls');
  await page.getByRole('button', { name: 'New control' }).click();
  const yaml = `type: gateway-rate-limiting-config\nname: ${control}\nrules:\n  - id: per-user\n    when: {}\n    limit_to: -5\n    unit: requests_per_minute\n    rate_limit_applies_per: [user]\n`;
  await page.getByLabel('Manifest (YAML)').fill(yaml);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('.field-error')).toContainText('limit_to');
  await expect(page.getByLabel('Manifest (YAML)')).toHaveAttribute('aria-invalid', 'true');
  expect((await api('GET', `/api/v1/gateway-controls/${control}`, admin())).status).toBe(404);
  await page.getByLabel('Manifest (YAML)').fill(yaml.replace('-5', '100'));
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('heading', { level: 1, name: control })).toBeVisible();

  // Access > Roles > Default Roles > Member: add List Gateway Controls.
  await nav(page, 'Roles');
  await page.getByRole('link', { name: 'Member', exact: true }).click();
  await page.getByRole('checkbox', { name: /gateway-controls:list/ }).check();
  await page.getByRole('button', { name: 'Save role' }).click();
  await expect.poll(async () => (await ok('GET', '/api/v1/roles/member', admin())).permissions).toContain('gateway-controls:list');
  await page.getByRole('button', { name: 'Sign out' }).click();

  await signIn(page, email);
  await nav(page, 'Gateway Controls');
  await expect(page.getByRole('link', { name: control })).toBeVisible();
  await expect(page.getByRole('button', { name: 'New control' })).toBeDisabled();
  await expect(page.getByText(/Not available: denied: .*gateway-controls:manage/)).toBeVisible();
  await page.getByRole('link', { name: control }).click();
  await expect(page.getByLabel('Manifest (YAML)')).toHaveValue(/limit_to: 100/);
  await expect(page.getByRole('button', { name: 'Save' })).toBeDisabled();

  await ok('PUT', '/api/v1/roles/member', admin(), { name: 'member', display_name: member.display_name, description: member.description, permissions: member.permissions });
});

test('usage charts and the audit log, filtered', async ({ page }) => {
  const email = `${unique('caller')}@example.com`;
  const pat = await user(email);
  const acct = unique('metered');
  await providerAccount(acct, [{ subject: `user:${email}`, role: 'provider-account-user' }]);
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${base()}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: `${acct}/gpt`, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(r.status).toBe(200);
  }
  // The request log is written in the background, off the request path: wait until it holds the calls.
  await expect.poll(async () => {
    const u = await ok('GET', `/api/v1/usage?model=${acct}/gpt`, admin());
    return u.usage.reduce((n, r) => n + r.requests, 0);
  }, { timeout: 10_000 }).toBe(3);
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Usage');
  await page.getByLabel('Model').fill(`${acct}/gpt`);
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page.getByRole('row', { name: new RegExp(`${acct}/gpt`) }).first()).toBeVisible();
  for (const title of ['Requests', 'Tokens', 'Cost (USD)']) {
    await expect(page.getByRole('img', { name: new RegExp(`^${title.replace(/[()]/g, '\\$&')}:`) })).toBeVisible();
  }
  const totals = page.getByRole('region').filter({ has: page.getByRole('columnheader', { name: 'Mean latency' }) });
  const row = totals.getByRole('row', { name: new RegExp(`user:${email}`) });
  await expect(row).toContainText('3');
  await expect(row).toContainText('$');
  // Per subject: the same calls, keyed by who made them.
  await page.getByLabel('Group by').selectOption('subject');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/group_by=subject/);
  await expect(page.locator('.legend').first()).toContainText(`user:${email}`);
  // And each call in the request log, newest first.
  const recent = page.getByRole('region').filter({ has: page.getByRole('columnheader', { name: 'Controls' }) });
  await expect(recent.getByRole('row', { name: new RegExp(`user:${email}`) })).toHaveCount(3);

  await nav(page, 'Audit Log');
  await page.getByLabel('Object').fill(`provider-account:${acct}`);
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/object=provider-account/);
  const events = await ok('GET', `/api/v1/audit-events?object=provider-account:${acct}`, admin());
  expect(events.events.length).toBeGreaterThan(0);
  // Exactly the filtered events: each row is about that object.
  await expect(page.locator('tbody tr')).toHaveCount(events.events.length);
  await expect(page.getByRole('cell', { name: `provider-account:${acct}`, exact: true })).toHaveCount(events.events.length);
});

test('readable at phone width: no sideways scrolling of the page, menu reachable', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
  const page = await context.newPage();
  await signIn(page, 'admin@example.com', 'admin-password-1');
  for (const label of ['Users', 'Roles', 'Provider Accounts', 'Gateway Controls', 'Audit Log']) {
    await nav(page, label);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${label} scrolls sideways`).toBeLessThanOrEqual(1);
  }
});

test('agents: created from the YAML editor, a team made Viewer through the collaborators form', async ({ page }) => {
  const team = unique('support');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  const name = unique('support-bot');
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Agents');
  await page.getByRole('button', { name: 'New agent' }).click();
  await page.getByLabel('Manifest (YAML)').fill(`type: agent\nname: ${name}\ndescription: Answers tickets\ndefinition:\n  model: x/y\n  instructions: Be brief.\n`);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  const form = page.getByRole('region', { name: 'Collaborators' });
  await form.getByLabel('Kind').selectOption('team');
  await form.getByLabel('Who').fill(team);
  await form.getByLabel('Role', { exact: true }).selectOption({ label: 'Viewer' });
  await form.getByRole('button', { name: 'Add' }).click();
  await form.getByRole('button', { name: 'Save collaborators' }).click();
  await expect(form.getByText('Collaborators saved.')).toBeVisible();
  const rec = await ok('GET', `/api/v1/agents/${name}`, admin());
  expect(rec.collaborators).toEqual([{ subject: `team:${team}`, role: 'agent-viewer' }]);
  expect(rec.definition.instructions).toBe('Be brief.');
  // Editing again starts from the stored object, as YAML.
  await page.getByRole('link', { name: 'Edit as YAML' }).click();
  await expect(page.getByLabel('Manifest (YAML)')).toHaveValue(new RegExp(`name: ${name}`));
});
