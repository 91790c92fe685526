// No self-lock-out: someone whose role only lets them create is offered "make me a manager", on by default,
// and is warned before saving without it.
import { test, expect } from '@playwright/test';
import { admin, api, nav, ok, role, signIn, unique, user } from './lib.mjs';

async function createOnly(perms) {
  const r = unique('create-only');
  await role(r, perms);
  const email = `${unique('maker')}@example.com`;
  await user(email, r);
  return email;
}

test('a create-only user is made manager by default and can see what they created', async ({ page }) => {
  const email = await createOnly(['mcp-server:create']);
  const name = unique('mine');
  await signIn(page, email);
  await nav(page, 'MCP Servers');
  await page.getByRole('button', { name: 'New MCP server' }).click();
  await expect(page.getByLabel(/Make me a manager/)).toBeChecked();
  await page.locator('input[name="name"]').fill(name);
  await page.getByLabel(/^URL/).fill('https://mcp.example.com/mine');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name, exact: true })).toBeVisible();
  await expect(page.getByText('https://mcp.example.com/mine')).toBeVisible();
  const rec = await ok('GET', `/api/v1/mcp-servers/${name}`, admin());
  expect(rec.collaborators).toEqual([{ subject: `user:${email}`, role: 'mcp-server-manager' }]);
});

test('unchecking "make me a manager" warns, and saving asks first', async ({ page }) => {
  const email = await createOnly(['provider-account:create']);
  const name = unique('blind');
  await signIn(page, email);
  await nav(page, 'Provider Accounts');
  await page.getByRole('button', { name: 'New provider account' }).click();
  const me = page.getByLabel(/Make me a manager/);
  await expect(me).toBeChecked();
  const note = page.getByText('you will not be able to see or change this provider account');
  await expect(note).toBeHidden();
  await me.uncheck();
  await expect(note).toBeVisible();
  await page.locator('input[name="name"]').fill(name);

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'You will not be able to see it' });
  await expect(dialog).toContainText(name);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect((await api('GET', `/api/v1/provider-accounts/${name}`, admin())).status).toBe(404);

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await dialog.getByRole('button', { name: 'Save anyway' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Provider Accounts' })).toBeVisible();
  const rec = await ok('GET', `/api/v1/provider-accounts/${name}`, admin());
  expect(rec.collaborators).toEqual([]);
});

test('agents (YAML only): saving what the creator could not read asks first; naming themself manager does not', async ({ page }) => {
  const email = await createOnly(['agent:create']);
  const name = unique('bot');
  await signIn(page, email);
  await nav(page, 'Agents');
  await page.getByRole('button', { name: 'New agent' }).click();
  const yaml = page.getByLabel('Manifest (YAML)');
  await yaml.fill(`type: agent\nname: ${name}\ndefinition: {model: x/y}\n`);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'You will not be able to see it' });
  await expect(dialog).toContainText('agent-manager');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect((await api('GET', `/api/v1/agents/${name}`, admin())).status).toBe(404);

  await yaml.fill(`type: agent\nname: ${name}\ndefinition: {model: x/y}\ncollaborators:\n  - {subject: "user:${email}", role: agent-manager}\n`);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name, exact: true })).toBeVisible();
  await expect(dialog).toHaveCount(0);
});
