// Gateway > Usage.

import { fmtNum, fmtTime, fmtUsd, get, go, h, q, svg } from './api.js';
import { field, input, table, val } from './ui.js';
import { heading } from './app.js';

const PALETTE = ['#0b5cad', '#d1495b', '#2a9d8f', '#e9a23b', '#6a4c93', '#118ab2', '#8d6e63', '#43aa8b', '#f3722c', '#577590'];
const isoLocal = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

/** Stacked bars in SVG, one bar per period and one colour per key, with a data table for screen readers. */
function barChart(title, points, metric, format) {
  const keys = [...new Set(points.map((p) => p.key))];
  const starts = [...new Set(points.map((p) => p.start))].sort();
  const W = 560, H = 240, L = 70, R = 12, T = 14, B = 36;
  const value = (p) => Number(p[metric] || 0);
  const totals = starts.map((s) => points.filter((p) => p.start === s).reduce((n, p) => n + value(p), 0));
  const max = Math.max(1e-9, ...totals);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const slot = (W - L - R) / starts.length;
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${keys.length} series over ${starts.length} periods, highest ${format(max, max)}` });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    chart.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, format(v, max)));
  }
  chart.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const every = Math.max(1, Math.ceil(starts.length / 6));
  starts.forEach((s, i) => {
    const cx = L + slot * (i + 0.5);
    if (i % every === 0) chart.append(svg('text', { x: cx, y: H - B + 18, 'text-anchor': 'middle' }, shortTime(s)));
    let acc = 0;
    keys.forEach((k, ki) => {
      const p = points.find((x) => x.start === s && x.key === k);
      const v = p ? value(p) : 0;
      if (v <= 0) return;
      chart.append(svg('rect', { x: cx - barW / 2, y: y(acc + v), width: barW, height: Math.max(1, y(acc) - y(acc + v)), fill: PALETTE[ki % PALETTE.length] },
        svg('title', null, `${k} · ${shortTime(s)}: ${format(v, max)}`)));
      acc += v;
    });
  });
  const legend = h('div', { class: 'legend' }, keys.map((k, i) => h('span', null, h('span', { class: 'swatch', 'data-color': PALETTE[i % PALETTE.length] }), k)));
  legend.querySelectorAll('.swatch').forEach((s) => { s.style.background = s.dataset.color; });
  const data = h('details', null, h('summary', null, `${title} as a table`), table([
    { label: 'Period', cell: (p) => shortTime(p.start) }, { label: 'Key', cell: (p) => p.key },
    { label: title, num: true, cell: (p) => format(value(p), max) }], points));
  return h('figure', { class: 'panel chart' }, h('figcaption', null, h('strong', null, title)), chart, legend, data);
}
const count = (v) => fmtNum(Math.round(v));
/** Dollars with as many decimals as the largest value needs, so small costs do not all read $0.00. */
const dollars = (v, max) => `$${v.toFixed(max >= 10 ? 2 : max >= 0.1 ? 3 : max >= 0.001 ? 5 : 7)}`;
const shortTime = (s) => { const d = new Date(s); return `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, '0')}:00`; };

export async function pageUsage(main, params) {
  heading(main, 'Usage', [['Gateway'], ['Usage']]);
  main.append(h('p', { class: 'hint' }, 'Model calls through the gateway: yours, those of virtual accounts you manage, and everyone\'s for admins. Cost uses each model\'s pricing.'));
  const now = new Date();
  const since = params.get('since') || isoLocal(new Date(now.getTime() - 24 * 3600e3));
  const until = params.get('until') || '';
  const bucket = params.get('bucket') || 'hour';
  const groupBy = params.get('group_by') || 'model';
  const model = params.get('model') || '';
  const f = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Usage filters' },
    h('div', null, field('Group by', h('select', { name: 'group_by' }, [['model', 'Model'], ['subject', 'Subject']].map(([v, l]) => h('option', { value: v, selected: v === groupBy ? true : null }, l))))),
    h('div', null, field('Period', h('select', { name: 'bucket' }, [['hour', 'Hourly'], ['day', 'Daily']].map(([v, l]) => h('option', { value: v, selected: v === bucket ? true : null }, l))))),
    h('div', { class: 'grow' }, field('Model', input({ name: 'model', value: model, placeholder: 'account/model' }))),
    h('div', null, field('From', input({ type: 'datetime-local', name: 'since', value: since }))),
    h('div', null, field('To', input({ type: 'datetime-local', name: 'until', value: until }))),
    h('button', { type: 'submit', class: 'primary' }, 'Show'));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(`#/gateway/usage${q({ group_by: val(f, 'group_by'), bucket: val(f, 'bucket'), model: val(f, 'model'), since: val(f, 'since'), until: val(f, 'until') })}`);
  });
  main.append(f);
  const toIso = (v) => (v ? new Date(v).toISOString() : undefined);
  const filter = { model: model || undefined, since: toIso(since), until: toIso(until) };
  const [series, usage] = await Promise.all([
    get(`/api/v1/usage/series${q({ bucket, group_by: groupBy, ...filter })}`),
    get(`/api/v1/usage${q(filter)}`)]);
  const pts = series.series.map((p) => ({ ...p, tokens: (p.input_tokens || 0) + (p.output_tokens || 0) }));
  if (!pts.length) main.append(h('p', { class: 'empty' }, 'No requests in this period.'));
  else {
    main.append(h('div', { class: 'charts' },
      barChart('Requests', pts, 'requests', count),
      barChart('Tokens', pts, 'tokens', count),
      barChart('Cost (USD)', pts, 'cost_usd', dollars)));
  }
  main.append(h('h2', null, 'Totals per subject and model'), table([
    { label: 'Subject', cell: (u) => u.subject }, { label: 'Model', cell: (u) => u.model },
    { label: 'Requests', num: true, cell: (u) => fmtNum(u.requests) }, { label: 'Errors', num: true, cell: (u) => fmtNum(u.errors) },
    { label: 'Input tokens', num: true, cell: (u) => fmtNum(u.input_tokens) }, { label: 'Output tokens', num: true, cell: (u) => fmtNum(u.output_tokens) },
    { label: 'Mean latency', num: true, cell: (u) => `${(u.avg_latency_us / 1000).toFixed(1)} ms` },
    { label: 'Cost', num: true, cell: (u) => fmtUsd(u.cost_usd) },
  ], usage.usage, 'No requests in this period.'));
  const recent = await get(`/api/v1/request-logs${q({ ...filter, limit: 50 })}`);
  main.append(h('h2', null, 'Recent requests'), table([
    { label: 'Time', cell: (r) => fmtTime(r.at) }, { label: 'Subject', cell: (r) => r.subject }, { label: 'Model', cell: (r) => r.model },
    { label: 'Route', cell: (r) => r.route },
    { label: 'Status', num: true, cell: (r) => h('span', { class: `badge ${r.status < 400 ? 'ok' : 'off'}` }, r.status) },
    { label: 'Latency', num: true, cell: (r) => `${(r.latency_us / 1000).toFixed(1)} ms` },
    { label: 'Upstream', num: true, cell: (r) => (r.upstream_latency_us === null ? '—' : `${(r.upstream_latency_us / 1000).toFixed(1)} ms`) },
    { label: 'Tokens in / out', num: true, cell: (r) => `${fmtNum(r.input_tokens)} / ${fmtNum(r.output_tokens)}` },
    { label: 'Guardrails', cell: (r) => ((r.guardrails || []).length === 0 ? '—'
      : (r.guardrails || []).map((v) => `${v.config}/${v.rule} ${v.check} (${v.type}) on ${v.hook}: ${v.outcome} ×${v.count}`).join('; ')) },
    { label: 'Request id', cell: (r) => (r.request_id ? h('code', null, r.request_id) : '—') },
  ], recent.requests, 'No requests in this period.'));
}
