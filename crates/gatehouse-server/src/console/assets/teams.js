// Access > Teams.

import { announce, api, enc, get, go, h, q, uid } from './api.js';
import { badges, checks, deletePanel, field, flash, form, guard, guardSection, input, table, toast, val, whySection } from './ui.js';
import { comboField, searchUsers } from './combobox.js';
import { pagedTable } from './listing.js';

const OWNED_SHOWN = 100;
import { heading, route } from './app.js';

export async function pageTeams(main) {
  heading(main, 'Teams', [['Access'], ['Teams']]);
  const [canCreate] = await checks([['team:create', 'tenant']]);
  const list = pagedTable({
    path: '/api/v1/teams', sort: 'name', noun: 'teams', empty: 'No teams you may read match.',
    search: { label: 'Search teams', placeholder: 'Name or description' },
    columns: [
      { label: 'Team', sort: 'name', cell: (t) => h('a', { href: `#/access/teams/${enc(t.name)}` }, t.name) },
      { label: 'Description', cell: (t) => t.description || '—' },
      { label: 'Managers', cell: (t) => badges(t.managers) },
      { label: 'Members', num: true, sort: 'members', cell: (t) => t.members.length },
    ],
  });
  main.append(list);
  await list.ready;
  const f = form([
    field('Name', input({ name: 'name', required: true }), 'letters, digits and hyphens'),
    field('Description', input({ name: 'description' })),
  ], async (f) => {
    const t = await api('POST', '/api/v1/teams', { name: val(f, 'name'), description: val(f, 'description') });
    go(`#/access/teams/${enc(t.name)}`);
  }, 'Create team');
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'new-team' }, h('h2', { id: 'new-team' }, 'Create a team'), f), canCreate));
}

export async function pageTeam(main, name) {
  heading(main, name, [['Access'], ['Teams', '#/access/teams'], [name]]);
  const [t, [canManage, canDelete]] = await Promise.all([get(`/api/v1/teams/${enc(name)}`),
    checks([['team:manage', `team:${name}`], ['team:delete', `team:${name}`]])]);
  const save = (patch) => api('PUT', `/api/v1/teams/${enc(name)}`,
    { name: t.name, description: t.description, managers: t.managers, members: t.members, ...patch }, { ifMatch: t.etag });
  const desc = form([field('Description', h('textarea', { name: 'description', rows: 2 }, t.description))], async (f) => {
    await save({ description: val(f, 'description') });
    route();
  }, 'Save description');
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'team-desc' }, h('h2', { id: 'team-desc' }, 'Details'), desc), canManage));

  for (const [key, label, help] of [['managers', 'Managers', 'Managers are members too, and get the Team Manager role on this team.'], ['members', 'Members', '']]) {
    const sec = h('section', { class: 'panel', 'aria-labelledby': `team-${key}` }, h('h2', { id: `team-${key}` }, label));
    if (help) sec.append(h('p', { class: 'hint' }, help));
    const listEl = h('ul', { class: 'plain' }, t[key].map((email) => h('li', null, email, ' ',
      guard(h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${email} from ${label.toLowerCase()}`, onclick: async () => {
        const patch = { [key]: t[key].filter((e) => e !== email) };
        if (key === 'members') patch.managers = t.managers.filter((e) => e !== email);
        try { await save(patch); toast(`${email} removed.`); route(); } catch (err) { if (!err.handled) flash(sec, 'error', err.message); }
      } }, 'Remove'), canManage))));
    if (!t[key].length) listEl.append(h('li', { class: 'empty' }, 'None.'));
    sec.append(listEl);
    const add = form([comboField(`Add to ${label.toLowerCase()}`, { name: 'email', search: searchUsers, placeholder: 'Type an email or a name' })], async (f) => {
      const email = val(f, 'email');
      const patch = { [key]: [...new Set([...t[key], email])] };
      if (key === 'managers') patch.members = [...new Set([...t.members, email])];
      await save(patch);
      route();
      return `${email} added.`;
    }, `Add ${key === 'managers' ? 'manager' : 'member'}`);
    sec.append(add);
    main.append(guardSection(sec, canManage));
  }
  const owned = await get(`/api/v1/virtual-accounts${q({ team: name, limit: OWNED_SHOWN })}`).catch(() => ({ items: [], next_cursor: null }));
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'team-vas' }, h('h2', { id: 'team-vas' }, 'Virtual accounts it owns'),
    owned.items.length ? h('ul', { class: 'plain' }, owned.items.map((v) => h('li', null, h('a', { href: `#/access/virtual-accounts/${enc(v.name)}` }, v.name))))
      : h('p', { class: 'empty' }, 'None that you may read.'),
    owned.next_cursor ? h('p', { class: 'hint' }, `Only the first ${OWNED_SHOWN} are shown: search the Virtual Accounts page for the rest.`) : null));
  main.append(await whySection(`team:${name}`));
  main.append(deletePanel({ label: 'Delete team', title: `Delete team ${name}?`, decision: canDelete,
    text: 'Its grants go with it. A team that still owns virtual accounts cannot be deleted.',
    path: `/api/v1/teams/${enc(name)}`, then: '#/access/teams' }));
}
