// The sign-in / register view.
import * as api from './api.js';
import { save, SESSION_KEY } from './storage.js';
import { $ } from './dom.js';
import { startChat } from './app.js';

// ---------------------------------------------------------------- auth view

let authMode = 'login';
// The second login step: set by a 401 mfa_required, cleared by any other mode.
let mfa = null; // { ticket, username, recovery: bool }
// A password reset link (#reset=<token>) opened this page.
let resetToken = null;

export function showAuth(message) {
  const m = /^#reset=([A-Za-z0-9_-]{16,256})$/.exec(location.hash);
  if (m) {
    resetToken = m[1];
    history.replaceState(null, '', location.pathname + location.search);
    authMode = 'reset';
  }
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
  if (mode !== 'mfa') mfa = null;
  const reset = mode === 'reset', second = mode === 'mfa';
  $('auth-username').closest('.field').hidden = reset || second;
  $('auth-password').closest('.field').hidden = second;
  $('field-mfa').hidden = !second;
  $('auth-password').previousElementSibling.textContent = reset ? 'New password' : 'Password';
  $('auth-code').value = '';
  if (reset || second) {
    $('field-display').hidden = true;
    $('auth-password').autocomplete = 'new-password';
    $('auth-submit').textContent = reset ? 'Set new password' : 'Verify';
    if (second) setCodeKind(false);
    clearAuthErrors();
    return;
  }
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
  for (const id of ['err-username', 'err-display', 'err-password', 'err-form', 'err-code']) $(id).textContent = '';
  for (const id of ['auth-username', 'auth-display', 'auth-password', 'auth-code']) $(id).removeAttribute('aria-invalid');
}

// The code field asks for a TOTP code or a recovery code.
function setCodeKind(recovery) {
  if (mfa) mfa.recovery = recovery;
  $('auth-code-label').textContent = recovery ? 'Recovery code' : 'Code from your authenticator app';
  $('auth-code').inputMode = recovery ? 'text' : 'numeric';
  $('auth-code').autocomplete = recovery ? 'off' : 'one-time-code';
  $('auth-use-recovery').textContent = recovery ? 'Use your authenticator app instead' : 'Use a recovery code instead';
  $('auth-code').value = '';
  $('err-code').textContent = '';
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
  bad_second_factor: ['auth-code', 'err-code', 'That code is wrong, expired or already used.'],
  invalid_mfa_ticket: [null, 'err-form', 'That took too long. Sign in again.'],
  invalid_reset_token: [null, 'err-form', 'This reset link is unknown, used or expired. Ask your server operator for a new one.'],
  invite_required: [null, 'err-form', 'This server takes new accounts by invitation only.'],
  registration_closed: [null, 'err-form', 'This server does not take new accounts.'],
};

async function submitSecond() {
  const code = $('auth-code').value.trim();
  if (!code) return fieldError('auth-code', 'err-code', 'Enter the code.');
  const factor = mfa.recovery ? { recovery_code: code } : { totp: code.replace(/\s+/g, '') };
  return api.loginMfa(mfa.ticket, factor);
}

async function submitReset(password) {
  if (!password) return fieldError('auth-password', 'err-password', 'Enter a new password.');
  const btn = $('auth-submit');
  btn.disabled = true;
  try {
    await api.resetPassword(resetToken, password);
    resetToken = null;
    $('auth-password').value = '';
    setAuthMode('login');
    $('err-form').textContent = 'Password changed. Sign in with your new password.';
    $('err-form').dataset.code = 'reset_done';
    $('auth-username').focus();
  } catch (err) {
    const known = AUTH_ERRORS[err.code];
    if (known) fieldError(known[0], known[1], serverReason(err) || known[2]);
    else fieldError(null, 'err-form', err.message || 'Something went wrong.');
    $(known ? known[1] : 'err-form').dataset.code = err.code || '';
  } finally {
    btn.disabled = false;
  }
}

// A weak password's reason comes from the server (too short, too common,
// the username): shown as a sentence.
function serverReason(err) {
  if (err.code !== 'weak_password' || !err.message) return '';
  return err.message[0].toUpperCase() + err.message.slice(1) + '.';
}

export function bindAuthView() {
  // A reset link opened in a tab already showing the sign-in form.
  window.addEventListener('hashchange', () => {
    if (/^#reset=/.test(location.hash) && !$('auth-view').hidden) showAuth();
  });
  $('auth-use-recovery').addEventListener('click', () => { setCodeKind(!(mfa && mfa.recovery)); $('auth-code').focus(); });
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
    const username = mfa ? mfa.username : $('auth-username').value.trim().toLowerCase();
    const password = $('auth-password').value;
    const display = $('auth-display').value.trim();
    if (authMode === 'reset') return submitReset(password);
    if (authMode !== 'mfa' && !username) return fieldError('auth-username', 'err-username', 'Enter a username.');
    if (authMode !== 'mfa' && !password) return fieldError('auth-password', 'err-password', 'Enter a password.');
    if (authMode === 'mfa' && !$('auth-code').value.trim()) return fieldError('auth-code', 'err-code', 'Enter the code.');
    const btn = $('auth-submit');
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      const res = authMode === 'register'
        ? await api.register(username, password, display)
        : authMode === 'mfa' ? await submitSecond()
          : await api.login(username, password);
      const session = { token: res.token, user_id: res.user_id, username: res.username, device_id: res.device_id,
        display_name: display || res.username };
      save(SESSION_KEY, session);
      $('auth-password').value = '';
      $('auth-code').value = '';
      mfa = null;
      authMode = 'login';
      startChat(session);
    } catch (err) {
      if (err.code === 'mfa_required' && err.details && err.details.mfa_ticket) {
        setAuthMode('mfa');
        mfa = { ticket: err.details.mfa_ticket, username, recovery: false };
        $('auth-password').value = '';
        $('auth-code').focus();
        return;
      }
      if (err.code === 'invalid_mfa_ticket') setAuthMode('login');
      const known = AUTH_ERRORS[err.code];
      if (known) fieldError(known[0], known[1], serverReason(err) || known[2]);
      else fieldError(null, 'err-form', err.message || 'Something went wrong.');
      $(known ? known[1] : 'err-form').dataset.code = err.code || '';
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  });
}
