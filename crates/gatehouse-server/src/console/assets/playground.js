// Gateway > Playground: one chat call through the gateway as the signed-in user, streamed.
//
// The call is an ordinary `POST /v1/chat/completions` with the console's session cookie and CSRF token: the
// gateway treats it as the user's own call, with their access and their limits, and logs it like any other.

import { fmtNum, get, h, q, state } from './api.js';
import { field } from './ui.js';
import { heading } from './app.js';

/** Whole milliseconds, or a dash when there is no value. */
const ms = (v) => (v === null || v === undefined ? '—' : `${fmtNum(Math.round(v))} ms`);

export async function pagePlayground(main, params) {
  heading(main, 'Playground', [['Gateway'], ['Playground']]);
  main.append(h('p', { class: 'hint' }, 'Send a message to a model you may use. The call goes through the gateway as you, with your access and the controls that apply to you, and appears in Usage like any other.'));
  const models = ((await get('/v1/models')).data || []).map((m) => m.id);
  if (!models.length) {
    main.append(h('p', { class: 'empty', role: 'status' }, 'You may not use any model yet: ask an admin for access to a provider account.'));
    return;
  }
  const chosen = params.get('model');
  const model = h('select', { name: 'model', required: true },
    models.map((id) => h('option', { value: id, selected: id === chosen ? true : null }, id)));
  const message = h('textarea', { name: 'message', rows: 4, required: true, placeholder: 'Ask something…', 'aria-describedby': 'pg-keys' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const stop = h('button', { type: 'button', disabled: true }, 'Stop');
  const alertBox = h('div', { class: 'form-alert' });
  const f = h('form', { class: 'stack playground', novalidate: true, 'aria-label': 'Chat' },
    alertBox, field('Model', model), field('Message', message),
    h('p', { class: 'hint', id: 'pg-keys' }, 'Ctrl+Enter sends.'), h('div', { class: 'actions' }, send, stop));
  message.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && !send.disabled) { ev.preventDefault(); f.requestSubmit(); }
  });

  const answer = h('div', { class: 'answer', 'data-testid': 'answer' });
  const status = h('p', { role: 'status', class: 'hint' });
  const facts = h('dl', { class: 'facts' });
  const controls = h('div');
  const result = h('section', { class: 'panel', 'aria-labelledby': 'pg-answer', hidden: true },
    h('h2', { id: 'pg-answer' }, 'Answer'), answer, status,
    h('h3', null, 'Call'), facts, h('h3', null, 'Controls that applied'), controls);
  main.append(h('div', { class: 'panel' }, f), result);

  let running = null;
  stop.addEventListener('click', () => running && running.abort());
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alertBox.replaceChildren();
    message.removeAttribute('aria-invalid');
    if (!message.value.trim()) {
      message.setAttribute('aria-invalid', 'true');
      alertBox.append(h('div', { class: 'alert error', role: 'alert' }, 'Message: write something to send.'));
      message.focus();
      return;
    }
    running = new AbortController();
    send.disabled = true; stop.disabled = false;
    try {
      await run({ model: model.value, text: message.value, signal: running.signal, answer, status, facts, controls, result, alertBox });
    } finally {
      running = null;
      send.disabled = false; stop.disabled = true;
    }
  });
}

/** One call: streams the answer into `answer`, then fills in the timings, tokens and controls. */
async function run({ model, text, signal, answer, status, facts, controls, result, alertBox }) {
  answer.replaceChildren();
  answer.setAttribute('aria-busy', 'true');
  facts.replaceChildren();
  controls.replaceChildren();
  result.hidden = false;
  status.textContent = 'Waiting for the model…';
  const shown = { status: null, firstToken: null, total: null, usage: null, requestId: null, served: null };
  const started = performance.now();
  let r;
  try {
    r = await fetch('/v1/chat/completions', {
      method: 'POST', credentials: 'same-origin', signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-csrf-token': state.csrf || '' },
      body: JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: text }] }),
    });
  } catch (err) {
    fail(alertBox, status, answer, err.name === 'AbortError' ? 'Stopped.' : `The gateway could not be reached: ${err.message}`);
    return;
  }
  shown.status = r.status;
  shown.requestId = r.headers.get('x-request-id');
  shown.served = r.headers.get('x-gatehouse-resolved-model');
  showControls(controls, r.headers);
  if (!r.ok) {
    shown.total = performance.now() - started;
    fail(alertBox, status, answer, await errorMessage(r));
    showFacts(facts, model, shown);
    return;
  }
  status.textContent = 'Streaming…';
  let streamError = null;
  try {
    await readEvents(r.body, (event) => {
      if (event.error) { streamError = event.error.message || 'The stream ended with an error.'; return; }
      const delta = event.choices && event.choices[0] && event.choices[0].delta;
      if (delta && typeof delta.content === 'string' && delta.content) {
        if (shown.firstToken === null) shown.firstToken = performance.now() - started;
        answer.append(delta.content);
      }
      if (event.usage) shown.usage = event.usage;
    });
  } catch (err) {
    streamError = err.name === 'AbortError' ? 'Stopped.' : `The stream broke off: ${err.message}`;
  }
  shown.total = performance.now() - started;
  showFacts(facts, model, shown);
  if (streamError) { fail(alertBox, status, answer, streamError); return; }
  answer.removeAttribute('aria-busy');
  status.textContent = `Done in ${ms(shown.total)}.`;
  const me = state.me ? state.me.subject.replace(/^user:/, '') : undefined;
  status.append(' ', h('a', { href: `#/gateway/usage${q({ user: me, model })}` }, 'See it in Usage'));
}

function fail(alertBox, status, answer, msg) {
  answer.removeAttribute('aria-busy');
  status.textContent = 'No answer.';
  alertBox.replaceChildren(h('div', { class: 'alert error', role: 'alert' }, msg));
}

/** The API's own message for a refused or failed call. */
async function errorMessage(r) {
  const text = await r.text();
  try {
    const body = JSON.parse(text);
    return (body.error && body.error.message) || `HTTP ${r.status}`;
  } catch {
    return text || `HTTP ${r.status}`;
  }
}

/** Reads a server-sent event stream, calling `onEvent` with each `data:` JSON until `[DONE]`. */
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    buf += decoder.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
      const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data) continue;
      if (data === '[DONE]') return;
      try { onEvent(JSON.parse(data)); } catch (err) { if (!(err instanceof SyntaxError)) throw err; }
    }
    if (done) return;
  }
}

function showFacts(facts, model, s) {
  const u = s.usage || {};
  const rows = [
    ['Model', s.served && s.served !== model ? `${model} (served by ${s.served})` : model],
    ['Status', String(s.status ?? '—')],
    ['Time to first token', ms(s.firstToken)],
    ['Total time', ms(s.total)],
    ['Input tokens', fmtNum(u.prompt_tokens)],
    ['Output tokens', fmtNum(u.completion_tokens)],
    ['Request id', s.requestId ? h('code', null, s.requestId) : '—'],
  ];
  facts.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', { 'data-fact': k }, v)]));
}

/** `x-gatehouse-applied-controls` as a list, and the `x-ratelimit-*` figures of the tightest rate limits. */
function showControls(box, headers) {
  const applied = (headers.get('x-gatehouse-applied-controls') || '').split(',').map((s) => s.trim()).filter(Boolean);
  const limits = ['requests', 'tokens'].map((m) => [m, headers.get(`x-ratelimit-limit-${m}`), headers.get(`x-ratelimit-remaining-${m}`), headers.get(`x-ratelimit-reset-${m}`)])
    .filter(([, limit]) => limit !== null);
  // `replaceChildren` would write a null out as the text "null": only what there is.
  box.replaceChildren(...[
    applied.length ? h('ul', { class: 'plain', 'aria-label': 'Applied controls' }, applied.map((a) => {
      const [name, ...flags] = a.split(';');
      return h('li', null, h('code', null, name), flags.map((fl) => [' ', h('span', { class: 'badge off' }, fl)]));
    })) : h('p', { class: 'hint' }, 'No rate limit, budget or guardrail applied to this call.'),
    limits.length ? h('ul', { class: 'plain', 'aria-label': 'Rate limit headers' }, limits.map(([m, limit, left, reset]) =>
      h('li', null, `${m}: ${fmtNum(left)} of ${fmtNum(limit)} left${reset ? `, resets in ${reset}` : ''}`))) : null,
  ].filter(Boolean));
}
