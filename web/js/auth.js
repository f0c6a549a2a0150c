// The sign-in / register view.
import * as api from './api.js';
import { save, SESSION_KEY } from './storage.js';
import { $ } from './dom.js';
import { startChat } from './app.js';

// ---------------------------------------------------------------- auth view

let authMode = 'login';

export function showAuth(message) {
  $('chat-view').hidden = true;
  $('auth-view').hidden = false;
  document.title = 'Parley — Sign in';
  clearAuthErrors();
  if (message) $('err-form').textContent = message;
  setAuthMode(authMode);
  $('auth-username').focus();
}

function setAuthMode(mode) {
  authMode = mode;
  const reg = mode === 'register';
  $('tab-login').setAttribute('aria-selected', String(!reg));
  $('tab-register').setAttribute('aria-selected', String(reg));
  $('tab-login').tabIndex = reg ? -1 : 0;
  $('tab-register').tabIndex = reg ? 0 : -1;
  $('auth-form').setAttribute('aria-labelledby', reg ? 'tab-register' : 'tab-login');
  $('field-display').hidden = !reg;
  $('auth-password').autocomplete = reg ? 'new-password' : 'current-password';
  $('auth-submit').textContent = reg ? 'Create account' : 'Sign in';
  clearAuthErrors();
}

function clearAuthErrors() {
  for (const id of ['err-username', 'err-display', 'err-password', 'err-form']) $(id).textContent = '';
  for (const id of ['auth-username', 'auth-display', 'auth-password']) $(id).removeAttribute('aria-invalid');
}

function fieldError(inputId, errId, text) {
  $(errId).textContent = text;
  if (inputId) {
    $(inputId).setAttribute('aria-invalid', 'true');
    $(inputId).focus();
  }
}

const AUTH_ERRORS = {
  invalid_username: ['auth-username', 'err-username', 'Use 1–32 characters: a–z, 0–9, _ . - (with at least one letter or digit)'],
  username_taken: ['auth-username', 'err-username', 'That username is taken.'],
  weak_password: ['auth-password', 'err-password', 'Use at least 8 characters.'],
  bad_credentials: ['auth-password', 'err-password', 'Wrong username or password.'],
  too_many_sessions: [null, 'err-form', 'Too many devices are signed in to this account.'],
  mfa_required: [null, 'err-form', 'This account needs a one-time code (not supported here yet).'],
};

export function bindAuthView() {
  $('tab-login').addEventListener('click', () => setAuthMode('login'));
  $('tab-register').addEventListener('click', () => setAuthMode('register'));
  for (const tab of [$('tab-login'), $('tab-register')]) {
    tab.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        const next = authMode === 'login' ? 'register' : 'login';
        setAuthMode(next);
        $(next === 'login' ? 'tab-login' : 'tab-register').focus();
      }
    });
  }
  $('auth-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearAuthErrors();
    const username = $('auth-username').value.trim().toLowerCase();
    const password = $('auth-password').value;
    const display = $('auth-display').value.trim();
    if (!username) return fieldError('auth-username', 'err-username', 'Enter a username.');
    if (!password) return fieldError('auth-password', 'err-password', 'Enter a password.');
    const btn = $('auth-submit');
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      const res = authMode === 'register'
        ? await api.register(username, password, display)
        : await api.login(username, password);
      const session = { token: res.token, user_id: res.user_id, username: res.username, device_id: res.device_id,
        display_name: display || res.username };
      save(SESSION_KEY, session);
      $('auth-password').value = '';
      startChat(session);
    } catch (err) {
      const known = AUTH_ERRORS[err.code];
      if (known) fieldError(known[0], known[1], known[2]);
      else fieldError(null, 'err-form', err.message || 'Something went wrong.');
      $(known ? known[1] : 'err-form').dataset.code = err.code || '';
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  });
}
