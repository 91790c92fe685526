// Gateway > Usage.

import { ApiError, fmtNum, fmtTime, fmtUsd, get, go, h, q, svg, uid } from './api.js';
import { field, input, showError, table, val } from './ui.js';
import { heading } from './app.js';

const PALETTE = ['#0b5cad', '#d1495b', '#2a9d8f', '#e9a23b', '#6a4c93', '#118ab2', '#8d6e63', '#43aa8b', '#f3722c', '#577590'];
const isoLocal = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
/** The filters by who made a request and with which model; the API takes each under the same name. */
const WHO = [['user', 'User', 'alice@example.com'], ['team', 'Team', 'team name'], ['virtual_account', 'Virtual account', 'account name'], ['model', 'Model', 'account/model']];

/**
 * A "nice" axis for values up to `max`: a step of 1, 2 or 5 times a power of ten giving about `count`
 * intervals, and the first multiple of it at or above `max`. Counts never step below 1.
 */
export function niceScale(max, count = 4, integer = false) {
  if (!(max > 0)) return { step: 1, top: 1, ticks: [0, 1] };
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, step);
  const n = Math.ceil(max / step - 1e-9);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks = Array.from({ length: n + 1 }, (_, i) => Number((i * step).toFixed(decimals)));
  return { step, top: n * step, ticks, decimals };
}

/** Stacked bars in SVG, one bar per period and one colour per key, with a data table for screen readers. */
function barChart({ title, unit, points, metric, format, integer, bucket }) {
  const keys = [...new Set(points.map((p) => p.key))];
  const starts = [...new Set(points.map((p) => p.start))].sort();
  const W = 560, H = 260, L = 78, R = 12, T = 26, B = 52;
  const value = (p) => Number(p[metric] || 0);
  const totals = starts.map((s) => points.filter((p) => p.start === s).reduce((n, p) => n + value(p), 0));
  const scale = niceScale(Math.max(0, ...totals), 4, integer);
  const y = (v) => T + (H - T - B) * (1 - v / scale.top);
  const slot = (W - L - R) / starts.length;
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const tick = (v) => format(v, scale.decimals);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${keys.length} series over ${starts.length} periods in ${unit} per ${bucket}, highest ${tick(Math.max(0, ...totals))}` });
  for (const v of scale.ticks) {
    chart.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, tick(v)));
  }
  chart.append(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }),
    svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg('text', { class: 'unit', x: 4, y: 12, 'text-anchor': 'start' }, unit),
    svg('text', { class: 'unit', x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, bucket === 'day' ? 'Day (local time)' : 'Hour (local time)'));
  const every = Math.max(1, Math.ceil(starts.length / 6));
  starts.forEach((s, i) => {
    const cx = L + slot * (i + 0.5);
    if (i % every === 0) chart.append(svg('text', { x: cx, y: H - B + 18, 'text-anchor': 'middle' }, shortTime(s, bucket)));
    let acc = 0;
    keys.forEach((k, ki) => {
      const p = points.find((x) => x.start === s && x.key === k);
      const v = p ? value(p) : 0;
      if (v <= 0) return;
      chart.append(svg('rect', { x: cx - barW / 2, y: y(acc + v), width: barW, height: Math.max(1, y(acc) - y(acc + v)), fill: PALETTE[ki % PALETTE.length] },
        svg('title', null, `${k} · ${shortTime(s, bucket)}: ${format(v, 6)} ${unit}`)));
      acc += v;
    });
  });
  const legend = h('div', { class: 'legend' }, keys.map((k, i) => h('span', null, h('span', { class: 'swatch', 'data-color': PALETTE[i % PALETTE.length] }), k)));
  legend.querySelectorAll('.swatch').forEach((s) => { s.style.background = s.dataset.color; });
  const data = h('details', null, h('summary', null, `${title} as a table`), table([
    { label: 'Period', cell: (p) => shortTime(p.start, bucket) }, { label: 'Key', cell: (p) => p.key },
    { label: `${title} (${unit})`, num: true, cell: (p) => format(value(p), 6) }], points));
  return h('figure', { class: 'panel chart' }, h('figcaption', null, h('strong', null, title), ` per ${bucket}`), chart, legend, data);
}
const count = (v) => fmtNum(Math.round(v));
const dollars = (v, decimals) => `$${Number(v).toFixed(Math.max(2, Math.min(decimals, 7)))}`;
const shortTime = (s, bucket) => {
  const d = new Date(s);
  return bucket === 'day' ? `${d.getMonth() + 1}/${d.getDate()}` : `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, '0')}:00`;
};
/** A compact local time for a table cell, the full instant in a tooltip and in `datetime`. */
export const shortStamp = (t) => {
  const d = new Date(t);
  const text = `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${d.toLocaleTimeString(undefined, { hour12: false })}`;
  return h('time', { datetime: t, title: fmtTime(t) }, text);
};
const latency = (us) => (us === null || us === undefined ? '—' : `${fmtNum(Math.round(us / 100) / 10)} ms`);
const verdict = (v) => `${v.config}/${v.rule} ${v.check} (${v.type}) on ${v.hook}: ${v.outcome} ×${v.count}`;

export async function pageUsage(main, params) {
  heading(main, 'Usage', [['Gateway'], ['Usage']]);
  main.append(h('p', { class: 'hint' }, 'Model calls through the gateway: yours, those of virtual accounts you manage, and everyone\'s for admins. Cost uses each model\'s pricing.'));
  const now = new Date();
  const since = params.get('since') || isoLocal(new Date(now.getTime() - 24 * 3600e3));
  const until = params.get('until') || '';
  const bucket = params.get('bucket') === 'day' ? 'day' : 'hour';
  const groupBy = params.get('group_by') || 'model';
  const who = Object.fromEntries(WHO.map(([name]) => [name, params.get(name) || '']));
  const lists = Object.fromEntries(WHO.map(([name]) => [name, h('datalist', { id: uid(`dl-${name}`) })]));
  const f = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Usage filters', novalidate: true },
    h('div', { class: 'form-alert' }),
    h('div', null, field('Group by', h('select', { name: 'group_by' }, [['model', 'Model'], ['subject', 'Subject']].map(([v, l]) => h('option', { value: v, selected: v === groupBy ? true : null }, l))))),
    h('div', null, field('Period', h('select', { name: 'bucket' }, [['hour', 'Hourly'], ['day', 'Daily']].map(([v, l]) => h('option', { value: v, selected: v === bucket ? true : null }, l))))),
    WHO.map(([name, label, placeholder]) => h('div', { class: 'grow' }, field(label, input({ name, value: who[name], placeholder, list: lists[name].id, autocomplete: 'off' })), lists[name])),
    h('div', null, field('From', input({ type: 'datetime-local', name: 'since', value: since }))),
    h('div', null, field('To', input({ type: 'datetime-local', name: 'until', value: until }))),
    h('button', { type: 'submit', class: 'primary' }, 'Show'));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const wanted = Object.fromEntries(WHO.map(([name]) => [name, val(f, name)]));
    go(`#/gateway/usage${q({ group_by: val(f, 'group_by'), bucket: val(f, 'bucket'), ...wanted, since: val(f, 'since'), until: val(f, 'until') })}`);
  });
  main.append(f);
  const toIso = (v) => (v ? new Date(v).toISOString() : undefined);
  const filter = { ...who, since: toIso(since), until: toIso(until) };
  let series, usage, recent;
  try {
    [series, usage, recent] = await Promise.all([
      get(`/api/v1/usage/series${q({ bucket, group_by: groupBy, ...filter })}`),
      get(`/api/v1/usage${q(filter)}`),
      get(`/api/v1/request-logs${q({ ...filter, limit: 50 })}`)]);
  } catch (err) {
    if (err instanceof ApiError) { showError(f, err); return; }
    throw err;
  }
  fillSuggestions(lists, usage.usage);
  const pts = series.series.map((p) => ({ ...p, tokens: (p.input_tokens || 0) + (p.output_tokens || 0) }));
  if (!pts.length) main.append(h('p', { class: 'empty' }, 'No requests in this period.'));
  else {
    main.append(h('div', { class: 'charts' },
      barChart({ title: 'Requests', unit: 'requests', points: pts, metric: 'requests', format: count, integer: true, bucket }),
      barChart({ title: 'Tokens', unit: 'tokens', points: pts, metric: 'tokens', format: count, integer: true, bucket }),
      barChart({ title: 'Cost (USD)', unit: 'US dollars', points: pts, metric: 'cost_usd', format: dollars, integer: false, bucket })));
  }
  main.append(h('h2', null, 'Totals per subject and model'), table([
    { label: 'Subject', cell: (u) => u.subject }, { label: 'Model', cell: (u) => u.model },
    { label: 'Requests', num: true, cell: (u) => fmtNum(u.requests) }, { label: 'Errors', num: true, cell: (u) => fmtNum(u.errors) },
    { label: 'Input tokens', num: true, cell: (u) => fmtNum(u.input_tokens) }, { label: 'Output tokens', num: true, cell: (u) => fmtNum(u.output_tokens) },
    { label: 'Mean latency', num: true, cell: (u) => latency(u.avg_latency_us) },
    { label: 'Cost', num: true, cell: (u) => fmtUsd(u.cost_usd) },
  ], usage.usage, 'No requests in this period.'));
  const csv = h('a', { class: 'button', href: `/api/v1/request-logs.csv${q(filter)}`, download: 'request-log.csv' }, 'Download CSV');
  main.append(h('div', { class: 'section-head' }, h('h2', null, 'Recent requests'), csv),
    h('p', { class: 'hint' }, 'The latest 50 with these filters; the CSV holds every matching request (up to 50,000).'));
  main.append(h('div', { class: 'usage-log' }, table([
    { label: 'Time', cell: (r) => h('button', { type: 'button', class: 'link', 'aria-haspopup': 'dialog', onclick: (ev) => showRequest(r, ev.currentTarget) }, shortStamp(r.at)) },
    { label: 'Subject', cell: (r) => r.subject }, { label: 'Model', cell: (r) => r.model },
    { label: 'Status', num: true, cell: (r) => h('span', { class: `badge ${r.status < 400 ? 'ok' : 'off'}` }, r.status) },
    { label: 'Latency', num: true, cell: (r) => latency(r.latency_us) },
    { label: 'Tokens in / out', num: true, cell: (r) => `${fmtNum(r.input_tokens)} / ${fmtNum(r.output_tokens)}` },
    { label: 'Cost', num: true, cell: (r) => fmtUsd(r.cost_usd) },
    { label: 'Controls', cell: (r) => controlsSummary(r) },
  ], recent.requests, 'No requests in this period.')));
}

/** Offers the subjects and models of the totals as suggestions: what the caller may read anyway. */
function fillSuggestions(lists, rows) {
  const users = new Set(), vas = new Set(), models = new Set();
  for (const r of rows) {
    if (r.subject.startsWith('user:')) users.add(r.subject.slice(5));
    if (r.subject.startsWith('virtualaccount:')) vas.add(r.subject.slice(15));
    models.add(r.model);
  }
  const fill = (dl, values) => dl.replaceChildren(...[...values].sort().map((v) => h('option', { value: v })));
  fill(lists.user, users); fill(lists.virtual_account, vas); fill(lists.model, models);
  // Only the teams the caller may read; a caller who may read none gets no suggestions, not an error.
  get('/api/v1/teams').then((t) => fill(lists.team, (Array.isArray(t) ? t : (t.teams || t.items || [])).map((x) => x.name))).catch(() => {});
}

function controlsSummary(r) {
  const parts = [];
  if (r.refused_by) parts.push(`refused by ${r.refused_by}`);
  const g = (r.guardrails || []).length;
  if (g) parts.push(`${g} guardrail ${g === 1 ? 'verdict' : 'verdicts'}`);
  return parts.length ? parts.join('; ') : '—';
}

/** A request's every field in a dialog, with its upstream attempts (the rows sharing its request id). */
async function showRequest(r, opener) {
  const title = uid('req');
  const attempts = h('div', null, h('p', { class: 'hint', role: 'status' }, r.request_id ? 'Loading attempts…' : 'No request id: attempts cannot be matched.'));
  const fact = (k, v) => [h('dt', null, k), h('dd', null, v === null || v === undefined || v === '' ? '—' : v)];
  const d = h('dialog', { class: 'wide', 'aria-labelledby': title },
    h('h2', { id: title }, `Request ${r.id}`),
    h('dl', { class: 'facts' },
      fact('Time', fmtTime(r.at)), fact('Subject', r.subject), fact('Virtual account', r.virtual_account),
      fact('Token', r.token_id ? h('code', null, r.token_id) : null), fact('Model', r.model), fact('Route', r.route),
      fact('Status', String(r.status)), fact('Latency', latency(r.latency_us)), fact('Upstream latency', latency(r.upstream_latency_us)),
      fact('Input tokens', fmtNum(r.input_tokens)), fact('Output tokens', fmtNum(r.output_tokens)), fact('Cost', fmtUsd(r.cost_usd)),
      fact('Refused by', r.refused_by), fact('Request size', r.request_bytes === null ? null : `${fmtNum(r.request_bytes)} bytes`),
      fact('Answer size', r.response_bytes === null ? null : `${fmtNum(r.response_bytes)} bytes`),
      fact('Request id', r.request_id ? h('code', null, r.request_id) : null),
      r.prompt !== undefined ? fact('Prompt', h('pre', { class: 'snippet' }, r.prompt)) : null,
      r.completion !== undefined ? fact('Completion', h('pre', { class: 'snippet' }, r.completion)) : null),
    h('h3', null, 'Guardrail verdicts'),
    (r.guardrails || []).length ? h('ul', { class: 'plain' }, r.guardrails.map((v) => h('li', null, verdict(v)))) : h('p', { class: 'hint' }, 'No guardrail acted on this call.'),
    h('h3', null, 'Upstream attempts'), attempts,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: () => d.close() }, 'Close')));
  d.addEventListener('close', () => { d.remove(); if (opener && opener.isConnected) opener.focus(); });
  document.body.append(d);
  d.showModal();
  d.querySelector('button.primary').focus();
  if (!r.request_id) return;
  try {
    const page = await get(`/api/v1/request-logs${q({ request_id: r.request_id, limit: 100 })}`);
    const tries = page.requests.filter((x) => x.route.endsWith(':attempt'));
    attempts.replaceChildren(tries.length ? table([
      { label: 'Model', cell: (x) => x.model }, { label: 'Status', num: true, cell: (x) => String(x.status) },
      { label: 'Latency', num: true, cell: (x) => latency(x.latency_us) }, { label: 'Refused by', cell: (x) => x.refused_by || '—' },
    ], tries) : h('p', { class: 'hint' }, 'One attempt: the call was not routed elsewhere.'));
  } catch (err) {
    attempts.replaceChildren(h('p', { class: 'alert error', role: 'alert' }, err.message));
  }
}
