// Access > Personal Access Tokens.

import { api, enc, fmtTime, get, h } from './api.js';
import { confirmDialog, dateToRfc3339, field, flash, form, input, secretBox, table, toast, val } from './ui.js';
import { heading } from './app.js';

export async function pageTokens(main) {
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
    return `Token ${t.name} generated.`;
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
        try { await api('DELETE', `/api/v1/personal-access-tokens/${enc(t.id)}`); toast(`Token ${t.name} revoked.`); await drawList(); } catch (err) { if (!err.handled) flash(list, 'error', err.message); }
      } }, 'Revoke') },
    ], tokens, 'You have no tokens.'));
  };
  await drawList();
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'new-pat' }, h('h2', { id: 'new-pat' }, 'Generate a token'), slot, f),
    h('h2', null, 'Your tokens'), list);
}
