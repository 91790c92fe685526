// A table over one of the API's paged lists: the server searches, filters, sorts and pages (keyset
// cursors), so the console never fetches a whole list to show fifty rows of it.

import { get, h, q, uid } from './api.js';
import { field, TABLE_WRAP } from './ui.js';
import { unreachable } from './orient.js';

const PAGE = 50;
const DEBOUNCE_MS = 250;

/**
 * Draws into the returned element a searchable, sortable, paged table of `path`.
 * - `columns`: `{ label, cell(item), sort? }`; a column with `sort` (the API's field) sorts when its
 *   header is pressed, again for descending.
 * - `sort`: the initial sort; `search`: the search box's label and placeholder;
 * - `filters`: controls (`select`s, inputs with a `name`) whose values go into the query as they change;
 * - `noun`: plural for the status line; `empty`: text when nothing matches.
 */
export function pagedTable({ path, columns, sort, search, filters = [], noun, empty, pageSize = PAGE }) {
  const state = { sort, cursors: [null], page: 0, asked: 0 };
  const box = h('input', { type: 'search', name: 'q', placeholder: search.placeholder, autocomplete: 'off' });
  const status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const body = h('div');
  const prev = h('button', { type: 'button', onclick: () => move(-1) }, 'Previous page');
  const next = h('button', { type: 'button', onclick: () => move(1) }, 'Next page');
  const tableId = uid('list');

  const params = () => {
    const p = { limit: pageSize, sort: state.sort, q: box.value.trim(), cursor: state.cursors[state.page] };
    for (const f of filters) p[f.name] = f.value;
    return p;
  };
  const header = (c) => {
    if (!c.sort) return h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label);
    const on = state.sort === c.sort || state.sort === `-${c.sort}`;
    const desc = state.sort === `-${c.sort}`;
    const button = h('button', { type: 'button', class: 'sort', onclick: () => resort(c.sort) },
      c.label, h('span', { 'aria-hidden': 'true' }, on ? (desc ? ' ▼' : ' ▲') : ''));
    button.setAttribute('aria-label', `Sort by ${c.label}${on && !desc ? ', descending' : ''}`);
    return h('th', { scope: 'col', 'aria-sort': on ? (desc ? 'descending' : 'ascending') : null }, button);
  };
  const draw = (page) => {
    const rows = page.items;
    const start = state.page * pageSize;
    body.replaceChildren(rows.length
      ? h('div', TABLE_WRAP, h('table', { id: tableId, 'aria-label': noun[0].toUpperCase() + noun.slice(1) },
        h('thead', null, h('tr', null, columns.map(header))),
        h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r))))))))
      : h('p', { class: 'empty' }, empty));
    prev.disabled = state.page === 0;
    next.disabled = !page.next_cursor;
    if (page.next_cursor) state.cursors[state.page + 1] = page.next_cursor;
    status.textContent = rows.length
      ? `Showing ${noun} ${start + 1} to ${start + rows.length}${page.next_cursor ? '; more on the next page' : ''}.`
      : `No ${noun} shown.`;
  };
  const load = async (first = false) => {
    const mine = ++state.asked;
    body.setAttribute('aria-busy', 'true');
    try {
      const page = await get(`${path}${q(params())}`);
      if (mine === state.asked) draw(page);
    } catch (err) {
      if (err.handled) throw err;
      // The first page failing because the server is down or broken is the page failing: the console's
      // failure page says so, with Retry. Later (a search, a page turn) the table says it, with its own Retry.
      if (first && unreachable(err)) throw err;
      if (mine === state.asked) {
        body.replaceChildren(h('div', { class: 'alert error', role: 'alert' }, err.message, ' ',
          h('button', { type: 'button', onclick: () => load() }, 'Retry')));
      }
    } finally {
      if (mine === state.asked) body.removeAttribute('aria-busy');
    }
  };
  // Anything but a page turn starts again from the first page: a cursor belongs to its query.
  const restart = () => { state.cursors = [null]; state.page = 0; return load(); };
  const resort = async (field) => {
    state.sort = state.sort === field ? `-${field}` : field;
    await restart();
    body.querySelector(`th[aria-sort] button`)?.focus();
  };
  const move = (d) => {
    state.page = Math.max(0, state.page + d);
    return load();
  };
  let timer = null;
  box.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(restart, DEBOUNCE_MS); });
  box.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); clearTimeout(timer); restart(); } });
  for (const f of filters) f.addEventListener('change', restart);

  const el = h('div', { class: 'paged' },
    h('div', { class: 'toolbar', role: 'search', 'aria-label': `Find ${noun}` },
      h('div', { class: 'grow' }, field(search.label, box)),
      filters.map((f) => h('div', null, field(f.dataset.label, f)))),
    body,
    h('nav', { class: 'actions pager', 'aria-label': `Pages of ${noun}` }, prev, next, status));
  el.ready = load(true);
  return el;
}

/** A filter `select` for `pagedTable`: `choices` are `[value, text]`, the first usually `['', 'Any']`. */
export function filterSelect(name, label, choices) {
  const s = h('select', { name }, choices.map(([v, t]) => h('option', { value: v }, t)));
  s.dataset.label = label;
  return s;
}
