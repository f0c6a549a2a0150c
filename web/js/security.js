// Settings → Security: two-step verification (TOTP and recovery codes),
// password change and the devices list. Talks to the REST endpoints of
// docs/protocol.md "Account security" with the session's token.
import * as api from './api.js';
import { $ } from './dom.js';
import { S } from './state.js';

const token = () => S.session && S.session.token;
let pendingConfirm = null; // what the password box confirms: (password) => Promise

function show(id, on) { $(id).hidden = !on; }

function errorText(err, what) {
  if (!err) return `${what} failed.`;
  if (err.code === 'wrong_password') return 'That password is wrong.';
  if (err.code === 'weak_password') return err.message || 'Choose a stronger password.';
  if (err.code === 'bad_second_factor') return 'That code does not match. Check the time on your phone and try again.';
  if (err.code === 'rate_limited') return err.message || 'Too many attempts. Wait a moment.';
  return err.message || `${what} failed.`;
}

async function refreshStatus() {
  const status = $('sec-totp-status');
  try {
    const st = await api.security.status(token());
    status.textContent = st.totp
      ? `On: sign-in asks for a code from your authenticator app. ${st.recovery_codes_left} recovery codes left.`
      : 'Off: your password alone signs you in.';
    show('sec-totp-setup', !st.totp);
    show('sec-totp-disable', st.totp);
    show('sec-recovery-new', st.totp);
  } catch (err) {
    status.textContent = 'Security settings are not available right now.';
  }
}

function fmtTime(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

async function refreshDevices() {
  const list = $('device-list');
  $('err-devices').textContent = '';
  let sessions = [];
  try {
    ({ sessions } = await api.security.sessions(token()));
  } catch (err) {
    $('err-devices').textContent = errorText(err, 'Loading devices');
    return;
  }
  list.replaceChildren(...sessions.map((d) => {
    const li = document.createElement('li');
    li.dataset.device = d.device_id;
    const main = document.createElement('div');
    main.className = 'device-main';
    const name = document.createElement('div');
    name.className = 'device-name';
    name.textContent = d.name || 'Unnamed device';
    const meta = document.createElement('div');
    meta.className = 'device-meta';
    meta.textContent = [`Signed in ${fmtTime(d.created)}`, `last active ${fmtTime(d.last_seen)}`, d.ip]
      .filter(Boolean).join(' · ');
    main.append(name, meta);
    li.append(main);
    if (d.current) {
      const tag = document.createElement('span');
      tag.className = 'device-this';
      tag.textContent = 'This device';
      li.append(tag);
    } else {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'btn ghost small';
      b.textContent = 'Sign out';
      b.setAttribute('aria-label', `Sign out ${d.name || 'device'}`);
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          await api.security.revoke(token(), d.device_id);
          await refreshDevices();
        } catch (err) {
          $('err-devices').textContent = errorText(err, 'Signing out the device');
          b.disabled = false;
        }
      });
      li.append(b);
    }
    return li;
  }));
  show('sec-revoke-others-btn', sessions.length > 1);
}

export function openSecurity() {
  for (const id of ['sec-setup', 'sec-codes', 'sec-confirm']) show(id, false);
  for (const id of ['sec-old-password', 'sec-new-password', 'sec-code', 'sec-confirm-password']) $(id).value = '';
  for (const id of ['err-sec-code', 'err-sec-password', 'err-sec-confirm', 'err-devices', 'sec-password-status']) $(id).textContent = '';
  if (!token()) return;
  refreshStatus();
  refreshDevices();
}

async function startSetup() {
  try {
    const s = await api.security.totpSetup(token());
    $('sec-qr').src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(s.qr_svg);
    $('sec-secret').textContent = s.secret.replace(/(.{4})/g, '$1 ').trim();
    show('sec-setup', true);
    show('sec-totp-setup', false);
    $('sec-code').focus();
  } catch (err) {
    $('sec-totp-status').textContent = errorText(err, 'Setting up');
  }
}

function showCodes(codes) {
  $('sec-code-list').replaceChildren(...codes.map((c) => {
    const li = document.createElement('li');
    li.textContent = c;
    return li;
  }));
  show('sec-codes', true);
  $('sec-codes-done').focus();
}

async function confirmSetup() {
  $('err-sec-code').textContent = '';
  const code = $('sec-code').value.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) { $('err-sec-code').textContent = 'Enter the 6 digits your app shows.'; return; }
  try {
    const { recovery_codes } = await api.security.totpEnable(token(), code);
    show('sec-setup', false);
    showCodes(recovery_codes);
    refreshStatus();
  } catch (err) {
    $('err-sec-code').textContent = errorText(err, 'Turning on');
  }
}

function askPassword(label, action) {
  pendingConfirm = action;
  $('sec-confirm-label').textContent = label;
  $('sec-confirm-password').value = '';
  $('err-sec-confirm').textContent = '';
  show('sec-confirm', true);
  $('sec-confirm-password').focus();
}

async function runConfirm() {
  const pw = $('sec-confirm-password').value;
  if (!pw) { $('err-sec-confirm').textContent = 'Enter your password.'; return; }
  try {
    await pendingConfirm(pw);
    show('sec-confirm', false);
    pendingConfirm = null;
  } catch (err) {
    $('err-sec-confirm').textContent = errorText(err, 'That');
  }
}

async function changePassword() {
  $('err-sec-password').textContent = '';
  $('sec-password-status').textContent = '';
  const oldPw = $('sec-old-password').value, newPw = $('sec-new-password').value;
  if (!oldPw || !newPw) { $('err-sec-password').textContent = 'Enter your current and your new password.'; return; }
  try {
    const res = await api.security.changePassword(token(), oldPw, newPw, $('sec-revoke-others').checked);
    $('sec-old-password').value = '';
    $('sec-new-password').value = '';
    $('sec-password-status').textContent = res.revoked
      ? `Password changed. ${res.revoked} other device${res.revoked === 1 ? ' was' : 's were'} signed out.`
      : 'Password changed.';
    refreshDevices();
  } catch (err) {
    $('err-sec-password').textContent = errorText(err, 'Changing the password');
  }
}

export function bindSecurity() {
  $('sec-totp-setup').addEventListener('click', startSetup);
  $('sec-totp-confirm').addEventListener('click', confirmSetup);
  $('sec-code').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); confirmSetup(); } });
  $('sec-totp-disable').addEventListener('click', () => askPassword('Your password, to turn off two-step verification', async (pw) => {
    await api.security.totpDisable(token(), pw);
    show('sec-codes', false);
    refreshStatus();
  }));
  $('sec-recovery-new').addEventListener('click', () => askPassword('Your password, for new recovery codes', async (pw) => {
    const { recovery_codes } = await api.security.recoveryCodes(token(), pw);
    showCodes(recovery_codes);
    refreshStatus();
  }));
  $('sec-confirm-ok').addEventListener('click', runConfirm);
  $('sec-confirm-password').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); runConfirm(); } });
  $('sec-confirm-cancel').addEventListener('click', () => { show('sec-confirm', false); pendingConfirm = null; });
  $('sec-codes-copy').addEventListener('click', async () => {
    const text = [...$('sec-code-list').children].map((li) => li.textContent).join('\n');
    try { await navigator.clipboard.writeText(text); $('sec-codes-copy').textContent = 'Copied'; } catch (e) { $('sec-codes-copy').textContent = 'Select and copy them by hand'; }
  });
  $('sec-codes-done').addEventListener('click', () => { show('sec-codes', false); $('sec-codes-copy').textContent = 'Copy codes'; });
  $('sec-password-change').addEventListener('click', changePassword);
  $('sec-revoke-others-btn').addEventListener('click', async () => {
    try {
      await api.security.revokeOthers(token());
      refreshDevices();
    } catch (err) {
      $('err-devices').textContent = errorText(err, 'Signing out the other devices');
    }
  });
}
