// Passkeys (WebAuthn): Settings → Security → Passkeys (add, list, rename,
// remove) and "Sign in with a passkey" on the sign-in screen (a
// discoverable credential: no username needed). The server checks
// everything (docs/protocol.md, "Passkeys"); this only moves bytes between
// navigator.credentials and /v1/passkeys, base64url-encoded.
import { ApiError } from './api.js';
import { $ } from './dom.js';
import { S } from './state.js';

export const supported = () => typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;

// ---------------------------------------------------------------- base64url

export function toB64u(buf) {
  const bytes = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromB64u(text) {
  const s = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------- HTTP

async function request(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError('network', 'Cannot reach the server. Check your connection.', 0);
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(err.code || `http_${res.status}`, err.message || res.statusText, res.status);
  }
  return data || {};
}

const token = () => S.session && S.session.token;

// What navigator.credentials returns, as the server reads it.
function credentialJSON(cred) {
  const r = cred.response;
  const out = { id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
    response: { clientDataJSON: toB64u(r.clientDataJSON) } };
  if (r.attestationObject) out.response.attestationObject = toB64u(r.attestationObject);
  if (r.authenticatorData) out.response.authenticatorData = toB64u(r.authenticatorData);
  if (r.signature) out.response.signature = toB64u(r.signature);
  if (r.userHandle) out.response.userHandle = toB64u(r.userHandle);
  return out;
}

// ---------------------------------------------------------------- register, list, remove

export async function addPasskey(name) {
  const o = await request('POST', '/v1/passkeys/register/options', {}, token());
  const publicKey = { ...o, challenge: fromB64u(o.challenge),
    user: { ...o.user, id: fromB64u(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: fromB64u(c.id) })) };
  const cred = await navigator.credentials.create({ publicKey });
  if (!cred) throw new ApiError('cancelled', 'No passkey was created.');
  const body = { credential: credentialJSON(cred) };
  if (name) body.name = name;
  return (await request('POST', '/v1/passkeys/register', body, token())).passkey;
}

export async function listPasskeys() {
  return (await request('GET', '/v1/passkeys', undefined, token())).passkeys || [];
}

export function removePasskey(id) {
  return request('DELETE', `/v1/passkeys/${encodeURIComponent(id)}`, undefined, token());
}

export function renamePasskey(id, name) {
  return request('PATCH', `/v1/passkeys/${encodeURIComponent(id)}`, { name }, token());
}

// ---------------------------------------------------------------- sign in

// Passwordless: a discoverable credential picks the account. Resolves to
// the /v1/login-shaped answer {user_id, token, device_id, username}.
export async function signInWithPasskey(deviceName) {
  const o = await request('POST', '/v1/passkeys/login/options', {});
  const publicKey = { challenge: fromB64u(o.challenge), rpId: o.rpId, timeout: o.timeout,
    userVerification: 'required', allowCredentials: [] };
  const cred = await navigator.credentials.get({ publicKey });
  if (!cred) throw new ApiError('cancelled', 'No passkey was chosen.');
  return request('POST', '/v1/passkeys/login', { credential: credentialJSON(cred), device_name: deviceName });
}

// The second step of a password login (401 mfa_required listing "passkey"):
// an assertion from one of username's passkeys, for POST /v1/login/mfa.
export async function passkeyAssertion(username) {
  const o = await request('POST', '/v1/passkeys/login/options', { username });
  const publicKey = { challenge: fromB64u(o.challenge), rpId: o.rpId, timeout: o.timeout,
    userVerification: 'preferred',
    allowCredentials: (o.allowCredentials || []).map((c) => ({ type: 'public-key', id: fromB64u(c.id) })) };
  const cred = await navigator.credentials.get({ publicKey });
  if (!cred) throw new ApiError('cancelled', 'No passkey was chosen.');
  return credentialJSON(cred);
}

// ---------------------------------------------------------------- settings section

const PASSKEY_ERRORS = {
  NotAllowedError: 'The passkey request was cancelled or timed out.',
  InvalidStateError: 'This passkey is registered already.',
  passkey_exists: 'This passkey is registered already.',
  too_many_passkeys: 'You have the most passkeys an account may have. Remove one first.',
  passkey_invalid: 'The server did not accept this passkey.',
  rate_limited: 'Too many attempts. Try again in a few minutes.',
};

function explainPasskey(err) {
  return PASSKEY_ERRORS[err && (err.code || err.name)] || (err && err.message) || 'Something went wrong.';
}

function fmtDate(ms) {
  return ms ? new Date(ms).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : 'never';
}

export async function fillPasskeySection() {
  const list = $('passkey-list');
  $('err-passkey').textContent = '';
  $('passkey-add').hidden = !supported();
  $('passkey-unsupported').hidden = supported();
  list.replaceChildren();
  let keys;
  try {
    keys = await listPasskeys();
  } catch (err) {
    $('err-passkey').textContent = explainPasskey(err);
    return;
  }
  $('passkey-empty').hidden = keys.length > 0;
  for (const k of keys) {
    const li = document.createElement('li');
    li.className = 'passkey-item';
    li.dataset.id = k.id;
    const label = document.createElement('span');
    label.className = 'passkey-name';
    label.textContent = k.name;
    const meta = document.createElement('span');
    meta.className = 'passkey-meta';
    meta.textContent = `Added ${fmtDate(k.created)} · last used ${fmtDate(k.last_used)}`;
    const rm = document.createElement('button');
    rm.type = 'button';
    rm.className = 'btn ghost small passkey-remove';
    rm.textContent = 'Remove';
    rm.setAttribute('aria-label', `Remove passkey ${k.name}`);
    rm.addEventListener('click', async () => {
      rm.disabled = true;
      try {
        await removePasskey(k.id);
        $('passkey-status').textContent = `Passkey “${k.name}” removed.`;
        await fillPasskeySection();
      } catch (err) {
        $('err-passkey').textContent = explainPasskey(err);
        rm.disabled = false;
      }
    });
    li.append(label, meta, rm);
    list.append(li);
  }
}

export function bindPasskeySettings() {
  $('passkey-add').addEventListener('click', async () => {
    const btn = $('passkey-add');
    $('err-passkey').textContent = '';
    $('passkey-status').textContent = '';
    btn.disabled = true;
    try {
      const k = await addPasskey($('passkey-name').value.trim());
      $('passkey-name').value = '';
      $('passkey-status').textContent = `Passkey “${k.name}” added.`;
      await fillPasskeySection();
    } catch (err) {
      $('err-passkey').textContent = explainPasskey(err);
    } finally {
      btn.disabled = false;
    }
  });
}

// The sign-in screen's button; onSession gets the /v1/login-shaped answer.
export function bindPasskeySignIn(deviceName, onSession, onError) {
  const btn = $('auth-passkey');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      onSession(await signInWithPasskey(deviceName()));
    } catch (err) {
      onError(err.code === 'bad_credentials' ? 'That passkey was not accepted.' : explainPasskey(err));
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  });
}
