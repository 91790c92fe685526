// What the console tests share: the server's address, an API client that talks to it like any other
// client, and signing in through the page.
import { expect } from '@playwright/test';

export const base = () => process.env.GATEHOUSE_E2E_URL;
export const mock = () => process.env.GATEHOUSE_E2E_MOCK;
export const admin = () => process.env.GATEHOUSE_E2E_ADMIN;

let seq = 0;
/** A name no other test uses, so tests can share the one server. */
export const unique = (prefix) => `${prefix}-${Date.now().toString(36)}${(++seq).toString(36)}`;

export async function api(method, path, token, body) {
  const r = await fetch(base() + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

export async function ok(method, path, token, body) {
  const r = await api(method, path, token, body);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
  return r.body;
}

/** Creates a user with a password (as admin) and returns a PAT of theirs. */
export async function user(email, role = 'member', password = 'password-123') {
  await ok('POST', '/api/v1/users', admin(), { email, role });
  await ok('POST', `/api/v1/users/${email}/password`, admin(), { password });
  const login = await fetch(`${base()}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  const session = (await login.json()).token;
  return (await ok('POST', '/api/v1/personal-access-tokens', session, { name: 'e2e' })).token;
}

export async function role(name, permissions) {
  await ok('POST', '/api/v1/roles', admin(), { name, display_name: name, description: 'e2e role', permissions });
}

export async function check(subject, permission, resource) {
  return (await ok('POST', '/api/v1/authz/check', admin(), { subject, permission, resource })).allowed;
}

let loads = 0;
export async function signIn(page, email, password = 'password-123') {
  // A whole page load, not a change of hash: a sign-in page still rendering from before must not take
  // the typing.
  await page.goto(`${base()}/?load=${++loads}#/signin`);
  await expect(page.getByRole('heading', { name: 'Sign in to Gatehouse' })).toBeVisible();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('whoami')).toContainText(email);
}

/** Navigates by the console's own menu, as a person would. */
export async function nav(page, label) {
  const menu = page.getByRole('button', { name: 'Menu' });
  if (await menu.isVisible() && (await menu.getAttribute('aria-expanded')) !== 'true') {
    await menu.click();
    await expect(menu).toHaveAttribute('aria-expanded', 'true');
  }
  await page.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name: label, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
}
