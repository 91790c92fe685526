// Gateway > Controls.

import { enc, get, go, h, uid } from './api.js';
import { badges, checks, deletePanel, guard, guardSection, table } from './ui.js';
import { exportYaml, yamlEditor } from './integrations.js';
import { heading } from './app.js';
import { LIMIT_TYPES, showLimits } from './limits.js';

const CONTROL_TEMPLATES = {
  'gateway-rate-limiting-config': 'type: gateway-rate-limiting-config\nname: default-limits\nrules:\n  - id: per-user\n    when: {}\n    limit_to: 100\n    unit: requests_per_minute\n    rate_limit_applies_per: [user]\n',
  'gateway-budget-config': 'type: gateway-budget-config\nname: monthly-budget\nrules:\n  - id: monthly\n    when: {}\n    limit_to: 250\n    unit: cost_per_month\n    mode: audit\n    alerts: {thresholds: [50, 90]}\n',
  'gateway-guardrails-config': 'type: gateway-guardrails-config\nname: guardrails\nrules:\n  - id: no-secrets\n    when: {}\n    input_guardrails:\n      - {type: block-keywords, keywords: [password]}\n    output_guardrails: []\n',
  'gateway-load-balancing-config': 'type: gateway-load-balancing-config\nname: routing\nrules:\n  - id: split\n    when: {models: [openai-main/gpt-4o]}\n    type: weight-based-routing\n    load_balance_targets:\n      - {target: openai-main/gpt-4o, weight: 100}\n',
};
const CONTROL_LABELS = { 'gateway-rate-limiting-config': 'Rate limits', 'gateway-budget-config': 'Budgets',
  'gateway-guardrails-config': 'Guardrails', 'gateway-load-balancing-config': 'Routing' };

export async function pageControls(main, params) {
  heading(main, 'Gateway Controls', [['Gateway'], ['Gateway Controls']]);
  main.append(h('p', { class: 'hint' }, 'Rate limits, budgets, guardrails and routing for model calls. Reading them needs List Gateway Controls; changing them, Manage Gateway Controls.'));
  const [items, [canManage, canList]] = await Promise.all([get('/api/v1/gateway-controls'),
    checks([['gateway-controls:manage', 'tenant'], ['gateway-controls:list', 'tenant']])]);
  main.append(h('div', { class: 'toolbar' }, guard(h('button', { type: 'button', class: 'primary', onclick: () => go('#/gateway/controls/new') }, 'New control'), canManage)));
  main.append(table([
    { label: 'Name', cell: (c) => h('a', { href: `#/gateway/controls/${enc(c.name)}` }, c.name) },
    { label: 'Kind', cell: (c) => CONTROL_LABELS[c.type] || c.type },
    { label: 'Rules', cell: (c) => badges((c.rules || []).map((r) => r.id)) },
  ], items, 'No gateway controls you may list.'));
  await showLimits(main, { configs: items, subject: params?.get('subject') || '', canPick: canList?.allowed, here: '#/gateway/controls', titled: true });
}

export async function pageControl(main, name, params) {
  const creating = name === null;
  heading(main, creating ? 'New gateway control' : name, [['Gateway'], ['Gateway Controls', '#/gateway/controls'], [creating ? 'New' : name]]);
  const [canManage, canList] = await checks([['gateway-controls:manage', creating ? 'tenant' : `gateway-controls:${name}`], ['gateway-controls:list', 'tenant']]);
  const initial = creating ? CONTROL_TEMPLATES['gateway-rate-limiting-config'] : await exportYaml('gateway-controls', name);
  const editor = yamlEditor(initial, (results) => {
    const first = results[0];
    if (first) go(`#/gateway/controls/${enc(first.name)}`);
  }, 'validated by the server; errors name the field');
  if (creating) {
    const sel = h('select', { id: uid('tpl') }, Object.keys(CONTROL_TEMPLATES).map((t) => h('option', { value: t }, `${CONTROL_LABELS[t]} (${t})`)));
    sel.addEventListener('change', () => { editor.elements.manifest.value = CONTROL_TEMPLATES[sel.value]; });
    main.append(h('div', { class: 'toolbar' }, h('div', null, h('label', { for: sel.id }, 'Kind'), sel)));
  }
  main.append(guardSection(h('div', { class: 'panel' }, editor), canManage));
  if (!creating) {
    main.append(deletePanel({ label: 'Delete control', title: `Delete ${name}?`, decision: canManage,
      text: 'Requests stop being subject to it at once.', path: `/api/v1/gateway-controls/${enc(name)}`, then: '#/gateway/controls' }));
    const control = await get(`/api/v1/gateway-controls/${enc(name)}`);
    if (LIMIT_TYPES.includes(control.type)) {
      await showLimits(main, { configs: [control], only: name, subject: params?.get('subject') || '', canPick: canList.allowed, here: `#/gateway/controls/${enc(name)}` });
    }
  }
}
