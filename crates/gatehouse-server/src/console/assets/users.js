// Access > Users.

import { announce, api, enc, get, go, h, state } from './api.js';
import { badges, checks, confirmDialog, field, flash, form, guard, guardSection, input, table, toast, val, whySection } from './ui.js';
import { filterSelect, pagedTable } from './listing.js';
import { heading, route } from './app.js';

function roleSelect(roles, current, attrs = {}) {
  return h('select', { name: 'role', ...attrs }, roles.filter((r) => r.name !== 'team-manager').map((r) =>
    h('option', { value: r.name, selected: r.name === current ? true : null }, `${r.display_name} (${r.name})`)));
}

export async function pageUsers(main) {
  heading(main, 'Users', [['Access'], ['Users']]);
  const [roles, [canAdd]] = await Promise.all([get('/api/v1/roles').catch(() => []), checks([['user:manage', 'tenant']])]);
  const list = pagedTable({
    path: '/api/v1/users', sort: 'email', noun: 'users', empty: 'No user matches.',
    search: { label: 'Search users', placeholder: 'Email or name' },
    filters: [
      filterSelect('role', 'Role', [['', 'Any role'], ...roles.map((r) => [r.name, r.display_name])]),
      filterSelect('status', 'Status', [['', 'Any status'], ['active', 'Active'], ['deactivated', 'Deactivated']]),
    ],
    columns: [
      { label: 'User', sort: 'email', cell: (u) => h('a', { href: `#/access/users/${enc(u.email)}` }, u.email) },
      { label: 'Name', sort: 'display_name', cell: (u) => u.display_name || '—' },
      { label: 'Role', sort: 'role', cell: (u) => u.role },
      { label: 'Teams', cell: (u) => badges(u.teams.map((t) => (u.manages.includes(t) ? `${t} (manager)` : t))) },
      { label: 'Status', cell: (u) => h('span', { class: `badge ${u.active ? 'ok' : 'off'}` }, u.active ? 'Active' : 'Deactivated') },
    ],
  });
  main.append(list);
  await list.ready;
  const add = form([
    field('Email', input({ type: 'email', name: 'email', required: true })),
    field('Display name', input({ name: 'display_name' }), '(optional)'),
    field('Role', roleSelect(roles, 'member')),
  ], async (f) => {
    const u = await api('POST', '/api/v1/users', { email: val(f, 'email'), display_name: val(f, 'display_name') || null, role: val(f, 'role') });
    go(`#/access/users/${enc(u.email)}`);
    return `User ${u.email} added.`;
  }, 'Add user');
  const section = h('section', { class: 'panel', 'aria-labelledby': 'add-user' }, h('h2', { id: 'add-user' }, 'Add a user'), add);
  if (!canAdd.allowed) add.querySelectorAll('input, select, button').forEach((e) => { e.disabled = true; });
  main.append(guardSection(section, canAdd));
}

export async function pageUser(main, email) {
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
    { email: u.email, display_name: u.display_name, role: u.role, active: u.active, ...patch }, { ifMatch: u.etag });
  const edit = form([
    field('Display name', input({ name: 'display_name', value: u.display_name })),
    field('Role', roleSelect(roles, u.role), 'each user holds exactly one'),
  ], async (f) => {
    await put({ display_name: val(f, 'display_name'), role: val(f, 'role') });
    route();
    return 'User saved.';
  }, 'Save user');
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'edit-user' }, h('h2', { id: 'edit-user' }, 'Edit User'), edit), canManage));

  const statusBox = h('div');
  const toggle = h('button', { type: 'button', class: u.active ? 'danger' : 'primary', onclick: async () => {
    const ok = u.active
      ? await confirmDialog(`Deactivate ${email}?`, `${email} will be signed out and every one of their tokens (personal access tokens and sessions) stops working at once, for good: reactivating does not bring them back.`, 'Deactivate')
      : await confirmDialog(`Activate ${email}?`, `${email} will be able to sign in again. Their old tokens stay revoked.`, 'Activate', false);
    if (!ok) return;
    try { await put({ active: !u.active }); toast(u.active ? `${email} deactivated.` : `${email} activated.`); route(); }
    catch (err) { if (!err.handled) flash(statusBox, 'error', err.message); }
  } }, u.active ? 'Deactivate user' : 'Activate user');
  const del = h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (!await confirmDialog(`Delete ${email}?`, 'The user, their tokens and their team memberships are removed.', 'Delete')) return;
    try { await api('DELETE', `/api/v1/users/${enc(email)}`); toast(`${email} deleted.`); go('#/access/users'); }
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
