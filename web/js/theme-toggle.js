// Dark mode: follows prefers-color-scheme until the user picks a theme with
// the toggle; the choice is remembered (localStorage 'parley.theme').
import { load, save, THEME_KEY } from './storage.js';

const media = window.matchMedia('(prefers-color-scheme: dark)');

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

export function initTheme() {
  const saved = load(THEME_KEY);
  apply(saved === 'dark' || saved === 'light' ? saved : null);
  for (const b of document.querySelectorAll('[data-theme-toggle]')) {
    b.addEventListener('click', () => {
      const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
      save(THEME_KEY, next);
      apply(next);
    });
  }
  media.addEventListener('change', refresh);
}
