// Labelled for screen readers: axe-core (the accessibility engine browsers' own audits use) on every main
// page, in the light and the dark theme, failing on any serious or critical violation.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { base, ok, admin, signIn, unique, mock } from './lib.mjs';

const PAGES = ['#/access/users', '#/access/teams', '#/access/virtual-accounts', '#/access/roles', '#/access/roles?tab=custom',
  '#/access/roles/new', '#/access/tokens', '#/integrations/provider-accounts', '#/integrations/mcp-servers', '#/integrations/agents',
  '#/integrations/provider-accounts/new', '#/gateway/controls', '#/gateway/controls/new', '#/gateway/usage', '#/audit'];

test('no serious accessibility violations on the main pages', async ({ page }) => {
  test.setTimeout(240_000);
  const acct = unique('a11y');
  await ok('POST', '/api/v1/provider-accounts', admin(), { type: 'openai-compatible', name: acct, base_url: `${mock()}/v1`,
    models: [{ name: 'm', model_id: 'm', types: ['chat'] }] });
  const team = unique('a11y-team');
  await ok('POST', '/api/v1/teams', admin(), { name: team });
  await page.goto(`${base()}/#/signin`);
  const pages = ['signin', ...PAGES, `#/integrations/provider-accounts/${acct}`, `#/access/teams/${team}`, '#/access/users/admin%40example.com'];
  for (const hash of pages) {
    if (hash === 'signin') {
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    } else {
      if (hash === PAGES[0]) await signIn(page, 'admin@example.com', 'admin-password-1');
      await page.goto(`${base()}/${hash}`);
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
      await page.waitForLoadState('networkidle');
    }
    // Both themes: the dark one follows the system setting, and must keep its contrast too.
    for (const colorScheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme });
      const results = await new AxeBuilder({ page }).analyze();
      const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
      expect.soft(bad, `${hash} (${colorScheme})`).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }
});
