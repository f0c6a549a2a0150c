// Service worker: keeps the app shell available offline (network first, so
// a deployed update is picked up at once; the cache is only a fallback).
// API and WebSocket traffic is never cached. It also shows Web Push
// notifications (payload: docs/protocol.md, "Web Push notifications") and
// opens the right conversation when one is clicked.
const CACHE = 'parley-shell-v11';
// Square avatar thumbnails the page stored for notifications (notify.js):
// the worker has no token to fetch media itself.
const AVATARS = 'parley-avatars-v1';
const SHELL = [
  './', 'index.html', 'style.css', 'theme.js', 'manifest.webmanifest',
  'js/actions.js', 'js/api.js', 'js/app.js', 'js/auth.js', 'js/cache.js', 'js/composer.js',
  'js/conn.js', 'js/custom.js', 'js/dialogs.js', 'js/dom.js', 'js/emoji.js', 'js/invites.js',
  'js/media-view.js', 'js/media.js', 'js/message.js', 'js/model.js', 'js/notify.js', 'js/notify-ui.js',
  'js/outbox.js', 'js/passkeys.js',
  'js/popover.js', 'js/profile.js', 'js/requests.js', 'js/search.js', 'js/security.js', 'js/settings.js',
  'js/sidebar.js', 'js/state.js', 'js/storage.js', 'js/sync.js', 'js/theme-toggle.js',
  'js/thread.js', 'js/timeline.js', 'js/uploads.js',
  'js/call.js', 'js/call-view.js', 'js/call-history.js', // calls (issue 19)
  'js/webhooks.js', // incoming webhooks (issue 16)
  'icons/icon.svg', 'icons/icon-192.png',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE && k !== AVATARS).map((k) => caches.delete(k))))
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

// ---------------------------------------------------------------- Web Push

const ROOM_RE = /^r[0-9]{1,19}$/;
const USER_RE = /^u[0-9]{1,19}$/;

function clip(s, max) {
  s = String(s);
  return s.length > max ? s.slice(0, max - 1) + '\u2026' : s;
}

// What the notification says. A content-free push (the user's setting, or
// the server's default) carries no text of the message: say who wrote and
// let the app fetch the rest when opened.
function describe(p) {
  const title = typeof p.title === 'string' && p.title ? clip(p.title, 200) : 'New message';
  const read = 'Open Parley to read it.';
  let body;
  if (p.content_free) {
    body = p.why === 'mention' ? `You were mentioned. ${read}` : p.why === 'reply' ? `A reply to you. ${read}` : read;
  } else if (typeof p.body === 'string' && p.body) {
    body = clip(p.body, 300);
  } else {
    body = p.content_type && p.content_type !== 'text' ? 'Sent an attachment' : read;
  }
  return { title, body };
}

async function avatarIcon(sender) {
  if (!USER_RE.test(sender || '')) return null;
  try {
    const cache = await caches.open(AVATARS);
    const res = await cache.match(new URL(`avatar/${sender}`, self.registration.scope).href);
    if (!res) return null;
    const buf = new Uint8Array(await res.arrayBuffer());
    if (!buf.length || buf.length > 256 * 1024) return null;
    let bin = '';
    for (let i = 0; i < buf.length; i += 0x8000) bin += String.fromCharCode.apply(null, buf.subarray(i, i + 0x8000));
    return `data:${res.headers.get('Content-Type') || 'image/jpeg'};base64,${btoa(bin)}`;
  } catch (e) {
    return null;
  }
}

async function showPush(p) {
  const room = typeof p.room === 'string' && ROOM_RE.test(p.room) ? p.room : '';
  const { title, body } = describe(p);
  const icon = (await avatarIcon(p.sender)) || new URL('icons/icon-192.png', self.registration.scope).href;
  // One notification per room: a burst replaces it (tag); only a mention or
  // a reply to you alerts again (renotify), the rest replace it quietly.
  const opts = {
    body, icon, badge: new URL('icons/icon-192.png', self.registration.scope).href,
    tag: room ? `room:${room}` : 'parley', timestamp: typeof p.ts === 'number' ? p.ts : Date.now(),
    data: { room, seq: typeof p.seq === 'number' ? p.seq : 0, why: String(p.why || '') },
  };
  opts.renotify = !!room && (p.why === 'mention' || p.why === 'reply');
  await self.registration.showNotification(title, opts);
}

// Pushes are shown one after the other, in the order they came: each waits
// for the icon lookup, and a burst in one room must end on its newest message.
let shownChain = Promise.resolve();
self.addEventListener('push', (event) => {
  let p = {};
  try { p = event.data ? event.data.json() : {}; } catch (e) { p = {}; }
  if (!p || typeof p !== 'object') p = {};
  shownChain = shownChain.catch(() => {}).then(() => showPush(p));
  event.waitUntil(shownChain);
});

// A click focuses an open tab of the app and tells it which room to show;
// without one it opens the app on that room (index.html#room=r12).
async function openFromNotification(room) {
  const scope = self.registration.scope;
  const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const mine = wins.filter((w) => w.url.startsWith(scope));
  const w = mine.find((c) => c.focused) || mine[0];
  if (w) {
    try { await w.focus(); } catch (e) { /* not allowed: the message still opens the room */ }
    w.postMessage({ type: 'open-room', room });
    return 'focused';
  }
  await self.clients.openWindow(room ? `${scope}#room=${room}` : scope);
  return 'opened';
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const room = typeof data.room === 'string' && ROOM_RE.test(data.room) ? data.room : '';
  event.waitUntil(openFromNotification(room));
});
