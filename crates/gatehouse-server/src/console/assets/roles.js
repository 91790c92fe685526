// Access > Roles.

import { api, enc, get, go, h, state, uid } from './api.js';
import { checks, deletePanel, field, form, guard, guardSection, input, table, val } from './ui.js';
import { heading } from './app.js';

export async function catalogue() {
  if (!state.catalogue) state.catalogue = await get('/api/v1/permissions');
  return state.catalogue;
}

export async function pageRoles(main, params) {
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

export async function pageRole(main, name) {
  const creating = name === null;
  const [perms, role, [canManage]] = await Promise.all([catalogue(), creating ? null : get(`/api/v1/roles/${enc(name)}`),
    checks([['role:manage', creating ? 'tenant' : `role:${name}`]])]);
  heading(main, creating ? 'Create Role' : role.display_name, [['Access'], ['Roles', `#/access/roles?tab=${creating || !role.builtin ? 'custom' : 'default'}`], [creating ? 'Create Role' : name]]);
  const readOnly = !creating && !role.editable;
  if (readOnly) main.append(h('div', { class: 'alert info' }, 'The Admin role always holds every permission; it cannot be edited or deleted.'));
  const held = new Set(role ? role.permissions : []);
  const groups = [];
  // Permissions on kinds of object Gatehouse does not have yet come last, in a group of their own.
  const later = { name: 'Resources not built yet', resources: [], notBuilt: true };
  for (const p of perms) {
    let g = p.resource_exists === false ? later : groups.find((x) => x.name === p.group);
    if (!g) { g = { name: p.group, resources: [] }; groups.push(g); }
    let r = g.resources.find((x) => x.name === p.resource);
    if (!r) { r = { name: p.resource, perms: [] }; g.resources.push(r); }
    r.perms.push(p);
  }
  if (later.resources.length) groups.push(later);
  const picker = h('div', { class: 'picker' }, h('input', { type: 'hidden', name: 'permissions', id: uid('perms') }),
    h('div', { class: 'field-error', hidden: true }),
    groups.map((g) => h('fieldset', { class: g.notBuilt ? 'perm-group not-built' : 'perm-group', 'data-testid': g.notBuilt ? 'not-built' : null },
      h('legend', null, g.name, g.notBuilt ? h('span', { class: 'badge off' }, 'Not built yet') : null),
      g.notBuilt ? h('p', { class: 'hint' }, 'Gatehouse has no objects of these kinds yet: a role may hold these permissions, but they grant nothing until it does.') : null,
      g.resources.map((r) => h('fieldset', null, h('legend', null, r.name, g.notBuilt ? ' (not built yet)' : ''),
        h('div', { class: 'perm-resource' }, r.perms.map((p) => h('label', { class: 'perm' },
          h('input', { type: 'checkbox', name: 'perm', value: p.id, checked: readOnly || held.has(p.id), disabled: readOnly }),
          h('span', null, p.name, ' ', h('code', null, p.id), h('small', null, p.description))))))))));
  const hidden = picker.querySelector('input[type=hidden]');
  picker.querySelector('.field-error').id = `${hidden.id}-err`;
  const f = form([
    field('Name', input({ name: 'name', value: role ? role.name : '', disabled: !creating, required: true }), 'letters, digits and hyphens; unique'),
    field('Display name', input({ name: 'display_name', value: role ? role.display_name : '', disabled: readOnly })),
    field('Description', h('textarea', { name: 'description', rows: 2, disabled: readOnly }, role ? role.description : '')),
    h('div', { class: 'field' }, h('h2', null, 'Permissions'), teamManagerNote(role), picker),
  ], async (f) => {
    const body = { name: creating ? val(f, 'name') : role.name, display_name: val(f, 'display_name'), description: val(f, 'description'),
      permissions: [...f.querySelectorAll('input[name=perm]:checked')].map((c) => c.value) };
    const saved = creating ? await api('POST', '/api/v1/roles', body) : await api('PUT', `/api/v1/roles/${enc(role.name)}`, body, { ifMatch: role.etag });
    go(`#/access/roles/${enc(saved.name)}`);
    return `Role ${saved.name} ${creating ? 'created' : 'saved'}.`;
  }, creating ? 'Create Role' : 'Save role');
  if (readOnly) f.querySelector('button[type=submit]').remove();
  main.append(guardSection(h('div', { class: 'panel' }, f), readOnly ? null : canManage));
  if (!creating && role.deletable) {
    main.append(deletePanel({ label: 'Delete role', title: `Delete role ${role.name}?`, decision: canManage,
      text: 'A role still held by users cannot be deleted.', path: `/api/v1/roles/${enc(role.name)}`, then: '#/access/roles?tab=custom' }));
  }
}

/** The Team Manager role reaches each manager's own teams only through team and virtual-account permissions. */
function teamManagerNote(role) {
  if (!role || role.name !== 'team-manager') return null;
  return h('div', { class: 'alert info', 'data-testid': 'team-manager-note' },
    h('strong', null, 'Applies tenant-wide: '),
    'team and virtual-account permissions in this role apply to each manager\'s own teams and the virtual accounts they own. ',
    'Every other permission applies to the whole tenant, for every team manager of any team.');
}
