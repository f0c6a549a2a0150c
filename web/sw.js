// Service worker: keeps the app shell available offline (network first, so
// a deployed update is picked up at once; the cache is only a fallback).
// API and WebSocket traffic is never cached.
const CACHE = 'parley-shell-v8';
const SHELL = [
  './', 'index.html', 'style.css', 'theme.js', 'manifest.webmanifest',
  'js/actions.js', 'js/api.js', 'js/app.js', 'js/auth.js', 'js/cache.js', 'js/composer.js',
  'js/conn.js', 'js/custom.js', 'js/dialogs.js', 'js/dom.js', 'js/emoji.js', 'js/invites.js',
  'js/media-view.js', 'js/media.js', 'js/message.js', 'js/model.js', 'js/outbox.js', 'js/passkeys.js',
  'js/popover.js', 'js/profile.js', 'js/requests.js', 'js/search.js', 'js/security.js', 'js/settings.js',
  'js/sidebar.js', 'js/state.js', 'js/storage.js', 'js/sync.js', 'js/theme-toggle.js',
  'js/thread.js', 'js/timeline.js', 'js/uploads.js',
  'js/call.js', 'js/call-view.js', 'js/call-history.js', // calls (issue 19)
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
