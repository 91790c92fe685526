import { test, expect } from '@playwright/test';
import { admin, api, base, check, nav, ok, role, signIn, unique, user } from './lib.mjs';


test('seed: create a custom role in Access > Roles > Custom Roles and assign it to a user', async ({ page }) => {
  const email = `${unique('carol')}@example.com`;
  await user(email);
  const name = unique('gateway-viewer');
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Roles');
  await page.getByRole('tab', { name: 'Custom Roles' }).click();
  await page.getByRole('button', { name: 'Create Role' }).click();
  await page.getByLabel('Name', { exact: false }).first().fill(name);
  await page.getByLabel('Display name').fill('Gateway Viewer');
  await page.getByLabel('Description').fill('Can see gateway controls');
  // The picker is grouped as the permission table (docs/access-model.md), each permission with its description.
  await expect(page.getByRole('group', { name: 'AI Gateway' })).toBeVisible();
  await expect(page.getByText('Allows listing and viewing gateway controls')).toBeVisible();
  await page.getByRole('checkbox', { name: /gateway-controls:list/ }).check();
  await page.getByRole('button', { name: 'Create Role' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Gateway Viewer' })).toBeVisible();
  const r = await ok('GET', `/api/v1/roles/${name}`, admin());
  expect(r.permissions).toEqual(['gateway-controls:list']);

  await nav(page, 'Users');
  await page.getByLabel('Search users').fill(email);
  await page.getByRole('link', { name: email }).click();
  await page.getByRole('combobox', { name: /^Role/ }).selectOption(name);
  await page.getByRole('button', { name: 'Save user' }).click();
  await expect(page.getByRole('definition').filter({ hasText: name })).toBeVisible();
  expect((await ok('GET', `/api/v1/users/${email}`, admin())).role).toBe(name);
  expect(await check(`user:${email}`, 'gateway-controls:list', 'tenant')).toBe(true);
});

test('a bad role form is refused with the field named, in place', async ({ page }) => {
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await page.goto(`${base()}/#/access/roles/new`);
  await page.getByLabel('Name', { exact: false }).first().fill('has spaces');
  await page.getByLabel('Display name').fill('X');
  await page.getByLabel('Description').fill('x');
  await page.getByRole('checkbox', { name: /team:read/ }).check();
  await page.getByRole('button', { name: 'Create Role' }).click();
  await expect(page.getByRole('alert')).toContainText('name');
  await expect(page.getByRole('textbox', { name: /^Name/ })).toHaveAttribute('aria-invalid', 'true');
  expect((await api('GET', '/api/v1/roles/has%20spaces', admin())).status).not.toBe(200);
});

test('admin is read-only with every permission; member and team-manager are editable', async ({ page }) => {
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Roles');
  await expect(page.getByRole('tab', { name: 'Default Roles' })).toHaveAttribute('aria-selected', 'true');
  await page.getByRole('link', { name: 'Admin', exact: true }).click();
  await expect(page.getByText('cannot be edited or deleted')).toBeVisible();
  const boxes = page.getByRole('checkbox');
  await expect(boxes).toHaveCount(60);
  for (const b of await boxes.all()) { await expect(b).toBeChecked(); await expect(b).toBeDisabled(); }
  await expect(page.getByRole('button', { name: 'Save role' })).toHaveCount(0);
});

test('seed FAQ: team managers manage their virtual accounts once the Team Manager role allows it', async ({ page }) => {
  const mgr = `${unique('tm')}@example.com`;
  await user(mgr);
  const team = unique('payments');
  await ok('POST', '/api/v1/teams', admin(), { name: team, managers: [mgr] });
  const before = await ok('GET', '/api/v1/roles/team-manager', admin());

  // The admin edits the default Team Manager role in the console.
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Roles');
  await page.getByRole('link', { name: 'Team Manager' }).click();
  for (const p of ['virtual-account:create', 'virtual-account:read', 'virtual-account:manage', 'virtual-account:delete']) {
    await page.getByRole('checkbox', { name: new RegExp(p) }).check();
  }
  await page.getByRole('button', { name: 'Save role' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'saved' })).toHaveCount(1);
  await expect.poll(async () => (await ok('GET', '/api/v1/roles/team-manager', admin())).permissions).toContain('virtual-account:manage');
  await page.getByRole('button', { name: 'Sign out' }).click();

  // The manager creates a virtual account for their team, then rotates its token.
  await signIn(page, mgr);
  await nav(page, 'Virtual Accounts');
  const va = unique('checkout');
  await page.getByLabel('Name', { exact: false }).first().fill(va);
  await page.getByLabel('Owner team').fill(team);
  await page.getByRole('button', { name: 'Create virtual account' }).click();
  await expect(page.getByRole('heading', { level: 1, name: va })).toBeVisible();
  await page.getByRole('button', { name: 'Generate token' }).click();
  const first = await page.locator('.secret code').textContent();
  expect(first).toMatch(/^gh_va_/);
  await page.getByLabel('Grace period (days)').fill('0');
  await page.getByRole('button', { name: 'Rotate token' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Rotate now' }).click();
  await expect(page.getByText('Rotated: the previous tokens stop working')).toBeVisible();
  const rotated = await page.locator('.secret code').textContent();
  expect(rotated).not.toBe(first);
  await expect(page.getByRole('button', { name: 'Copy' })).toBeFocused();

  // Checked through the API: the new token acts as the virtual account; the old one no longer works.
  expect((await ok('GET', '/api/v1/me', rotated)).subject).toBe(`virtualaccount:${va}`);
  expect((await api('GET', '/api/v1/me', first)).status).toBe(401);
  expect((await ok('GET', `/api/v1/virtual-accounts/${va}`, admin())).owner_team).toBe(team);

  // Put the role back for the other tests.
  await ok('PUT', '/api/v1/roles/team-manager', admin(), { name: 'team-manager', display_name: before.display_name, description: before.description, permissions: before.permissions });
});

test('teams: create, describe, add and remove managers and members', async ({ page }) => {
  const alice = `${unique('alice')}@example.com`;
  const bob = `${unique('bob')}@example.com`;
  await user(alice); await user(bob);
  const team = unique('ml');
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Teams');
  await page.getByLabel('Name', { exact: false }).first().fill(team);
  await page.getByLabel('Description').fill('Machine learning');
  await page.getByRole('button', { name: 'Create team' }).click();
  await expect(page.getByRole('heading', { level: 1, name: team })).toBeVisible();
  await page.getByLabel('Add to managers').fill(alice);
  await page.getByRole('button', { name: 'Add manager' }).click();
  await expect(page.getByRole('button', { name: `Remove ${alice} from managers` })).toBeVisible();
  await page.getByLabel('Add to members').fill(bob);
  await page.getByRole('button', { name: 'Add member' }).click();
  await expect(page.getByRole('button', { name: `Remove ${bob} from members` })).toBeVisible();
  let t = await ok('GET', `/api/v1/teams/${team}`, admin());
  expect(t.managers).toEqual([alice]);
  expect(t.members.sort()).toEqual([alice, bob].sort());
  await page.getByRole('button', { name: `Remove ${bob} from members` }).click();
  await expect(page.getByRole('button', { name: `Remove ${bob} from members` })).toHaveCount(0);
  t = await ok('GET', `/api/v1/teams/${team}`, admin());
  expect(t.members).toEqual([alice]);
});

test('personal access tokens: generated once with a copy button, listed without the secret, revoked', async ({ page }) => {
  const email = `${unique('pat')}@example.com`;
  await user(email);
  await signIn(page, email);
  await nav(page, 'Personal Access Tokens');
  await page.getByLabel('Name', { exact: false }).first().fill('laptop');
  await page.getByRole('button', { name: 'Generate token' }).click();
  const token = await page.locator('.secret code').textContent();
  expect(token).toMatch(/^gh_pat_/);
  await expect(page.getByRole('button', { name: 'Copy' })).toBeVisible();
  expect((await ok('GET', '/api/v1/me', token)).subject).toBe(`user:${email}`);
  await expect(page.getByRole('cell', { name: 'laptop', exact: true })).toBeVisible();
  await expect(page.locator('table')).not.toContainText(token.split('_').pop());
  await page.getByRole('button', { name: 'Revoke token laptop' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByRole('cell', { name: 'laptop', exact: true })).toHaveCount(0);
  expect((await api('GET', '/api/v1/me', token)).status).toBe(401);
});

test('a control the user may not use is disabled with the reason, and the API refuses it the same way', async ({ page }) => {
  const email = `${unique('member')}@example.com`;
  const pat = await user(email);
  await signIn(page, email);
  await nav(page, 'Users');
  const add = page.getByRole('button', { name: 'Add user' });
  await expect(add).toBeDisabled();
  await expect(page.getByText(/Not available: denied: role member does not grant user:manage/)).toBeVisible();
  // Forcing it from the page (cookie + CSRF token) gets exactly what the API gives a token.
  const fromPage = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/auth/session')).json();
    const r = await fetch('/api/v1/users', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf_token },
      body: JSON.stringify({ email: 'intruder@example.com' }) });
    return { status: r.status, body: await r.json() };
  });
  const fromApi = await api('POST', '/api/v1/users', pat, { email: 'intruder@example.com' });
  expect(fromPage.status).toBe(403);
  expect(fromPage).toEqual(fromApi);
});

test('Why: a user page lists what they can do and through which grant', async ({ page }) => {
  const email = `${unique('why')}@example.com`;
  await user(email);
  const team = unique('why-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team, managers: [email] });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await page.goto(`${base()}/#/access/users/${encodeURIComponent(email)}`);
  const why = page.getByRole('region', { name: 'Why: what this subject can do' });
  await expect(why).toContainText('team:manage');
  await expect(why).toContainText(`manages team:${team}`);
});

test('deleting: confirmed first, and a refusal (a team that still owns a virtual account) is shown in place', async ({ page }) => {
  const team = unique('owner');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  const va = unique('svc');
  await ok('POST', '/api/v1/virtual-accounts', admin(), { name: va, owner_team: team });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await page.goto(`${base()}/#/access/teams/${team}`);
  await page.getByRole('button', { name: 'Delete team' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  expect((await api('GET', `/api/v1/teams/${team}`, admin())).status).toBe(200);
  await page.getByRole('button', { name: 'Delete team' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('alert')).toContainText(`team ${team} owns 1 virtual account`);
  expect((await api('GET', `/api/v1/teams/${team}`, admin())).status).toBe(200);

  await page.goto(`${base()}/#/access/virtual-accounts/${va}`);
  await page.getByRole('button', { name: 'Delete virtual account' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Virtual Accounts' })).toBeVisible();
  expect((await api('GET', `/api/v1/virtual-accounts/${va}`, admin())).status).toBe(404);
  await page.goto(`${base()}/#/access/teams/${team}`);
  await page.getByRole('button', { name: 'Delete team' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Teams' })).toBeVisible();
  expect((await api('GET', `/api/v1/teams/${team}`, admin())).status).toBe(404);
});

test('an edit over someone else\'s change is refused with a reload message, and loses nothing', async ({ page }) => {
  const team = unique('edited');
  await ok('POST', '/api/v1/teams', admin(), { name: team, description: 'first' });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await page.goto(`${base()}/#/access/teams/${team}`);
  await expect(page.getByRole('heading', { level: 1, name: team })).toBeVisible();
  // Someone else changes the team while the page is open.
  await ok('PUT', `/api/v1/teams/${team}`, admin(), { name: team, description: 'changed elsewhere' });
  await page.getByLabel('Description').fill('mine');
  await page.getByRole('button', { name: 'Save description' }).click();
  await expect(page.getByText('Changed by someone else since you opened it')).toBeVisible();
  expect((await ok('GET', `/api/v1/teams/${team}`, admin())).description).toBe('changed elsewhere');
  // Reloaded, the edit goes through.
  await page.reload();
  await expect(page.getByLabel('Description')).toHaveValue('changed elsewhere');
  await page.getByLabel('Description').fill('mine');
  await page.getByRole('button', { name: 'Save description' }).click();
  await expect.poll(async () => (await ok('GET', `/api/v1/teams/${team}`, admin())).description).toBe('mine');
});
