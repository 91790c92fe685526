// Building blocks shared by the pages: fields, forms, dialogs, tables, guarded controls.

import { announce, api, ApiError, enc, get, go, h, uid } from './api.js';

export function field(label, input, hint) {
  const id = input.id || uid('f');
  input.id = id;
  const errId = `${id}-err`;
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label, hint ? h('span', { class: 'hint' }, ` ${hint}`) : null),
    input,
    h('div', { class: 'field-error', id: errId, hidden: true }));
  wrap.dataset.param = input.name || '';
  return wrap;
}
export const input = (attrs) => h('input', { type: 'text', ...attrs });

/**
 * Shows an API error in the form: every field error next to its field, once, in the form's own words (the
 * field's label, durations in the field's unit), with focus on the first; what names no field goes on top.
 */
export function showError(form, err) {
  if (err.handled) return;
  clearErrors(form);
  const list = err.errors && err.errors.length ? err.errors : (err.param ? [{ param: err.param, message: err.message, whole: true }] : []);
  const placed = new Map();
  const loose = [];
  for (const e of list) {
    const target = fieldFor(form, e.param);
    if (!target) { loose.push(e.whole ? e.message : `${e.param}: ${e.message}`); continue; }
    if (!placed.has(target)) placed.set(target, []);
    const words = target.hasAttribute('data-catch-all') ? (e.whole ? e.message : `${e.param}: ${e.message}`) : inFieldWords(target, e.whole ? stripPath(e.message, e.param) : e.message);
    if (!placed.get(target).includes(words)) placed.get(target).push(words);
  }
  if (!list.length) loose.push(err.message);
  const labels = [];
  for (const [target, messages] of placed) {
    const box = document.getElementById(`${target.id}-err`);
    if (!box) { loose.push(...messages); continue; }
    target.setAttribute('aria-invalid', 'true');
    box.replaceChildren(...messages.map((m) => h('div', null, m)));
    // Each field's message is said once, where it is shown: the box itself is the alert.
    box.setAttribute('role', 'alert');
    box.hidden = false;
    target.setAttribute('aria-describedby', box.id);
    labels.push(fieldLabel(target));
  }
  let top = form.querySelector('.form-alert');
  if (!top) { top = h('div', { class: 'form-alert' }); form.prepend(top); }
  // Several fields at fault: a pointer to each (their messages are beside them, not repeated here).
  top.replaceChildren(
    loose.length ? h('div', { class: 'alert error', role: 'alert' }, loose.map((m) => h('div', null, m))) : '',
    labels.length > 1 ? h('p', { class: 'alert error', 'data-testid': 'error-summary' }, `Check these ${labels.length} fields: ${labels.join(', ')}.`) : '');
  // The first field at fault in reading order takes focus; a field with no focusable input of its own (a
  // hidden input standing for a group of checkboxes) hands it to the group's first.
  const first = [...placed.keys()].filter((t) => document.getElementById(`${t.id}-err`))
    .sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1))[0];
  if (first) focusable(first).focus();
}

/** The input a field error's path names: exactly, by its `data-param`, by its first key, else a catch-all. */
function fieldFor(form, param) {
  if (!param) return null;
  // A form edits one document: an apply's `document 1: models[0].name` is its `models[0].name`.
  param = param.replace(/^document \d+: /, '');
  const root = param.split(/[.[]/)[0];
  const by = (sel) => form.querySelector(sel);
  return by(`[name="${CSS.escape(param)}"]`) || by(`[data-param="${CSS.escape(param)}"]`)
    || by(`[name="${CSS.escape(root)}"]`) || by(`[data-param="${CSS.escape(root)}"]`) || by('[data-catch-all]');
}
const stripPath = (message, param) => (message.startsWith(`${param}: `) ? message.slice(param.length + 2) : message);
function fieldLabel(target) {
  if (target.dataset.label) return target.dataset.label;
  const l = target.id && target.form ? target.form.querySelector(`label[for="${CSS.escape(target.id)}"]`) : null;
  const text = l && l.firstChild ? l.firstChild.textContent.trim() : '';
  return text || (target.name || '').replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}
/** A message about seconds, for a field that shows days (`data-unit`, `data-scale`), in days. */
function inFieldWords(target, message) {
  const scale = Number(target.dataset.scale);
  const unit = target.dataset.unit;
  if (!scale || !unit) return message;
  const converted = message.replace(/\b\d+\b/g, (n) => `${+(Number(n) / scale).toFixed(2)} ${unit}`);
  return converted.replace(/\s+seconds?\b/g, '');
}
function focusable(target) {
  if (target.type !== 'hidden') return target;
  const group = target.closest('.picker, fieldset, .field');
  return (group && group.querySelector('input:not([type=hidden]):not([disabled]), select, textarea, button')) || target;
}
export function clearErrors(form) {
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  form.querySelectorAll('.field-error').forEach((e) => { e.hidden = true; e.textContent = ''; e.removeAttribute('role'); });
  const top = form.querySelector('.form-alert');
  if (top) top.replaceChildren();
}
export function flash(container, kind, msg) {
  const el = h('div', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, msg);
  container.prepend(el);
  return el;
}
export function pageError(main, err) {
  if (err.handled) return;
  main.append(h('div', { class: 'alert error', role: 'alert' }, err.message));
}

/**
 * A form whose submit runs `action`; errors land in place, the button is busy meanwhile. A save that works
 * says so in a toast: the text `action` returns, else one made from the button ("Save user": "User saved.").
 * Until then, leaving the page asks first (see `leaveGuard`).
 */
export function form(children, action, submitLabel, extra = {}) {
  const f = h('form', { class: 'stack', novalidate: true, ...extra.attrs }, h('div', { class: 'form-alert' }), children,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, submitLabel), extra.buttons || null));
  const dirty = () => { f.dataset.dirty = 'true'; };
  f.addEventListener('input', dirty);
  f.addEventListener('change', dirty);
  f.addEventListener('reset', () => { delete f.dataset.dirty; });
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = f.querySelector('button[type=submit]');
    clearErrors(f);
    btn.disabled = true;
    try {
      const said = await action(f);
      // `false`: the user changed their mind (a confirmation declined); nothing was saved.
      if (said === false) return;
      delete f.dataset.dirty;
      const text = typeof said === 'string' ? said : savedText(submitLabel);
      if (text) toast(text);
    } catch (err) { if (err instanceof ApiError) showError(f, err); else throw err; } finally { btn.disabled = false; }
  });
  return f;
}
export const val = (f, name) => { const e = f.elements[name]; return e ? e.value.trim() : ''; };

/** A confirmation in a modal dialog; resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel = 'Confirm', danger = true) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-labelledby': 'dlg-title', 'aria-describedby': 'dlg-text' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', { id: 'dlg-text' }, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => { d.close('yes'); } }, confirmLabel),
        h('button', { type: 'button', onclick: () => d.close('no') }, 'Cancel')));
    d.addEventListener('close', () => { d.remove(); resolve(d.returnValue === 'yes'); });
    document.body.append(d);
    d.showModal();
    d.querySelector('button:last-child').focus();
  });
}

/** A secret shown once, with a copy button. */
export function secretBox(label, secret) {
  const code = h('code', { id: uid('secret') }, secret);
  const btn = h('button', { type: 'button', onclick: async () => {
    try { await navigator.clipboard.writeText(secret); btn.textContent = 'Copied'; announce('Token copied to the clipboard'); }
    catch { const r = document.createRange(); r.selectNodeContents(code); const s = getSelection(); s.removeAllRanges(); s.addRange(r); btn.textContent = 'Selected: press Ctrl+C'; }
  } }, 'Copy');
  return h('div', { class: 'alert ok', role: 'status' },
    h('p', null, h('strong', null, label), ' It is shown only this once: copy it now.'),
    h('div', { class: 'secret' }, code, btn));
}

// A wide table scrolls sideways inside its frame on a phone; the frame takes focus so the keyboard can too.
export const TABLE_WRAP = { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Table (scrolls sideways when narrow)' };
export function table(columns, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', TABLE_WRAP, h('table', null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r))))))));
}
export const badges = (items, cls) => h('span', { class: 'chips' }, (items || []).map((i) => h('span', { class: `badge ${cls || ''}` }, i)));

/** Asks the engine about the signed-in user; one round trip for a page's worth of controls. */
export async function checks(list) {
  if (!list.length) return [];
  try {
    const r = await api('POST', '/api/v1/authz/checks', { checks: list.map(([permission, resource]) => ({ permission, resource })) });
    return r.results;
  } catch (err) {
    // The server down or failing is the page failing (its failure page offers Retry); any other refusal of
    // the question leaves the controls enabled, and the server decides when they are used.
    if (err.handled || !(err instanceof ApiError) || err.status >= 500) throw err;
    return list.map(() => ({ allowed: true, reason: '' }));
  }
}

/** Disables a control the user may not use and says why; the server would refuse it anyway. */
export function guard(control, decision) {
  if (!decision || decision.allowed) return control;
  control.disabled = true;
  const id = uid('why');
  control.setAttribute('aria-describedby', id);
  control.title = decision.reason;
  return h('span', { class: 'guarded' }, control, h('span', { class: 'reason', id }, `Not available: ${decision.reason}`));
}

/** A panel with one destructive button: confirm, call, then go elsewhere; a refusal shows in the panel. */
export function deletePanel({ label, title, text, path, then, decision }) {
  const box = h('div');
  const button = h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (!await confirmDialog(title, text, 'Delete')) return;
    try { await api('DELETE', path); toast(`${title.replace(/^Delete /, '').replace(/\?$/, '')} deleted.`); go(then); }
    catch (err) { if (!err.handled) flash(box, 'error', err.message); }
  } }, label);
  return h('section', { class: 'panel' }, box, guard(button, decision));
}

/** A whole form the user may not use: kept visible, disabled, with the reason. */
export function guardSection(section, decision) {
  if (decision && !decision.allowed) {
    section.querySelectorAll('input, select, textarea, button').forEach((e) => { e.disabled = true; });
    section.append(h('p', { class: 'reason' }, `Not available: ${decision.reason}`));
  }
  return section;
}

/** Everything a subject can do, each ability with the chain of grants behind it. */
export async function whySection(subject) {
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'why-h' }, h('h2', { id: 'why-h' }, 'Why: what this subject can do'));
  try {
    const a = await get(`/api/v1/authz/subjects/${enc(subject)}/access`);
    if (!a.entries.length) sec.append(h('p', { class: 'empty' }, 'Nothing beyond what every signed-in user may do.'));
    sec.append(table([
      { label: 'Can', cell: (e) => h('code', null, e.action) },
      { label: 'On', cell: (e) => e.resource },
      { label: 'Because', cell: (e) => h('ul', { class: 'via' }, e.via.map((v) => h('li', null, v))) },
    ], a.entries, ''));
  } catch (err) {
    if (err.handled) throw err;
    sec.append(h('p', { class: 'reason' }, `Not available: ${err.message}`));
  }
  return sec;
}

export const dateToRfc3339 = (d) => (d ? `${d}T00:00:00Z` : null);

const DONE = { Save: 'saved', Add: 'added', Create: 'created', Generate: 'generated', Rotate: 'rotated', Set: 'set', Apply: 'applied' };
/** "Save user" reads "User saved."; a button that is not a save (Sign in) gets no toast. */
function savedText(label) {
  const [verb, ...rest] = String(label).split(' ');
  if (!DONE[verb]) return null;
  const what = rest.join(' ');
  return what ? `${what.charAt(0).toUpperCase()}${what.slice(1)} ${DONE[verb]}.` : `${DONE[verb].charAt(0).toUpperCase()}${DONE[verb].slice(1)}.`;
}

/** A short confirmation that stays on screen a few seconds, across a page change, read out as a status. */
export function toast(text, ms = 6000) {
  let region = document.getElementById('toasts');
  if (!region) { region = h('div', { id: 'toasts', class: 'toasts' }); document.body.append(region); }
  const close = h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss' }, '×');
  const t = h('div', { class: 'toast', role: 'status', 'data-testid': 'toast' }, h('span', null, text), close);
  const remove = () => t.remove();
  close.addEventListener('click', remove);
  region.append(t);
  setTimeout(remove, ms);
  return t;
}

/** The forms on the page with changes not saved yet. */
export const unsaved = () => [...document.querySelectorAll('form[data-dirty="true"]')].filter((f) => f.isConnected);

/**
 * Leaving a page with unsaved changes asks first: a change of hash inside the console (the page's own route
 * listener is stopped until the answer) and a reload or close (the browser's own prompt).
 */
function leaveGuard() {
  let asking = false;
  window.addEventListener('hashchange', async (ev) => {
    const to = new URL(ev.newURL).hash;
    if (asking || !unsaved().length || /^#\/(signin|deactivated)/.test(to)) return;
    ev.stopImmediatePropagation();
    asking = true;
    history.replaceState(history.state, '', ev.oldURL);
    const leave = await confirmDialog('Leave without saving?', 'This page has changes you have not saved. Leave and lose them, or stay to save them.', 'Leave', true);
    asking = false;
    if (!leave) return;
    unsaved().forEach((f) => { delete f.dataset.dirty; });
    location.hash = to;
  });
  window.addEventListener('beforeunload', (ev) => {
    if (!unsaved().length) return;
    ev.preventDefault();
    ev.returnValue = '';
  });
}
leaveGuard();
