// The console's end-to-end tests: Debian's Chromium (Playwright's own browser download cannot work here),
// against the real gatehouse and gatehouse-mock-upstream binaries that global-setup starts.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.mjs/,
  // Rendering the README's screenshots is not a check: only scripts/screenshots.sh runs it.
  testIgnore: process.env.GATEHOUSE_SCREENSHOTS ? [] : [/screenshots\.spec\.mjs/],
  globalSetup: './global-setup.mjs',
  globalTeardown: './global-teardown.mjs',
  // One server for every test; tests make their own users and objects, so they could share it, but two
  // cores are better spent on one browser at a time.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] },
    trace: 'off',
  },
});
