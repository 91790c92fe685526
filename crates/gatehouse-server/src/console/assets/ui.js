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

/** Shows an API error in the form: next to the field it names when there is one, else at the top. */
export function showError(form, err) {
  if (err.handled) return;
  clearErrors(form);
  let placed = false;
  const root = err.param ? err.param.split(/[.[]/)[0] : null;
  const target = (err.param && (form.querySelector(`[name="${CSS.escape(err.param)}"]`) || form.querySelector(`[name="${CSS.escape(root)}"]`)))
    || form.querySelector('[data-catch-all]');
  const box = target && document.getElementById(`${target.id}-err`);
  if (box) {
    target.setAttribute('aria-invalid', 'true');
    box.textContent = err.message; box.hidden = false;
    target.setAttribute('aria-describedby', box.id);
    target.focus();
    placed = true;
  }
  let top = form.querySelector('.form-alert');
  if (!top) { top = h('div', { class: 'form-alert' }); form.prepend(top); }
  top.replaceChildren(h('div', { class: 'alert error', role: 'alert' }, placed && err.param ? `${err.param}: ${err.message}` : err.message));
}
export function clearErrors(form) {
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  form.querySelectorAll('.field-error').forEach((e) => { e.hidden = true; e.textContent = ''; });
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

/** A form whose submit runs `action`; errors land in place, the button is busy meanwhile. */
export function form(children, action, submitLabel, extra = {}) {
  const f = h('form', { class: 'stack', novalidate: true, ...extra.attrs }, h('div', { class: 'form-alert' }), children,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, submitLabel), extra.buttons || null));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = f.querySelector('button[type=submit]');
    clearErrors(f);
    btn.disabled = true;
    try { await action(f); } catch (err) { if (err instanceof ApiError) showError(f, err); else throw err; } finally { btn.disabled = false; }
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
    if (err.handled) throw err;
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
    try { await api('DELETE', path); announce(`${title.replace(/^Delete /, '').replace(/\?$/, '')} deleted`); go(then); }
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
