// Gateway > Playground: a chat call through the gateway as the signed-in user, streamed into the page, with
// its timings, tokens and controls; logged in Usage like any call; refusals shown with the API's message.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { admin, base, mock, nav, ok, role, signIn, unique, user } from './lib.mjs';

/** A user of this test's own, with an account they may use (a slow stream and a fast model) and one they may not. */
async function world() {
  const caller = unique('pg-role');
  await role(caller, ['user:list']);
  const email = `${unique('pg')}@example.com`;
  await user(email, caller);
  const acct = unique('pg-acct');
  await ok('POST', '/api/v1/provider-accounts', admin(), {
    type: 'openai-compatible', name: acct, base_url: `${mock()}/v1`, auth: { api_key: 'sk-e2e' },
    models: [
      // Ten words, one every 250 ms: long enough to see the answer grow.
      { name: 'drip', model_id: 'gpt-4o-drip-250ms-tokens-10', types: ['chat'] },
      { name: 'fast', model_id: 'gpt-4o', types: ['chat'] },
    ],
    collaborators: [{ subject: `user:${email}`, role: 'provider-account-user' }],
  });
  const hidden = unique('pg-hidden');
  await ok('POST', '/api/v1/provider-accounts', admin(), {
    type: 'openai-compatible', name: hidden, base_url: `${mock()}/v1`, auth: { api_key: 'sk-e2e' },
    models: [{ name: 'gpt', model_id: 'gpt-4o', types: ['chat'] }],
  });
  return { email, acct, hidden };
}

test('a streamed answer with its latency, tokens and controls, then listed in Usage', async ({ page }) => {
  const { email, acct, hidden } = await world();
  const model = `${acct}/drip`;
  const rl = unique('pg-limit');
  await ok('POST', '/api/v1/gateway-controls', admin(), { type: 'gateway-rate-limiting-config', name: rl, rules: [
    { id: 'per-user', when: { models: [model] }, limit_to: 50, unit: 'requests_per_minute', rate_limit_applies_per: ['user'] }] });

  await signIn(page, email);
  await nav(page, 'Playground');
  await expect(page.getByRole('heading', { level: 1, name: 'Playground' })).toBeVisible();
  const picker = page.getByLabel('Model');
  // Only the models this user may use are offered.
  const offered = await picker.locator('option').allTextContents();
  expect(offered).toEqual(expect.arrayContaining([`${acct}/drip`, `${acct}/fast`]));
  expect(offered.some((m) => m.startsWith(`${hidden}/`))).toBe(false);

  await picker.selectOption(model);
  await page.getByLabel('Message').fill('Tell me something.');
  await page.getByRole('button', { name: 'Send' }).click();
  const answer = page.getByTestId('answer');
  const status = page.getByRole('status').filter({ hasText: /Streaming|Done|Waiting/ });
  // Part of the answer is on the page while the stream is still running.
  await expect(answer).not.toBeEmpty();
  await expect(status).toHaveText('Streaming…');
  await expect(status).toContainText('Done in', { timeout: 15_000 });
  const words = (await answer.textContent()).trim().split(/\s+/);
  expect(words.length).toBe(10);

  const facts = page.locator('dl.facts');
  await expect(facts.locator('[data-fact="Status"]')).toHaveText('200');
  await expect(facts.locator('[data-fact="Time to first token"]')).toHaveText(/^\d[\d,]* ms$/);
  await expect(facts.locator('[data-fact="Total time"]')).toHaveText(/^\d[\d,]* ms$/);
  const first = Number((await facts.locator('[data-fact="Time to first token"]').textContent()).replace(/\D/g, ''));
  const total = Number((await facts.locator('[data-fact="Total time"]').textContent()).replace(/\D/g, ''));
  expect(total).toBeGreaterThan(first);
  // Ten words one every 250 ms: the whole took longer than the first.
  expect(total - first).toBeGreaterThanOrEqual(1500);
  await expect(facts.locator('[data-fact="Output tokens"]')).toHaveText('10');
  await expect(facts.locator('[data-fact="Input tokens"]')).toHaveText(/^[1-9]\d*$/);
  const requestId = (await facts.locator('[data-fact="Request id"]').textContent()).trim();
  expect(requestId.length).toBeGreaterThan(8);
  // The controls that applied, from the answer's headers.
  await expect(page.getByRole('list', { name: 'Applied controls' })).toContainText(`rate-limit:${rl}/per-user`);
  await expect(page.getByRole('list', { name: 'Rate limit headers' })).toContainText('requests: 49 of 50 left');

  const a11y = await new AxeBuilder({ page }).analyze();
  expect(a11y.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);

  // The call is in Usage, as this user's, with its request id (the log is written in the background).
  await page.getByRole('link', { name: 'See it in Usage' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Usage' })).toBeVisible();
  await expect(page.getByLabel('User')).toHaveValue(email);
  await expect(async () => {
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: model }).filter({ hasText: `user:${email}` }).last();
    await expect(row).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await page.getByRole('row').filter({ hasText: model }).last().getByRole('button').click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText(requestId);
  await expect(dialog).toContainText('Output tokens');
});

test('a refusal shows the API\'s message, and a user without models is told so', async ({ page, browser }) => {
  const { email, acct } = await world();
  const model = `${acct}/fast`;
  const rl = unique('pg-one');
  await ok('POST', '/api/v1/gateway-controls', admin(), { type: 'gateway-rate-limiting-config', name: rl, rules: [
    { id: 'once', when: { models: [model] }, limit_to: 1, unit: 'requests_per_minute', rate_limit_applies_per: ['user'] }] });
  await signIn(page, email);
  await page.goto(`${base()}/#/gateway/playground?model=${encodeURIComponent(model)}`);
  await expect(page.getByLabel('Model')).toHaveValue(model);
  // An empty message is refused in the page, with the field marked.
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('alert')).toContainText('write something');
  await expect(page.getByLabel('Message')).toHaveAttribute('aria-invalid', 'true');
  // Sent from the keyboard.
  await page.getByLabel('Message').fill('hi');
  await page.getByLabel('Message').press('Control+Enter');
  await expect(page.getByRole('status').filter({ hasText: /Done/ })).toBeVisible();
  await page.getByRole('button', { name: 'Send' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText(rl);
  await expect(page.locator('[data-fact="Status"]')).toHaveText('429');
  // The refusal's own x-ratelimit-* headers are shown with it.
  await expect(page.getByRole('list', { name: 'Rate limit headers' })).toContainText('requests: 0 of 1 left');

  // Someone who may use no model gets no picker, and a reason.
  const nobody = `${unique('pg-none')}@example.com`;
  const caller = unique('pg-none-role');
  await role(caller, ['user:list']);
  await user(nobody, caller);
  const other = await browser.newPage();
  await signIn(other, nobody);
  await other.goto(`${base()}/#/gateway/playground`);
  await expect(other.getByText('You may not use any model yet')).toBeVisible();
  await expect(other.getByLabel('Model')).toHaveCount(0);
  await other.close();
});
