// The Gatehouse console: one page, a client of the JSON API like any other. It hides nothing the API
// would allow and allows nothing the API refuses; what it disables it explains with the engine's reason.

import { api, ApiError, enc, get, go, h, state } from './api.js';
import { pageError } from './ui.js';
import { pageDeactivated, pageSignin } from './signin.js';
import { pageUser, pageUsers } from './users.js';
import { pageTeam, pageTeams } from './teams.js';
import { pageVirtualAccount, pageVirtualAccounts } from './virtual-accounts.js';
import { pageRole, pageRoles } from './roles.js';
import { pageTokens } from './tokens.js';
import { pageResource, pageResourceEditor, pageResources } from './integrations.js';
import { pageControl, pageControls } from './controls.js';
import { pageUsage } from './usage.js';
import { pageAudit } from './audit.js';
import { pagePlayground } from './playground.js';
import { failurePage, landing, loadUsable, startLoading, unreachable, usable, watchRefusals, whoText } from './orient.js';
import { pageVaEditor } from './va-form.js';

const NAV = [
  ['Access', [['Users', '#/access/users'], ['Teams', '#/access/teams'], ['Virtual Accounts', '#/access/virtual-accounts'],
    ['Roles', '#/access/roles'], ['Personal Access Tokens', '#/access/tokens']]],
  ['Integrations', [['Provider Accounts', '#/integrations/provider-accounts'], ['MCP Servers', '#/integrations/mcp-servers'],
    ['Agents', '#/integrations/agents']]],
  ['Gateway', [['Gateway Controls', '#/gateway/controls'], ['Usage', '#/gateway/usage'], ['Playground', '#/gateway/playground']]],
  ['Governance', [['Audit Log', '#/audit']]],
];

function shell(path) {
  const main = h('main', { id: 'main', tabindex: '-1' });
  const signOut = h('button', { type: 'button', onclick: async () => {
    try { await api('DELETE', '/api/v1/auth/session'); } catch (err) { if (!err.handled) console.warn(err); }
    state.me = null; state.csrf = null;
    go('#/signin?reason=signedout');
  } }, 'Sign out');
  // Only what this person may use; a section with nothing left in it goes too.
  const nav = h('nav', { 'aria-label': 'Console sections' }, NAV.map(([section, all]) => [section, all.filter(([, href]) => usable(href))])
    .filter(([, links]) => links.length).map(([section, links]) => [
      h('h2', null, section),
      h('ul', null, links.map(([label, href]) => h('li', null,
        h('a', { href, 'aria-current': path.startsWith(href) ? 'page' : null }, label)))),
    ]));
  const who = whoText(state.me);
  // On a phone the menu folds away behind a button; on a laptop it is always there (the button is hidden).
  const side = h('div', { class: 'sidenav', id: 'sidenav', 'data-open': 'false' }, nav);
  const toggle = h('button', { type: 'button', class: 'menu-toggle', 'aria-controls': 'sidenav', 'aria-expanded': 'false', onclick: () => {
    const open = side.dataset.open !== 'true';
    side.dataset.open = String(open);
    toggle.setAttribute('aria-expanded', String(open));
  } }, 'Menu');
  nav.addEventListener('click', (ev) => {
    if (ev.target.closest('a')) { side.dataset.open = 'false'; toggle.setAttribute('aria-expanded', 'false'); }
  });
  const root = h('div', { class: 'shell' },
    h('header', { class: 'topbar' }, h('a', { class: 'brand', href: home() }, 'Gatehouse'),
      h('span', { class: 'who', 'data-testid': 'whoami' }, who), toggle, signOut),
    side,
    main);
  document.getElementById('app').replaceChildren(root);
  return main;
}

export function heading(main, title, crumbs) {
  document.title = `${title} · Gatehouse`;
  // Above the loading note, so the page's name shows while its content is fetched.
  const before = main.querySelector(':scope > .loading');
  const put = (el) => (before ? before.before(el) : main.append(el));
  if (crumbs) put(h('div', { class: 'crumbs' }, crumbs.map((c, i) => [i ? ' › ' : '', c[1] ? h('a', { href: c[1] }, c[0]) : c[0]])));
  put(h('h1', null, title));
}

const ROUTES = [
  [/^#\/signin$/, pageSignin, true],
  [/^#\/deactivated$/, pageDeactivated, true],
  [/^#\/access\/users$/, pageUsers],
  [/^#\/access\/users\/([^/]+)$/, pageUser],
  [/^#\/access\/teams$/, pageTeams],
  [/^#\/access\/teams\/([^/]+)$/, pageTeam],
  [/^#\/access\/virtual-accounts$/, pageVirtualAccounts],
  [/^#\/access\/virtual-accounts\/new$/, (m) => pageVaEditor(m, null)],
  [/^#\/access\/virtual-accounts\/([^/]+)\/edit$/, pageVaEditor],
  [/^#\/access\/virtual-accounts\/([^/]+)$/, pageVirtualAccount],
  [/^#\/access\/roles$/, pageRoles],
  [/^#\/access\/roles\/new$/, (m) => pageRole(m, null)],
  [/^#\/access\/roles\/([^/]+)$/, pageRole],
  [/^#\/access\/tokens$/, pageTokens],
  [/^#\/integrations\/(provider-accounts|mcp-servers|agents)$/, pageResources],
  [/^#\/integrations\/(provider-accounts|mcp-servers|agents)\/new$/, (m, kind) => pageResourceEditor(m, kind, null)],
  [/^#\/integrations\/(provider-accounts|mcp-servers|agents)\/([^/]+)\/edit$/, pageResourceEditor],
  [/^#\/integrations\/(provider-accounts|mcp-servers|agents)\/([^/]+)$/, pageResource],
  [/^#\/gateway\/controls$/, pageControls],
  [/^#\/gateway\/controls\/new$/, (m) => pageControl(m, null)],
  [/^#\/gateway\/controls\/([^/]+)$/, pageControl],
  [/^#\/gateway\/usage$/, pageUsage],
  [/^#\/audit$/, pageAudit],
  [/^#\/gateway\/playground$/, pagePlayground],
];

/** Restores the signed-in session after a reload: the cookie is HttpOnly, so ask the server. */
async function loadSession() {
  const s = await api('GET', '/api/v1/auth/session', undefined, { quiet: true });
  state.csrf = s.csrf_token;
  await loadMe();
}
export async function loadMe() {
  state.me = await get('/api/v1/me');
  state.perms = new Set(state.me.permissions);
  await loadUsable(NAV_LINKS);
}

let routing = 0;
export async function route() {
  const ticket = ++routing;
  const hash = location.hash || '#/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const match = ROUTES.map(([re, fn, open]) => [path.match(re), fn, open]).find(([m]) => m);
  const [m, page, open] = match || [];
  if (!open && !state.me) {
    try { await loadSession(); } catch (err) {
      if (ticket !== routing) return;
      if (unreachable(err)) { state.me = null; failurePage(document.getElementById('app'), err, route); return; }
      if (err.code === 'account_deactivated') { go('#/deactivated'); return; }
      go(`#/signin?next=${enc(hash)}`);
      return;
    }
  }
  if (ticket !== routing) return;
  // No page of that name, or none named: the first page this person may use.
  if (!match) { go(home()); return; }
  const main = open ? null : shell(path);
  const done = main ? startLoading(main) : () => {};
  if (main) watchRefusals(main);
  const args = m.slice(1).map(decodeURIComponent);
  try {
    await page(main, ...args, params);
  } catch (err) {
    if (ticket !== routing) return;
    if (unreachable(err)) failurePage(main || document.getElementById('app'), err, route);
    else if (err instanceof ApiError) pageError(main || document.getElementById('app'), err);
    else throw err;
  } finally {
    done();
  }
  if (main && ticket === routing && !main.querySelector('[data-testid=failure]')) main.focus({ preventScroll: true });
}

const NAV_LINKS = NAV.flatMap(([, links]) => links.map(([, href]) => href));
export const home = () => landing(NAV_LINKS);

// ---------- start ----------

const run = () => route().catch((err) => failurePage(document.getElementById('app'), err, route));
window.addEventListener('hashchange', run);
run();
