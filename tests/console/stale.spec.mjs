// No stale panels (issue #14): after each change every panel on the page that shows the changed data shows
// the new state, without a reload.
import { test, expect } from '@playwright/test';
import { admin, base, mock, ok, signIn, unique, user } from './lib.mjs';

const asAdmin = (page) => signIn(page, 'admin@example.com', 'admin-password-1');

async function virtualAccount() {
  const team = unique('st-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  const va = unique('st-app');
  await ok('POST', '/api/v1/virtual-accounts', admin(), { name: va, owner_team: team });
  return va;
}

test('the personal token list shows a token as soon as it is generated, and drops it when revoked', async ({ page }) => {
  await asAdmin(page);
  await page.goto(`${base()}/#/access/tokens`);
  const name = unique('st-pat');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Generate token' }).click();
  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toHaveCount(1);
  await row.getByRole('button', { name: `Revoke token ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toHaveCount(0);
});

test('a virtual account\'s token list shows a generated token at once', async ({ page }) => {
  const va = await virtualAccount();
  await asAdmin(page);
  await page.goto(`${base()}/#/access/virtual-accounts/${va}`);
  const list = page.getByTestId('va-token-list');
  await expect(list).toContainText('No live tokens.');
  await page.getByLabel('Token name').fill('ci-deploy');
  await page.getByRole('button', { name: 'Generate token' }).click();
  await expect(list.getByRole('row').filter({ hasText: 'ci-deploy' })).toHaveCount(1);
  await expect(list).not.toContainText('No live tokens.');
});

test('a virtual account\'s token list shows the new token after a rotation, and the old one\'s end', async ({ page }) => {
  const va = await virtualAccount();
  const old = await ok('POST', `/api/v1/virtual-accounts/${va}/tokens`, admin(), { name: 'old-one' });
  await asAdmin(page);
  await page.goto(`${base()}/#/access/virtual-accounts/${va}`);
  const list = page.getByTestId('va-token-list');
  await expect(list.getByRole('row')).toHaveCount(2);
  const before = await list.getByRole('row').filter({ hasText: old.id }).textContent();
  await page.getByLabel('Grace period (days)').fill('2');
  await page.getByRole('button', { name: 'Rotate token' }).click();
  await expect(page.getByText(/Rotated: the previous tokens stop working/)).toBeVisible();
  const tokens = await ok('GET', `/api/v1/virtual-accounts/${va}/tokens`, admin());
  expect(tokens.length).toBe(2);
  const fresh = tokens.find((t) => t.id !== old.id);
  await expect(list.getByRole('row').filter({ hasText: fresh.id })).toHaveCount(1);
  // The old token now expires with the grace period: its row says so.
  await expect(list.getByRole('row').filter({ hasText: old.id })).not.toHaveText(before);
});

test('"Why: who can use it" shows collaborators as soon as they are saved', async ({ page }) => {
  const email = `${unique('st-collab')}@example.com`;
  await user(email);
  const acct = unique('st-acct');
  await ok('POST', '/api/v1/provider-accounts', admin(), {
    type: 'openai-compatible', name: acct, base_url: `${mock()}/v1`, auth: { api_key: 'sk-e2e' },
    models: [{ name: 'gpt', model_id: 'gpt-4o', types: ['chat'] }], collaborators: [],
  });
  await asAdmin(page);
  await page.goto(`${base()}/#/integrations/provider-accounts/${acct}`);
  const why = page.getByRole('region', { name: 'Why: who can use it' });
  await expect(why).not.toContainText(`user:${email}`);
  const form = page.getByRole('region', { name: 'Collaborators' });
  await form.getByLabel('Kind').selectOption('user');
  await form.getByLabel('Who').fill(email);
  await form.getByLabel('Role', { exact: true }).selectOption({ label: 'User' });
  await form.getByRole('button', { name: 'Add' }).click();
  await form.getByRole('button', { name: 'Save collaborators' }).click();
  await expect(page.getByRole('region', { name: 'Why: who can use it' })).toContainText(`user:${email}`);
  await expect(page.getByRole('region', { name: 'Why: who can use it' })).toHaveCount(1);
});

test('a team\'s member list shows a member as soon as they are added', async ({ page }) => {
  const email = `${unique('st-member')}@example.com`;
  await user(email);
  const team = unique('st-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  await asAdmin(page);
  await page.goto(`${base()}/#/access/teams/${team}`);
  const members = page.getByRole('region', { name: 'Members' });
  await expect(members).toContainText('None.');
  await members.getByLabel('Add to members').fill(email);
  await members.getByRole('button', { name: 'Add member' }).click();
  await expect(page.getByRole('region', { name: 'Members' }).getByRole('listitem').filter({ hasText: email })).toHaveCount(1);
  await expect(page.getByRole('region', { name: 'Members' })).not.toContainText('None.');
});
