// Access > Virtual Accounts: a virtual account created or edited in a form or as YAML (kept in sync), saved
// through apply. The list page (virtual-accounts.js) links here.

import { enc, get, go, h } from './api.js';
import { checks, field, guardSection, input } from './ui.js';
import { heading } from './app.js';
import { formYamlEditor } from './form-editor.js';
import { ordered } from './yaml.js';
import { yamlEditor } from './integrations.js';
import { comboField, searchTeams, SEARCH_SHOWN } from './combobox.js';

/**
 * The teams the caller may create a virtual account for among those a search finds: the engine is asked
 * about a few teams at a time, never about every team. `complete` when the search found every team there is.
 */
async function creatableTeams(text) {
  const found = await searchTeams(text);
  const ok = await checks(found.map((t) => ['virtual-account:create', `team:${t.value}`]));
  return { teams: found.filter((_, i) => ok[i].allowed), complete: found.length < SEARCH_SHOWN };
}

/** The form's fields from a virtual account's manifest object. */
export function vaForm(m, { creating }) {
  const base = { ...m };
  const name = input({ name: 'name', value: m.name || '', required: true, readonly: !creating });
  const ownerWrap = comboField('Owner team', { name: 'owner_team', value: m.owner_team || '', placeholder: 'Type a team name',
    search: async (text) => (await creatableTeams(text)).teams }, 'its managers manage the account and its tokens');
  const owner = ownerWrap.querySelector('input');
  const description = input({ name: 'description', value: m.description || '' });
  const expires = input({ type: 'date', name: 'expires_at', value: m.expires_at ? String(m.expires_at).slice(0, 10) : '' });
  const children = [
    field('Name', name, 'letters, digits and hyphens'),
    ownerWrap,
    field('Description', description),
    field('Expires on', expires, '(optional) its tokens stop working then'),
  ];
  const read = () => {
    const out = { ...base, type: 'virtual-account', name: name.value.trim(), owner_team: owner.value.trim(), description: description.value.trim() };
    if (expires.value) {
      // A date alone means its start, in UTC; an unchanged one keeps the stored time of day.
      const same = m.expires_at && String(m.expires_at).slice(0, 10) === expires.value;
      out.expires_at = same ? m.expires_at : `${expires.value}T00:00:00Z`;
    } else delete out.expires_at;
    return ordered(out, ['type', 'name', 'owner_team', 'description', 'expires_at']);
  };
  return { children, read };
}

/** `#/access/virtual-accounts/new` and `#/access/virtual-accounts/<name>/edit`. */
export async function pageVaEditor(main, name) {
  const creating = name === null || name === undefined;
  heading(main, creating ? 'New virtual account' : `Edit ${name}`,
    [['Access'], ['Virtual Accounts', '#/access/virtual-accounts'], creating ? ['New'] : [name, `#/access/virtual-accounts/${enc(name)}`]]);
  const first = await creatableTeams('');
  const allowed = first.teams.map((t) => t.value);
  let initial = { type: 'virtual-account', name: 'billing-service', owner_team: allowed[0] || '', description: 'Calls models for the billing service', expires_at: '2030-01-01T00:00:00Z' };
  let decision = allowed.length || !first.complete ? null : { allowed: false, reason: 'there is no team you may create a virtual account for' };
  if (!creating) {
    const v = await get(`/api/v1/virtual-accounts/${enc(name)}`);
    initial = { type: 'virtual-account', name: v.name, owner_team: v.owner_team, description: v.description };
    if (v.expires_at) initial.expires_at = v.expires_at;
    [decision] = await checks([['virtual-account:manage', `virtual-account:${name}`]]);
  }
  const editor = formYamlEditor({
    initial, creating,
    build: (m) => vaForm(m, { creating }),
    yamlEditor: (text, opts) => yamlEditor(text, opts.onSaved, 'a virtual-account manifest', opts),
    onSaved: (results) => {
      const mine = results.find((x) => x.type === 'virtual-account');
      go(`#/access/virtual-accounts/${enc(mine ? mine.name : name)}`);
    },
  });
  main.append(guardSection(h('div', { class: 'panel' }, editor.el), decision));
}

/** The list page's and the account page's way here. */
export const vaEditLink = (name) => h('a', { class: 'button', href: name ? `#/access/virtual-accounts/${enc(name)}/edit` : '#/access/virtual-accounts/new' },
  name ? 'Edit' : 'New virtual account (form or YAML)');

