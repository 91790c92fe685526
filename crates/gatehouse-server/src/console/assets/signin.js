// Sign-in, and the page a deactivated account lands on.

import { api, go, h, state } from './api.js';
import { field, form, input, val } from './ui.js';
import { loadMe } from './app.js';

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
      s = await api('POST', '/api/v1/auth/session', { email: val(f, 'email'), password: f.elements.password.value }, { quiet: true });
    } catch (err) {
      if (err.code === 'account_deactivated') { go('#/deactivated'); return; }
      throw err;
    }
    state.csrf = s.csrf_token;
    await loadMe();
    const next = params.get('next');
    go(next && next.startsWith('#/') && !next.startsWith('#/signin') ? next : '#/access/users');
  }, 'Sign in');
  const box = h('main', { id: 'main', class: 'signin' }, h('h1', null, 'Sign in to Gatehouse'),
    note ? h('div', { class: 'alert info', role: 'status' }, note) : null,
    h('div', { class: 'panel' }, f));
  document.getElementById('app').replaceChildren(box);
  f.elements.email.focus();
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
