// Orientation: first-run setup on a server with no admin, where each person lands and what the menu shows
// them, the team manager's header, one refusal per page, loading and failure states, and the dark theme.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { admin, base, mock, ok, role, signIn, unique, user } from './lib.mjs';
import { startFreshServer } from './server.mjs';

const menu = (page) => page.getByRole('navigation', { name: 'Console sections' });

async function seriousViolations(page) {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
}

test('first-run setup: the code from the server log creates the first admin, who lands signed in', async ({ page }) => {
  test.setTimeout(90_000);
  const fresh = await startFreshServer();
  try {
    expect(fresh.code, fresh.stderr()).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/);
    await page.goto(`${fresh.base}/#/signin`);
    const setup = page.getByRole('region', { name: 'Set up Gatehouse: create the first admin' });
    await expect(setup).toBeVisible();
    await expect(setup.getByText('gatehouse bootstrap --email you@example.com')).toBeVisible();
    for (const colorScheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme });
      expect(await seriousViolations(page), `first-run sign-in, ${colorScheme}`).toEqual([]);
    }

    // A wrong code is refused in place, and nothing is created.
    await setup.getByLabel('Setup code').fill('AAAA-AAAA-AAAA-AAAA-AAAA-AAAA');
    await setup.getByLabel('Admin email', { exact: true }).fill('first@example.com');
    await setup.getByLabel(/^Admin password/).fill('first-admin-password');
    await setup.getByRole('button', { name: 'Create the first admin' }).click();
    await expect(setup.getByRole('alert')).toContainText('not the setup code');
    expect((await (await fetch(`${fresh.base}/api/v1/setup`)).json()).needed).toBe(true);

    await setup.getByLabel('Setup code').fill(fresh.code.toLowerCase());
    await setup.getByRole('button', { name: 'Create the first admin' }).click();
    await expect(page.getByTestId('whoami')).toContainText('first@example.com · admin');
    await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
    await expect(menu(page).getByRole('link', { name: 'Audit Log' })).toBeVisible();

    // Setup is over: the sign-in page no longer offers it, and the admin signs in with the password chosen.
    expect(await (await fetch(`${fresh.base}/api/v1/setup`)).json()).toEqual({ needed: false, code_issued: false });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByRole('heading', { name: 'Sign in to Gatehouse' })).toBeVisible();
    await expect(page.getByText('create the first admin')).toHaveCount(0);
    await page.getByLabel('Email').fill('first@example.com');
    await page.getByLabel('Password').fill('first-admin-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByTestId('whoami')).toContainText('first@example.com');
  } finally {
    await fresh.stop();
  }
});

test('a person lands on the first page they can use, and the menu shows only what their role and grants open', async ({ page }) => {
  const viewer = unique('orient-viewer');
  await role(viewer, ['team:read', 'gateway-controls:list']);
  const email = `${unique('lands')}@example.com`;
  await user(email);
  await ok('PUT', `/api/v1/users/${email}`, admin(), { email, role: viewer, active: true });
  await signIn(page, email);
  // Not the Users page the console used to open for everyone: this role cannot list users.
  await expect(page.getByRole('heading', { level: 1, name: 'Teams' })).toBeVisible();
  await expect(page).toHaveURL(/#\/access\/teams$/);
  for (const label of ['Teams', 'Personal Access Tokens', 'Gateway Controls', 'Usage']) {
    await expect(menu(page).getByRole('link', { name: label, exact: true })).toBeVisible();
  }
  for (const label of ['Users', 'Roles', 'Virtual Accounts', 'Provider Accounts', 'MCP Servers', 'Agents', 'Audit Log']) {
    await expect(menu(page).getByRole('link', { name: label, exact: true })).toHaveCount(0);
  }
  await expect(menu(page).getByRole('heading', { name: 'Integrations' })).toHaveCount(0);

  // A grant on one provider account opens its section.
  const acct = unique('orient-acct');
  await ok('POST', '/api/v1/provider-accounts', admin(), { type: 'openai-compatible', name: acct, base_url: `${mock()}/v1`,
    models: [{ name: 'm', model_id: 'm', types: ['chat'] }], collaborators: [{ subject: `user:${email}`, role: 'provider-account-user' }] });
  await signIn(page, email);
  await expect(menu(page).getByRole('link', { name: 'Provider Accounts', exact: true })).toBeVisible();
  await expect(menu(page).getByRole('link', { name: 'Agents', exact: true })).toHaveCount(0);

  // The brand link and an unknown address both lead to the landing page, not to a refusal.
  await page.goto(`${base()}/#/no-such-page`);
  await expect(page.getByRole('heading', { level: 1, name: 'Teams' })).toBeVisible();
});

test('the header shows a team manager as one, and a refused page says so once, at the top', async ({ page }) => {
  const manager = `${unique('tm')}@example.com`, member = `${unique('tmember')}@example.com`;
  await user(manager);
  await user(member);
  const managed = unique('orient-team'), other = unique('orient-other');
  await ok('POST', '/api/v1/teams', admin(), { name: managed, managers: [manager], members: [member] });
  await ok('POST', '/api/v1/teams', admin(), { name: other, members: [member] });
  await signIn(page, manager);
  await expect(page.getByTestId('whoami')).toContainText(`Team manager of ${managed}`);

  await signIn(page, member);
  await expect(page.getByTestId('whoami')).not.toContainText('Team manager');
  await page.goto(`${base()}/#/access/teams/${other}`);
  await expect(page.getByRole('heading', { level: 1, name: other })).toBeVisible();
  await page.waitForLoadState('networkidle');
  const refusals = page.getByTestId('refusals');
  await expect(refusals).toHaveCount(1);
  await expect(refusals).toContainText('not available to you');
  await expect(refusals).toContainText('team:manage');
  // Each disabled control is still described by its reason, but no reason is shown beside it.
  await expect(page.locator('main .reason', { hasText: 'Not available' })).toHaveCount(0);
  const gathered = page.locator('main .reason-gathered.visually-hidden');
  expect(await gathered.count()).toBeGreaterThan(1);
  const disabled = page.locator('main button:disabled');
  expect(await disabled.count()).toBeGreaterThan(1);
  const described = await disabled.first().getAttribute('aria-describedby');
  if (described) await expect(page.locator(`[id="${described}"]`)).toContainText('Not available');
  // Refusals are sorted out before focus lands: the box sits right under the heading.
  await expect(page.locator('main > h1 + .refusals')).toHaveCount(1);
});

test('while a page fetches it says so; when the server is down or fails, a message with a working Retry', async ({ page }) => {
  const email = `${unique('down')}@example.com`;
  await user(email);
  await signIn(page, email);

  // Loading: the page's data is held back for a moment.
  let release;
  const held = new Promise((r) => { release = r; });
  await page.route('**/api/v1/personal-access-tokens', async (r) => { await held; await r.continue(); });
  await page.goto(`${base()}/#/access/tokens`);
  await expect(page.getByRole('heading', { level: 1, name: 'Personal Access Tokens' })).toBeVisible();
  await expect(page.getByTestId('loading')).toBeVisible();
  await expect(page.locator('main')).toHaveAttribute('aria-busy', 'true');
  release();
  await expect(page.getByTestId('loading')).toHaveCount(0);
  await expect(page.locator('main')).not.toHaveAttribute('aria-busy', 'true');
  await page.unroute('**/api/v1/personal-access-tokens');

  // Unreachable: every API call fails at the network, as when the server is stopped.
  await page.route('**/api/v1/**', (r) => r.abort('connectionrefused'));
  await page.goto(`${base()}/?down=1#/access/users`);
  await expect(page.getByRole('heading', { level: 1, name: 'Gatehouse cannot be reached' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('could not reach the Gatehouse server');
  const retry = page.getByRole('button', { name: 'Retry' });
  await expect(retry).toBeFocused();
  await retry.click();
  await expect(page.getByRole('heading', { level: 1, name: 'Gatehouse cannot be reached' })).toBeVisible();
  await page.unroute('**/api/v1/**');
  await page.getByRole('button', { name: 'Retry' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  await expect(page.getByTestId('whoami')).toContainText(email);

  // A 5xx from the server, on a page of a signed-in session: the same, with what the server said.
  // The Teams page asks for a page of the list (`/api/v1/teams?limit=…`): matched by path, whatever the query.
  const teamsList = (url) => url.pathname === '/api/v1/teams';
  await page.route(teamsList, (r) => r.fulfill({ status: 503, contentType: 'application/json',
    body: JSON.stringify({ error: { message: 'the database cannot be reached right now', type: 'server_error', code: 'store_unavailable' } }) }));
  await page.goto(`${base()}/#/access/teams`);
  await expect(page.getByRole('heading', { level: 1, name: 'Gatehouse could not answer' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('503 store_unavailable');
  await expect(menu(page)).toBeVisible();
  await page.unroute(teamsList);
  await page.getByRole('button', { name: 'Retry' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Teams' })).toBeVisible();

  // The sign-in page, with the server down: not a blank page either.
  await page.route('**/api/v1/**', (r) => r.abort('connectionrefused'));
  await page.goto(`${base()}/?down=2#/signin`);
  await expect(page.getByRole('heading', { level: 1, name: 'Gatehouse cannot be reached' })).toBeVisible();
  await page.unroute('**/api/v1/**');
  await page.getByRole('button', { name: 'Retry' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Gatehouse' })).toBeVisible();
});

test('the dark theme follows the system setting', async ({ page }) => {
  const email = `${unique('dark')}@example.com`;
  await user(email);
  const colours = () => page.evaluate(() => {
    const cs = (sel) => getComputedStyle(document.querySelector(sel));
    return { body: cs(':root').backgroundColor, text: cs('main').color, panel: cs('.panel, table').backgroundColor, scheme: cs(':root').colorScheme };
  });
  await page.emulateMedia({ colorScheme: 'light' });
  await signIn(page, email);
  await page.goto(`${base()}/#/access/users`);
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  // The page's list arrives after its heading.
  await expect(page.locator('.panel, table').first()).toBeVisible();
  const light = await colours();
  expect(light.body).toBe('rgb(246, 247, 249)');
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await colours();
  expect(dark).toEqual({ body: 'rgb(13, 17, 23)', text: 'rgb(230, 237, 243)', panel: 'rgb(22, 27, 34)', scheme: 'dark' });
  expect(await seriousViolations(page)).toEqual([]);
});

test('at laptop width the audit log and usage tables fit without sideways scrolling; at phone width the collaborators form fits', async ({ browser }) => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await signIn(page, 'admin@example.com', 'admin-password-1');
  const overflow = () => page.evaluate(() => [...document.querySelectorAll('main .table-wrap')]
    .filter((w) => w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1).length);
  for (const hash of ['#/audit', '#/gateway/usage']) {
    await page.goto(`${base()}/${hash}`);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await page.waitForLoadState('networkidle');
    expect(await overflow(), hash).toBe(0);
  }
  const acct = unique('orient-phone');
  await ok('POST', '/api/v1/provider-accounts', admin(), { type: 'openai-compatible', name: acct, base_url: `${mock()}/v1`,
    models: [{ name: 'm', model_id: 'm', types: ['chat'] }], collaborators: [{ subject: 'user:admin@example.com', role: 'provider-account-manager' }] });
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await signIn(phone, 'admin@example.com', 'admin-password-1');
  await phone.goto(`${base()}/#/integrations/provider-accounts/${acct}`);
  const collab = phone.getByRole('region', { name: 'Collaborators' });
  await expect(collab.getByRole('button', { name: 'Save collaborators' })).toBeVisible();
  const fits = await collab.evaluate((sec) => [...sec.querySelectorAll('select, button, input:not([type=hidden]), .table-wrap')]
    .filter((e) => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth; }).length);
  expect(fits).toBe(0);
  expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});
