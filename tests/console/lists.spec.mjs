// Lists that scale: 2,000 users paged, searched and sorted by the server through the console's tables,
// and a searchable picker that finds one of them by typing, without any page loading the whole list.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { admin, base, nav, ok, signIn, unique } from './lib.mjs';

const COUNT = 2000;
const prefix = unique('bulk');
const email = (i) => `${prefix}-${String(i).padStart(4, '0')}@example.com`;
// Names run the other way from emails, so sorting by name visibly reverses the table.
const name = (i) => `Bulk ${String(COUNT - i).padStart(4, '0')}`;

test.beforeAll(async () => {
  // One apply creates them all (all or nothing), as YAML documents.
  const docs = Array.from({ length: COUNT }, (_, i) => `type: user\nemail: ${email(i)}\ndisplay_name: ${name(i)}\nrole: member\n`);
  const r = await fetch(`${base()}/api/v1/apply`, { method: 'PUT', headers: { authorization: `Bearer ${admin()}`, 'content-type': 'application/yaml' },
    body: docs.join('---\n') });
  expect(r.status, await r.text()).toBe(200);
  const page = await ok('GET', `/api/v1/users?q=${prefix}&limit=1`, admin());
  expect(page.items[0].email).toBe(email(0));
});

/** Every request the page makes for a list of users, to check none asks for the whole list. */
function watchLists(page) {
  const asked = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/v1/users') asked.push(u.searchParams);
  });
  return asked;
}

const rows = (page) => page.getByRole('table', { name: 'Users' }).locator('tbody tr td:first-child');

test('the users table pages through 2,000 users, and searches and sorts on the server', async ({ page }) => {
  test.setTimeout(180_000);
  const asked = watchLists(page);
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Users');
  await page.getByLabel('Search users').fill(prefix);
  const status = page.getByRole('navigation', { name: 'Pages of users' }).getByRole('status');
  await expect(status).toHaveText('Showing users 1 to 50; more on the next page.');
  await expect(rows(page)).toHaveCount(50);
  await expect(rows(page).first()).toHaveText(email(0));

  // Next page, page after page, to the end: every user once, in email order.
  const seen = [];
  const next = page.getByRole('button', { name: 'Next page' });
  for (let p = 0; p < COUNT / 50; p++) {
    await expect(status).toHaveText(`Showing users ${p * 50 + 1} to ${p * 50 + 50}${p < COUNT / 50 - 1 ? '; more on the next page' : ''}.`);
    seen.push(...await rows(page).allTextContents());
    if (p < COUNT / 50 - 1) await next.click();
  }
  await expect(next).toBeDisabled();
  expect(seen).toEqual(Array.from({ length: COUNT }, (_, i) => email(i)));
  // Previous goes back a page, to the very same rows.
  await page.getByRole('button', { name: 'Previous page' }).click();
  await expect(status).toHaveText(`Showing users ${COUNT - 99} to ${COUNT - 50}; more on the next page.`);
  await expect(rows(page).first()).toHaveText(email(COUNT - 100));

  // Sorting by name (pressing the column's header) starts again from the first page, in the other order.
  await page.getByRole('button', { name: 'Sort by Name' }).click();
  await expect(page.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'ascending');
  await expect(status).toHaveText('Showing users 1 to 50; more on the next page.');
  await expect(rows(page).first()).toHaveText(email(COUNT - 1));
  await page.getByRole('button', { name: 'Sort by Name, descending' }).click();
  await expect(page.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'descending');
  await expect(rows(page).first()).toHaveText(email(0));

  // Searching finds one among them, by name as well as by email.
  await page.getByLabel('Search users').fill(name(1234));
  await expect(rows(page)).toHaveCount(1);
  await expect(rows(page).first()).toHaveText(email(1234));
  await expect(status).toHaveText('Showing users 1 to 1.');
  await page.getByLabel('Search users').fill(`${prefix}-nobody`);
  await expect(page.getByText('No user matches.')).toBeVisible();

  // No request asked for the whole list: each named a page size, never over 500.
  expect(asked.length).toBeGreaterThan(COUNT / 50);
  for (const p of asked) expect(Number(p.get('limit'))).toBeGreaterThan(0);
  for (const p of asked) expect(Number(p.get('limit'))).toBeLessThanOrEqual(500);

  const axe = await new AxeBuilder({ page }).include('.paged').analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
});

test('the role and status filters narrow the table on the server', async ({ page }) => {
  const off = email(7);
  await ok('PUT', `/api/v1/users/${off}`, admin(), { email: off, display_name: name(7), role: 'member', active: false });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await nav(page, 'Users');
  await page.getByLabel('Search users').fill(prefix);
  await expect(rows(page)).toHaveCount(50);
  const filters = page.getByRole('search', { name: 'Find users' });
  await filters.getByLabel('Status').selectOption('deactivated');
  await expect(rows(page)).toHaveCount(1);
  await expect(rows(page).first()).toHaveText(off);
  await filters.getByLabel('Status').selectOption('active');
  await expect(rows(page)).toHaveCount(50);
  await filters.getByLabel('Role').selectOption('admin');
  await expect(page.getByText('No user matches.')).toBeVisible();
});

test('a combobox picks one of 2,000 users by typing, with the keyboard', async ({ page }) => {
  const team = unique('lists-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  await page.goto(`${base()}/#/access/teams/${team}`);
  // The page is drawn once it takes the focus; from then on (not the Users page landed on after signing in)
  // every request for users is a picker's.
  await expect(page.locator('main')).toBeFocused();
  const asked = watchLists(page);
  const box = page.getByRole('combobox', { name: 'Add to members' });
  await box.fill(`${prefix}-171`);
  const list = page.getByRole('listbox');
  await expect(box).toHaveAttribute('aria-expanded', 'true');
  // 1710 to 1719: ten suggestions, asked of the server.
  await expect(list.getByRole('option')).toHaveCount(10);
  await box.fill(`${prefix}-1717`);
  await expect(list.getByRole('option')).toHaveCount(1);
  await expect(list.getByRole('option')).toHaveText(`${email(1717)} — ${name(1717)}`);
  await box.press('ArrowDown');
  await expect(list.getByRole('option')).toHaveAttribute('aria-selected', 'true');
  await expect(box).toHaveAttribute('aria-activedescendant', await list.getByRole('option').getAttribute('id'));
  await box.press('Enter');
  await expect(box).toHaveValue(email(1717));
  await expect(box).toHaveAttribute('aria-expanded', 'false');
  await page.getByRole('button', { name: 'Add member' }).click();
  await expect(page.getByRole('button', { name: `Remove ${email(1717)} from members` })).toBeVisible();
  expect((await ok('GET', `/api/v1/teams/${team}`, admin())).members).toEqual([email(1717)]);

  // Escape closes the suggestions and leaves the text.
  const managers = page.getByRole('combobox', { name: 'Add to managers' });
  await managers.fill(`${prefix}-0000`);
  await expect(managers).toHaveAttribute('aria-expanded', 'true');
  await managers.press('Escape');
  await expect(managers).toHaveAttribute('aria-expanded', 'false');
  await expect(managers).toHaveValue(`${prefix}-0000`);
  // The pickers asked for a handful at a time.
  expect(asked.length).toBeGreaterThan(0);
  for (const p of asked) expect(p.get('limit')).toBe('10');

  const axe = await new AxeBuilder({ page }).include('section[aria-labelledby="team-members"]').analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
});

test('provider accounts, MCP servers and agents are paged and searched on the server too', async ({ page }) => {
  const asked = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (['/api/v1/provider-accounts', '/api/v1/mcp-servers', '/api/v1/agents'].includes(u.pathname)) asked.push(u.searchParams);
  });
  await signIn(page, 'admin@example.com', 'admin-password-1');
  for (const [path, noun] of [['provider-accounts', 'provider accounts'], ['mcp-servers', 'MCP servers'], ['agents', 'agents']]) {
    await page.goto(`${base()}/#/integrations/${path}`);
    await expect(page.getByRole('searchbox', { name: `Search ${noun}` })).toBeVisible();
    await expect(page.getByRole('navigation', { name: `Pages of ${noun}` })).toBeVisible();
  }
  // Every list request asked for a page, never for the whole list.
  expect(asked.length).toBeGreaterThanOrEqual(3);
  for (const p of asked) expect(p.get('limit')).not.toBeNull();
});
