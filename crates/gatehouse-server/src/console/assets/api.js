// Plumbing: the session state, calls to the JSON API, element building, small formatters.

import { route } from './app.js';

export const state = { me: null, csrf: null, perms: new Set(), catalogue: null };

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || (typeof body === 'string' && body) || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || '';
    this.param = e.param || null;
    this.errors = Array.isArray(e.errors) ? e.errors : [];
    this.handled = false;
  }
}

export const STALE = 'Changed by someone else since you opened it — reload to see the current version, then make your change again.';

/** Calls the API with the session cookie; every request but a GET carries the session's CSRF token. */
export async function api(method, path, body, opts = {}) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = state.csrf || '';
  // The version the object was read at: a write over someone else's change is refused (412), not lost.
  if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
  let payload;
  if (body !== undefined) {
    if (opts.contentType) { payload = body; headers['content-type'] = opts.contentType; }
    else { payload = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  }
  const r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await r.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!r.ok) {
    const err = new ApiError(r.status, data);
    if (err.code === 'precondition_failed') err.message = STALE;
    if (r.status === 401 && !opts.quiet) signedOut(err);
    throw err;
  }
  return data;
}
export const get = (p) => api('GET', p);
export const q = (params) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
};
export const enc = encodeURIComponent;

function signedOut(err) {
  err.handled = true;
  state.me = null; state.csrf = null;
  if (err.code === 'account_deactivated') go('#/deactivated');
  else go('#/signin?reason=expired');
}

/** Builds an element; text is always text (never parsed as markup), so no data can inject HTML. */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}
export function svg(tag, attrs, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}
function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}
function append(el, kids) {
  for (const c of kids.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}
let idSeq = 0;
export const uid = (p) => `${p}-${++idSeq}`;

export function announce(msg) {
  const s = document.getElementById('status');
  s.textContent = '';
  setTimeout(() => { s.textContent = msg; }, 30);
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

export const fmtTime = (t) => (t ? new Date(t).toLocaleString() : '—');
export const fmtNum = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString());
export const fmtUsd = (n) => (n === null || n === undefined ? '—' : `$${Number(n).toFixed(n < 0.01 ? 6 : n < 1 ? 4 : 2)}`);
