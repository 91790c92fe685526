import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export default async function globalTeardown() {
  const dir = process.env.GATEHOUSE_E2E_DIR;
  if (!dir) return;
  for (const pid of JSON.parse(readFileSync(join(dir, 'pids'), 'utf8'))) {
    try { process.kill(pid, 'SIGINT'); } catch { /* already gone */ }
  }
  await new Promise((r) => setTimeout(r, 300));
  rmSync(dir, { recursive: true, force: true });
}
