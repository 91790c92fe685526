// Feedback people see and guard rails (issue #14): every field error at once, in the field's words, with
// focus on the first; a toast after a save; a prompt before leaving unsaved changes; confirmations before
// cutting tokens off; the Team Manager role's scope and the permissions for objects not built yet.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { admin, api, base, nav, ok, signIn, unique, user } from './lib.mjs';

const asAdmin = (page) => signIn(page, 'admin@example.com', 'admin-password-1');

async function virtualAccount() {
  const team = unique('fb-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  const va = unique('fb-app');
  await ok('POST', '/api/v1/virtual-accounts', admin(), { name: va, owner_team: team });
  return va;
}

test('every invalid field is shown at once beside its field, once each, with focus on the first', async ({ page }) => {
  await asAdmin(page);
  await page.goto(`${base()}/#/access/roles/new`);
  const name = page.getByRole('textbox', { name: /^Name/ });
  await name.fill('Bad Name');
  await page.getByLabel('Display name').fill('   ');
  await page.getByRole('checkbox', { name: /team:read/ }).check();
  await page.getByRole('button', { name: 'Create Role' }).click();
  const display = page.getByRole('textbox', { name: 'Display name' });
  const description = page.getByRole('textbox', { name: 'Description' });
  for (const f of [name, display, description]) await expect(f).toHaveAttribute('aria-invalid', 'true');
  // Each message sits in the box the field points at, in the field's words.
  const box = async (f) => page.locator(`#${await f.getAttribute('aria-describedby')}`);
  await expect(await box(name)).toContainText('"Bad Name" is invalid');
  await expect(await box(display)).toHaveText('is required');
  await expect(await box(description)).toHaveText('is required');
  await expect(page.locator('.field-error:visible')).toHaveCount(3);
  await expect(page.getByText('is required')).toHaveCount(2);
  await expect(page.getByTestId('error-summary')).toHaveText('Check these 3 fields: Name, Display name, Description.');
  await expect(name).toBeFocused();
  // Correcting them clears every message on the next try.
  await name.fill(unique('fb-role'));
  await display.fill('Feedback role');
  await description.fill('made by the feedback test');
  await page.getByRole('button', { name: 'Create Role' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Feedback role' })).toBeVisible();
});

test('a duration error reads in the unit the field shows: days, not seconds', async ({ page }) => {
  const va = await virtualAccount();
  await asAdmin(page);
  await page.goto(`${base()}/#/access/virtual-accounts/${va}`);
  const grace = page.getByLabel('Grace period (days)');
  await grace.fill('400');
  await page.getByRole('button', { name: 'Rotate token' }).click();
  await expect(grace).toHaveAttribute('aria-invalid', 'true');
  const box = page.locator(`#${await grace.getAttribute('aria-describedby')}`);
  await expect(box).toHaveText('must be between 0 days and 365 days');
  await expect(box).not.toContainText('31536000');
  await expect(grace).toBeFocused();
  expect((await ok('GET', `/api/v1/virtual-accounts/${va}/tokens`, admin())).length).toBe(0);
});

test('a save says so in a toast that is announced and goes away by itself', async ({ page }) => {
  const email = `${unique('fb-toast')}@example.com`;
  await user(email);
  await asAdmin(page);
  await page.goto(`${base()}/#/access/users/${email}`);
  await page.getByLabel('Display name').fill('Toasted');
  await page.getByRole('button', { name: 'Save user' }).click();
  const t = page.getByTestId('toast');
  await expect(t).toHaveText(/User saved\./);
  await expect(t).toHaveAttribute('role', 'status');
  expect((await ok('GET', `/api/v1/users/${email}`, admin())).display_name).toBe('Toasted');
  await expect(t).toBeHidden({ timeout: 10_000 });
  // A refused save shows no toast.
  await page.getByRole('combobox', { name: /^Role/ }).selectOption('admin');
  await ok('PUT', `/api/v1/users/${email}`, admin(), { email, display_name: 'Changed meanwhile', role: 'member' });
  await page.getByRole('button', { name: 'Save user' }).click();
  await expect(page.getByRole('alert')).toContainText('Changed by someone else');
  await expect(page.getByTestId('toast')).toHaveCount(0);
});

test('leaving a form with unsaved changes asks first, in the console and on reload', async ({ page }) => {
  const team = unique('fb-dirty');
  await ok('POST', '/api/v1/teams', admin(), { name: team, description: 'before' });
  await asAdmin(page);
  await page.goto(`${base()}/#/access/teams/${team}`);
  const desc = page.getByRole('textbox', { name: 'Description' });
  await desc.fill('typed, not saved');
  await nav(page, 'Users').catch(() => {});
  const dialog = page.getByRole('dialog', { name: 'Leave without saving?' });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(page).toHaveURL(new RegExp(`#/access/teams/${team}$`));
  await expect(desc).toHaveValue('typed, not saved');

  // A reload asks the browser's own question; staying keeps the text.
  const asked = page.waitForEvent('dialog');
  const reload = page.reload({ timeout: 3000 }).catch(() => {});
  const d = await asked;
  expect(d.type()).toBe('beforeunload');
  await d.dismiss();
  await reload;
  await expect(desc).toHaveValue('typed, not saved');

  await page.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name: 'Users', exact: true }).click();
  await dialog.getByRole('button', { name: 'Leave' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  expect((await ok('GET', `/api/v1/teams/${team}`, admin())).description).toBe('before');

  // After a save nothing is left to lose: no question.
  await page.goto(`${base()}/#/access/teams/${team}`);
  await desc.fill('saved this time');
  await page.getByRole('button', { name: 'Save description' }).click();
  await expect(page.getByTestId('toast')).toContainText('Description saved.');
  await page.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name: 'Users', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  await expect(dialog).toHaveCount(0);
});

test('rotating with no grace period asks first; declining changes nothing', async ({ page }) => {
  const va = await virtualAccount();
  const first = await ok('POST', `/api/v1/virtual-accounts/${va}/tokens`, admin(), { name: 'old' });
  await asAdmin(page);
  await page.goto(`${base()}/#/access/virtual-accounts/${va}`);
  await page.getByLabel('Grace period (days)').fill('0');
  await page.getByRole('button', { name: 'Rotate token' }).click();
  const dialog = page.getByRole('dialog', { name: `Rotate ${va} with no grace period?` });
  await expect(dialog).toContainText('stops working at once');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  const tokens = await ok('GET', `/api/v1/virtual-accounts/${va}/tokens`, admin());
  expect(tokens.map((t) => t.id)).toEqual([first.id]);
  expect((await api('GET', '/api/v1/me', first.token)).status).toBe(200);

  await page.getByRole('button', { name: 'Rotate token' }).click();
  await dialog.getByRole('button', { name: 'Rotate now' }).click();
  await expect(page.getByText(/Rotated: the previous tokens stop working/)).toBeVisible();
  expect((await api('GET', '/api/v1/me', first.token)).status).toBe(401);
  // A grace period of days does not ask.
  await page.getByLabel('Grace period (days)').fill('3');
  await page.getByRole('button', { name: 'Rotate token' }).click();
  await expect(page.getByTestId('toast').last()).toContainText('Token rotated.');
  await expect(dialog).toHaveCount(0);
});

test('deactivating a user asks first; declining keeps them active', async ({ page }) => {
  const email = `${unique('fb-deact')}@example.com`;
  const pat = await user(email);
  await asAdmin(page);
  await page.goto(`${base()}/#/access/users/${email}`);
  await page.getByRole('button', { name: 'Deactivate user' }).click();
  const dialog = page.getByRole('dialog', { name: `Deactivate ${email}?` });
  await expect(dialog).toContainText('stops working at once');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect((await ok('GET', `/api/v1/users/${email}`, admin())).active).toBe(true);
  expect((await api('GET', '/api/v1/me', pat)).status).toBe(200);
  await page.getByRole('button', { name: 'Deactivate user' }).click();
  await dialog.getByRole('button', { name: 'Deactivate' }).click();
  await expect(page.getByTestId('user-status')).toHaveText('Deactivated');
  expect((await ok('GET', `/api/v1/users/${email}`, admin())).active).toBe(false);
});

test('the Team Manager role says what applies tenant-wide; permissions for objects not built yet are set apart', async ({ page }) => {
  await asAdmin(page);
  await page.goto(`${base()}/#/access/roles/team-manager`);
  const note = page.getByTestId('team-manager-note');
  await expect(note).toContainText('Applies tenant-wide');
  await expect(note).toContainText('Every other permission applies to the whole tenant, for every team manager');
  const later = page.getByRole('group', { name: /Resources not built yet/ });
  await expect(later).toContainText('Not built yet');
  for (const id of ['cluster:create', 'workspace:create', 'secret-group:read-data']) {
    await expect(later.getByRole('checkbox', { name: new RegExp(id) })).toHaveCount(1);
  }
  await expect(later.getByRole('checkbox', { name: /team:manage/ })).toHaveCount(0);
  await expect(page.getByRole('group', { name: 'Common' }).getByRole('checkbox', { name: /cluster:create/ })).toHaveCount(0);
  // Every permission still appears exactly once.
  await expect(page.getByRole('checkbox')).toHaveCount(60);
  // Other roles have no such note.
  await page.goto(`${base()}/#/access/roles/member`);
  await expect(page.getByRole('heading', { level: 1, name: 'Member' })).toBeVisible();
  await expect(page.getByTestId('team-manager-note')).toHaveCount(0);
});

test('field errors, toasts and the role editor\'s marks pass axe', async ({ page }) => {
  const serious = async (what) => {
    const results = await new AxeBuilder({ page }).analyze();
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
    expect(bad, what).toEqual([]);
  };
  await asAdmin(page);
  await page.goto(`${base()}/#/access/roles/new`);
  await page.getByRole('textbox', { name: /^Name/ }).fill('Bad Name');
  await page.getByRole('button', { name: 'Create Role' }).click();
  await expect(page.getByTestId('error-summary')).toBeVisible();
  await serious('role form with field errors');
  // The form was never saved: leaving it asks, in a dialog that passes too.
  await page.goto(`${base()}/#/access/roles/team-manager`);
  const leave = page.getByRole('dialog', { name: 'Leave without saving?' });
  await expect(leave).toBeVisible();
  await serious('the unsaved-changes dialog');
  await leave.getByRole('button', { name: 'Leave' }).click();
  await expect(page.getByTestId('team-manager-note')).toBeVisible();
  await page.getByRole('button', { name: 'Save role' }).click();
  await expect(page.getByTestId('toast')).toBeVisible();
  await serious('team manager role with a toast');
});
