// Small wrappers around localStorage that never throw (private mode, quota).

export function load(key, fallback = null) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : JSON.parse(v);
  } catch (e) {
    return fallback;
  }
}

export function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (e) {
    return false;
  }
}

export function remove(key) {
  try { localStorage.removeItem(key); } catch (e) { /* ignore */ }
}

export const SESSION_KEY = 'parley.session';
export const THEME_KEY = 'parley.theme';
