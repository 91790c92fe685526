// Integrations: provider accounts and MCP servers edited in a form (or as YAML, kept in sync), with Test
// connection and "make me a manager". Fields the form does not show (Azure deployments, a model's routing or
// authorized subjects, an MCP server's resources and prompts) are kept as they are.

import { enc, get, h, state, uid } from './api.js';
import { checks, field, guardSection, input } from './ui.js';
import { afterSave, collaboratorsFields, formYamlEditor, meSubject } from './form-editor.js';
import { ordered, toYaml } from './yaml.js';

export const PROVIDER_TYPES = ['openai', 'anthropic', 'aws-bedrock', 'azure-openai', 'openai-compatible', 'virtual-model'];
const MODEL_TYPES = ['chat', 'completion', 'embedding'];
const EXAMPLE_MODELS = {
  openai: ['gpt-4o', 'gpt-4o'], anthropic: ['sonnet', 'claude-3-5-sonnet-20241022'], 'aws-bedrock': ['titan', 'amazon.titan-text-express-v1'],
  'azure-openai': ['gpt-4o', 'gpt-4o'], 'openai-compatible': ['llama', 'meta-llama/Llama-3.1-8B-Instruct'],
};

/** A complete example of each type: every field, an `auth` block and a collaborator (the signed-in user). */
export function providerTemplate(type, me) {
  const [model, id] = EXAMPLE_MODELS[type] || ['chat', ''];
  const m = { type: `provider-account/${type}`, name: `${type === 'openai-compatible' ? 'vllm' : type}-main` };
  if (type === 'openai') Object.assign(m, { base_url: 'https://api.openai.com/v1', auth: { api_key: 'sk-...' } });
  if (type === 'anthropic') Object.assign(m, { base_url: 'https://api.anthropic.com', auth: { api_key: 'sk-ant-...' } });
  if (type === 'aws-bedrock') Object.assign(m, { region: 'us-east-1', auth: { access_key_id: 'AKIA...', secret_access_key: '...' } });
  if (type === 'azure-openai') Object.assign(m, { endpoint: 'https://example.openai.azure.com', api_version: '2024-10-21', auth: { api_key: '...' }, deployments: { 'gpt-4o': 'my-gpt-4o-deployment' } });
  if (type === 'openai-compatible') Object.assign(m, { base_url: 'http://127.0.0.1:8000/v1', auth: { api_key: 'optional-key' } });
  m.models = type === 'virtual-model'
    ? [{ name: 'chat', routing_config: { type: 'priority', targets: [{ target: 'openai-main/gpt-4o', priority: 0 }, { target: 'anthropic-main/sonnet', priority: 1 }] } }]
    : [{ name: model, model_id: id, types: ['chat'], pricing: { input_per_million_tokens: 2.5, output_per_million_tokens: 10 } }];
  m.collaborators = me ? [{ subject: me, role: 'provider-account-manager' }] : [];
  return m;
}

export function mcpTemplate(me) {
  return { type: 'mcp-server/remote', name: 'github', description: 'GitHub tools for the platform team', url: 'https://mcp.example.com/github',
    transport: 'streamable-http', auth: { type: 'bearer', token: '...' }, tools: ['search_code', 'get_issue'],
    collaborators: me ? [{ subject: me, role: 'mcp-server-manager' }] : [] };
}

const select = (name, options, value, attrs = {}) => h('select', { name, ...attrs }, options.map(([v, l]) =>
  h('option', { value: v, selected: v === value ? true : null }, l)));
const pairs = (list) => list.map((v) => [v, v]);
/** Sets `key` of `o` to `v`, or removes it when `v` is empty. */
const put = (o, key, v) => { if (v === '' || v === undefined || v === null) delete o[key]; else o[key] = v; };
const text = (el) => el.value.trim();

/** One model row: name, provider id, types, pricing; fields it does not show are kept. */
function modelRow(m, n, remove) {
  const name = input({ name: `models[${n}].name`, value: m.name || '' });
  const id = input({ name: `models[${n}].model_id`, value: m.model_id || '' });
  const boxes = MODEL_TYPES.map((t) => h('input', { type: 'checkbox', id: uid('mt'), value: t, checked: (m.types || []).includes(t) }));
  const types = boxes.map((c) => h('span', null, c, h('label', { for: c.id }, c.value)));
  const price = (k, label) => input({ type: 'number', min: 0, step: 'any', name: `models[${n}].pricing.${k}`, 'aria-label': `${label}, model ${n + 1}`,
    value: m.pricing ? m.pricing[k] : '' });
  const pin = price('input_per_million_tokens', 'Input price (USD per million tokens)');
  const pout = price('output_per_million_tokens', 'Output price (USD per million tokens)');
  const legend = `Model ${n + 1}`;
  const row = h('fieldset', null, h('legend', null, legend),
    h('div', { class: 'toolbar' },
      h('div', { class: 'grow' }, field('Name', name, 'as callers write it: <account>/<name>')),
      h('div', { class: 'grow' }, field('Provider model id', id))),
    h('div', { role: 'group', class: 'checks', 'aria-label': `Types of model ${n + 1}` }, h('span', null, 'Types: '), types),
    h('div', { class: 'toolbar' },
      h('div', null, field('Input price', pin, 'USD / 1M tokens')),
      h('div', null, field('Output price', pout, 'USD / 1M tokens')),
      h('button', { type: 'button', class: 'link', 'aria-label': `Remove model ${n + 1}`, onclick: () => remove(row) }, 'Remove')));
  row.read = () => {
    const out = { ...m, name: text(name) };
    put(out, 'model_id', text(id));
    const ts = boxes.filter((c) => c.checked).map((c) => c.value);
    if (ts.length) out.types = ts; else delete out.types;
    if (text(pin) !== '' || text(pout) !== '') {
      out.pricing = { ...(m.pricing || {}), input_per_million_tokens: Number(text(pin) || 0), output_per_million_tokens: Number(text(pout) || 0) };
    } else delete out.pricing;
    return ordered(out, ['name', 'model_id', 'types', 'pricing']);
  };
  return row;
}

/** The provider account form's fields from a manifest object. */
export function providerForm(m, { creating, canRead, authConfigured }) {
  const base = { ...m };
  const type = String(m.type || 'provider-account/openai').replace(/^provider-account\//, '');
  const typeSel = select('type', pairs(PROVIDER_TYPES), type, { disabled: !creating });
  const name = input({ name: 'name', value: m.name || '', required: true, readonly: !creating });
  const auth = m.auth || {};
  const keep = creating ? 'stored encrypted, never shown' : `write-only: leave blank to keep the stored one${authConfigured ? '' : ' (none is stored)'}`;
  const f = {
    base_url: field('Base URL', input({ name: 'base_url', value: m.base_url || '' }), 'the provider\'s API address; required for openai-compatible'),
    region: field('Region', input({ name: 'region', value: m.region || '' }), 'e.g. us-east-1'),
    endpoint: field('Endpoint', input({ name: 'endpoint', value: m.endpoint || '' }), 'https://<resource>.openai.azure.com'),
    api_version: field('API version', input({ name: 'api_version', value: m.api_version || '' }), 'e.g. 2024-10-21'),
    api_key: field('API key', input({ type: 'password', name: 'auth.api_key', autocomplete: 'off', value: auth.api_key || '' }), keep),
    access_key_id: field('Access key id', input({ type: 'password', name: 'auth.access_key_id', autocomplete: 'off', value: auth.access_key_id || '' }), keep),
    secret_access_key: field('Secret access key', input({ type: 'password', name: 'auth.secret_access_key', autocomplete: 'off', value: auth.secret_access_key || '' }), keep),
  };
  const shows = {
    base_url: (t) => t !== 'virtual-model', region: (t) => t === 'aws-bedrock', endpoint: (t) => t === 'azure-openai',
    api_version: (t) => t === 'azure-openai', api_key: (t) => ['openai', 'anthropic', 'azure-openai', 'openai-compatible'].includes(t),
    access_key_id: (t) => t === 'aws-bedrock', secret_access_key: (t) => t === 'aws-bedrock',
  };
  const showFor = () => Object.entries(f).forEach(([k, el]) => { el.hidden = !shows[k](typeSel.value); });
  typeSel.addEventListener('change', showFor);
  showFor();

  const rows = h('div');
  // Inputs are named after the manifest's paths (`models[1].name`), so the server's errors land on them.
  const remove = (row) => {
    row.remove();
    [...rows.children].forEach((r, i) => r.querySelectorAll('[name^="models["]').forEach((e) => { e.name = e.name.replace(/^models\[\d+\]/, `models[${i}]`); }));
  };
  let n = 0;
  (m.models || []).forEach((mm) => rows.append(modelRow(mm, n++, remove)));
  const addModel = h('button', { type: 'button', onclick: () => {
    const row = modelRow({ types: ['chat'] }, rows.children.length, remove);
    rows.append(row);
    row.querySelector('input').focus();
  } }, 'Add model');
  const collab = collaboratorsFields(m.collaborators, [['provider-account-manager', 'Manager'], ['provider-account-user', 'User']], 'provider account', { creating, canRead });

  const children = [
    h('div', { class: 'toolbar' }, h('div', null, field('Type', typeSel)), h('div', { class: 'grow' }, field('Name', name, 'letters, digits and hyphens'))),
    f.base_url, f.region, f.endpoint, f.api_version,
    h('fieldset', null, h('legend', null, 'Credentials'), f.api_key, f.access_key_id, f.secret_access_key,
      h('p', { class: 'hint' }, 'A virtual-model account holds none: it routes to other accounts\' models.')),
    h('fieldset', null, h('legend', null, 'Models'), rows, addModel),
    collab.children,
  ];
  const read = () => {
    const t = typeSel.value;
    const out = { ...base, type: `provider-account/${t}`, name: text(name) };
    for (const k of ['base_url', 'region', 'endpoint', 'api_version']) put(out, k, shows[k](t) ? text(f[k].querySelector('input')) : '');
    if (t !== 'azure-openai') delete out.deployments;
    const val = (k) => text(f[k].querySelector('input'));
    delete out.auth;
    if (shows.api_key(t) && val('api_key')) out.auth = { api_key: val('api_key') };
    if (t === 'aws-bedrock' && (val('access_key_id') || val('secret_access_key'))) {
      out.auth = { access_key_id: val('access_key_id'), secret_access_key: val('secret_access_key') };
    }
    out.models = [...rows.children].map((r) => r.read());
    out.collaborators = collab.read();
    return ordered(out, ['type', 'name', 'description', 'base_url', 'endpoint', 'api_version', 'region', 'auth', 'models', 'deployments']);
  };
  return { children, read };
}

const AUTH_TYPES = [['', 'None'], ['bearer', 'Bearer token'], ['headers', 'Headers'], ['oauth2-client-credentials', 'OAuth 2.0 client credentials']];

/** The MCP server form's fields from a manifest object. */
export function mcpForm(m, { creating, canRead, authConfigured }) {
  const base = { ...m };
  const auth = m.auth || {};
  const name = input({ name: 'name', value: m.name || '', required: true, readonly: !creating });
  const url = input({ name: 'url', value: m.url || '', required: true });
  const description = input({ name: 'description', value: m.description || '' });
  const transport = select('transport', [['streamable-http', 'Streamable HTTP'], ['sse', 'HTTP+SSE (older servers)']], m.transport || 'streamable-http');
  const kinds = creating || !authConfigured ? AUTH_TYPES : [['', 'Unchanged (keep the stored credentials)'], ...AUTH_TYPES.slice(1)];
  const authSel = select('auth.type', kinds, auth.type || '');
  const pw = (n, v) => input({ type: 'password', name: n, autocomplete: 'off', value: v || '' });
  const token = field('Token', pw('auth.token', auth.token), 'sent as Authorization: Bearer; write-only');
  const headersText = Object.entries(auth.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
  const headers = field('Headers', h('textarea', { name: 'auth.headers', rows: 3, spellcheck: 'false' }, headersText), 'one per line, Name: value; write-only');
  const oauth = h('div', null,
    field('Token URL', input({ name: 'auth.token_url', value: auth.token_url || '' })),
    field('Client id', input({ name: 'auth.client_id', value: auth.client_id || '' })),
    field('Client secret', pw('auth.client_secret', auth.client_secret), 'write-only'),
    field('Scope', input({ name: 'auth.scope', value: auth.scope || '' }), '(optional)'));
  const showAuth = () => { token.hidden = authSel.value !== 'bearer'; headers.hidden = authSel.value !== 'headers'; oauth.hidden = authSel.value !== 'oauth2-client-credentials'; };
  authSel.addEventListener('change', showAuth);
  showAuth();
  const tools = input({ name: 'tools', value: (m.tools || []).join(', ') });
  const collab = collaboratorsFields(m.collaborators, [['mcp-server-manager', 'Manager'], ['mcp-server-user', 'User']], 'MCP server', { creating, canRead });
  const children = [
    field('Name', name, 'clients reach it at /mcp/<name>'), field('Description', description),
    h('div', { class: 'toolbar' }, h('div', { class: 'grow' }, field('URL', url, 'the upstream MCP server')), h('div', null, field('Transport', transport))),
    h('fieldset', null, h('legend', null, 'Credentials'), field('Authentication', authSel,
      creating ? 'stored encrypted, never shown' : 'leave unchanged to keep the stored credentials'), token, headers, oauth),
    field('Tools let through', tools, 'comma-separated names; blank: every tool the server lists'),
    collab.children,
  ];
  const val = (n) => { const e = children[3].querySelector(`[name="${n}"]`); return e ? e.value.trim() : ''; };
  const read = () => {
    const out = { ...base, type: 'mcp-server/remote', name: text(name) };
    put(out, 'description', text(description));
    put(out, 'url', text(url));
    out.transport = transport.value;
    delete out.auth;
    if (authSel.value === 'bearer') out.auth = { type: 'bearer', token: val('auth.token') };
    if (authSel.value === 'headers') {
      const hs = {};
      val('auth.headers').split('\n').map((l) => l.trim()).filter(Boolean).forEach((l) => {
        const i = l.indexOf(':');
        hs[i < 0 ? l : l.slice(0, i).trim()] = i < 0 ? '' : l.slice(i + 1).trim();
      });
      out.auth = { type: 'headers', headers: hs };
    }
    if (authSel.value === 'oauth2-client-credentials') {
      out.auth = { ...(auth.type === 'oauth2-client-credentials' ? auth : {}), type: 'oauth2-client-credentials', token_url: val('auth.token_url'),
        client_id: val('auth.client_id'), client_secret: val('auth.client_secret') };
      put(out.auth, 'scope', val('auth.scope'));
    }
    const list = text(tools).split(',').map((t) => t.trim()).filter(Boolean);
    if (list.length) out.tools = list; else delete out.tools;
    out.collaborators = collab.read();
    return ordered(out, ['type', 'name', 'description', 'url', 'transport', 'auth', 'tools', 'resources', 'prompts']);
  };
  return { children, read };
}

/** The YAML of `m`; while creating, the write-only and optional blocks it leaves out follow as commented
 * examples, so the YAML view always shows every field. */
function yamlWithExamples(m, kind) {
  let out = toYaml(m);
  const example = kind === 'provider-accounts'
    ? providerTemplate(String(m.type || '').replace(/^provider-account\//, ''), null) : mcpTemplate(null);
  const commented = (obj) => toYaml(obj).trimEnd().split('\n').map((l) => `# ${l}`).join('\n');
  if (!m.auth && example.auth) out += `# auth is write-only (stored encrypted, never shown); for example:\n${commented({ auth: example.auth })}\n`;
  if (!(m.collaborators || []).length) {
    const role = kind === 'provider-accounts' ? 'provider-account-user' : 'mcp-server-user';
    out += `# collaborators become grants; for example:\n${commented({ collaborators: [{ subject: 'team:platform', role }] })}\n`;
  }
  return out;
}

/** A stored object read back, as the manifest apply takes. */
function manifestOf(kind, rec) {
  const m = { ...rec };
  delete m.etag; delete m.auth_configured; delete m.warnings;
  m.type = kind === 'provider-accounts' ? `provider-account/${rec.type}` : `mcp-server/${rec.type}`;
  return { type: m.type, ...m };
}

/**
 * The editor page of a provider account or MCP server: "Form | YAML". `yamlEditor` is integrations.js's,
 * `k` its description of the collection.
 */
export async function pageFormEditor(main, kind, name, k, { yamlEditor, params, heading }) {
  const creating = name === null;
  const me = meSubject();
  const canRead = state.perms.has(`${k.resource}:read`);
  // The form starts without the example credentials (write-only fields start blank); YAML shows them.
  const template = (t) => {
    const m = kind === 'provider-accounts' ? providerTemplate(t, canRead ? null : me) : mcpTemplate(canRead ? null : me);
    delete m.auth;
    return m;
  };
  let initial;
  let authConfigured = false;
  if (creating) initial = template('openai');
  else {
    const rec = await get(`/api/v1/${kind}/${enc(name)}`);
    // A virtual MCP server has no form: the YAML editor it is.
    if (rec.type === 'virtual') return false;
    authConfigured = !!rec.auth_configured;
    initial = manifestOf(kind, rec);
  }
  heading();
  const [decision] = await checks([creating ? [`${k.resource}:create`, 'tenant'] : [`${k.resource}:manage`, `${k.resource}:${name}`]]);
  const ctx = { creating, canRead, authConfigured };
  const build = (m) => (kind === 'provider-accounts' ? providerForm(m, ctx) : mcpForm(m, ctx));
  const prefix = k.exportType;
  const editor = formYamlEditor({
    initial, build, creating,
    yamlEditor: (text, opts) => yamlEditor(text, opts.onSaved, creating ? 'collaborators become grants; auth is stored encrypted'
      : 'auth is never shown: leave it out to keep the stored credentials', opts),
    onSaved: (results) => afterSave(results, prefix, `#/integrations/${kind}`, (n) => `#/integrations/${kind}/${enc(n)}`),
    testPath: `/api/v1/test-connection/${kind}`,
    startInYaml: params && params.get && params.get('mode') === 'yaml',
    yamlOf: (m) => (creating ? yamlWithExamples(m, kind) : toYaml(m)),
  });
  if (creating) {
    const types = kind === 'provider-accounts' ? PROVIDER_TYPES : ['remote'];
    const sel = h('select', { id: uid('tpl') }, types.map((t) => h('option', { value: t }, t)));
    sel.addEventListener('change', () => editor.setManifest(template(sel.value)));
    if (types.length > 1) main.append(h('div', { class: 'toolbar' }, h('div', null, h('label', { for: sel.id }, 'Start from'), sel)));
  }
  main.append(guardSection(h('div', { class: 'panel' }, editor.el), decision));
  return true;
}
