// One pair of servers for the whole run; the tests find them through the environment.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServers } from './server.mjs';

export default async function globalSetup() {
  const s = await startServers();
  writeFileSync(join(s.dir, 'pids'), JSON.stringify(s.pids));
  process.env.GATEHOUSE_E2E_DIR = s.dir;
  process.env.GATEHOUSE_E2E_URL = s.base;
  process.env.GATEHOUSE_E2E_MOCK = s.mock;
  process.env.GATEHOUSE_E2E_ADMIN = s.admin;
}
