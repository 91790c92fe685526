// Integrations: provider accounts, MCP servers and agents, their collaborators and YAML editor.

import { announce, api, ApiError, enc, get, go, h, q, uid } from './api.js';
import { badges, checks, clearErrors, deletePanel, field, flash, form, guard, guardSection, showError, table } from './ui.js';
import { heading } from './app.js';
import { mcpPanels } from './mcp.js';
import { pageFormEditor } from './resource-form.js';
import { afterSave, confirmCreatorWarnings } from './form-editor.js';
import { combobox, searchTeams, searchUsers, searchVirtualAccounts } from './combobox.js';
import { pagedTable } from './listing.js';

const KINDS = {
  'provider-accounts': {
    title: 'Provider Accounts', noun: 'provider account', resource: 'provider-account', exportType: 'provider-account',
    roles: [['provider-account-manager', 'Manager'], ['provider-account-user', 'User']],
    help: 'An account at an LLM provider, holding models. Users can call a model once they are User (or Manager) of its account, or hold a role with Use Integrations.',
  },
  'mcp-servers': {
    title: 'MCP Servers', noun: 'MCP server', resource: 'mcp-server', exportType: 'mcp-server',
    roles: [['mcp-server-manager', 'Manager'], ['mcp-server-user', 'User']],
    help: 'MCP servers that agents and applications reach through Gatehouse at /mcp/<name>: remote servers, and virtual servers composed of their tools.',
  },
  agents: {
    title: 'Agents', noun: 'agent', resource: 'agent', exportType: 'agent',
    roles: [['agent-manager', 'Manager'], ['agent-viewer', 'Viewer']],
    help: 'Agent definitions: a model, instructions and the tools they may use.',
    templates: { agent: 'type: agent\nname: support-bot\ndescription: Answers support tickets\ndefinition:\n  model: openai-main/gpt-4o\n  instructions: Be brief.\ncollaborators: []\n# collaborators become grants; for example:\n# collaborators:\n#   - {subject: "team:support", role: agent-viewer}\n' },
  },
};

export async function pageResources(main, kind) {
  const k = KINDS[kind];
  heading(main, k.title, [['Integrations'], [k.title]]);
  main.append(h('p', { class: 'hint' }, k.help));
  const [canCreate] = await checks([[`${k.resource}:create`, 'tenant']]);
  main.append(h('div', { class: 'toolbar' }, guard(h('button', { type: 'button', class: 'primary', onclick: () => go(`#/integrations/${kind}/new`) }, `New ${k.noun}`), canCreate)));
  const cols = [{ label: 'Name', sort: 'name', cell: (r) => h('a', { href: `#/integrations/${kind}/${enc(r.name)}` }, r.name) }];
  if (kind === 'provider-accounts') {
    cols.push({ label: 'Type', cell: (r) => r.type }, { label: 'Models', cell: (r) => badges((r.models || []).map((m) => m.name)) },
      { label: 'Credentials', cell: (r) => (r.auth_configured ? 'Set' : h('span', { class: 'badge off' }, 'Not set')) });
  } else if (kind === 'mcp-servers') {
    cols.push({ label: 'URL', cell: (r) => r.url }, { label: 'Credentials', cell: (r) => (r.auth_configured ? 'Set' : 'None') });
  } else {
    cols.push({ label: 'Description', cell: (r) => r.description || '—' });
  }
  cols.push({ label: 'Collaborators', cell: (r) => badges((r.collaborators || []).map((c) => `${c.subject} · ${roleLabel(k, c.role)}`)) });
  // Paged, searched and sorted by the server, as the access lists are.
  const list = pagedTable({ path: `/api/v1/${kind}`, sort: 'name', columns: cols, noun: `${k.noun}s`,
    empty: `No ${k.noun}s you may read match.`, search: { label: `Search ${k.noun}s`, placeholder: 'Name' } });
  main.append(list);
  await list.ready;
}
const roleLabel = (k, role) => (k.roles.find(([r]) => r === role) || [role, role])[1];

export async function pageResource(main, kind, name) {
  const k = KINDS[kind];
  heading(main, name, [['Integrations'], [k.title, `#/integrations/${kind}`], [name]]);
  const r = `${k.resource}:${name}`;
  const [rec, [canManage, canDelete]] = await Promise.all([get(`/api/v1/${kind}/${enc(name)}`),
    checks([[`${k.resource}:manage`, r], [`${k.resource}:delete`, r]])]);
  const facts = h('dl', { class: 'facts' });
  const fact = (label, v) => facts.append(h('dt', null, label), h('dd', null, v));
  if (rec.type) fact('Type', rec.type);
  if (rec.base_url || rec.url || rec.endpoint) fact(kind === 'mcp-servers' ? 'Upstream address' : 'Address', rec.base_url || rec.url || rec.endpoint);
  if (rec.region) fact('Region', rec.region);
  if ('auth_configured' in rec) fact('Credentials', rec.auth_configured ? 'Set (stored encrypted, never shown)' : 'Not set');
  if (rec.description) fact('Description', rec.description);
  const hasForm = kind !== 'agents' && rec.type !== 'virtual';
  main.append(h('div', { class: 'panel' }, facts, h('div', { class: 'actions' },
    hasForm ? guard(h('a', { class: 'button', href: `#/integrations/${kind}/${enc(name)}/edit` }, 'Edit'), canManage) : null,
    guard(h('a', { class: 'button', href: `#/integrations/${kind}/${enc(name)}/edit${hasForm ? '?mode=yaml' : ''}` }, 'Edit as YAML'), canManage))));
  if (kind === 'provider-accounts') {
    main.append(h('h2', null, 'Models'), table([
      { label: 'Model', cell: (m) => h('code', null, `${name}/${m.name}`) },
      { label: 'Provider id', cell: (m) => m.model_id || (m.routing_config ? `routes (${m.routing_config.type}) to ${m.routing_config.targets.map((t) => t.target).join(', ')}` : '—') },
      { label: 'Types', cell: (m) => badges(m.types || []) },
      { label: 'Pricing (USD / 1M tokens)', cell: (m) => (m.pricing ? `in ${m.pricing.input_per_million_tokens} · out ${m.pricing.output_per_million_tokens}` : '—') },
      { label: 'Only for', cell: (m) => (m.authorized_subjects && m.authorized_subjects.length ? badges(m.authorized_subjects) : 'everyone with access') },
    ], rec.models || [], 'No models.'));
  }
  if (kind === 'mcp-servers') main.append(...mcpPanels(name));
  // Saving collaborators changes who can use the account: its panel is drawn again from the API.
  let who = kind === 'provider-accounts' ? await whoCanUse(name) : null;
  main.append(await collaboratorsForm(kind, rec, canManage, async () => { if (who) { const fresh = await whoCanUse(name); who.replaceWith(fresh); who = fresh; } }));
  if (who) main.append(who);
  main.append(deletePanel({ label: `Delete ${k.noun}`, title: `Delete ${name}?`, decision: canDelete,
    text: `The ${k.noun} and every grant on it are removed.`, path: `/api/v1/${kind}/${enc(name)}`, then: `#/integrations/${kind}` }));
}

/** The collaborators form (docs/access-model.md): pick users, teams or virtual accounts and give each Manager or User. */
async function collaboratorsForm(kind, rec, decision, onSaved) {
  const k = KINDS[kind];
  const rows = (rec.collaborators || []).map((c) => ({ ...c }));
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'collab-h' }, h('h2', { id: 'collab-h' }, 'Collaborators'));
  const list = h('div');
  const roleSel = (value, label, onchange) => h('select', { 'aria-label': label, onchange }, k.roles.map(([r, l]) =>
    h('option', { value: r, selected: r === value ? true : null }, l)));
  const draw = () => list.replaceChildren(table([
    { label: 'Subject', cell: (c) => c.subject },
    { label: 'Role', cell: (c) => roleSel(c.role, `Role of ${c.subject}`, (ev) => { c.role = ev.target.value; }) },
    { label: '', cell: (c) => h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${c.subject}`, onclick: () => { rows.splice(rows.indexOf(c), 1); draw(); } }, 'Remove') },
  ], rows, 'No collaborators: only admins and roles with tenant-wide permissions reach it.'));
  draw();
  const kindSel = h('select', { name: 'subject_kind', id: uid('sk') }, [['user', 'User'], ['team', 'Team'], ['virtualaccount', 'Virtual Account']].map(([v, l]) => h('option', { value: v }, l)));
  // Searched as the user types (a few matches of the chosen kind), never every user, team and account at once.
  const searchers = { user: searchUsers, team: searchTeams, virtualaccount: searchVirtualAccounts };
  const who = combobox({ name: 'subject_name', search: (text) => searchers[kindSel.value](text), placeholder: 'Type to search' });
  who.input.id = uid('sn');
  kindSel.addEventListener('change', () => { who.input.value = ''; });
  const newRole = h('select', { name: 'new_role', id: uid('nr') }, k.roles.map(([r, l]) => h('option', { value: r }, l)));
  const addBtn = h('button', { type: 'button', onclick: () => {
    const name = who.input.value.trim();
    if (!name) return;
    const subject = `${kindSel.value}:${name}`;
    const existing = rows.find((c) => c.subject === subject && c.role === newRole.value);
    if (!existing) rows.push({ subject, role: newRole.value });
    draw();
    announce(`${subject} added as ${roleLabel(k, newRole.value)}; save to apply`);
  } }, 'Add');
  const f = form([
    list,
    h('div', { class: 'toolbar' },
      h('div', null, h('label', { for: kindSel.id }, 'Kind'), kindSel),
      h('div', { class: 'grow combo' }, h('label', { for: who.input.id }, 'Who'), who.input, who.listbox, who.count),
      h('div', null, h('label', { for: newRole.id }, 'Role'), newRole),
      addBtn),
    h('input', { type: 'hidden', name: 'collaborators', id: uid('collab') }),
  ], async (f) => {
    const body = { ...rec, collaborators: rows };
    delete body.auth_configured;
    const saved = await api('PUT', `/api/v1/${kind}/${enc(rec.name)}`, body, { ifMatch: rec.etag });
    rec.etag = saved.etag;
    if (onSaved) await onSaved();
    // Said once, beside the form (the note is a status): no toast as well.
    flash(f, 'ok', 'Collaborators saved.');
    return '';
  }, 'Save collaborators');
  sec.append(f);
  return guardSection(sec, decision);
}

async function whoCanUse(name) {
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'who-h' }, h('h2', { id: 'who-h' }, 'Why: who can use it'));
  try {
    const a = await get(`/api/v1/provider-accounts/${enc(name)}/access`);
    sec.append(h('h3', null, 'Can use its models'), table([
      { label: 'Subject', cell: (e) => e.subject }, { label: 'Because', cell: (e) => e.via }], a.use, 'Nobody but admins.'));
    sec.append(h('h3', null, 'Can manage it'), table([
      { label: 'Subject', cell: (e) => e.subject }, { label: 'Because', cell: (e) => e.via }], a.manage, 'Nobody but admins.'));
    if (a.narrowed_models.length) {
      sec.append(h('h3', null, 'Narrowed models'), table([
        { label: 'Model', cell: (m) => m.model }, { label: 'Only for', cell: (m) => badges(m.authorized_subjects) }], a.narrowed_models));
    }
  } catch (err) {
    if (err.handled) throw err;
    sec.append(h('p', { class: 'reason' }, `Not available: ${err.message}`));
  }
  return sec;
}

/** A YAML editor checked by the server: Validate is a dry run, Save applies; errors come back in place. */
export function yamlEditor(initial, onSaved, hint, opts = {}) {
  // Server errors name the manifest field (`document 1: rules[0].limit_to`): they land beside the editor.
  const ta = h('textarea', { class: 'code', name: 'manifest', spellcheck: 'false', autocapitalize: 'off', 'data-catch-all': true });
  ta.value = initial;
  const result = h('div', { 'aria-live': 'polite' });
  const send = async (dry, f) => {
    // The form editors ask first whether the creator would lose sight of what they create.
    if (!dry && opts.beforeSave && !await opts.beforeSave(ta.value)) return;
    const r = await api('PUT', `/api/v1/apply${dry ? '?dry_run=true' : ''}`, ta.value, { contentType: 'application/yaml' });
    const lines = r.results.map((x) => h('li', null, `${x.type} ${x.name}: ${dry && x.action !== 'unchanged' ? `would be ${x.action}` : x.action}`,
      x.changes && x.changes.length ? h('ul', null, x.changes.map((c) => h('li', null, c))) : null));
    result.replaceChildren(h('div', { class: 'alert ok', role: 'status' }, dry ? 'Valid. ' : 'Saved. ', h('ul', null, lines)));
    clearErrors(f);
    if (!dry) onSaved(r.results);
  };
  const validate = h('button', { type: 'button' }, 'Validate');
  const f = form([field('Manifest (YAML)', ta, hint), result], (f) => send(false, f), 'Save', { buttons: [validate, opts.buttons || null] });
  validate.addEventListener('click', async () => {
    clearErrors(f);
    try { await send(true, f); } catch (err) { if (err instanceof ApiError) showError(f, err); else throw err; }
  });
  // Tab indents in the editor; Escape then Tab leaves it, so the keyboard is never trapped.
  let escaped = false;
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { escaped = true; return; }
    if (ev.key === 'Tab' && !ev.shiftKey && !escaped) {
      ev.preventDefault();
      ta.setRangeText('  ', ta.selectionStart, ta.selectionEnd, 'end');
    }
    escaped = false;
  });
  return f;
}

export async function exportYaml(type, name) {
  return api('GET', `/api/v1/export${q({ type, name })}`);
}

export async function pageResourceEditor(main, kind, name, params) {
  const k = KINDS[kind];
  const creating = name === null;
  const title = () => heading(main, creating ? `New ${k.noun}` : `Edit ${name}`, [['Integrations'], [k.title, `#/integrations/${kind}`], [creating ? 'New' : name]]);
  if (kind !== 'agents' && await pageFormEditor(main, kind, name, k, { yamlEditor, params, heading: title })) return;
  title();
  const [decision] = await checks([creating ? [`${k.resource}:create`, 'tenant'] : [`${k.resource}:manage`, `${k.resource}:${name}`]]);
  let initial;
  const types = Object.keys(k.templates);
  if (creating) initial = k.templates[types[0]];
  else initial = await exportYaml(k.exportType, name);
  const editor = yamlEditor(initial, (results) => afterSave(results, k.exportType, `#/integrations/${kind}`, (n) => `#/integrations/${kind}/${enc(n)}`),
    creating ? 'collaborators become grants; auth is stored encrypted' : 'auth is never shown: leave it out to keep the stored credentials',
    { beforeSave: creating ? confirmCreatorWarnings : null });
  if (creating && types.length > 1) {
    const sel = h('select', { id: uid('tpl') }, types.map((t) => h('option', { value: t }, t)));
    sel.addEventListener('change', () => { editor.elements.manifest.value = k.templates[sel.value]; });
    main.append(h('div', { class: 'toolbar' }, h('div', null, h('label', { for: sel.id }, 'Start from'), sel)));
  }
  main.append(guardSection(h('div', { class: 'panel' }, editor), decision));
}
