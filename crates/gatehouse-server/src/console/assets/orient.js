// Orientation: what a signed-in person may open (asked of the engine once per sign-in), where they land, a
// loading state while a page fetches, a failure page with Retry, and one refusal per page.

import { ApiError, api, get, h, state } from './api.js';

// What makes each section usable, beyond the engine's tenant-wide answers: a grant on one item of it
// (the list API returns only what the caller may read), or the caller's own things (tokens, usage).
// A link with no rule here (a page added later) is shown: the page itself refuses what it must.
const TENANT = ['user:list', 'team:read', 'team:create', 'virtual-account:read', 'virtual-account:create', 'role:list',
  'provider-account:read', 'provider-account:create', 'mcp-server:read', 'mcp-server:create', 'agent:read', 'agent:create'];
const LISTS = { 'provider-accounts': '/api/v1/provider-accounts', 'mcp-servers': '/api/v1/mcp-servers', agents: '/api/v1/agents',
  'virtual-accounts': '/api/v1/virtual-accounts' };
const RULES = {
  '#/access/users': (a) => a['user:list'],
  '#/access/teams': (a, me) => a['team:read'] || a['team:create'] || me.teams.length > 0 || me.manages.length > 0,
  '#/access/virtual-accounts': (a, _me, l) => a['virtual-account:read'] || a['virtual-account:create'] || a.teamVa || l['virtual-accounts'],
  '#/access/roles': (a) => a['role:list'],
  '#/access/tokens': (_a, me) => me.kind === 'user',
  '#/integrations/provider-accounts': (a, _me, l) => a['provider-account:read'] || a['provider-account:create'] || l['provider-accounts'],
  '#/integrations/mcp-servers': (a, _me, l) => a['mcp-server:read'] || a['mcp-server:create'] || l['mcp-servers'],
  '#/integrations/agents': (a, _me, l) => a['agent:read'] || a['agent:create'] || l.agents,
  // Everyone: besides the controls (for those who may list them) it shows the caller's own usage against them.
  '#/gateway/controls': () => true,
  '#/gateway/usage': () => true,
  '#/audit': (_a, me) => me.role === 'admin',
};

/**
 * Works out which of `links` (hrefs) the signed-in person may use: one batch of checks on the tenant and
 * on their teams, and the lists of items that grants can open. Kept in `state.usable` until the next sign-in.
 */
export async function loadUsable(links) {
  const me = state.me;
  const teams = [...new Set([...(me.teams || []), ...(me.manages || [])])];
  const list = [...TENANT.map((p) => [p, 'tenant']), ...teams.map((t) => ['virtual-account:create', `team:${t}`])];
  const [results, ...counts] = await Promise.all([
    api('POST', '/api/v1/authz/checks', { checks: list.map(([permission, resource]) => ({ permission, resource })) }).then((r) => r.results),
    // One item of each list is enough to know it is not empty.
    ...Object.values(LISTS).map((p) => get(`${p}?limit=1`).then((page) => page.items.length > 0).catch((err) => {
      if (err.status >= 500 || !(err instanceof ApiError)) throw err;
      return false;
    })),
  ]);
  const allowed = {};
  TENANT.forEach((p, i) => { allowed[p] = results[i].allowed; });
  allowed.teamVa = results.slice(TENANT.length).some((r) => r.allowed);
  const lists = Object.fromEntries(Object.keys(LISTS).map((k, i) => [k, counts[i]]));
  const meView = { kind: me.kind, role: me.role, teams: me.teams || [], manages: me.manages || [] };
  state.usable = new Set(links.filter((href) => { const rule = RULES[href]; return !rule || rule(allowed, meView, lists); }));
  return state.usable;
}

export const usable = (href) => !state.usable || state.usable.has(href);

/** The first page of the menu this person may use: where they land after signing in. */
export function landing(links) {
  return links.find((href) => usable(href)) || '#/access/tokens';
}

/** What the header says of the signed-in person: who, their role, and the teams they manage. */
export function whoText(me) {
  if (!me) return '';
  const parts = [me.subject.replace(/^user:/, ''), me.role];
  if (me.manages && me.manages.length) parts.push(`Team manager of ${me.manages.join(', ')}`);
  return parts.filter(Boolean).join(' · ');
}

/** Whether an error means the server could not be reached or failed, rather than refusing the request. */
export const unreachable = (err) => !(err instanceof ApiError) || err.status >= 500;

/** Replaces `where` with a message saying what failed, and a Retry that runs `retry` (the route again). */
export function failurePage(where, err, retry) {
  const down = !(err instanceof ApiError);
  const title = down ? 'Gatehouse cannot be reached' : 'Gatehouse could not answer';
  const text = down
    ? 'The console could not reach the Gatehouse server: it may be restarting, or the network is down. Nothing you saved is lost.'
    : `The server answered with an error (${err.status}${err.code ? ` ${err.code}` : ''}): ${err.message}`;
  const button = h('button', { type: 'button', class: 'primary', onclick: () => { button.disabled = true; button.textContent = 'Retrying…'; retry(); } }, 'Retry');
  document.title = `${title} · Gatehouse`;
  const box = h('div', { class: 'failure', 'data-testid': 'failure' },
    h('h1', null, title),
    h('div', { class: 'alert error', role: 'alert' }, h('p', null, text),
      h('p', null, 'Try again in a moment; if it keeps failing, check that the server is running and look at its log.')),
    h('div', { class: 'actions' }, button));
  where.replaceChildren(box);
  button.focus();
}

/** A loading note under the page's heading while it fetches; removed when the page is done. */
export function startLoading(main) {
  const note = h('p', { class: 'loading', role: 'status', 'data-testid': 'loading' }, 'Loading…');
  main.setAttribute('aria-busy', 'true');
  main.append(note);
  return () => { note.remove(); main.removeAttribute('aria-busy'); };
}

/**
 * One refusal per page: the controls a person may not use stay disabled, each still described by its
 * reason for a screen reader, but the reasons are shown once, together, at the top of the page.
 */
export function gatherRefusals(main) {
  const notes = [...main.querySelectorAll('.guarded > .reason, .panel > p.reason, section > p.reason')]
    .filter((n) => n.textContent.startsWith('Not available: ') && !n.closest('.refusals')
      && (n.parentElement.classList.contains('guarded') || n.parentElement.querySelector(':disabled')));
  let box = main.querySelector(':scope > .refusals');
  const reasons = new Set(box ? JSON.parse(box.dataset.reasons) : []);
  if (!notes.length) return;
  for (const n of notes) {
    reasons.add(n.textContent.slice('Not available: '.length));
    n.classList.add('visually-hidden');
    n.classList.remove('reason');
    n.classList.add('reason-gathered');
  }
  const items = [...reasons];
  const content = [h('strong', null, 'Some actions on this page are not available to you. '),
    items.length === 1 ? items[0] : h('ul', null, items.map((r) => h('li', null, r)))];
  if (!box) {
    box = h('div', { class: 'alert info refusals', role: 'note', 'data-testid': 'refusals' });
    const h1 = main.querySelector(':scope > h1');
    if (h1) h1.after(box); else main.prepend(box);
  }
  box.dataset.reasons = JSON.stringify(items);
  box.replaceChildren(...content);
}

/** Keeps gathering refusals that a page adds later (a list redrawn, a panel loaded after the rest). */
export function watchRefusals(main) {
  let queued = false;
  const obs = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => { queued = false; gatherRefusals(main); });
  });
  obs.observe(main, { childList: true, subtree: true });
  gatherRefusals(main);
}
