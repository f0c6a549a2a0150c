// Notifications on this device: the browser's push subscription (asked for
// only after a user action), the synced notification settings
// (push_settings), the unread badge (Badging API), the avatars the service
// worker shows as icons, and opening the room a notification was about.
// The settings screen is notify-ui.js; the worker side is sw.js.
import * as media from './media.js';
import * as custom from './custom.js';
import { load, save } from './storage.js';
import { call, supports } from './requests.js';
import { S, subscribe } from './state.js';

const AVATARS = 'parley-avatars-v1';  // sw.js reads it
const AVATAR_MAX = 200;               // users whose avatar is kept for icons
const ROOM_HASH_RE = /^#room=(r[0-9]{1,19})$/;

export const N = {
  settings: null,       // PushSettings from the server, or null before it answered
  serverOff: false,     // push_disabled / unknown_op: the server sends no pushes
  listeners: new Set(), // called after settings or the device state changed
};

let pendingRoom = null;
let openRoomFn = null;

function onKey() { return S.me ? `parley.push.on.${S.me.id}` : null; }
function hintKey() { return S.me ? `parley.push.hint.${S.me.id}` : null; }
function notifyListeners() { for (const f of N.listeners) { try { f(); } catch (e) { /* a view */ } } }

// ---------------------------------------------------------------- device state

export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window &&
    location.protocol !== 'file:';
}

// 'unsupported' | 'server-off' | 'denied' | 'on' | 'off'
export function deviceState() {
  if (!pushSupported()) return 'unsupported';
  if (N.serverOff) return 'server-off';
  if (Notification.permission === 'denied') return 'denied';
  if (Notification.permission === 'granted' && load(onKey()) === true) return 'on';
  return 'off';
}

function b64urlBytes(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

function sameKey(buf, key) {
  if (!buf) return false;
  const a = new Uint8Array(buf);
  const b = b64urlBytes(key);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function noteServerError(err) {
  if (err && (err.code === 'push_disabled' || err.code === 'unknown_op')) {
    N.serverOff = true;
    notifyListeners();
    return true;
  }
  return false;
}

// Subscribe this browser with the server's key and hand the subscription to
// the server. Call from a user action (the permission prompt needs one).
// Returns the device state; throws with a user-facing message.
export async function enablePush() {
  if (!pushSupported()) throw new Error('This browser cannot show notifications.');
  const perm = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
  if (perm !== 'granted') {
    notifyListeners();
    throw new Error(perm === 'denied'
      ? 'Notifications are blocked for this site. Allow them in your browser’s site settings, then try again.'
      : 'Notifications were not allowed.');
  }
  try {
    await subscribeDevice();
  } catch (err) {
    if (noteServerError(err)) throw new Error('This server does not send notifications.');
    throw err;
  }
  save(onKey(), true);
  save(hintKey(), 'done');
  hideHint();
  notifyListeners();
  storeAvatarsSoon();
  return deviceState();
}

async function subscribeDevice() {
  const { key } = await call('push_key');
  const reg = await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  if (sub && sub.options && sub.options.applicationServerKey && !sameKey(sub.options.applicationServerKey, key)) {
    // Made for another server key (the server's vapid.key changed): useless.
    try { await sub.unsubscribe(); } catch (e) { /* ignore */ }
    sub = null;
  }
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlBytes(key) });
  await call('push_subscribe', { subscription: sub.toJSON() });
}

// Turn notifications off for this device: the browser forgets the
// subscription and so does the server.
export async function disablePush() {
  save(onKey(), false);
  if (pushSupported()) {
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.getSubscription();
    if (sub) {
      const endpoint = sub.endpoint;
      try { await sub.unsubscribe(); } catch (e) { /* ignore */ }
      try { await call('push_unsubscribe', { endpoint }); } catch (err) {
        if (err.code !== 'not_found' && !noteServerError(err)) throw err;
      }
    }
  }
  notifyListeners();
}

// On logout: the server deletes the session's subscriptions itself; the
// browser's subscription, the badge and the stored avatars go too.
export async function onLogout() {
  clearBadge();
  hideHint();
  N.settings = null;
  N.serverOff = false;
  if (!pushSupported()) return;
  try {
    const reg = await navigator.serviceWorker.getRegistration();
    const sub = reg && reg.pushManager ? await reg.pushManager.getSubscription() : null;
    if (sub) await sub.unsubscribe();
    if (reg) for (const n of await reg.getNotifications()) n.close();
  } catch (e) { /* ignore */ }
  try { await caches.delete(AVATARS); } catch (e) { /* ignore */ }
}

// After each (re)connection: the settings, and a subscription the server
// may have lost (or the browser renewed) handed over again.
export async function onNotifyReady() {
  if (!supports('push_settings_get')) return;
  try {
    const { settings } = await call('push_settings_get');
    N.serverOff = false;
    applyPushSettings(settings);
  } catch (err) {
    noteServerError(err);
    return;
  }
  if (deviceState() === 'on') {
    try { await subscribeDevice(); } catch (err) { noteServerError(err); }
  }
  maybeShowHint();
  storeAvatarsSoon();
}

export function applyPushSettings(s) {
  if (!s || typeof s !== 'object') return;
  N.settings = {
    content_free: !!s.content_free,
    mute_until: typeof s.mute_until === 'number' ? s.mute_until : 0,
    dnd: s.dnd && typeof s.dnd.start === 'string' && typeof s.dnd.end === 'string' ? { start: s.dnd.start, end: s.dnd.end } : null,
    rooms: s.rooms && typeof s.rooms === 'object' ? s.rooms : {},
  };
  notifyListeners();
}

export async function setPushSettings(args) {
  const { settings } = await call('push_settings_set', args);
  applyPushSettings(settings);
  return N.settings;
}

export function roomPref(roomId) {
  const r = N.settings && N.settings.rooms[roomId];
  return { level: r && r.level ? r.level : 'default', mute_until: r && r.mute_until ? r.mute_until : 0 };
}

// ---------------------------------------------------------------- the one-time hint

function maybeShowHint() {
  const box = document.getElementById('notify-hint');
  if (!box || !S.me) return;
  box.hidden = !(deviceState() === 'off' && Notification.permission === 'default' && !load(hintKey()));
}

function hideHint() {
  const box = document.getElementById('notify-hint');
  if (box) box.hidden = true;
}

export function dismissHint() {
  save(hintKey(), 'dismissed');
  hideHint();
}

// ---------------------------------------------------------------- badge

let lastBadge = -1;
function updateBadge() {
  if (!('setAppBadge' in navigator) || !S.me) return;
  let total = 0;
  for (const r of S.rooms.values()) total += r.unread || 0;
  if (total === lastBadge) return;
  lastBadge = total;
  const p = total > 0 ? navigator.setAppBadge(total) : navigator.clearAppBadge();
  p.catch(() => {});
}

function clearBadge() {
  lastBadge = -1;
  if ('clearAppBadge' in navigator) navigator.clearAppBadge().catch(() => {});
}

// ---------------------------------------------------------------- avatars for the worker

let avatarTimer = null;
function storeAvatarsSoon() {
  clearTimeout(avatarTimer);
  avatarTimer = setTimeout(storeAvatars, 2000);
}

// The worker cannot fetch media (no token): keep the square thumbnails of
// the people I talk to in a cache it can read (sw.js, avatarIcon).
async function storeAvatars() {
  if (!pushSupported() || deviceState() !== 'on' || !S.me || typeof caches === 'undefined') return;
  const reg = await navigator.serviceWorker.getRegistration();
  if (!reg) return;
  const cache = await caches.open(AVATARS);
  let n = 0;
  for (const u of S.users.values()) {
    if (n >= AVATAR_MAX || !S.me) break;
    if (!u || u.id === S.me.id || !u.avatar || !media.validId(u.avatar)) continue;
    n++;
    const key = new URL(`avatar/${u.id}`, reg.scope).href;
    const held = await cache.match(key);
    if (held && held.headers.get('X-Avatar') === u.avatar) continue;
    try {
      const blob = await media.fetchBlob(custom.squarePath(u.avatar));
      if (blob.size > 256 * 1024) continue;
      await cache.put(key, new Response(blob, { headers: { 'Content-Type': blob.type || 'image/jpeg', 'X-Avatar': u.avatar } }));
    } catch (e) { /* next time */ }
  }
}

// ---------------------------------------------------------------- opening a room from a notification

function tryOpenPending() {
  if (!pendingRoom || !S.me || !openRoomFn) return;
  if (!S.rooms.has(pendingRoom)) return;
  const id = pendingRoom;
  pendingRoom = null;
  openRoomFn(id);
}

// `#room=r12` (a notification clicked with no tab open): open that room
// once it is known. Returns the room id or null.
export function takeRoomFromUrl() {
  const m = ROOM_HASH_RE.exec(location.hash);
  if (!m) return null;
  history.replaceState(history.state, '', location.pathname + location.search);
  pendingRoom = m[1];
  return m[1];
}

export function bindNotify(openRoom) {
  openRoomFn = openRoom;
  subscribe('sidebar', () => { updateBadge(); tryOpenPending(); });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.addEventListener('message', (e) => {
      const d = e.data;
      if (!d || d.type !== 'open-room' || typeof d.room !== 'string' || !/^r[0-9]{1,19}$/.test(d.room)) return;
      pendingRoom = d.room;
      tryOpenPending();
    });
  }
  window.addEventListener('hashchange', () => { if (takeRoomFromUrl()) tryOpenPending(); });
}
