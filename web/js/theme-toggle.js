// Dark mode: follows prefers-color-scheme until the user picks a theme. The
// choice is a server-side setting (synced to every device); localStorage
// ('parley.theme') is the first-paint cache read by theme.js.
import { load, save, remove, THEME_KEY } from './storage.js';

const media = window.matchMedia('(prefers-color-scheme: dark)');
let onUserChange = null;

export function effectiveTheme() {
  const t = document.documentElement.getAttribute('data-theme');
  if (t === 'dark' || t === 'light') return t;
  return media.matches ? 'dark' : 'light';
}

function apply(theme) {
  if (theme === 'dark' || theme === 'light') document.documentElement.setAttribute('data-theme', theme);
  else document.documentElement.removeAttribute('data-theme');
  refresh();
}

function refresh() {
  const dark = effectiveTheme() === 'dark';
  for (const b of document.querySelectorAll('[data-theme-toggle]')) {
    b.setAttribute('aria-pressed', String(dark));
    b.title = dark ? 'Switch to light mode' : 'Switch to dark mode';
    const label = b.querySelector('.theme-label');
    if (label) label.textContent = dark ? 'Light mode' : 'Dark mode';
  }
  const meta = document.querySelectorAll('meta[name="theme-color"]');
  for (const m of meta) m.setAttribute('content', dark ? '#0b1416' : '#0f766e');
}

// 'light' | 'dark' | 'system': apply and cache for the next first paint.
export function setTheme(theme) {
  if (theme === 'dark' || theme === 'light') save(THEME_KEY, theme);
  else remove(THEME_KEY);
  apply(theme);
}

export function currentThemeSetting() {
  const saved = load(THEME_KEY);
  return saved === 'dark' || saved === 'light' ? saved : 'system';
}

// cb(theme) is called when the user flips the toggle (to store it server-side).
export function onThemeChosen(cb) { onUserChange = cb; }

export function initTheme() {
  const saved = load(THEME_KEY);
  apply(saved === 'dark' || saved === 'light' ? saved : null);
  for (const b of document.querySelectorAll('[data-theme-toggle]')) {
    b.addEventListener('click', () => {
      const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
      setTheme(next);
      if (onUserChange) onUserChange(next);
    });
  }
  media.addEventListener('change', refresh);
}
