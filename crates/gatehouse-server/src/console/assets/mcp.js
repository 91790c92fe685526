// Integrations > MCP Servers > one server: how a client reaches it through Gatehouse, and the tools the
// viewer may call there (listed through the gateway with the viewer's own access, as their client would see).

import { announce, enc, get, h, uid } from './api.js';
import { badges, table } from './ui.js';

/** The panels an MCP server's page shows below its facts. */
export function mcpPanels(name) {
  return [connectPanel(name), toolsPanel(name)];
}

/** A client configuration for the server: the gateway's URL and a placeholder, never a real token. */
export function clientConfig(name, url) {
  return JSON.stringify({ mcpServers: { [name]: { type: 'http', url, headers: { Authorization: 'Bearer <your token>' } } } }, null, 2);
}

function copyButton(label, text, target) {
  const btn = h('button', { type: 'button', 'aria-label': label, onclick: async () => {
    try { await navigator.clipboard.writeText(text); btn.textContent = 'Copied'; announce('Copied to the clipboard'); }
    catch { const r = document.createRange(); r.selectNodeContents(target); const s = getSelection(); s.removeAllRanges(); s.addRange(r); btn.textContent = 'Selected: press Ctrl+C'; }
  } }, 'Copy');
  return btn;
}

function connectPanel(name) {
  const url = `${location.origin}/mcp/${enc(name)}`;
  const urlCode = h('code', { 'data-testid': 'mcp-url' }, url);
  const snippetId = uid('snippet');
  const snippet = h('pre', { class: 'snippet', id: snippetId, tabindex: '0', 'aria-labelledby': `${snippetId}-h` }, h('code', null, clientConfig(name, url)));
  return h('section', { class: 'panel', 'aria-labelledby': 'connect-h' },
    h('h2', { id: 'connect-h' }, 'Connect'),
    h('p', null, 'MCP clients reach this server through Gatehouse, with a token of their own: the server\'s credentials stay in Gatehouse, and every message is checked against the caller\'s access.'),
    h('dl', { class: 'facts' }, h('dt', null, 'URL'), h('dd', { class: 'secret' }, urlCode, copyButton('Copy the URL', url, urlCode))),
    h('h3', { id: `${snippetId}-h` }, 'Client configuration'),
    h('p', { class: 'hint' }, 'For clients that read an ', h('code', null, 'mcpServers'), ' file (Streamable HTTP). Replace ',
      h('code', null, '<your token>'), ' with one of your ', h('a', { href: '#/access/tokens' }, 'personal access tokens'),
      ', or a virtual account\'s token for an application.'),
    snippet,
    h('div', { class: 'actions' }, copyButton('Copy the client configuration', clientConfig(name, url), snippet)));
}

function toolsPanel(name) {
  const body = h('div', { 'aria-live': 'polite' });
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'tools-h' }, h('h2', { id: 'tools-h' }, 'Tools you may call'), body);
  loadTools(name, body);
  return sec;
}

/** Fills `body` once the gateway has asked the server; the page does not wait for a slow upstream. */
async function loadTools(name, body) {
  body.setAttribute('aria-busy', 'true');
  body.replaceChildren(h('p', { class: 'empty', role: 'status' }, 'Asking the server for its tools…'));
  try {
    const r = await get(`/api/v1/mcp-servers/${enc(name)}/tools`);
    const args = (t) => Object.keys((t.input_schema && t.input_schema.properties) || {});
    body.replaceChildren(
      h('p', { class: 'hint' }, r.type === 'virtual'
        ? 'The tools this virtual server composes, under its own names.'
        : 'The server\'s tools that its manifest lets through: any other tool call is refused by Gatehouse.'),
      table([
        { label: 'Tool', cell: (t) => h('code', null, t.name) },
        { label: 'Description', cell: (t) => t.description || t.title || '—' },
        { label: 'Arguments', cell: (t) => (args(t).length ? badges(args(t)) : '—') },
      ], r.tools, 'The server offers no tools.'));
  } catch (err) {
    if (err.handled) return;
    const retry = h('button', { type: 'button', onclick: () => loadTools(name, body) }, 'Try again');
    body.replaceChildren(h('div', { class: 'alert error', role: 'alert' }, `Could not list the tools: ${err.message}`), retry);
  } finally {
    body.removeAttribute('aria-busy');
  }
}
