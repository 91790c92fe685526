// The "Form | YAML" editor shared by the form pages: one manifest object behind both views (form → object →
// YAML when switching to YAML; YAML → the server's reading of it → form when switching back), saved through
// apply either way, with the creator's warning asked for (a dry run) before anything is created, and an
// optional Test connection that asks the upstream without saving.

import { announce, api, ApiError, go, h, state, uid } from './api.js';
import { clearErrors, confirmDialog, form, showError } from './ui.js';
import { toYaml } from './yaml.js';

/** The manifest objects of a YAML text, as apply reads them. */
export async function parseYaml(text) {
  const r = await api('POST', '/api/v1/manifests/parse', text, { contentType: 'application/yaml' });
  if (r.documents.length !== 1) throw new ApiError(400, { error: { message: `expected one manifest, found ${r.documents.length}` } });
  return r.documents[0];
}

/** Runs apply as a dry run: its per-object warnings (`creator_cannot_read`). */
async function dryRunWarnings(text) {
  const r = await api('PUT', '/api/v1/apply?dry_run=true', text, { contentType: 'application/yaml' });
  return r.results.flatMap((x) => x.warnings || []);
}

/** Resolves true when saving may go on: nothing to warn about, or the user confirmed after reading why. */
export async function confirmCreatorWarnings(text) {
  const warnings = await dryRunWarnings(text);
  if (!warnings.length) return true;
  return confirmDialog('You will not be able to see it', warnings.map((w) => w.message).join(' '), 'Save anyway', false);
}

/** Where to go once saved: the object's page, or its list when its creator cannot read it. */
export function afterSave(results, prefix, listHash, objectHash) {
  const mine = results.find((x) => x.type.startsWith(prefix));
  if (!mine) return go(listHash);
  if (mine.warnings && mine.warnings.length) {
    announce(mine.warnings[0].message);
    return go(listHash);
  }
  return go(objectHash(mine.name));
}

/** The result of a connection test, shown inline: the models or tools, or the upstream's error. */
function testResult(r) {
  if (!r.ok) return h('div', { class: 'alert error', role: 'alert' }, `Connection failed: ${r.error}`);
  if (r.models) {
    return h('div', { class: 'alert ok', role: 'status' }, h('p', null, `Connected: the provider lists ${r.models.length} model${r.models.length === 1 ? '' : 's'}.`),
      h('ul', { class: 'chips', 'aria-label': 'Models the provider lists' }, r.models.map((m) => h('li', { class: 'badge' }, m))));
  }
  const tools = r.tools || [];
  return h('div', { class: 'alert ok', role: 'status' }, h('p', null, `Connected: the server lists ${tools.length} tool${tools.length === 1 ? '' : 's'}.`),
    h('ul', { 'aria-label': 'Tools the server lists' }, tools.map((t) => h('li', null, h('code', null, t.name),
      t.description ? ` — ${t.description}` : '', t.enabled ? '' : ' (not let through by the tools list)'))));
}

/**
 * The editor. `build(m)` makes the form's fields from a manifest object and returns `{ children, read }`,
 * `read()` giving the object back; `yamlEditor(text, opts)` is the YAML view (integrations.js), given
 * `opts.onSaved`; `onSaved(results)` runs after a save from either view; `testPath` (optional) is the
 * connection test's route; `creating` asks for the creator's warning before a save; `yamlOf(m)` writes the
 * YAML view's text.
 */
export function formYamlEditor({ initial, build, yamlEditor, onSaved, testPath, creating, startInYaml, yamlOf = toYaml }) {
  let current = initial;
  let view = null;
  const tabsId = uid('mode');
  const formSlot = h('div', { role: 'tabpanel', id: `${tabsId}-form`, 'aria-labelledby': `${tabsId}-form-tab` });
  const yamlSlot = h('div', { role: 'tabpanel', id: `${tabsId}-yaml`, 'aria-labelledby': `${tabsId}-yaml-tab`, hidden: true });
  const testOut = h('div', { 'aria-live': 'polite' });

  const beforeSave = async (text) => (creating ? confirmCreatorWarnings(text) : true);
  // Saved from either view: neither holds unsaved changes now, so leaving for the saved object asks nothing.
  const saved = (results) => {
    [formSlot, yamlSlot].forEach((slot) => slot.querySelectorAll('form').forEach((x) => { delete x.dataset.dirty; }));
    onSaved(results);
  };
  const apply = async (text) => {
    try {
      if (!await beforeSave(text)) return;
      const r = await api('PUT', '/api/v1/apply', text, { contentType: 'application/yaml' });
      saved(r.results);
    } catch (err) {
      // The form holds one document: its errors name the field (`models[0].name`), which the form's inputs
      // are named after.
      if (err instanceof ApiError && err.param) err.param = err.param.replace(/^document \d+: /, '');
      throw err;
    }
  };

  const testBtn = testPath ? h('button', { type: 'button' }, 'Test connection') : null;
  const renderForm = (m) => {
    view = build(m);
    const f = form(view.children, async () => apply(yamlOf(view.read())), 'Save', { buttons: testBtn });
    formSlot.replaceChildren(f);
    return f;
  };
  renderForm(current);
  const yamlForm = yamlEditor(yamlOf(current), { beforeSave, onSaved: saved, buttons: testPath ? h('button', { type: 'button', onclick: () => runTest() }, 'Test connection') : null });
  yamlSlot.append(yamlForm);

  const manifestNow = async () => (formSlot.hidden ? parseYaml(yamlForm.elements.manifest.value) : view.read());
  async function runTest() {
    const host = formSlot.hidden ? yamlForm : formSlot.querySelector('form');
    clearErrors(host);
    testOut.replaceChildren(h('p', { class: 'empty', role: 'status' }, 'Asking the upstream…'));
    try {
      const m = await manifestNow();
      const body = { ...m, type: String(m.type || '').replace(/^provider-account\//, '') };
      testOut.replaceChildren(testResult(await api('POST', testPath, body)));
    } catch (err) {
      testOut.replaceChildren();
      if (err instanceof ApiError) showError(host, err); else throw err;
    }
  }
  if (testBtn) testBtn.addEventListener('click', runTest);

  const tab = (id, label, selected) => h('button', { type: 'button', role: 'tab', id: `${tabsId}-${id}-tab`, 'aria-controls': `${tabsId}-${id}`,
    'aria-selected': String(selected), tabindex: selected ? '0' : '-1' }, label);
  const formTab = tab('form', 'Form', true);
  const yamlTab = tab('yaml', 'YAML', false);
  const select = async (toYamlView) => {
    if (toYamlView && !formSlot.hidden) {
      current = view.read();
      yamlForm.elements.manifest.value = yamlOf(current);
    } else if (!toYamlView && formSlot.hidden) {
      clearErrors(yamlForm);
      try { current = await parseYaml(yamlForm.elements.manifest.value); } catch (err) {
        if (err instanceof ApiError) { showError(yamlForm, err); return; }
        throw err;
      }
      renderForm(current);
    } else return;
    formSlot.hidden = toYamlView; yamlSlot.hidden = !toYamlView;
    formTab.setAttribute('aria-selected', String(!toYamlView)); yamlTab.setAttribute('aria-selected', String(toYamlView));
    formTab.tabIndex = toYamlView ? -1 : 0; yamlTab.tabIndex = toYamlView ? 0 : -1;
    (toYamlView ? yamlTab : formTab).focus();
    announce(toYamlView ? 'Editing as YAML' : 'Editing in the form');
  };
  formTab.addEventListener('click', () => select(false));
  yamlTab.addEventListener('click', () => select(true));
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Edit as' }, formTab, yamlTab);
  tabs.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') { ev.preventDefault(); select(!formSlot.hidden); }
  });
  const el = h('div', null, tabs, formSlot, yamlSlot, testOut);
  if (startInYaml) select(true);
  return { el, setManifest: (m, yaml) => { current = m; renderForm(m); yamlForm.elements.manifest.value = yaml || yamlOf(m); } };
}

/** The signed-in user as a subject (`user:…`). */
export const meSubject = () => (state.me ? state.me.subject : '');

/**
 * The collaborators rows (user, team or virtual account; manager or user role), with "make me a manager"
 * when creating: checked by default when the creator could not read the object otherwise.
 */
export function collaboratorsFields(collabs, roles, noun, { creating, canRead }) {
  const me = meSubject();
  const manager = roles[0][0];
  const rows = h('div');
  const mine = (c) => c.subject === me && c.role === manager;
  const selfIn = (collabs || []).some(mine);
  const addRow = (c) => {
    const n = rows.children.length + 1;
    const [kind, ...rest] = (c.subject || 'user:').split(':');
    const kindSel = h('select', { 'aria-label': `Collaborator ${n}: kind` }, [['user', 'User'], ['team', 'Team'], ['virtualaccount', 'Virtual account']]
      .map(([v, l]) => h('option', { value: v, selected: v === kind ? true : null }, l)));
    const who = h('input', { type: 'text', 'aria-label': `Collaborator ${n}: email or name`, value: rest.join(':') });
    const role = h('select', { 'aria-label': `Collaborator ${n}: role` }, roles.map(([r, l]) => h('option', { value: r, selected: r === c.role ? true : null }, l)));
    const row = h('div', { class: 'toolbar' }, kindSel, h('div', { class: 'grow' }, who), role,
      h('button', { type: 'button', class: 'link', 'aria-label': `Remove collaborator ${n}`, onclick: () => { row.remove(); announce('Collaborator removed'); } }, 'Remove'));
    row.read = () => (who.value.trim() ? { subject: `${kindSel.value}:${who.value.trim()}`, role: role.value } : null);
    rows.append(row);
    return who;
  };
  (collabs || []).filter((c) => !(creating && mine(c))).forEach(addRow);
  const add = h('button', { type: 'button', onclick: () => addRow({ role: roles[roles.length - 1][0] }).focus() }, 'Add collaborator');
  let self = null;
  let note = null;
  if (creating && me) {
    const id = uid('self');
    self = h('input', { type: 'checkbox', id, name: 'make_me_manager', checked: selfIn || !canRead });
    note = h('p', { class: 'alert info', role: 'status', hidden: true },
      `Without this you will not be able to see or change this ${noun} once it is saved: your roles let you create one, not read it.`);
    const sync = () => { note.hidden = self.checked || canRead; };
    self.addEventListener('change', sync);
    sync();
    self = [self, h('label', { for: id }, ` Make me a manager (${me}) of this ${noun}`)];
  }
  const box = self ? self[0] : null;
  const children = h('fieldset', null, h('legend', null, 'Collaborators'),
    self ? h('div', { class: 'field' }, self, note) : null, rows, add);
  const read = () => {
    const out = [...rows.children].map((r) => r.read()).filter(Boolean);
    if (box && box.checked && !out.some(mine)) out.unshift({ subject: me, role: manager });
    return out;
  };
  return { children, read };
}
