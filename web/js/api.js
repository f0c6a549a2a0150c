// HTTP part of the protocol: register, login, logout.

export class ApiError extends Error {
  constructor(code, message, status, details) {
    super(message || code);
    this.code = code;
    this.status = status;
    this.details = details || null; // the whole error object (e.g. mfa_ticket, methods)
  }
}

async function post(path, body, token, method = 'POST') {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError('network', 'Cannot reach the server. Check your connection.', 0);
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(err.code || `http_${res.status}`, err.message || res.statusText, res.status, err);
  }
  return data || {};
}

export function register(username, password, displayName) {
  const body = { username, password, device_name: deviceName() };
  if (displayName) body.display_name = displayName;
  return post('/v1/register', body);
}

// extra: { totp } or { recovery_code } given with the password.
export function login(username, password, extra = {}) {
  return post('/v1/login', { username, password, device_name: deviceName(), ...extra });
}

// The second step after 401 mfa_required: factor is { totp } or { recovery_code }.
export function loginMfa(ticket, factor) {
  return post('/v1/login/mfa', { mfa_ticket: ticket, device_name: deviceName(), ...factor });
}

export function resetPassword(token, newPassword) {
  return post('/v1/account/reset', { token, new_password: newPassword });
}

// Account security (authenticated): TOTP, recovery codes, password, devices.
export const security = {
  status: (t) => post('/v1/account/security', undefined, t, 'GET'),
  totpSetup: (t) => post('/v1/account/totp/setup', {}, t),
  totpEnable: (t, code) => post('/v1/account/totp/enable', { code }, t),
  totpDisable: (t, password) => post('/v1/account/totp/disable', { password }, t),
  recoveryCodes: (t, password) => post('/v1/account/recovery_codes', { password }, t),
  changePassword: (t, oldPassword, newPassword, revokeOthers) =>
    post('/v1/account/password', { old_password: oldPassword, new_password: newPassword, revoke_others: revokeOthers }, t),
  sessions: (t) => post('/v1/sessions', undefined, t, 'GET'),
  revoke: (t, deviceId) => post(`/v1/sessions/${encodeURIComponent(deviceId)}`, undefined, t, 'DELETE'),
  revokeOthers: (t) => post('/v1/sessions/revoke_others', {}, t),
};

export function logout(token) {
  return post('/v1/logout', undefined, token);
}

function deviceName() {
  const ua = navigator.userAgent || '';
  let browser = 'Browser';
  if (/Firefox\//.test(ua)) browser = 'Firefox';
  else if (/Edg\//.test(ua)) browser = 'Edge';
  else if (/Chrom(e|ium)\//.test(ua)) browser = 'Chrome';
  else if (/Safari\//.test(ua)) browser = 'Safari';
  let os = '';
  if (/Android/.test(ua)) os = 'Android';
  else if (/iPhone|iPad/.test(ua)) os = 'iOS';
  else if (/Mac OS X/.test(ua)) os = 'macOS';
  else if (/Windows/.test(ua)) os = 'Windows';
  else if (/Linux/.test(ua)) os = 'Linux';
  return `Web · ${browser}${os ? ' on ' + os : ''}`.slice(0, 64);
}
