// HTTP part of the protocol: register, login, logout.

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

async function post(path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
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
    throw new ApiError(err.code || `http_${res.status}`, err.message || res.statusText, res.status);
  }
  return data || {};
}

export function register(username, password, displayName) {
  const body = { username, password, device_name: deviceName() };
  if (displayName) body.display_name = displayName;
  return post('/v1/register', body);
}

export function login(username, password) {
  return post('/v1/login', { username, password, device_name: deviceName() });
}

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
