// Forms for the common case: provider accounts, MCP servers and virtual accounts created and edited in a
// form as well as in YAML (the two kept in sync), and Test connection asking the upstream without saving.
import { test, expect } from '@playwright/test';
import { admin, api, base, mock, nav, ok, signIn, unique, user } from './lib.mjs';

const signInAdmin = (page) => signIn(page, 'admin@example.com', 'admin-password-1');

test('a provider account: created in the form, tested against the mock, kept in sync with YAML, edited', async ({ page }) => {
  const acct = unique('form-acct');
  const colleague = `${unique('colleague')}@example.com`;
  await user(colleague);
  await signInAdmin(page);
  await nav(page, 'Provider Accounts');
  await page.getByRole('button', { name: 'New provider account' }).click();
  await expect(page.getByRole('tab', { name: 'Form' })).toHaveAttribute('aria-selected', 'true');
  // An admin can read every account: no need to be made a manager, and no warning.
  await expect(page.getByLabel(/Make me a manager/)).not.toBeChecked();

  await page.getByLabel('Type', { exact: true }).selectOption('openai-compatible');
  await expect(page.getByLabel(/^Region/)).toBeHidden();
  await page.locator('input[name="name"]').fill(acct);
  await page.getByLabel(/^Base URL/).fill(`${mock()}/v1`);
  await page.getByLabel(/^API key/).fill('sk-e2e-form-key');
  const m1 = page.getByRole('group', { name: 'Model 1' });
  await m1.getByLabel(/^Name/).fill('gpt');
  await m1.getByLabel(/^Provider model id/).fill('gpt-4o');
  await m1.getByLabel('completion').check();
  await m1.getByLabel(/^Input price/).fill('2.5');
  await m1.getByLabel(/^Output price/).fill('10');

  // Test connection: the mock's model list, and nothing saved.
  await page.getByRole('button', { name: 'Test connection' }).click();
  const result = page.getByRole('status').filter({ hasText: 'Connected' });
  await expect(result).toContainText('the provider lists 4 models');
  await expect(page.getByRole('list', { name: 'Models the provider lists' })).toContainText('mock-model');
  expect((await api('GET', `/api/v1/provider-accounts/${acct}`, admin())).status).toBe(404);

  // A refusal lands on the field it names.
  await m1.getByLabel(/^Name/).fill('bad name!');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(m1.getByLabel(/^Name/)).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('alert').first()).toContainText('"bad name!" is invalid');
  await m1.getByLabel(/^Name/).fill('gpt');

  await page.getByRole('button', { name: 'Add model' }).click();
  const m2 = page.getByRole('group', { name: 'Model 2' });
  await m2.getByLabel(/^Name/).fill('mini');
  await m2.getByLabel(/^Provider model id/).fill('gpt-4o-mini');
  await page.getByRole('button', { name: 'Add collaborator' }).click();
  await page.getByLabel('Collaborator 1: email or name').fill(colleague);
  await page.getByLabel('Collaborator 1: role').selectOption('provider-account-user');

  // Form → YAML and back: the same manifest.
  await page.getByRole('tab', { name: 'YAML' }).click();
  const yaml = page.getByLabel('Manifest (YAML)');
  await expect(yaml).toHaveValue(new RegExp(`name: ${acct}`));
  await expect(yaml).toHaveValue(/type: provider-account\/openai-compatible/);
  await expect(yaml).toHaveValue(/api_key: sk-e2e-form-key/);
  await expect(yaml).toHaveValue(/- name: mini/);
  await expect(yaml).toHaveValue(/output_per_million_tokens: 10/);
  await yaml.fill((await yaml.inputValue()).replace('name: mini', 'name: small'));
  await page.getByRole('tab', { name: 'Form' }).click();
  await expect(page.getByRole('group', { name: 'Model 2' }).getByLabel(/^Name/)).toHaveValue('small');
  await expect(page.locator('input[name="name"]')).toHaveValue(acct);

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: acct, exact: true })).toBeVisible();
  const rec = await ok('GET', `/api/v1/provider-accounts/${acct}`, admin());
  expect(rec.type).toBe('openai-compatible');
  expect(rec.base_url).toBe(`${mock()}/v1`);
  expect(rec.auth_configured).toBe(true);
  expect(rec.models).toEqual([
    { name: 'gpt', model_id: 'gpt-4o', types: ['chat', 'completion'], pricing: { input_per_million_tokens: 2.5, output_per_million_tokens: 10 } },
    { name: 'small', model_id: 'gpt-4o-mini', types: ['chat'] },
  ]);
  expect(rec.collaborators).toEqual([{ subject: `user:${colleague}`, role: 'provider-account-user' }]);

  // Edit in the form: the key field starts blank and blank keeps the stored key (Test connection uses it).
  await page.getByRole('link', { name: 'Edit', exact: true }).click();
  await expect(page.getByLabel(/^API key/)).toHaveValue('');
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toContainText('4 models');
  await page.getByRole('group', { name: 'Model 1' }).getByLabel(/^Output price/).fill('12');
  await page.getByRole('button', { name: 'Remove model 2' }).click();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: acct, exact: true })).toBeVisible();
  const edited = await ok('GET', `/api/v1/provider-accounts/${acct}`, admin());
  expect(edited.models.map((m) => m.name)).toEqual(['gpt']);
  expect(edited.models[0].pricing.output_per_million_tokens).toBe(12);
  expect(edited.auth_configured).toBe(true);
});

test('an MCP server: Test connection lists its tools, or says why it cannot', async ({ page }) => {
  const name = unique('form-mcp');
  await signInAdmin(page);
  await nav(page, 'MCP Servers');
  await page.getByRole('button', { name: 'New MCP server' }).click();
  await page.locator('input[name="name"]').fill(name);
  await page.getByLabel(/^URL/).fill(`${mock()}/mcp`);
  await page.getByLabel(/^Authentication/).selectOption('bearer');
  await page.getByLabel(/^Token sent/).fill('e2e-mcp-token');
  await page.getByLabel(/^Tools let through/).fill('echo');
  await page.getByRole('button', { name: 'Test connection' }).click();
  const tools = page.getByRole('list', { name: 'Tools the server lists' });
  await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toContainText('the server lists 2 tools');
  await expect(tools.getByRole('listitem').filter({ hasText: 'echo' })).not.toContainText('not let through');
  await expect(tools.getByRole('listitem').filter({ hasText: 'add' })).toContainText('not let through by the tools list');

  // A dead port: the error, inline.
  await page.getByLabel(/^URL/).fill('http://127.0.0.1:9/mcp');
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Connection failed' })).toContainText(name);
  expect((await api('GET', `/api/v1/mcp-servers/${name}`, admin())).status).toBe(404);

  // The YAML view tests the same way.
  await page.getByLabel(/^URL/).fill(`${mock()}/mcp`);
  await page.getByRole('tab', { name: 'YAML' }).click();
  await expect(page.getByLabel('Manifest (YAML)')).toHaveValue(/type: bearer/);
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toContainText('2 tools');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name, exact: true })).toBeVisible();
  const rec = await ok('GET', `/api/v1/mcp-servers/${name}`, admin());
  expect(rec.tools).toEqual(['echo']);
  expect(rec.auth_configured).toBe(true);
});

test('a virtual account: created in the form, edited through YAML', async ({ page }) => {
  const team = unique('va-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  const name = unique('va-form');
  await signInAdmin(page);
  await nav(page, 'Virtual Accounts');
  await page.getByRole('link', { name: 'New virtual account (form or YAML)' }).click();
  await page.locator('input[name="name"]').fill(name);
  await page.getByLabel(/^Owner team/).fill(team);
  await page.getByLabel(/^Description/).fill('Made in the form');
  await page.getByLabel(/^Expires on/).fill('2031-02-03');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name, exact: true })).toBeVisible();
  let v = await ok('GET', `/api/v1/virtual-accounts/${name}`, admin());
  expect([v.owner_team, v.description, v.expires_at]).toEqual([team, 'Made in the form', '2031-02-03T00:00:00Z']);

  await page.getByRole('link', { name: 'Edit', exact: true }).click();
  await page.getByRole('tab', { name: 'YAML' }).click();
  const yaml = page.getByLabel('Manifest (YAML)');
  await expect(yaml).toHaveValue(/description: Made in the form/);
  await yaml.fill((await yaml.inputValue()).replace('Made in the form', 'Changed in YAML'));
  await page.getByRole('tab', { name: 'Form' }).click();
  await expect(page.getByLabel(/^Description/)).toHaveValue('Changed in YAML');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name, exact: true })).toBeVisible();
  v = await ok('GET', `/api/v1/virtual-accounts/${name}`, admin());
  expect(v.description).toBe('Changed in YAML');
  expect(v.expires_at).toBe('2031-02-03T00:00:00Z');
});

test('the form pages have no serious accessibility violations, in either view', async ({ page }) => {
  const { default: AxeBuilder } = await import('@axe-core/playwright');
  const team = unique('a11y-va-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  await signInAdmin(page);
  const audit = async (what) => {
    const results = await new AxeBuilder({ page }).analyze();
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad.map((v) => `${what}: ${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`)).toEqual([]);
  };
  for (const hash of ['#/integrations/mcp-servers/new', '#/access/virtual-accounts/new', '#/integrations/provider-accounts/new']) {
    await page.goto(`${base()}/${hash}`);
    await expect(page.getByRole('tab', { name: 'Form' })).toBeVisible();
    await audit(`${hash} (form)`);
    await page.getByRole('tab', { name: 'YAML' }).click();
    await expect(page.getByLabel('Manifest (YAML)')).toBeVisible();
    await audit(`${hash} (YAML)`);
  }
  // With a connection test's answer shown, and the keyboard moving between the views.
  await page.getByRole('tab', { name: 'Form' }).click();
  await page.getByLabel('Type', { exact: true }).selectOption('openai-compatible');
  await page.getByLabel(/^Base URL/).fill(`${mock()}/v1`);
  await page.getByLabel(/^API key/).fill('sk-a11y');
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
  await audit('test connection result');
  await page.getByRole('tab', { name: 'Form' }).press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'YAML' })).toBeFocused();
  await expect(page.getByRole('tab', { name: 'YAML' })).toHaveAttribute('aria-selected', 'true');
});
