// Governance > Audit log.

import { ApiError, get, go, h, q, uid } from './api.js';
import { field, input, pageError, showError, TABLE_WRAP, val } from './ui.js';
import { heading } from './app.js';
import { shortStamp } from './usage.js';

/** Actions the log records, as suggestions: each kind's verbs, and the verbs alone (the filter takes a part). */
const VERBS = ['create', 'update', 'delete', 'collaborator.add', 'collaborator.remove'];
const ACTIONS = [...VERBS,
  ...['user', 'team', 'role', 'virtual-account', 'provider-account', 'mcp-server', 'agent', 'gateway-controls'].flatMap((k) => VERBS.slice(0, 3).map((v) => `${k}.${v}`)),
  'user.password', 'token.issue', 'token.revoke', 'virtual-account.rotate'];

export async function pageAudit(main, params) {
  heading(main, 'Audit Log', [['Governance'], ['Audit Log']]);
  const actions = h('datalist', { id: uid('dl-action') }, ACTIONS.map((a) => h('option', { value: a })));
  const f = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Audit filters', novalidate: true },
    h('div', { class: 'form-alert' }),
    h('div', { class: 'grow' }, field('Actor', input({ name: 'actor_contains', value: params.get('actor') || '', placeholder: 'alice' }), 'part of a name')),
    h('div', { class: 'grow' }, field('Action', input({ name: 'action', value: params.get('action') || '', placeholder: 'team.create', list: actions.id, autocomplete: 'off' }), 'or part of one'), actions),
    h('div', { class: 'grow' }, field('Object', input({ name: 'object_contains', value: params.get('object') || '', placeholder: 'ml-platform' }), 'part of a name')),
    h('div', null, field('From', input({ type: 'datetime-local', name: 'since', value: params.get('since') || '' }))),
    h('div', null, field('To', input({ type: 'datetime-local', name: 'until', value: params.get('until') || '' }))),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(`#/audit${q({ actor: val(f, 'actor_contains'), action: val(f, 'action'), object: val(f, 'object_contains'), since: val(f, 'since'), until: val(f, 'until') })}`);
  });
  main.append(f);
  const toIso = (v) => (v ? new Date(v).toISOString() : undefined);
  const filter = { actor_contains: params.get('actor') || undefined, action: params.get('action') || undefined,
    object_contains: params.get('object') || undefined, since: toIso(params.get('since')), until: toIso(params.get('until')), limit: 100 };
  const body = h('tbody');
  const more = h('button', { type: 'button' }, 'Load more');
  const wrap = h('div', { ...TABLE_WRAP, class: 'table-wrap audit-log' }, h('table', null, h('thead', null, h('tr', null,
    ['Time', 'Actor', 'Action', 'Object', 'Changes', 'Request'].map((c) => h('th', { scope: 'col' }, c)))), body));
  let before;
  const load = async () => {
    const page = await get(`/api/v1/audit-events${q({ ...filter, before_id: before })}`);
    for (const e of page.events) {
      body.append(h('tr', null, h('td', null, shortStamp(e.at)), h('td', null, e.actor), h('td', null, e.action), h('td', null, e.object),
        h('td', null, describeChanges(e.changes)), h('td', null, e.request_id ? h('code', null, e.request_id) : '—')));
    }
    before = page.next_before_id;
    more.hidden = !before;
    if (!body.children.length) body.append(h('tr', null, h('td', { colspan: 6, class: 'empty' }, 'No events match.')));
  };
  more.addEventListener('click', () => load().catch((err) => pageError(main, err)));
  try {
    await load();
  } catch (err) {
    if (err instanceof ApiError && err.param) { showError(f, err); return; }
    throw err;
  }
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
