// A searchable picker (the ARIA 1.2 combobox pattern with a list box): typing asks the API for a few
// matches (`q`, `limit`), so a tenant of 10,000 users never loads them all into a <select>.

import { get, h, q, uid } from './api.js';
import { field } from './ui.js';

/** How many suggestions a search asks the API for. */
export const SEARCH_SHOWN = 10;
const SHOWN = SEARCH_SHOWN;
const DEBOUNCE_MS = 200;

/**
 * A text input that suggests values as the user types. `search(text)` resolves to at most a handful of
 * `{ value, label }`; picking one puts its value in the input (and calls `onpick`). Free text stays
 * allowed: the form sends what the input holds and the server says what is wrong with it.
 * Returns `{ input, listbox }`; `comboField` places both in a labelled field.
 */
export function combobox({ name, search, placeholder, onpick, value }) {
  const listId = uid('lb');
  const input = h('input', { type: 'text', name, value: value || '', placeholder, autocomplete: 'off', spellcheck: 'false',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId });
  const listbox = h('ul', { role: 'listbox', id: listId, class: 'combo-list', hidden: true });
  // Not a `status` role: a page's own status line stays the one status there.
  const count = h('span', { class: 'visually-hidden', 'aria-live': 'polite' });
  let options = [];
  let active = -1;
  let timer = null;
  let asked = 0;

  const setActive = (i) => {
    active = i;
    options.forEach((o, j) => o.el.setAttribute('aria-selected', String(j === i)));
    if (i >= 0) {
      input.setAttribute('aria-activedescendant', options[i].el.id);
      options[i].el.scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  };
  const close = () => {
    listbox.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    setActive(-1);
  };
  const open = () => {
    if (!options.length) return;
    listbox.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  };
  const pick = (o) => {
    input.value = o.value;
    close();
    if (onpick) onpick(o.value);
  };
  const show = (found) => {
    options = found.map((o) => {
      const el = h('li', { role: 'option', id: uid('opt'), 'aria-selected': 'false', class: 'combo-option' }, o.label || o.value);
      // The input keeps focus while the pointer picks.
      el.addEventListener('mousedown', (ev) => ev.preventDefault());
      el.addEventListener('click', () => pick(o));
      return { ...o, el };
    });
    listbox.replaceChildren(...options.map((o) => o.el));
    if (!options.length) listbox.append(h('li', { class: 'combo-empty', role: 'presentation' }, 'No match'));
    count.textContent = `${options.length || 'No'} suggestion${options.length === 1 ? '' : 's'}`;
    setActive(-1);
    listbox.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  };
  const lookup = async () => {
    const mine = ++asked;
    let found;
    try { found = await search(input.value.trim()); } catch (err) { if (err.handled) throw err; found = []; }
    // An older answer arriving late must not replace a newer one.
    if (mine === asked && document.activeElement === input) show(found.slice(0, SHOWN));
  };
  const soon = () => { clearTimeout(timer); timer = setTimeout(lookup, DEBOUNCE_MS); };

  input.addEventListener('input', soon);
  input.addEventListener('focus', () => { if (!options.length) soon(); });
  input.addEventListener('blur', () => { clearTimeout(timer); asked++; close(); });
  input.addEventListener('keydown', (ev) => {
    const isOpen = !listbox.hidden;
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      if (!isOpen) { if (options.length) open(); else lookup(); return; }
      if (options.length) setActive((active + 1) % options.length);
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (!isOpen) { open(); return; }
      if (options.length) setActive(active <= 0 ? options.length - 1 : active - 1);
    } else if (ev.key === 'Enter') {
      if (isOpen && active >= 0) { ev.preventDefault(); pick(options[active]); }
      else close();
    } else if (ev.key === 'Escape') {
      if (isOpen) { ev.preventDefault(); ev.stopPropagation(); close(); }
      else if (input.value) { ev.preventDefault(); input.value = ''; }
    } else if (ev.key === 'Tab') close();
  });
  return { input, listbox, count };
}

/** A labelled field holding a combobox; `opts` as for `combobox`. */
export function comboField(label, opts, hint) {
  const c = combobox(opts);
  const wrap = field(label, c.input, hint);
  wrap.classList.add('combo');
  c.input.after(c.listbox, c.count);
  return wrap;
}

/** Searches of the API's lists, for `combobox({ search })`. */
export const searchUsers = async (text) => (await get(`/api/v1/users${q({ q: text, limit: SHOWN })}`)).items
  .map((u) => ({ value: u.email, label: u.display_name ? `${u.email} — ${u.display_name}` : u.email }));
export const searchTeams = async (text) => (await get(`/api/v1/teams${q({ q: text, limit: SHOWN })}`)).items
  .map((t) => ({ value: t.name, label: t.description ? `${t.name} — ${t.description}` : t.name }));
export const searchVirtualAccounts = async (text) => (await get(`/api/v1/virtual-accounts${q({ q: text, limit: SHOWN })}`)).items
  .map((v) => ({ value: v.name, label: `${v.name} (team ${v.owner_team})` }));

/**
 * Any subject, written `user:<email>`, `team:<name>` or `virtualaccount:<name>`: a typed prefix narrows the
 * search to that kind, else a few of each kind match.
 */
export async function searchSubjects(text) {
  const kinds = [['user', searchUsers], ['team', searchTeams], ['virtualaccount', searchVirtualAccounts]];
  const [prefix, rest] = text.includes(':') ? [text.slice(0, text.indexOf(':')), text.slice(text.indexOf(':') + 1)] : [null, text];
  const chosen = kinds.filter(([k]) => !prefix || k.startsWith(prefix));
  const found = await Promise.all(chosen.map(([k, s]) => s(prefix ? rest : text)
    .then((list) => list.slice(0, prefix ? SHOWN : 4).map((o) => ({ value: `${k}:${o.value}`, label: `${k}:${o.label}` })))
    .catch((err) => { if (err.handled) throw err; return []; })));
  return found.flat();
}
