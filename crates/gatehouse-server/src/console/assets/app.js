// The Gatehouse console: one page, a client of the JSON API like any other. It hides nothing the API
// would allow and allows nothing the API refuses; what it disables it explains with the engine's reason.
'use strict';

// ---------- plumbing ----------

const state = { me: null, csrf: null, perms: new Set(), catalogue: null };

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || (typeof body === 'string' && body) || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || '';
    this.param = e.param || null;
    this.handled = false;
  }
}

/** Calls the API with the session cookie; every request but a GET carries the session's CSRF token. */
async function api(method, path, body, opts = {}) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = state.csrf || '';
  let payload;
  if (body !== undefined) {
    if (opts.contentType) { payload = body; headers['content-type'] = opts.contentType; }
    else { payload = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  }
  const r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await r.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!r.ok) {
    const err = new ApiError(r.status, data);
    if (r.status === 401 && !opts.quiet) signedOut(err);
    throw err;
  }
  return data;
}
const get = (p) => api('GET', p);
const q = (params) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
};
const enc = encodeURIComponent;

function signedOut(err) {
  err.handled = true;
  state.me = null; state.csrf = null;
  if (err.code === 'account_deactivated') go('#/deactivated');
  else go('#/signin?reason=expired');
}

/** Builds an element; text is always text (never parsed as markup), so no data can inject HTML. */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}
function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}
function append(el, kids) {
  for (const c of kids.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}
let idSeq = 0;
const uid = (p) => `${p}-${++idSeq}`;

function announce(msg) {
  const s = document.getElementById('status');
  s.textContent = '';
  setTimeout(() => { s.textContent = msg; }, 30);
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

const fmtTime = (t) => (t ? new Date(t).toLocaleString() : '—');
const fmtNum = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString());
const fmtUsd = (n) => (n === null || n === undefined ? '—' : `$${Number(n).toFixed(n < 0.01 ? 6 : n < 1 ? 4 : 2)}`);

// ---------- building blocks ----------

function field(label, input, hint) {
  const id = input.id || uid('f');
  input.id = id;
  const errId = `${id}-err`;
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label, hint ? h('span', { class: 'hint' }, ` ${hint}`) : null),
    input,
    h('div', { class: 'field-error', id: errId, hidden: true }));
  wrap.dataset.param = input.name || '';
  return wrap;
}
const input = (attrs) => h('input', { type: 'text', ...attrs });

/** Shows an API error in the form: next to the field it names when there is one, else at the top. */
function showError(form, err) {
  if (err.handled) return;
  clearErrors(form);
  let placed = false;
  const root = err.param ? err.param.split(/[.[]/)[0] : null;
  const target = (err.param && (form.querySelector(`[name="${CSS.escape(err.param)}"]`) || form.querySelector(`[name="${CSS.escape(root)}"]`)))
    || form.querySelector('[data-catch-all]');
  const box = target && document.getElementById(`${target.id}-err`);
  if (box) {
    target.setAttribute('aria-invalid', 'true');
    box.textContent = err.message; box.hidden = false;
    target.setAttribute('aria-describedby', box.id);
    target.focus();
    placed = true;
  }
  let top = form.querySelector('.form-alert');
  if (!top) { top = h('div', { class: 'form-alert' }); form.prepend(top); }
  top.replaceChildren(h('div', { class: 'alert error', role: 'alert' }, placed && err.param ? `${err.param}: ${err.message}` : err.message));
}
function clearErrors(form) {
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  form.querySelectorAll('.field-error').forEach((e) => { e.hidden = true; e.textContent = ''; });
  const top = form.querySelector('.form-alert');
  if (top) top.replaceChildren();
}
function flash(container, kind, msg) {
  const el = h('div', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, msg);
  container.prepend(el);
  return el;
}
function pageError(main, err) {
  if (err.handled) return;
  main.append(h('div', { class: 'alert error', role: 'alert' }, err.message));
}

/** A form whose submit runs `action`; errors land in place, the button is busy meanwhile. */
function form(children, action, submitLabel, extra = {}) {
  const f = h('form', { class: 'stack', novalidate: true, ...extra.attrs }, h('div', { class: 'form-alert' }), children,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, submitLabel), extra.buttons || null));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = f.querySelector('button[type=submit]');
    clearErrors(f);
    btn.disabled = true;
    try { await action(f); } catch (err) { if (err instanceof ApiError) showError(f, err); else throw err; } finally { btn.disabled = false; }
  });
  return f;
}
const val = (f, name) => { const e = f.elements[name]; return e ? e.value.trim() : ''; };

/** A confirmation in a modal dialog; resolves true when confirmed. */
function confirmDialog(title, text, confirmLabel = 'Confirm', danger = true) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-labelledby': 'dlg-title', 'aria-describedby': 'dlg-text' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', { id: 'dlg-text' }, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => { d.close('yes'); } }, confirmLabel),
        h('button', { type: 'button', onclick: () => d.close('no') }, 'Cancel')));
    d.addEventListener('close', () => { d.remove(); resolve(d.returnValue === 'yes'); });
    document.body.append(d);
    d.showModal();
    d.querySelector('button:last-child').focus();
  });
}

/** A secret shown once, with a copy button. */
function secretBox(label, secret) {
  const code = h('code', { id: uid('secret') }, secret);
  const btn = h('button', { type: 'button', onclick: async () => {
    try { await navigator.clipboard.writeText(secret); btn.textContent = 'Copied'; announce('Token copied to the clipboard'); }
    catch { const r = document.createRange(); r.selectNodeContents(code); const s = getSelection(); s.removeAllRanges(); s.addRange(r); btn.textContent = 'Selected: press Ctrl+C'; }
  } }, 'Copy');
  return h('div', { class: 'alert ok', role: 'status' },
    h('p', null, h('strong', null, label), ' It is shown only this once: copy it now.'),
    h('div', { class: 'secret' }, code, btn));
}

// A wide table scrolls sideways inside its frame on a phone; the frame takes focus so the keyboard can too.
const TABLE_WRAP = { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Table (scrolls sideways when narrow)' };
function table(columns, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', TABLE_WRAP, h('table', null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r))))))));
}
const badges = (items, cls) => h('span', { class: 'chips' }, (items || []).map((i) => h('span', { class: `badge ${cls || ''}` }, i)));

/** Asks the engine about the signed-in user; one round trip for a page's worth of controls. */
async function checks(list) {
  if (!list.length) return [];
  try {
    const r = await api('POST', '/api/v1/authz/checks', { checks: list.map(([permission, resource]) => ({ permission, resource })) });
    return r.results;
  } catch (err) {
    if (err.handled) throw err;
    return list.map(() => ({ allowed: true, reason: '' }));
  }
}

/** Disables a control the user may not use and says why; the server would refuse it anyway. */
function guard(control, decision) {
  if (!decision || decision.allowed) return control;
  control.disabled = true;
  const id = uid('why');
  control.setAttribute('aria-describedby', id);
  control.title = decision.reason;
  return h('span', { class: 'guarded' }, control, h('span', { class: 'reason', id }, `Not available: ${decision.reason}`));
}

/** A panel with one destructive button: confirm, call, then go elsewhere; a refusal shows in the panel. */
function deletePanel({ label, title, text, path, then, decision }) {
  const box = h('div');
  const button = h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (!await confirmDialog(title, text, 'Delete')) return;
    try { await api('DELETE', path); announce(`${title.replace(/^Delete /, '').replace(/\?$/, '')} deleted`); go(then); }
    catch (err) { if (!err.handled) flash(box, 'error', err.message); }
  } }, label);
  return h('section', { class: 'panel' }, box, guard(button, decision));
}

// ---------- layout and routing ----------

const NAV = [
  ['Access', [['Users', '#/access/users'], ['Teams', '#/access/teams'], ['Virtual Accounts', '#/access/virtual-accounts'],
    ['Roles', '#/access/roles'], ['Personal Access Tokens', '#/access/tokens']]],
  ['Integrations', [['Provider Accounts', '#/integrations/provider-accounts'], ['MCP Servers', '#/integrations/mcp-servers'],
    ['Agents', '#/integrations/agents']]],
  ['Gateway', [['Gateway Controls', '#/gateway/controls'], ['Usage', '#/gateway/usage']]],
  ['Governance', [['Audit Log', '#/audit']]],
];

function shell(path) {
  const main = h('main', { id: 'main', tabindex: '-1' });
  const signOut = h('button', { type: 'button', onclick: async () => {
    try { await api('DELETE', '/api/v1/auth/session'); } catch (err) { if (!err.handled) console.warn(err); }
    state.me = null; state.csrf = null;
    go('#/signin?reason=signedout');
  } }, 'Sign out');
  const nav = h('nav', { 'aria-label': 'Console sections' }, NAV.map(([section, links]) => [
    h('h2', null, section),
    h('ul', null, links.map(([label, href]) => h('li', null,
      h('a', { href, 'aria-current': path.startsWith(href) ? 'page' : null }, label)))),
  ]));
  const who = state.me ? `${state.me.subject.replace(/^user:/, '')} · ${state.me.role}` : '';
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
    h('header', { class: 'topbar' }, h('a', { class: 'brand', href: '#/access/users' }, 'Gatehouse'),
      h('span', { class: 'who', 'data-testid': 'whoami' }, who), toggle, signOut),
    side,
    main);
  document.getElementById('app').replaceChildren(root);
  return main;
}

function heading(main, title, crumbs) {
  document.title = `${title} · Gatehouse`;
  if (crumbs) main.append(h('div', { class: 'crumbs' }, crumbs.map((c, i) => [i ? ' › ' : '', c[1] ? h('a', { href: c[1] }, c[0]) : c[0]])));
  main.append(h('h1', null, title));
}

const ROUTES = [
  [/^#\/signin$/, pageSignin, true],
  [/^#\/deactivated$/, pageDeactivated, true],
  [/^#\/access\/users$/, pageUsers],
  [/^#\/access\/users\/([^/]+)$/, pageUser],
  [/^#\/access\/teams$/, pageTeams],
  [/^#\/access\/teams\/([^/]+)$/, pageTeam],
  [/^#\/access\/virtual-accounts$/, pageVirtualAccounts],
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
];

/** Restores the signed-in session after a reload: the cookie is HttpOnly, so ask the server. */
async function loadSession() {
  const s = await api('GET', '/api/v1/auth/session', undefined, { quiet: true });
  state.csrf = s.csrf_token;
  await loadMe();
}
async function loadMe() {
  state.me = await get('/api/v1/me');
  state.perms = new Set(state.me.permissions);
}

let routing = 0;
async function route() {
  const ticket = ++routing;
  const hash = location.hash || '#/access/users';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const match = ROUTES.map(([re, fn, open]) => [path.match(re), fn, open]).find(([m]) => m);
  if (!match) { go('#/access/users'); return; }
  const [m, page, open] = match;
  if (!open && !state.me) {
    try { await loadSession(); } catch (err) {
      if (err.code === 'account_deactivated') { go('#/deactivated'); return; }
      go(`#/signin?next=${enc(hash)}`);
      return;
    }
  }
  if (ticket !== routing) return;
  const main = open ? null : shell(path);
  const args = m.slice(1).map(decodeURIComponent);
  try {
    await page(main, ...args, params);
  } catch (err) {
    if (err instanceof ApiError) pageError(main || document.getElementById('app'), err); else throw err;
  }
  if (main && ticket === routing) main.focus({ preventScroll: true });
}

// ---------- sign-in ----------

async function pageSignin(_main, params) {
  document.title = 'Sign in · Gatehouse';
  const reason = params.get('reason');
  const note = reason === 'expired' ? 'Your session has ended. Sign in again.'
    : reason === 'signedout' ? 'You are signed out.' : null;
  const f = form([
    field('Email', input({ type: 'email', name: 'email', autocomplete: 'username', required: true })),
    field('Password', input({ type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
  ], async (f) => {
    let s;
    try {
      s = await api('POST', '/api/v1/auth/session', { email: val(f, 'email'), password: f.elements.password.value }, { quiet: true });
    } catch (err) {
      if (err.code === 'account_deactivated') { go('#/deactivated'); return; }
      throw err;
    }
    state.csrf = s.csrf_token;
    await loadMe();
    const next = params.get('next');
    go(next && next.startsWith('#/') && !next.startsWith('#/signin') ? next : '#/access/users');
  }, 'Sign in');
  const box = h('main', { id: 'main', class: 'signin' }, h('h1', null, 'Sign in to Gatehouse'),
    note ? h('div', { class: 'alert info', role: 'status' }, note) : null,
    h('div', { class: 'panel' }, f));
  document.getElementById('app').replaceChildren(box);
  f.elements.email.focus();
}

async function pageDeactivated() {
  document.title = 'Account deactivated · Gatehouse';
  state.me = null; state.csrf = null;
  document.getElementById('app').replaceChildren(h('main', { id: 'main', class: 'signin' },
    h('h1', null, 'Your account is deactivated'),
    h('div', { class: 'panel' },
      h('p', null, 'An administrator has deactivated this account. Your console session, your personal access tokens and every other token of yours have stopped working.'),
      h('p', null, 'If you think this is a mistake, ask a Gatehouse administrator to reactivate you. Reactivation does not bring old tokens back: you will need to sign in and create new ones.'),
      h('p', null, h('a', { href: '#/signin' }, 'Back to sign-in')))));
}

// ---------- Access > Users ----------

function roleSelect(roles, current, attrs = {}) {
  return h('select', { name: 'role', ...attrs }, roles.filter((r) => r.name !== 'team-manager').map((r) =>
    h('option', { value: r.name, selected: r.name === current ? true : null }, `${r.display_name} (${r.name})`)));
}

async function pageUsers(main) {
  heading(main, 'Users', [['Access'], ['Users']]);
  const [users, roles, [canAdd]] = await Promise.all([get('/api/v1/users'), get('/api/v1/roles').catch(() => []),
    checks([['user:manage', 'tenant']])]);
  const search = input({ type: 'search', name: 'search', placeholder: 'Email, name, role or team' });
  const body = h('div');
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const rows = users.filter((u) => !needle || [u.email, u.display_name, u.role, ...u.teams].join(' ').toLowerCase().includes(needle));
    body.replaceChildren(table([
      { label: 'User', cell: (u) => h('a', { href: `#/access/users/${enc(u.email)}` }, u.email) },
      { label: 'Name', cell: (u) => u.display_name || '—' },
      { label: 'Role', cell: (u) => u.role },
      { label: 'Teams', cell: (u) => badges(u.teams.map((t) => (u.manages.includes(t) ? `${t} (manager)` : t))) },
      { label: 'Status', cell: (u) => h('span', { class: `badge ${u.active ? 'ok' : 'off'}` }, u.active ? 'Active' : 'Deactivated') },
    ], rows, needle ? 'No user matches.' : 'No users yet.'));
    announce(`${rows.length} users shown`);
  };
  search.addEventListener('input', draw);
  main.append(h('div', { class: 'toolbar' }, h('div', { class: 'grow' }, field('Search users', search))));
  main.append(body);
  draw();
  const add = form([
    field('Email', input({ type: 'email', name: 'email', required: true })),
    field('Display name', input({ name: 'display_name' }), '(optional)'),
    field('Role', roleSelect(roles, 'member')),
  ], async (f) => {
    const u = await api('POST', '/api/v1/users', { email: val(f, 'email'), display_name: val(f, 'display_name') || null, role: val(f, 'role') });
    announce(`User ${u.email} added`);
    go(`#/access/users/${enc(u.email)}`);
  }, 'Add user');
  const section = h('section', { class: 'panel', 'aria-labelledby': 'add-user' }, h('h2', { id: 'add-user' }, 'Add a user'), add);
  if (!canAdd.allowed) add.querySelectorAll('input, select, button').forEach((e) => { e.disabled = true; });
  main.append(guardSection(section, canAdd));
}

/** A whole form the user may not use: kept visible, disabled, with the reason. */
function guardSection(section, decision) {
  if (decision && !decision.allowed) {
    section.querySelectorAll('input, select, textarea, button').forEach((e) => { e.disabled = true; });
    section.append(h('p', { class: 'reason' }, `Not available: ${decision.reason}`));
  }
  return section;
}

async function pageUser(main, email) {
  heading(main, email, [['Access'], ['Users', '#/access/users'], [email]]);
  const [u, roles, [canManage]] = await Promise.all([get(`/api/v1/users/${enc(email)}`), get('/api/v1/roles').catch(() => []),
    checks([['user:manage', `user:${email}`]])]);
  const facts = h('dl', { class: 'facts' },
    h('dt', null, 'Status'), h('dd', null, h('span', { class: `badge ${u.active ? 'ok' : 'off'}`, 'data-testid': 'user-status' }, u.active ? 'Active' : 'Deactivated')),
    h('dt', null, 'Role'), h('dd', null, u.role),
    h('dt', null, 'Teams'), h('dd', null, badges(u.teams)),
    h('dt', null, 'Manages'), h('dd', null, u.manages.length ? badges(u.manages) : '—'));
  main.append(h('div', { class: 'panel' }, facts));

  const put = (patch) => api('PUT', `/api/v1/users/${enc(email)}`,
    { email: u.email, display_name: u.display_name, role: u.role, active: u.active, ...patch });
  const edit = form([
    field('Display name', input({ name: 'display_name', value: u.display_name })),
    field('Role', roleSelect(roles, u.role), 'each user holds exactly one'),
  ], async (f) => {
    await put({ display_name: val(f, 'display_name'), role: val(f, 'role') });
    announce('User saved');
    route();
  }, 'Save user');
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'edit-user' }, h('h2', { id: 'edit-user' }, 'Edit User'), edit), canManage));

  const statusBox = h('div');
  const toggle = h('button', { type: 'button', class: u.active ? 'danger' : 'primary', onclick: async () => {
    const ok = u.active
      ? await confirmDialog(`Deactivate ${email}?`, `${email} will be signed out and every one of their tokens (personal access tokens and sessions) stops working at once, for good: reactivating does not bring them back.`, 'Deactivate')
      : await confirmDialog(`Activate ${email}?`, `${email} will be able to sign in again. Their old tokens stay revoked.`, 'Activate', false);
    if (!ok) return;
    try { await put({ active: !u.active }); announce(u.active ? 'User deactivated' : 'User activated'); route(); }
    catch (err) { if (!err.handled) flash(statusBox, 'error', err.message); }
  } }, u.active ? 'Deactivate user' : 'Activate user');
  const del = h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (!await confirmDialog(`Delete ${email}?`, 'The user, their tokens and their team memberships are removed.', 'Delete')) return;
    try { await api('DELETE', `/api/v1/users/${enc(email)}`); announce('User deleted'); go('#/access/users'); }
    catch (err) { if (!err.handled) flash(statusBox, 'error', err.message); }
  } }, 'Delete user');
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'status-h' }, h('h2', { id: 'status-h' }, 'Status'), statusBox,
    h('div', { class: 'actions' }, guard(toggle, canManage), guard(del, canManage))));

  const self = state.me && state.me.subject === `user:${email}`;
  // Changing one's own password asks for the current one; it also signs out one's other sessions.
  const pwFields = [field('New password', input({ type: 'password', name: 'password', autocomplete: 'new-password' }), 'at least 8 characters')];
  if (self) pwFields.unshift(field('Current password', input({ type: 'password', name: 'current_password', autocomplete: 'current-password' })));
  const pw = form(pwFields,
    async (f) => {
      const body = { password: f.elements.password.value };
      if (self) body.current_password = f.elements.current_password.value;
      await api('POST', `/api/v1/users/${enc(email)}/password`, body);
      f.reset();
      flash(f, 'ok', 'Password set.');
    }, 'Set password');
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'pw-h' }, h('h2', { id: 'pw-h' }, 'Password'), pw), self ? null : canManage));

  main.append(await whySection(`user:${email}`));
}

/** Everything a subject can do, each ability with the chain of grants behind it. */
async function whySection(subject) {
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'why-h' }, h('h2', { id: 'why-h' }, 'Why: what this subject can do'));
  try {
    const a = await get(`/api/v1/authz/subjects/${enc(subject)}/access`);
    if (!a.entries.length) sec.append(h('p', { class: 'empty' }, 'Nothing beyond what every signed-in user may do.'));
    sec.append(table([
      { label: 'Can', cell: (e) => h('code', null, e.action) },
      { label: 'On', cell: (e) => e.resource },
      { label: 'Because', cell: (e) => h('ul', { class: 'via' }, e.via.map((v) => h('li', null, v))) },
    ], a.entries, ''));
  } catch (err) {
    if (err.handled) throw err;
    sec.append(h('p', { class: 'reason' }, `Not available: ${err.message}`));
  }
  return sec;
}

// ---------- Access > Teams ----------

async function pageTeams(main) {
  heading(main, 'Teams', [['Access'], ['Teams']]);
  const [teams, [canCreate]] = await Promise.all([get('/api/v1/teams'), checks([['team:create', 'tenant']])]);
  main.append(table([
    { label: 'Team', cell: (t) => h('a', { href: `#/access/teams/${enc(t.name)}` }, t.name) },
    { label: 'Description', cell: (t) => t.description || '—' },
    { label: 'Managers', cell: (t) => badges(t.managers) },
    { label: 'Members', num: true, cell: (t) => t.members.length },
  ], teams, 'No teams you may read.'));
  const f = form([
    field('Name', input({ name: 'name', required: true }), 'letters, digits and hyphens'),
    field('Description', input({ name: 'description' })),
  ], async (f) => {
    const t = await api('POST', '/api/v1/teams', { name: val(f, 'name'), description: val(f, 'description') });
    go(`#/access/teams/${enc(t.name)}`);
  }, 'Create team');
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'new-team' }, h('h2', { id: 'new-team' }, 'Create a team'), f), canCreate));
}

function userDatalist(users) {
  const id = uid('users');
  return [id, h('datalist', { id }, users.map((u) => h('option', { value: u.email })))];
}

async function pageTeam(main, name) {
  heading(main, name, [['Access'], ['Teams', '#/access/teams'], [name]]);
  const [t, users, [canManage, canDelete]] = await Promise.all([get(`/api/v1/teams/${enc(name)}`), get('/api/v1/users').catch(() => []),
    checks([['team:manage', `team:${name}`], ['team:delete', `team:${name}`]])]);
  const save = (patch) => api('PUT', `/api/v1/teams/${enc(name)}`,
    { name: t.name, description: t.description, managers: t.managers, members: t.members, ...patch });
  const desc = form([field('Description', h('textarea', { name: 'description', rows: 2 }, t.description))], async (f) => {
    await save({ description: val(f, 'description') });
    announce('Team saved');
    route();
  }, 'Save description');
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'team-desc' }, h('h2', { id: 'team-desc' }, 'Details'), desc), canManage));

  const [listId, datalist] = userDatalist(users);
  main.append(datalist);
  for (const [key, label, help] of [['managers', 'Managers', 'Managers are members too, and get the Team Manager role on this team.'], ['members', 'Members', '']]) {
    const sec = h('section', { class: 'panel', 'aria-labelledby': `team-${key}` }, h('h2', { id: `team-${key}` }, label));
    if (help) sec.append(h('p', { class: 'hint' }, help));
    const listEl = h('ul', { class: 'plain' }, t[key].map((email) => h('li', null, email, ' ',
      guard(h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${email} from ${label.toLowerCase()}`, onclick: async () => {
        const patch = { [key]: t[key].filter((e) => e !== email) };
        if (key === 'members') patch.managers = t.managers.filter((e) => e !== email);
        try { await save(patch); announce(`${email} removed`); route(); } catch (err) { if (!err.handled) flash(sec, 'error', err.message); }
      } }, 'Remove'), canManage))));
    if (!t[key].length) listEl.append(h('li', { class: 'empty' }, 'None.'));
    sec.append(listEl);
    const add = form([field(`Add to ${label.toLowerCase()}`, input({ type: 'email', name: 'email', list: listId }))], async (f) => {
      const email = val(f, 'email');
      const patch = { [key]: [...new Set([...t[key], email])] };
      if (key === 'managers') patch.members = [...new Set([...t.members, email])];
      await save(patch);
      announce(`${email} added`);
      route();
    }, `Add ${key === 'managers' ? 'manager' : 'member'}`);
    sec.append(add);
    main.append(guardSection(sec, canManage));
  }
  const owned = (await get('/api/v1/virtual-accounts').catch(() => [])).filter((v) => v.owner_team === name);
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'team-vas' }, h('h2', { id: 'team-vas' }, 'Virtual accounts it owns'),
    owned.length ? h('ul', { class: 'plain' }, owned.map((v) => h('li', null, h('a', { href: `#/access/virtual-accounts/${enc(v.name)}` }, v.name))))
      : h('p', { class: 'empty' }, 'None that you may read.')));
  main.append(await whySection(`team:${name}`));
  main.append(deletePanel({ label: 'Delete team', title: `Delete team ${name}?`, decision: canDelete,
    text: 'Its grants go with it. A team that still owns virtual accounts cannot be deleted.',
    path: `/api/v1/teams/${enc(name)}`, then: '#/access/teams' }));
}

// ---------- Access > Virtual Accounts ----------

const dateToRfc3339 = (d) => (d ? `${d}T00:00:00Z` : null);

async function pageVirtualAccounts(main) {
  heading(main, 'Virtual Accounts', [['Access'], ['Virtual Accounts']]);
  const [vas, teams] = await Promise.all([get('/api/v1/virtual-accounts'), get('/api/v1/teams').catch(() => [])]);
  main.append(h('p', { class: 'hint' }, 'Service accounts for applications. Each is owned by a team; its tokens act as the account, never as a person.'));
  main.append(table([
    { label: 'Virtual account', cell: (v) => h('a', { href: `#/access/virtual-accounts/${enc(v.name)}` }, v.name) },
    { label: 'Owner team', cell: (v) => v.owner_team },
    { label: 'Description', cell: (v) => v.description || '—' },
    { label: 'Expires', cell: (v) => fmtTime(v.expires_at) },
  ], vas, 'No virtual accounts you may read.'));
  const decisions = await checks(teams.map((t) => ['virtual-account:create', `team:${t.name}`]));
  const allowed = teams.filter((_, i) => decisions[i].allowed);
  const f = form([
    field('Name', input({ name: 'name', required: true }), 'letters, digits and hyphens'),
    field('Owner team', h('select', { name: 'owner_team' }, allowed.map((t) => h('option', { value: t.name }, t.name)))),
    field('Description', input({ name: 'description' })),
    field('Expires on', input({ type: 'date', name: 'expires_at' }), '(optional)'),
  ], async (f) => {
    const v = await api('POST', '/api/v1/virtual-accounts', { name: val(f, 'name'), owner_team: val(f, 'owner_team'),
      description: val(f, 'description'), expires_at: dateToRfc3339(val(f, 'expires_at')) });
    go(`#/access/virtual-accounts/${enc(v.name)}`);
  }, 'Create virtual account');
  const denied = allowed.length ? null : { allowed: false, reason: decisions[0] ? decisions[0].reason : 'there is no team you may read, so no team can own a new virtual account' };
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'new-va' }, h('h2', { id: 'new-va' }, 'Create a virtual account'), f), denied));
}

async function pageVirtualAccount(main, name) {
  heading(main, name, [['Access'], ['Virtual Accounts', '#/access/virtual-accounts'], [name]]);
  const r = `virtual-account:${name}`;
  const [v, [canManage, canDelete]] = await Promise.all([get(`/api/v1/virtual-accounts/${enc(name)}`),
    checks([['virtual-account:manage', r], ['virtual-account:delete', r]])]);
  main.append(h('div', { class: 'panel' }, h('dl', { class: 'facts' },
    h('dt', null, 'Owner team'), h('dd', null, h('a', { href: `#/access/teams/${enc(v.owner_team)}` }, v.owner_team)),
    h('dt', null, 'Description'), h('dd', null, v.description || '—'),
    h('dt', null, 'Expires'), h('dd', null, fmtTime(v.expires_at)),
    h('dt', null, 'Subject'), h('dd', null, h('code', null, `virtualaccount:${name}`)))));

  const tokSec = h('section', { class: 'panel', 'aria-labelledby': 'va-tokens' }, h('h2', { id: 'va-tokens' }, 'Tokens'));
  const secretSlot = h('div');
  tokSec.append(secretSlot);
  try {
    const tokens = await get(`/api/v1/virtual-accounts/${enc(name)}/tokens`);
    tokSec.append(table([
      { label: 'Name', cell: (t) => t.name },
      { label: 'Id', cell: (t) => h('code', null, t.id) },
      { label: 'Created', cell: (t) => fmtTime(t.created_at) },
      { label: 'Expires', cell: (t) => fmtTime(t.expires_at) },
      { label: 'Last used', cell: (t) => fmtTime(t.last_used_at) },
      { label: '', cell: (t) => guard(h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke token ${t.name}`, onclick: async () => {
        if (!await confirmDialog('Revoke this token?', `Applications using token ${t.name} (${t.id}) will get 401 from the next request on.`, 'Revoke')) return;
        try { await api('DELETE', `/api/v1/virtual-accounts/${enc(name)}/tokens/${enc(t.id)}`); route(); } catch (err) { if (!err.handled) flash(tokSec, 'error', err.message); }
      } }, 'Revoke'), canManage) },
    ], tokens, 'No live tokens.'));
  } catch (err) { if (err.handled) throw err; tokSec.append(h('p', { class: 'reason' }, err.message)); }
  const issue = form([field('Token name', input({ name: 'name' }), '(optional)')], async (f) => {
    const t = await api('POST', `/api/v1/virtual-accounts/${enc(name)}/tokens`, { name: val(f, 'name') || null });
    secretSlot.replaceChildren(secretBox(`New token for ${name}.`, t.token));
    secretSlot.querySelector('button').focus();
  }, 'Generate token');
  const rotate = form([field('Grace period (days)', input({ type: 'number', name: 'grace_days', min: 0, max: 365, value: 7 }),
    'how long the current tokens keep working: 0 to 365')], async (f) => {
    const days = Number(val(f, 'grace_days'));
    const t = await api('POST', `/api/v1/virtual-accounts/${enc(name)}/rotate`,
      { grace_period_seconds: Number.isFinite(days) ? Math.round(days * 86400) : -1 });
    secretSlot.replaceChildren(secretBox(`Rotated: the previous tokens stop working at ${fmtTime(t.previous_tokens_expire_at)}.`, t.token));
    secretSlot.querySelector('button').focus();
  }, 'Rotate token');
  tokSec.append(h('h3', null, 'Generate a token'), issue, h('h3', null, 'Rotate'), rotate);
  main.append(guardSection(tokSec, canManage));

  main.append(deletePanel({ label: 'Delete virtual account', title: `Delete ${name}?`, decision: canDelete,
    text: 'Every token of this virtual account stops working at once.',
    path: `/api/v1/virtual-accounts/${enc(name)}`, then: '#/access/virtual-accounts' }));
  main.append(await whySection(`virtualaccount:${name}`));
}

// ---------- Access > Roles ----------

async function catalogue() {
  if (!state.catalogue) state.catalogue = await get('/api/v1/permissions');
  return state.catalogue;
}

async function pageRoles(main, params) {
  heading(main, 'Roles', [['Access'], ['Roles']]);
  const [roles, [canManage]] = await Promise.all([get('/api/v1/roles'), checks([['role:manage', 'tenant']])]);
  const tab = params.get('tab') === 'custom' ? 'custom' : 'default';
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Role kinds' });
  const panel = h('div', { role: 'tabpanel', id: 'roles-panel', tabindex: '0' });
  const mk = (id, label) => {
    const b = h('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-selected': String(tab === id), 'aria-controls': 'roles-panel',
      tabindex: tab === id ? '0' : '-1', onclick: () => go(`#/access/roles?tab=${id}`) }, label);
    b.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') { ev.preventDefault(); go(`#/access/roles?tab=${id === 'default' ? 'custom' : 'default'}`); }
    });
    return b;
  };
  tabs.append(mk('default', 'Default Roles'), mk('custom', 'Custom Roles'));
  panel.setAttribute('aria-labelledby', `tab-${tab}`);
  const shown = roles.filter((r) => (tab === 'default' ? r.builtin : !r.builtin));
  if (tab === 'custom') {
    panel.append(h('div', { class: 'toolbar' }, guard(h('button', { type: 'button', class: 'primary', onclick: () => go('#/access/roles/new') }, 'Create Role'), canManage)));
  } else {
    panel.append(h('p', { class: 'hint' }, 'Admin holds every permission and cannot be changed. Member is every user\'s default; Team Manager applies to every manager of a team, on their teams.'));
  }
  panel.append(table([
    { label: 'Role', cell: (r) => h('a', { href: `#/access/roles/${enc(r.name)}` }, r.display_name) },
    { label: 'Name', cell: (r) => h('code', null, r.name) },
    { label: 'Description', cell: (r) => r.description },
    { label: 'Permissions', num: true, cell: (r) => r.permissions.length },
    { label: '', cell: (r) => (r.editable ? 'Editable' : 'Read-only') },
  ], shown, tab === 'custom' ? 'No custom roles yet.' : ''));
  main.append(tabs, panel);
}

async function pageRole(main, name) {
  const creating = name === null;
  const [perms, role, [canManage]] = await Promise.all([catalogue(), creating ? null : get(`/api/v1/roles/${enc(name)}`),
    checks([['role:manage', creating ? 'tenant' : `role:${name}`]])]);
  heading(main, creating ? 'Create Role' : role.display_name, [['Access'], ['Roles', `#/access/roles?tab=${creating || !role.builtin ? 'custom' : 'default'}`], [creating ? 'Create Role' : name]]);
  const readOnly = !creating && !role.editable;
  if (readOnly) main.append(h('div', { class: 'alert info' }, 'The Admin role always holds every permission; it cannot be edited or deleted.'));
  const held = new Set(role ? role.permissions : []);
  const groups = [];
  for (const p of perms) {
    let g = groups.find((x) => x.name === p.group);
    if (!g) { g = { name: p.group, resources: [] }; groups.push(g); }
    let r = g.resources.find((x) => x.name === p.resource);
    if (!r) { r = { name: p.resource, perms: [] }; g.resources.push(r); }
    r.perms.push(p);
  }
  const picker = h('div', { class: 'picker' }, h('input', { type: 'hidden', name: 'permissions', id: uid('perms') }),
    h('div', { class: 'field-error', hidden: true }),
    groups.map((g) => h('fieldset', { class: 'perm-group' }, h('legend', null, g.name),
      g.resources.map((r) => h('fieldset', null, h('legend', null, r.name),
        h('div', { class: 'perm-resource' }, r.perms.map((p) => h('label', { class: 'perm' },
          h('input', { type: 'checkbox', name: 'perm', value: p.id, checked: readOnly || held.has(p.id), disabled: readOnly }),
          h('span', null, p.name, ' ', h('code', null, p.id), h('small', null, p.description))))))))));
  const hidden = picker.querySelector('input[type=hidden]');
  picker.querySelector('.field-error').id = `${hidden.id}-err`;
  const f = form([
    field('Name', input({ name: 'name', value: role ? role.name : '', disabled: !creating, required: true }), 'letters, digits and hyphens; unique'),
    field('Display name', input({ name: 'display_name', value: role ? role.display_name : '', disabled: readOnly })),
    field('Description', h('textarea', { name: 'description', rows: 2, disabled: readOnly }, role ? role.description : '')),
    h('div', { class: 'field' }, h('h2', null, 'Permissions'), picker),
  ], async (f) => {
    const body = { name: creating ? val(f, 'name') : role.name, display_name: val(f, 'display_name'), description: val(f, 'description'),
      permissions: [...f.querySelectorAll('input[name=perm]:checked')].map((c) => c.value) };
    const saved = creating ? await api('POST', '/api/v1/roles', body) : await api('PUT', `/api/v1/roles/${enc(role.name)}`, body);
    announce(`Role ${saved.name} saved`);
    go(`#/access/roles/${enc(saved.name)}`);
  }, creating ? 'Create Role' : 'Save role');
  if (readOnly) f.querySelector('button[type=submit]').remove();
  main.append(guardSection(h('div', { class: 'panel' }, f), readOnly ? null : canManage));
  if (!creating && role.deletable) {
    main.append(deletePanel({ label: 'Delete role', title: `Delete role ${role.name}?`, decision: canManage,
      text: 'A role still held by users cannot be deleted.', path: `/api/v1/roles/${enc(role.name)}`, then: '#/access/roles?tab=custom' }));
  }
}

// ---------- Access > Personal Access Tokens ----------

async function pageTokens(main) {
  heading(main, 'Personal Access Tokens', [['Access'], ['Personal Access Tokens']]);
  main.append(h('p', { class: 'hint' }, 'A token acts as you, with exactly your access at the moment of each request: when your role or teams change, so does what the token can do.'));
  const slot = h('div');
  const f = form([
    field('Name', input({ name: 'name', required: true })),
    field('Expires on', input({ type: 'date', name: 'expires_at' }), '(optional)'),
  ], async (f) => {
    const t = await api('POST', '/api/v1/personal-access-tokens', { name: val(f, 'name'), expires_at: dateToRfc3339(val(f, 'expires_at')) });
    f.reset();
    await drawList();
    slot.replaceChildren(secretBox(`Token ${t.name} created.`, t.token));
    slot.querySelector('button').focus();
  }, 'Generate token');
  const list = h('div');
  const drawList = async () => {
    const tokens = await get('/api/v1/personal-access-tokens');
    list.replaceChildren(table([
      { label: 'Name', cell: (t) => t.name },
      { label: 'Id', cell: (t) => h('code', null, t.id) },
      { label: 'Created', cell: (t) => fmtTime(t.created_at) },
      { label: 'Expires', cell: (t) => fmtTime(t.expires_at) },
      { label: 'Last used', cell: (t) => fmtTime(t.last_used_at) },
      { label: '', cell: (t) => h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke token ${t.name}`, onclick: async () => {
        if (!await confirmDialog(`Revoke ${t.name}?`, 'Anything using this token gets 401 from the next request on.', 'Revoke')) return;
        try { await api('DELETE', `/api/v1/personal-access-tokens/${enc(t.id)}`); announce('Token revoked'); await drawList(); } catch (err) { if (!err.handled) flash(list, 'error', err.message); }
      } }, 'Revoke') },
    ], tokens, 'You have no tokens.'));
  };
  await drawList();
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'new-pat' }, h('h2', { id: 'new-pat' }, 'Generate a token'), slot, f),
    h('h2', null, 'Your tokens'), list);
}

// ---------- Integrations ----------

const KINDS = {
  'provider-accounts': {
    title: 'Provider Accounts', noun: 'provider account', resource: 'provider-account', exportType: 'provider-account',
    roles: [['provider-account-manager', 'Manager'], ['provider-account-user', 'User']],
    help: 'An account at an LLM provider, holding models. Users can call a model once they are User (or Manager) of its account, or hold a role with Use Integrations.',
    templates: {
      openai: 'type: provider-account/openai\nname: openai-main\nauth:\n  api_key: sk-...\nmodels:\n  - name: gpt-4o\n    model_id: gpt-4o\n    types: [chat]\n    # pricing: {input_per_million_tokens: 2.5, output_per_million_tokens: 10}\ncollaborators: []\n',
      anthropic: 'type: provider-account/anthropic\nname: claude-main\nauth:\n  api_key: sk-ant-...\nmodels:\n  - name: sonnet\n    model_id: claude-3-5-sonnet-20241022\n    types: [chat]\ncollaborators: []\n',
      'aws-bedrock': 'type: provider-account/aws-bedrock\nname: bedrock\nregion: us-east-1\nauth:\n  access_key_id: AKIA...\n  secret_access_key: ...\nmodels:\n  - name: titan\n    model_id: amazon.titan-text-express-v1\n    types: [chat]\ncollaborators: []\n',
      'azure-openai': 'type: provider-account/azure-openai\nname: azure\nendpoint: https://example.openai.azure.com\napi_version: 2024-10-21\nauth:\n  api_key: ...\nmodels:\n  - name: gpt-4o\n    model_id: gpt-4o\n    types: [chat]\ndeployments:\n  gpt-4o: my-gpt-4o-deployment\ncollaborators: []\n',
      'openai-compatible': 'type: provider-account/openai-compatible\nname: vllm\nbase_url: http://127.0.0.1:8000/v1\nmodels:\n  - name: llama\n    model_id: meta-llama/Llama-3.1-8B-Instruct\n    types: [chat, completion]\ncollaborators: []\n',
    },
  },
  'mcp-servers': {
    title: 'MCP Servers', noun: 'MCP server', resource: 'mcp-server', exportType: 'mcp-server',
    roles: [['mcp-server-manager', 'Manager'], ['mcp-server-user', 'User']],
    help: 'Remote MCP servers that agents and applications reach through Gatehouse.',
    templates: { remote: 'type: mcp-server/remote\nname: github\nurl: https://mcp.example.com/github\nauth:\n  type: bearer\n  token: ...\ncollaborators: []\n' },
  },
  agents: {
    title: 'Agents', noun: 'agent', resource: 'agent', exportType: 'agent',
    roles: [['agent-manager', 'Manager'], ['agent-viewer', 'Viewer']],
    help: 'Agent definitions: a model, instructions and the tools they may use.',
    templates: { agent: 'type: agent\nname: support-bot\ndescription: Answers support tickets\ndefinition:\n  model: openai-main/gpt-4o\n  instructions: Be brief.\ncollaborators: []\n' },
  },
};

async function pageResources(main, kind) {
  const k = KINDS[kind];
  heading(main, k.title, [['Integrations'], [k.title]]);
  main.append(h('p', { class: 'hint' }, k.help));
  const [items, [canCreate]] = await Promise.all([get(`/api/v1/${kind}`), checks([[`${k.resource}:create`, 'tenant']])]);
  main.append(h('div', { class: 'toolbar' }, guard(h('button', { type: 'button', class: 'primary', onclick: () => go(`#/integrations/${kind}/new`) }, `New ${k.noun}`), canCreate)));
  const cols = [{ label: 'Name', cell: (r) => h('a', { href: `#/integrations/${kind}/${enc(r.name)}` }, r.name) }];
  if (kind === 'provider-accounts') {
    cols.push({ label: 'Type', cell: (r) => r.type }, { label: 'Models', cell: (r) => badges((r.models || []).map((m) => m.name)) },
      { label: 'Credentials', cell: (r) => (r.auth_configured ? 'Set' : h('span', { class: 'badge off' }, 'Not set')) });
  } else if (kind === 'mcp-servers') {
    cols.push({ label: 'URL', cell: (r) => r.url }, { label: 'Credentials', cell: (r) => (r.auth_configured ? 'Set' : 'None') });
  } else {
    cols.push({ label: 'Description', cell: (r) => r.description || '—' });
  }
  cols.push({ label: 'Collaborators', cell: (r) => badges((r.collaborators || []).map((c) => `${c.subject} · ${roleLabel(k, c.role)}`)) });
  main.append(table(cols, items, `No ${k.noun}s you may read.`));
}
const roleLabel = (k, role) => (k.roles.find(([r]) => r === role) || [role, role])[1];

async function pageResource(main, kind, name) {
  const k = KINDS[kind];
  heading(main, name, [['Integrations'], [k.title, `#/integrations/${kind}`], [name]]);
  const r = `${k.resource}:${name}`;
  const [rec, [canManage, canDelete]] = await Promise.all([get(`/api/v1/${kind}/${enc(name)}`),
    checks([[`${k.resource}:manage`, r], [`${k.resource}:delete`, r]])]);
  const facts = h('dl', { class: 'facts' });
  const fact = (label, v) => facts.append(h('dt', null, label), h('dd', null, v));
  if (rec.type) fact('Type', rec.type);
  if (rec.base_url || rec.url || rec.endpoint) fact('Address', rec.base_url || rec.url || rec.endpoint);
  if (rec.region) fact('Region', rec.region);
  if ('auth_configured' in rec) fact('Credentials', rec.auth_configured ? 'Set (stored encrypted, never shown)' : 'Not set');
  if (rec.description) fact('Description', rec.description);
  main.append(h('div', { class: 'panel' }, facts, h('div', { class: 'actions' },
    guard(h('a', { class: 'button', href: `#/integrations/${kind}/${enc(name)}/edit` }, 'Edit as YAML'), canManage))));
  if (kind === 'provider-accounts') {
    main.append(h('h2', null, 'Models'), table([
      { label: 'Model', cell: (m) => h('code', null, `${name}/${m.name}`) },
      { label: 'Provider id', cell: (m) => m.model_id },
      { label: 'Types', cell: (m) => badges(m.types) },
      { label: 'Pricing (USD / 1M tokens)', cell: (m) => (m.pricing ? `in ${m.pricing.input_per_million_tokens} · out ${m.pricing.output_per_million_tokens}` : '—') },
      { label: 'Only for', cell: (m) => (m.authorized_subjects && m.authorized_subjects.length ? badges(m.authorized_subjects) : 'everyone with access') },
    ], rec.models || [], 'No models.'));
  }
  main.append(await collaboratorsForm(kind, rec, canManage));
  if (kind === 'provider-accounts') main.append(await whoCanUse(name));
  main.append(deletePanel({ label: `Delete ${k.noun}`, title: `Delete ${name}?`, decision: canDelete,
    text: `The ${k.noun} and every grant on it are removed.`, path: `/api/v1/${kind}/${enc(name)}`, then: `#/integrations/${kind}` }));
}

/** The seed's collaborators form: pick users, teams or virtual accounts and give each Manager or User. */
async function collaboratorsForm(kind, rec, decision) {
  const k = KINDS[kind];
  const [users, teams, vas] = await Promise.all([get('/api/v1/users').catch(() => []), get('/api/v1/teams').catch(() => []),
    get('/api/v1/virtual-accounts').catch(() => [])]);
  const rows = (rec.collaborators || []).map((c) => ({ ...c }));
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'collab-h' }, h('h2', { id: 'collab-h' }, 'Collaborators'));
  const list = h('div');
  const roleSel = (value, label, onchange) => h('select', { 'aria-label': label, onchange }, k.roles.map(([r, l]) =>
    h('option', { value: r, selected: r === value ? true : null }, l)));
  const draw = () => list.replaceChildren(table([
    { label: 'Subject', cell: (c) => c.subject },
    { label: 'Role', cell: (c) => roleSel(c.role, `Role of ${c.subject}`, (ev) => { c.role = ev.target.value; }) },
    { label: '', cell: (c) => h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${c.subject}`, onclick: () => { rows.splice(rows.indexOf(c), 1); draw(); } }, 'Remove') },
  ], rows, 'No collaborators: only admins and roles with tenant-wide permissions reach it.'));
  draw();
  const kindSel = h('select', { name: 'subject_kind', id: uid('sk') }, [['user', 'User'], ['team', 'Team'], ['virtualaccount', 'Virtual Account']].map(([v, l]) => h('option', { value: v }, l)));
  const nameSel = h('select', { name: 'subject_name', id: uid('sn') });
  const fill = () => {
    const opts = kindSel.value === 'user' ? users.map((u) => u.email) : kindSel.value === 'team' ? teams.map((t) => t.name) : vas.map((v) => v.name);
    nameSel.replaceChildren(...opts.map((o) => h('option', { value: o }, o)));
  };
  kindSel.addEventListener('change', fill);
  fill();
  const newRole = h('select', { name: 'new_role', id: uid('nr') }, k.roles.map(([r, l]) => h('option', { value: r }, l)));
  const addBtn = h('button', { type: 'button', onclick: () => {
    if (!nameSel.value) return;
    const subject = `${kindSel.value}:${nameSel.value}`;
    const existing = rows.find((c) => c.subject === subject && c.role === newRole.value);
    if (!existing) rows.push({ subject, role: newRole.value });
    draw();
    announce(`${subject} added as ${roleLabel(k, newRole.value)}; save to apply`);
  } }, 'Add');
  const f = form([
    list,
    h('div', { class: 'toolbar' },
      h('div', null, h('label', { for: kindSel.id }, 'Kind'), kindSel),
      h('div', { class: 'grow' }, h('label', { for: nameSel.id }, 'Who'), nameSel),
      h('div', null, h('label', { for: newRole.id }, 'Role'), newRole),
      addBtn),
    h('input', { type: 'hidden', name: 'collaborators', id: uid('collab') }),
  ], async (f) => {
    const body = { ...rec, collaborators: rows };
    delete body.auth_configured;
    await api('PUT', `/api/v1/${kind}/${enc(rec.name)}`, body);
    announce('Collaborators saved');
    flash(f, 'ok', 'Collaborators saved.');
  }, 'Save collaborators');
  sec.append(f);
  return guardSection(sec, decision);
}

async function whoCanUse(name) {
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'who-h' }, h('h2', { id: 'who-h' }, 'Why: who can use it'));
  try {
    const a = await get(`/api/v1/provider-accounts/${enc(name)}/access`);
    sec.append(h('h3', null, 'Can use its models'), table([
      { label: 'Subject', cell: (e) => e.subject }, { label: 'Because', cell: (e) => e.via }], a.use, 'Nobody but admins.'));
    sec.append(h('h3', null, 'Can manage it'), table([
      { label: 'Subject', cell: (e) => e.subject }, { label: 'Because', cell: (e) => e.via }], a.manage, 'Nobody but admins.'));
    if (a.narrowed_models.length) {
      sec.append(h('h3', null, 'Narrowed models'), table([
        { label: 'Model', cell: (m) => m.model }, { label: 'Only for', cell: (m) => badges(m.authorized_subjects) }], a.narrowed_models));
    }
  } catch (err) {
    if (err.handled) throw err;
    sec.append(h('p', { class: 'reason' }, `Not available: ${err.message}`));
  }
  return sec;
}

/** A YAML editor checked by the server: Validate is a dry run, Save applies; errors come back in place. */
function yamlEditor(initial, onSaved, hint) {
  // Server errors name the manifest field (`document 1: rules[0].limit_to`): they land beside the editor.
  const ta = h('textarea', { class: 'code', name: 'manifest', spellcheck: 'false', autocapitalize: 'off', 'data-catch-all': true });
  ta.value = initial;
  const result = h('div', { 'aria-live': 'polite' });
  const send = async (dry, f) => {
    const r = await api('PUT', `/api/v1/apply${dry ? '?dry_run=true' : ''}`, ta.value, { contentType: 'application/yaml' });
    const lines = r.results.map((x) => h('li', null, `${x.type} ${x.name}: ${dry && x.action !== 'unchanged' ? `would be ${x.action}` : x.action}`,
      x.changes && x.changes.length ? h('ul', null, x.changes.map((c) => h('li', null, c))) : null));
    result.replaceChildren(h('div', { class: 'alert ok', role: 'status' }, dry ? 'Valid. ' : 'Saved. ', h('ul', null, lines)));
    if (!dry) onSaved(r.results);
    clearErrors(f);
  };
  const validate = h('button', { type: 'button' }, 'Validate');
  const f = form([field('Manifest (YAML)', ta, hint), result], (f) => send(false, f), 'Save', { buttons: validate });
  validate.addEventListener('click', async () => {
    clearErrors(f);
    try { await send(true, f); } catch (err) { if (err instanceof ApiError) showError(f, err); else throw err; }
  });
  // Tab indents in the editor; Escape then Tab leaves it, so the keyboard is never trapped.
  let escaped = false;
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { escaped = true; return; }
    if (ev.key === 'Tab' && !ev.shiftKey && !escaped) {
      ev.preventDefault();
      ta.setRangeText('  ', ta.selectionStart, ta.selectionEnd, 'end');
    }
    escaped = false;
  });
  return f;
}

async function exportYaml(type, name) {
  return api('GET', `/api/v1/export${q({ type, name })}`);
}

async function pageResourceEditor(main, kind, name) {
  const k = KINDS[kind];
  const creating = name === null;
  heading(main, creating ? `New ${k.noun}` : `Edit ${name}`, [['Integrations'], [k.title, `#/integrations/${kind}`], [creating ? 'New' : name]]);
  const [decision] = await checks([creating ? [`${k.resource}:create`, 'tenant'] : [`${k.resource}:manage`, `${k.resource}:${name}`]]);
  let initial;
  const types = Object.keys(k.templates);
  if (creating) initial = k.templates[types[0]];
  else initial = await exportYaml(k.exportType, name);
  const editor = yamlEditor(initial, (results) => {
    const mine = results.find((x) => x.type.startsWith(k.exportType));
    go(`#/integrations/${kind}/${enc(mine ? mine.name : name)}`);
  }, creating ? 'collaborators become grants; auth is stored encrypted' : 'auth is never shown: leave it out to keep the stored credentials');
  if (creating && types.length > 1) {
    const sel = h('select', { id: uid('tpl') }, types.map((t) => h('option', { value: t }, t)));
    sel.addEventListener('change', () => { editor.elements.manifest.value = k.templates[sel.value]; });
    main.append(h('div', { class: 'toolbar' }, h('div', null, h('label', { for: sel.id }, 'Start from'), sel)));
  }
  main.append(guardSection(h('div', { class: 'panel' }, editor), decision));
}

// ---------- Gateway > Controls ----------

const CONTROL_TEMPLATES = {
  'gateway-rate-limiting-config': 'type: gateway-rate-limiting-config\nname: default-limits\nrules:\n  - id: per-user\n    when: {}\n    limit_to: 100\n    unit: requests_per_minute\n    rate_limit_applies_per: [user]\n',
  'gateway-budget-config': 'type: gateway-budget-config\nname: monthly-budget\nrules:\n  - id: monthly\n    when: {}\n    limit_to: 250\n    unit: cost_per_month\n    mode: audit\n    alerts: {thresholds: [50, 90]}\n',
  'gateway-guardrails-config': 'type: gateway-guardrails-config\nname: guardrails\nrules:\n  - id: no-secrets\n    when: {}\n    input_guardrails:\n      - {type: block-keywords, keywords: [password]}\n    output_guardrails: []\n',
  'gateway-load-balancing-config': 'type: gateway-load-balancing-config\nname: routing\nrules:\n  - id: split\n    when: {models: [openai-main/gpt-4o]}\n    type: weight-based-routing\n    load_balance_targets:\n      - {target: openai-main/gpt-4o, weight: 100}\n',
};
const CONTROL_LABELS = { 'gateway-rate-limiting-config': 'Rate limits', 'gateway-budget-config': 'Budgets',
  'gateway-guardrails-config': 'Guardrails', 'gateway-load-balancing-config': 'Routing' };

async function pageControls(main) {
  heading(main, 'Gateway Controls', [['Gateway'], ['Gateway Controls']]);
  main.append(h('p', { class: 'hint' }, 'Rate limits, budgets, guardrails and routing for model calls. Reading them needs List Gateway Controls; changing them, Manage Gateway Controls.'));
  const [items, [canManage]] = await Promise.all([get('/api/v1/gateway-controls'), checks([['gateway-controls:manage', 'tenant']])]);
  main.append(h('div', { class: 'toolbar' }, guard(h('button', { type: 'button', class: 'primary', onclick: () => go('#/gateway/controls/new') }, 'New control'), canManage)));
  main.append(table([
    { label: 'Name', cell: (c) => h('a', { href: `#/gateway/controls/${enc(c.name)}` }, c.name) },
    { label: 'Kind', cell: (c) => CONTROL_LABELS[c.type] || c.type },
    { label: 'Rules', cell: (c) => badges((c.rules || []).map((r) => r.id)) },
  ], items, 'No gateway controls you may list.'));
}

async function pageControl(main, name) {
  const creating = name === null;
  heading(main, creating ? 'New gateway control' : name, [['Gateway'], ['Gateway Controls', '#/gateway/controls'], [creating ? 'New' : name]]);
  const [canManage] = await checks([['gateway-controls:manage', creating ? 'tenant' : `gateway-controls:${name}`]]);
  const initial = creating ? CONTROL_TEMPLATES['gateway-rate-limiting-config'] : await exportYaml('gateway-controls', name);
  const editor = yamlEditor(initial, (results) => {
    const first = results[0];
    if (first) go(`#/gateway/controls/${enc(first.name)}`);
  }, 'validated by the server; errors name the field');
  if (creating) {
    const sel = h('select', { id: uid('tpl') }, Object.keys(CONTROL_TEMPLATES).map((t) => h('option', { value: t }, `${CONTROL_LABELS[t]} (${t})`)));
    sel.addEventListener('change', () => { editor.elements.manifest.value = CONTROL_TEMPLATES[sel.value]; });
    main.append(h('div', { class: 'toolbar' }, h('div', null, h('label', { for: sel.id }, 'Kind'), sel)));
  }
  main.append(guardSection(h('div', { class: 'panel' }, editor), canManage));
  if (!creating) {
    main.append(deletePanel({ label: 'Delete control', title: `Delete ${name}?`, decision: canManage,
      text: 'Requests stop being subject to it at once.', path: `/api/v1/gateway-controls/${enc(name)}`, then: '#/gateway/controls' }));
  }
}

// ---------- Gateway > Usage ----------

const PALETTE = ['#0b5cad', '#d1495b', '#2a9d8f', '#e9a23b', '#6a4c93', '#118ab2', '#8d6e63', '#43aa8b', '#f3722c', '#577590'];
const isoLocal = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

/** Stacked bars in SVG, one bar per period and one colour per key, with a data table for screen readers. */
function barChart(title, points, metric, format) {
  const keys = [...new Set(points.map((p) => p.key))];
  const starts = [...new Set(points.map((p) => p.start))].sort();
  const W = 560, H = 240, L = 70, R = 12, T = 14, B = 36;
  const value = (p) => Number(p[metric] || 0);
  const totals = starts.map((s) => points.filter((p) => p.start === s).reduce((n, p) => n + value(p), 0));
  const max = Math.max(1e-9, ...totals);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const slot = (W - L - R) / starts.length;
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${keys.length} series over ${starts.length} periods, highest ${format(max, max)}` });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    chart.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, format(v, max)));
  }
  chart.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const every = Math.max(1, Math.ceil(starts.length / 6));
  starts.forEach((s, i) => {
    const cx = L + slot * (i + 0.5);
    if (i % every === 0) chart.append(svg('text', { x: cx, y: H - B + 18, 'text-anchor': 'middle' }, shortTime(s)));
    let acc = 0;
    keys.forEach((k, ki) => {
      const p = points.find((x) => x.start === s && x.key === k);
      const v = p ? value(p) : 0;
      if (v <= 0) return;
      chart.append(svg('rect', { x: cx - barW / 2, y: y(acc + v), width: barW, height: Math.max(1, y(acc) - y(acc + v)), fill: PALETTE[ki % PALETTE.length] },
        svg('title', null, `${k} · ${shortTime(s)}: ${format(v, max)}`)));
      acc += v;
    });
  });
  const legend = h('div', { class: 'legend' }, keys.map((k, i) => h('span', null, h('span', { class: 'swatch', 'data-color': PALETTE[i % PALETTE.length] }), k)));
  legend.querySelectorAll('.swatch').forEach((s) => { s.style.background = s.dataset.color; });
  const data = h('details', null, h('summary', null, `${title} as a table`), table([
    { label: 'Period', cell: (p) => shortTime(p.start) }, { label: 'Key', cell: (p) => p.key },
    { label: title, num: true, cell: (p) => format(value(p), max) }], points));
  return h('figure', { class: 'panel chart' }, h('figcaption', null, h('strong', null, title)), chart, legend, data);
}
const count = (v) => fmtNum(Math.round(v));
/** Dollars with as many decimals as the largest value needs, so small costs do not all read $0.00. */
const dollars = (v, max) => `$${v.toFixed(max >= 10 ? 2 : max >= 0.1 ? 3 : max >= 0.001 ? 5 : 7)}`;
const shortTime = (s) => { const d = new Date(s); return `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, '0')}:00`; };

async function pageUsage(main, params) {
  heading(main, 'Usage', [['Gateway'], ['Usage']]);
  main.append(h('p', { class: 'hint' }, 'Model calls through the gateway: yours, those of virtual accounts you manage, and everyone\'s for admins. Cost uses each model\'s pricing.'));
  const now = new Date();
  const since = params.get('since') || isoLocal(new Date(now.getTime() - 24 * 3600e3));
  const until = params.get('until') || '';
  const bucket = params.get('bucket') || 'hour';
  const groupBy = params.get('group_by') || 'model';
  const model = params.get('model') || '';
  const f = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Usage filters' },
    h('div', null, field('Group by', h('select', { name: 'group_by' }, [['model', 'Model'], ['subject', 'Subject']].map(([v, l]) => h('option', { value: v, selected: v === groupBy ? true : null }, l))))),
    h('div', null, field('Period', h('select', { name: 'bucket' }, [['hour', 'Hourly'], ['day', 'Daily']].map(([v, l]) => h('option', { value: v, selected: v === bucket ? true : null }, l))))),
    h('div', { class: 'grow' }, field('Model', input({ name: 'model', value: model, placeholder: 'account/model' }))),
    h('div', null, field('From', input({ type: 'datetime-local', name: 'since', value: since }))),
    h('div', null, field('To', input({ type: 'datetime-local', name: 'until', value: until }))),
    h('button', { type: 'submit', class: 'primary' }, 'Show'));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(`#/gateway/usage${q({ group_by: val(f, 'group_by'), bucket: val(f, 'bucket'), model: val(f, 'model'), since: val(f, 'since'), until: val(f, 'until') })}`);
  });
  main.append(f);
  const toIso = (v) => (v ? new Date(v).toISOString() : undefined);
  const filter = { model: model || undefined, since: toIso(since), until: toIso(until) };
  const [series, usage] = await Promise.all([
    get(`/api/v1/usage/series${q({ bucket, group_by: groupBy, ...filter })}`),
    get(`/api/v1/usage${q(filter)}`)]);
  const pts = series.series.map((p) => ({ ...p, tokens: (p.input_tokens || 0) + (p.output_tokens || 0) }));
  if (!pts.length) main.append(h('p', { class: 'empty' }, 'No requests in this period.'));
  else {
    main.append(h('div', { class: 'charts' },
      barChart('Requests', pts, 'requests', count),
      barChart('Tokens', pts, 'tokens', count),
      barChart('Cost (USD)', pts, 'cost_usd', dollars)));
  }
  main.append(h('h2', null, 'Totals per subject and model'), table([
    { label: 'Subject', cell: (u) => u.subject }, { label: 'Model', cell: (u) => u.model },
    { label: 'Requests', num: true, cell: (u) => fmtNum(u.requests) }, { label: 'Errors', num: true, cell: (u) => fmtNum(u.errors) },
    { label: 'Input tokens', num: true, cell: (u) => fmtNum(u.input_tokens) }, { label: 'Output tokens', num: true, cell: (u) => fmtNum(u.output_tokens) },
    { label: 'Mean latency', num: true, cell: (u) => `${(u.avg_latency_us / 1000).toFixed(1)} ms` },
    { label: 'Cost', num: true, cell: (u) => fmtUsd(u.cost_usd) },
  ], usage.usage, 'No requests in this period.'));
  const recent = await get(`/api/v1/request-logs${q({ ...filter, limit: 50 })}`);
  main.append(h('h2', null, 'Recent requests'), table([
    { label: 'Time', cell: (r) => fmtTime(r.at) }, { label: 'Subject', cell: (r) => r.subject }, { label: 'Model', cell: (r) => r.model },
    { label: 'Route', cell: (r) => r.route },
    { label: 'Status', num: true, cell: (r) => h('span', { class: `badge ${r.status < 400 ? 'ok' : 'off'}` }, r.status) },
    { label: 'Latency', num: true, cell: (r) => `${(r.latency_us / 1000).toFixed(1)} ms` },
    { label: 'Upstream', num: true, cell: (r) => (r.upstream_latency_us === null ? '—' : `${(r.upstream_latency_us / 1000).toFixed(1)} ms`) },
    { label: 'Tokens in / out', num: true, cell: (r) => `${fmtNum(r.input_tokens)} / ${fmtNum(r.output_tokens)}` },
    { label: 'Request id', cell: (r) => (r.request_id ? h('code', null, r.request_id) : '—') },
  ], recent.requests, 'No requests in this period.'));
}

// ---------- Governance > Audit log ----------

async function pageAudit(main, params) {
  heading(main, 'Audit Log', [['Governance'], ['Audit Log']]);
  const f = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Audit filters' },
    h('div', { class: 'grow' }, field('Actor', input({ name: 'actor', value: params.get('actor') || '', placeholder: 'user:alice@example.com' }))),
    h('div', { class: 'grow' }, field('Object', input({ name: 'object', value: params.get('object') || '', placeholder: 'team:ml-platform' }))),
    h('div', null, field('From', input({ type: 'datetime-local', name: 'since', value: params.get('since') || '' }))),
    h('div', null, field('To', input({ type: 'datetime-local', name: 'until', value: params.get('until') || '' }))),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(`#/audit${q({ actor: val(f, 'actor'), object: val(f, 'object'), since: val(f, 'since'), until: val(f, 'until') })}`);
  });
  main.append(f);
  const toIso = (v) => (v ? new Date(v).toISOString() : undefined);
  const filter = { actor: params.get('actor') || undefined, object: params.get('object') || undefined,
    since: toIso(params.get('since')), until: toIso(params.get('until')), limit: 100 };
  const body = h('tbody');
  const more = h('button', { type: 'button' }, 'Load more');
  const wrap = h('div', TABLE_WRAP, h('table', null, h('thead', null, h('tr', null,
    ['Time', 'Actor', 'Action', 'Object', 'Changes', 'Request'].map((c) => h('th', { scope: 'col' }, c)))), body));
  let before;
  const load = async () => {
    const page = await get(`/api/v1/audit-events${q({ ...filter, before_id: before })}`);
    for (const e of page.events) {
      body.append(h('tr', null, h('td', null, fmtTime(e.at)), h('td', null, e.actor), h('td', null, e.action), h('td', null, e.object),
        h('td', null, describeChanges(e.changes)), h('td', null, e.request_id ? h('code', null, e.request_id) : '—')));
    }
    before = page.next_before_id;
    more.hidden = !before;
    if (!body.children.length) body.append(h('tr', null, h('td', { colspan: 6, class: 'empty' }, 'No events match.')));
  };
  more.addEventListener('click', () => load().catch((err) => pageError(main, err)));
  await load();
  main.append(wrap, h('div', { class: 'actions' }, more));
}
/** An audit event's changed fields, each cut to a line; the whole value is in the tooltip. */
function describeChanges(c) {
  if (c === null || c === undefined) return '—';
  const line = (text) => h('li', { title: text.length > 160 ? text : null }, text.length > 160 ? `${text.slice(0, 157)}…` : text);
  const str = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
  if (Array.isArray(c)) return h('ul', { class: 'via' }, c.map((x) => line(str(x))));
  if (typeof c === 'object') return h('ul', { class: 'via' }, Object.entries(c).map(([k, v]) => line(`${k}: ${str(v)}`)));
  return String(c);
}

// ---------- start ----------

window.addEventListener('hashchange', route);
route();
