// Access > Virtual Accounts.

import { api, enc, fmtTime, get, go, h } from './api.js';
import { checks, confirmDialog, dateToRfc3339, deletePanel, field, flash, form, guard, guardSection, input, secretBox, table, toast, val, whySection } from './ui.js';
import { comboField, searchTeams, SEARCH_SHOWN } from './combobox.js';
import { pagedTable } from './listing.js';
import { heading, route } from './app.js';
import { vaEditLink } from './va-form.js';

export async function pageVirtualAccounts(main) {
  heading(main, 'Virtual Accounts', [['Access'], ['Virtual Accounts']]);
  main.append(h('p', { class: 'hint' }, 'Service accounts for applications. Each is owned by a team; its tokens act as the account, never as a person.'));
  main.append(h('div', { class: 'toolbar' }, vaEditLink()));
  const list = pagedTable({
    path: '/api/v1/virtual-accounts', sort: 'name', noun: 'virtual accounts', empty: 'No virtual accounts you may read match.',
    search: { label: 'Search virtual accounts', placeholder: 'Name or description' },
    columns: [
      { label: 'Virtual account', sort: 'name', cell: (v) => h('a', { href: `#/access/virtual-accounts/${enc(v.name)}` }, v.name) },
      { label: 'Owner team', sort: 'owner_team', cell: (v) => v.owner_team },
      { label: 'Description', cell: (v) => v.description || '—' },
      { label: 'Expires', sort: 'expires_at', cell: (v) => fmtTime(v.expires_at) },
    ],
  });
  main.append(list);
  // Teams where the caller may create one: asked of the engine for the teams a search finds, never for all.
  const creatable = async (text) => {
    const found = await searchTeams(text);
    const ok = await checks(found.map((t) => ['virtual-account:create', `team:${t.value}`]));
    return { teams: found.filter((_, i) => ok[i].allowed), reason: ok[0] && ok[0].reason, all: found.length < SEARCH_SHOWN };
  };
  const [first] = await Promise.all([creatable(''), list.ready]);
  const f = form([
    field('Name', input({ name: 'name', required: true }), 'letters, digits and hyphens'),
    comboField('Owner team', { name: 'owner_team', search: async (text) => (await creatable(text)).teams, placeholder: 'Type a team name' }),
    field('Description', input({ name: 'description' })),
    field('Expires on', input({ type: 'date', name: 'expires_at' }), '(optional)'),
  ], async (f) => {
    const v = await api('POST', '/api/v1/virtual-accounts', { name: val(f, 'name'), owner_team: val(f, 'owner_team'),
      description: val(f, 'description'), expires_at: dateToRfc3339(val(f, 'expires_at')) });
    go(`#/access/virtual-accounts/${enc(v.name)}`);
  }, 'Create virtual account');
  // Refused only when the teams found are all there are: a manager of a team further down can still search for it.
  const denied = first.teams.length || !first.all ? null : { allowed: false, reason: first.reason || 'there is no team you may read, so no team can own a new virtual account' };
  main.append(guardSection(h('section', { class: 'panel', 'aria-labelledby': 'new-va' }, h('h2', { id: 'new-va' }, 'Create a virtual account'), f), denied));
}

export async function pageVirtualAccount(main, name) {
  heading(main, name, [['Access'], ['Virtual Accounts', '#/access/virtual-accounts'], [name]]);
  const r = `virtual-account:${name}`;
  const [v, [canManage, canDelete]] = await Promise.all([get(`/api/v1/virtual-accounts/${enc(name)}`),
    checks([['virtual-account:manage', r], ['virtual-account:delete', r]])]);
  main.append(h('div', { class: 'panel' }, h('dl', { class: 'facts' },
    h('dt', null, 'Owner team'), h('dd', null, h('a', { href: `#/access/teams/${enc(v.owner_team)}` }, v.owner_team)),
    h('dt', null, 'Description'), h('dd', null, v.description || '—'),
    h('dt', null, 'Expires'), h('dd', null, fmtTime(v.expires_at)),
    h('dt', null, 'Subject'), h('dd', null, h('code', null, `virtualaccount:${name}`))), canManage.allowed ? vaEditLink(name) : null));

  const tokSec = h('section', { class: 'panel', 'aria-labelledby': 'va-tokens' }, h('h2', { id: 'va-tokens' }, 'Tokens'));
  const secretSlot = h('div');
  // The list is drawn again from the API after each generate, rotate and revoke, so it never lags a change.
  const tokList = h('div', { 'data-testid': 'va-token-list' });
  tokSec.append(secretSlot, tokList);
  const drawTokens = async () => {
    try {
      const tokens = await get(`/api/v1/virtual-accounts/${enc(name)}/tokens`);
      tokList.replaceChildren(table([
        { label: 'Name', cell: (t) => t.name },
        { label: 'Id', cell: (t) => h('code', null, t.id) },
        { label: 'Created', cell: (t) => fmtTime(t.created_at) },
        { label: 'Expires', cell: (t) => fmtTime(t.expires_at) },
        { label: 'Last used', cell: (t) => fmtTime(t.last_used_at) },
        { label: '', cell: (t) => guard(h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke token ${t.name}`, onclick: async () => {
          if (!await confirmDialog('Revoke this token?', `Applications using token ${t.name} (${t.id}) will get 401 from the next request on.`, 'Revoke')) return;
          try { await api('DELETE', `/api/v1/virtual-accounts/${enc(name)}/tokens/${enc(t.id)}`); toast(`Token ${t.name} revoked.`); await drawTokens(); } catch (err) { if (!err.handled) flash(tokSec, 'error', err.message); }
        } }, 'Revoke'), canManage) },
      ], tokens, 'No live tokens.'));
    } catch (err) { if (err.handled) throw err; tokList.replaceChildren(h('p', { class: 'reason' }, err.message)); }
  };
  await drawTokens();
  const issue = form([field('Token name', input({ name: 'name' }), '(optional)')], async (f) => {
    const t = await api('POST', `/api/v1/virtual-accounts/${enc(name)}/tokens`, { name: val(f, 'name') || null });
    await drawTokens();
    secretSlot.replaceChildren(secretBox(`New token for ${name}.`, t.token));
    secretSlot.querySelector('button').focus();
  }, 'Generate token');
  const rotate = form([field('Grace period (days)', input({ type: 'number', name: 'grace_days', min: 0, max: 365, value: 7,
    'data-param': 'grace_period_seconds', 'data-unit': 'days', 'data-scale': 86400 }),
    'how long the current tokens keep working: 0 to 365')], async (f) => {
    const days = Number(val(f, 'grace_days'));
    // No grace period cuts off every application at once: ask first.
    if (days === 0 && val(f, 'grace_days') !== '' && !await confirmDialog(`Rotate ${name} with no grace period?`,
      `Every current token of ${name} stops working at once: applications still using them get 401 until they switch to the new token.`, 'Rotate now')) return false;
    const t = await api('POST', `/api/v1/virtual-accounts/${enc(name)}/rotate`,
      { grace_period_seconds: val(f, 'grace_days') !== '' && Number.isFinite(days) ? Math.round(days * 86400) : -1 });
    await drawTokens();
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
