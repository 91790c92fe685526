// Sign-in, and the page a deactivated account lands on.

import { api, ApiError, go, h, state } from './api.js';
import { field, form, input, val } from './ui.js';
import { home, loadMe, route } from './app.js';
import { failurePage } from './orient.js';

/** A call the form shows in place when the server cannot be reached, instead of failing silently. */
async function reach(method, path, body) {
  try {
    return await api(method, path, body, { quiet: true });
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(0, { error: { message: 'Gatehouse cannot be reached: check that the server is running, then try again.' } });
  }
}

export async function pageSignin(_main, params) {
  document.title = 'Sign in · Gatehouse';
  const reason = params.get('reason');
  const note = reason === 'expired' ? 'Your session has ended. Sign in again.'
    : reason === 'signedout' ? 'You are signed out.' : null;
  const f = form([
    field('Email', input({ type: 'email', name: 'email', autocomplete: 'username', required: true })),
    field('Password', input({ type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
  ], async (f) => {
    let s;
    try {
      s = await reach('POST', '/api/v1/auth/session', { email: val(f, 'email'), password: f.elements.password.value });
    } catch (err) {
      if (err.code === 'account_deactivated') { go('#/deactivated'); return; }
      throw err;
    }
    state.csrf = s.csrf_token;
    await loadMe();
    const next = params.get('next');
    go(next && next.startsWith('#/') && !next.startsWith('#/signin') && next !== '#/' ? next : home());
  }, 'Sign in');
  let setup;
  try {
    setup = await api('GET', '/api/v1/setup', undefined, { quiet: true });
  } catch (err) {
    failurePage(document.getElementById('app'), err, route);
    return;
  }
  const box = h('main', { id: 'main', class: 'signin' }, h('h1', null, 'Sign in to Gatehouse'),
    note ? h('div', { class: 'alert info', role: 'status' }, note) : null,
    setup.needed ? firstRun(setup.code_issued) : null,
    h('div', { class: 'panel' }, f));
  document.getElementById('app').replaceChildren(box);
  (box.querySelector('[name=code]') || f.elements.email).focus();
}

/** Before any admin exists: how to make one on the server, and the form that uses the printed setup code. */
function firstRun(codeIssued) {
  const cmd = "gatehouse bootstrap --email you@example.com --password 'a long password'";
  const sec = h('section', { class: 'panel first-run', 'aria-labelledby': 'first-run-h' },
    h('h2', { id: 'first-run-h' }, 'Set up Gatehouse: create the first admin'),
    h('p', null, 'Nobody can sign in yet: this server has no admin. Create one in either of two ways.'),
    h('h3', null, 'On the server'),
    h('p', null, 'Run this against the server\'s database (it prints a personal access token for the new admin), then sign in below:'),
    h('pre', { class: 'snippet' }, h('code', null, cmd)));
  if (!codeIssued) {
    sec.append(h('p', null, 'The setup code this server printed has been used, or it was started with an admin. Restart the server to have it print a new one in its log.'));
    return sec;
  }
  const f = form([
    field('Setup code', input({ name: 'code', autocomplete: 'one-time-code', spellcheck: 'false', required: true }), '(printed once in the server\'s log at start-up)'),
    field('Admin email', input({ type: 'email', name: 'email', autocomplete: 'username', required: true })),
    field('Admin password', input({ type: 'password', name: 'password', autocomplete: 'new-password', required: true }), '(at least 8 characters)'),
  ], async (form) => {
    const s = await reach('POST', '/api/v1/setup', { code: val(form, 'code'), email: val(form, 'email'), password: form.elements.password.value });
    state.csrf = s.csrf_token;
    await loadMe();
    go(home());
  }, 'Create the first admin');
  sec.append(h('h3', null, 'Here, with the setup code'),
    h('p', null, 'At start-up the server printed a one-time code on its standard error (the line begins "gatehouse first-run setup code"). Whoever can read that log can claim this server:'),
    f);
  return sec;
}

export async function pageDeactivated() {
  document.title = 'Account deactivated · Gatehouse';
  state.me = null; state.csrf = null;
  document.getElementById('app').replaceChildren(h('main', { id: 'main', class: 'signin' },
    h('h1', null, 'Your account is deactivated'),
    h('div', { class: 'panel' },
      h('p', null, 'An administrator has deactivated this account. Your console session, your personal access tokens and every other token of yours have stopped working.'),
      h('p', null, 'If you think this is a mistake, ask a Gatehouse administrator to reactivate you. Reactivation does not bring old tokens back: you will need to sign in and create new ones.'),
      h('p', null, h('a', { href: '#/signin' }, 'Back to sign-in')))));
}
