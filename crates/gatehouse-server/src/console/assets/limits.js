// Usage against rate limits and budgets: the counters of GET /api/v1/limits, rule by rule.

import { fmtNum, fmtTime, get, go, h, q, state } from './api.js';
import { badges, table } from './ui.js';
import { comboField, searchSubjects } from './combobox.js';

export const LIMIT_TYPES = ['gateway-rate-limiting-config', 'gateway-budget-config'];

const isUsd = (e) => e.measure === 'usd';
/** Dollars with enough decimals that a fraction of a cent does not read $0.00. */
const usd = (n) => `$${Number(n).toFixed(n === 0 ? 2 : n < 0.0001 ? 6 : n < 0.01 ? 5 : n < 1 ? 4 : 2)}`;
const amount = (e, n) => (isUsd(e) ? usd(n) : fmtNum(n));
const unitWord = (e) => (isUsd(e) ? '' : ` ${e.measure}`);

/** `user a@b · model acct/m`; a counter kept for no value is shared, and a missing value is said so. */
function perText(e) {
  const parts = Object.entries(e.applies_per || {});
  if (!parts.length) return 'Shared by every matching request';
  return parts.map(([k, v]) => `${k} ${v === null ? '(none)' : v}`).join(' · ');
}

function bar(e, label) {
  const max = Number(e.limit) || 1;
  const value = Math.min(Number(e.used), max);
  // Past 80% a meter turns amber, at the limit red, as the browser draws `low`/`high`.
  return h('meter', { min: 0, max, value, low: max * 0.8, high: max * 0.999, optimum: 0,
    'aria-label': `${label}: ${Math.round((Number(e.used) / max) * 100)}% used` });
}

function modeBadge(e) {
  if (e.mode === 'audit') return h('span', { class: 'badge', title: 'Counted and alerted on, never refused' }, 'audit');
  if (!e.decides) return h('span', { class: 'badge', title: 'An earlier rule of this config decides; this one only counts' }, 'counts only');
  return h('span', { class: 'badge ok' }, 'enforce');
}

/** One config's rules, each with the counters the subject's requests are charged against. */
function configTable(config, entries, who) {
  const rows = [];
  for (const rule of config.rules || []) {
    const mine = entries.filter((e) => e.rule === rule.id);
    if (!mine.length) rows.push({ rule: rule.id, none: true });
    for (const e of mine) rows.push({ rule: rule.id, e });
  }
  const label = (r) => `${config.name}/${r.rule}`;
  const t = table([
    { label: 'Rule', cell: (r) => h('code', null, r.rule) },
    { label: 'Counted per', cell: (r) => (r.none ? h('span', { class: 'hint' }, `Does not apply to ${who}`) : perText(r.e)) },
    { label: 'Mode', cell: (r) => (r.none ? '—' : modeBadge(r.e)) },
    { label: 'Used / limit', num: true, cell: (r) => (r.none ? '—'
      : h('span', { 'data-testid': 'used' }, `${amount(r.e, r.e.used)} / ${amount(r.e, r.e.limit)}${unitWord(r.e)}`, h('span', { class: 'reason' }, `per ${r.e.period}`))) },
    { label: 'Usage', cell: (r) => (r.none ? '' : bar(r.e, label(r))) },
    { label: 'Remaining', num: true, cell: (r) => (r.none ? '—' : h('span', { class: r.e.exceeded ? 'over' : null }, amount(r.e, r.e.remaining), r.e.exceeded ? ' (over)' : '')) },
    { label: 'Resets', cell: (r) => (r.none ? '—' : (r.e.resets_at ? h('time', { datetime: r.e.resets_at }, fmtTime(r.e.resets_at)) : 'Nothing counted')) },
  ], rows, 'This config has no rules.');
  t.querySelector('table')?.setAttribute('aria-label', `${config.name}: usage by rule`);
  return t;
}

/**
 * Appends to `main` a panel of usage against rate limits and budgets: the viewer's own counters, or with
 * `canPick` (gateway-controls:list) anyone's, chosen in a subject picker that navigates to `here`. Each
 * config of `configs` the viewer may list shows all its rules; a config they may not list shows the rules
 * that count them. `only`: just that config (its own page); `titled`: a heading per config. The panel
 * shows while its counters load.
 */
export async function showLimits(main, { configs, subject, canPick, here, titled, only }) {
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'limits-h' });
  const own = !subject || subject === state.me?.subject;
  sec.append(h('h2', { id: 'limits-h' }, own ? 'Your usage against limits' : `Usage against limits: ${subject}`));
  if (canPick) {
    const picker = comboField('Subject', { name: 'subject', value: subject || '', search: searchSubjects,
      placeholder: 'user:email, team:name or virtualaccount:name' }, 'empty: yours');
    const box = picker.querySelector('input');
    const f = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Whose usage' },
      h('div', { class: 'grow' }, picker),
      h('button', { type: 'submit', class: 'primary' }, 'Show usage'));
    f.addEventListener('submit', (ev) => { ev.preventDefault(); go(`${here}${q({ subject: box.value.trim() })}`); });
    sec.append(f);
  }
  const status = h('p', { role: 'status', 'aria-live': 'polite', 'aria-busy': 'true', class: 'hint' }, 'Loading usage…');
  sec.append(status);
  main.append(sec);
  let body;
  try {
    body = await get(`/api/v1/limits${q({ subject: own ? '' : subject })}`);
  } catch (err) {
    if (err.handled) throw err;
    status.replaceWith(h('div', { class: 'alert error', role: 'alert' }, `Usage is not available: ${err.message}`));
    return;
  }
  const who = own ? 'you' : body.subject;
  const entries = body.entries.filter((e) => !only || e.config === only);
  // The configs the viewer may list, then those only the counters name (read without List Gateway Controls).
  const groups = configs.filter((c) => LIMIT_TYPES.includes(c.type) && (!only || c.name === only));
  for (const e of entries) {
    if (groups.some((c) => c.name === e.config)) continue;
    groups.push({ name: e.config, type: e.kind === 'budget' ? 'gateway-budget-config' : 'gateway-rate-limiting-config',
      rules: [...new Set(entries.filter((x) => x.config === e.config).map((x) => x.rule))].map((id) => ({ id })) });
  }
  status.removeAttribute('aria-busy');
  status.textContent = `${entries.length} counter${entries.length === 1 ? '' : 's'} for ${who}${body.truncated ? ' (more were left out)' : ''}.`;
  if (!groups.length) {
    sec.append(h('p', { class: 'empty' }, `No rate limits or budgets apply to ${who}.`));
    return;
  }
  for (const c of groups) {
    if (titled) {
      const kind = c.type === 'gateway-budget-config' ? 'Budget' : 'Rate limit';
      sec.append(h('h3', null, c.name, ' ', badges([kind])));
    }
    sec.append(configTable(c, entries.filter((e) => e.config === c.name), who));
  }
  sec.append(h('p', { class: 'hint' }, 'Counters kept per metadata value list the values this server has seen in requests.',
    body.counters === 'redis' ? ' Counts are shared by every replica (Redis).' : ' Counts are this server\'s.'));
}
