import { test, expect } from '@playwright/test';
import { api, base, signIn, unique, user, admin, ok } from './lib.mjs';
import { ADMIN_PASSWORD, startServers } from './server.mjs';

/** Types into the sign-in form already on the page and submits it. */
async function submitSignIn(page, email, password) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('sign-in sets an HttpOnly SameSite session cookie; a wrong password is refused on the page', async ({ page, context }) => {
  const email = `${unique('ann')}@example.com`;
  await user(email);
  await page.goto(`${base()}/`);
  await expect(page).toHaveURL(/#\/signin/);
  await submitSignIn(page, email, 'not-the-password');
  await expect(page.getByRole('alert')).toContainText('invalid email or password');

  await submitSignIn(page, email, 'password-123');
  await expect(page.getByTestId('whoami')).toContainText(email);
  const cookie = (await context.cookies()).find((c) => c.name === 'gatehouse_session');
  expect(cookie.httpOnly).toBe(true);
  expect(cookie.sameSite).toBe('Strict');
  // The page's script cannot read it.
  expect(await page.evaluate(() => document.cookie)).not.toContain('gatehouse_session');

  // A reload keeps the session (the page asks the server for it).
  await page.reload();
  await expect(page.getByTestId('whoami')).toContainText(email);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByText('You are signed out.')).toBeVisible();
  // The session itself ended, not only the page: the old cookie no longer works.
  const r = await fetch(`${base()}/api/v1/me`, { headers: { cookie: `gatehouse_session=${cookie.value}` } });
  expect(r.status).toBe(401);
});

test('with the cookie alone, a request that changes something needs the CSRF token', async ({ page }) => {
  const email = `${unique('csrf')}@example.com`;
  await user(email);
  await signIn(page, email);
  const results = await page.evaluate(async () => {
    const body = JSON.stringify({ name: 'forged' });
    const forged = await fetch('/api/v1/personal-access-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const read = await fetch('/api/v1/personal-access-tokens');
    return { forged: forged.status, forgedBody: await forged.json(), read: read.status };
  });
  expect(results.forged).toBe(403);
  expect(results.forgedBody.error.message).toContain('x-csrf-token');
  expect(results.read).toBe(200);
  const pats = await ok('GET', '/api/v1/personal-access-tokens', await user(`${unique('other')}@example.com`));
  expect(pats.every((t) => t.name !== 'forged')).toBe(true);
});

test('an expired or ended session goes back to sign-in, and a deactivated user sees why', async ({ page, browser }) => {
  const email = `${unique('gone')}@example.com`;
  await user(email);
  await signIn(page, email);

  // The admin deactivates them through the console, with a confirmation that says what happens to tokens.
  const adminPage = await (await browser.newContext()).newPage();
  await signIn(adminPage, 'admin@example.com', 'admin-password-1');
  await adminPage.goto(`${base()}/#/access/users/${encodeURIComponent(email)}`);
  await adminPage.getByRole('button', { name: 'Deactivate user' }).click();
  const dialog = adminPage.getByRole('dialog');
  await expect(dialog).toContainText('every one of their tokens');
  await dialog.getByRole('button', { name: 'Deactivate' }).click();
  await expect(adminPage.getByTestId('user-status')).toHaveText('Deactivated');
  expect((await ok('GET', `/api/v1/users/${email}`, admin())).active).toBe(false);

  // Their open console session ended with the deactivation: the next step goes back to sign-in.
  await page.getByRole('link', { name: 'Teams' }).click();
  await expect(page.getByText('Your session has ended. Sign in again.')).toBeVisible();
  // A wrong password gets the usual answer, which says nothing about the account.
  await submitSignIn(page, email, 'not-the-password');
  await expect(page.getByRole('alert')).toContainText('invalid email or password');
  // The right password shows the deactivated page.
  await submitSignIn(page, email, 'password-123');
  await expect(page.getByRole('heading', { name: 'Your account is deactivated' })).toBeVisible();
  await expect(page.getByText('every other token of yours have stopped working')).toBeVisible();
  // The API's own login keeps its contract: the same 401 as a wrong password.
  const r = await fetch(`${base()}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'password-123' }) });
  expect(r.status).toBe(401);
  expect((await r.json()).error.code).toBe('invalid_token');
});

test('signing in works with the keyboard alone', async ({ page }) => {
  const email = `${unique('keys')}@example.com`;
  await user(email);
  await page.goto(`${base()}/#/signin`);
  await expect(page.getByLabel('Email')).toBeFocused();
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type('password-123');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('whoami')).toContainText(email);
  const r = await api('GET', '/api/v1/me', admin());
  expect(r.status).toBe(200);
});

test('a session that expires while the page is open goes back to sign-in', async ({ page }) => {
  // A server of its own whose sessions last three seconds (GATEHOUSE_SESSION_TTL).
  const short = await startServers({ GATEHOUSE_SESSION_TTL: '3s' });
  try {
    await page.goto(`${short.base}/#/signin`);
    await submitSignIn(page, 'admin@example.com', ADMIN_PASSWORD);
    await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
    const cookie = (await page.context().cookies()).find((c) => c.name === 'gatehouse_session');
    expect(cookie.expires - Date.now() / 1000).toBeLessThanOrEqual(4);
    await page.waitForTimeout(3500);
    await page.getByRole('link', { name: 'Teams' }).click();
    await expect(page.getByText('Your session has ended. Sign in again.')).toBeVisible();
  } finally {
    await short.stop();
  }
});

test('changing your own password asks for the current one and signs out your other sessions', async ({ page, browser }) => {
  const email = `${unique('pw')}@example.com`;
  await user(email);
  const other = await browser.newPage();
  await signIn(other, email);
  await signIn(page, email);
  await page.goto(`${base()}/#/access/users/${encodeURIComponent(email)}`);
  const panel = page.getByRole('region', { name: 'Password' });
  await panel.getByLabel('Current password').fill('not-the-password');
  await panel.getByLabel('New password').fill('a-new-password-1');
  await panel.getByRole('button', { name: 'Set password' }).click();
  await expect(panel.getByRole('alert')).toContainText('current password is wrong');
  await panel.getByLabel('Current password').fill('password-123');
  await panel.getByLabel('New password').fill('a-new-password-1');
  await panel.getByRole('button', { name: 'Set password' }).click();
  await expect(panel.getByText('Password set.')).toBeVisible();
  // This page's session goes on; the other one ended.
  await page.reload();
  await expect(page.getByTestId('whoami')).toContainText(email);
  await other.reload();
  await expect(other).toHaveURL(/#\/signin/);
  await other.close();
});
