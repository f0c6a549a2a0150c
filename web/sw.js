// Service worker: keeps the app shell available offline (network first, so
// a deployed update is picked up at once; the cache is only a fallback).
// API and WebSocket traffic is never cached.
const CACHE = 'parley-shell-v6';
const SHELL = [
  './', 'index.html', 'style.css', 'theme.js', 'manifest.webmanifest',
  'js/app.js', 'js/api.js', 'js/conn.js', 'js/dom.js', 'js/outbox.js', 'js/storage.js', 'js/theme-toggle.js', 'js/popover.js', 'js/media.js', 'js/custom.js',
  'js/invites.js',
  'icons/icon.svg', 'icons/icon-192.png',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith('/v1/') || url.pathname === '/healthz') return;
  event.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') {
        const copy = res.clone();
        caches.open(CACHE).then((c) => c.put(req, copy)).catch(() => {});
      }
      return res;
    } catch (e) {
      const cached = await caches.match(req, { ignoreSearch: true }) ||
        (req.mode === 'navigate' ? await caches.match('index.html') : null);
      if (cached) return cached;
      throw e;
    }
  })());
});
