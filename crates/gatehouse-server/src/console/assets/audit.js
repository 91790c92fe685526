// Governance > Audit log.

import { fmtTime, get, go, h, q } from './api.js';
import { field, input, pageError, TABLE_WRAP, val } from './ui.js';
import { heading } from './app.js';

export async function pageAudit(main, params) {
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
