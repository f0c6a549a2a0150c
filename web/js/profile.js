// People: presence (ours reported, theirs shown), profiles and avatars, the
// profile card.
import * as custom from './custom.js';
import { load } from './storage.js';
import { $ } from './dom.js';
import { scheduleCache } from './cache.js';
import { mergeUser, presenceOf, presenceText } from './model.js';
import { call, explain, supports, toast } from './requests.js';
import { openSettings } from './settings.js';
import { renderMe } from './sidebar.js';
import { changed, S } from './state.js';
import { onRoomEvent } from './sync.js';
import { renderThread } from './thread.js';
import { openRoom } from './timeline.js';

// The picture shown for a room: a group's own avatar, a dm's other member's.
export function roomAvatar(r) {
  if (r.kind === 'group') return r.avatar || null;
  const other = r.members.find((x) => x.id !== S.me.id);
  return other ? avatarOf(other.id) : null;
}

const IDLE_MS = Number(load('parley.idleMs')) || 120000; // away after this long without input

export async function loadPresence() {
  if (!supports('presence_query')) return;
  try {
    const { presence } = await call('presence_query');
    for (const p of presence || []) if (p && p.user) S.presence.set(p.user, { status: p.status, last_seen: p.last_seen });
    changed({ sidebar: true, header: true });
  } catch (e) { /* older server */ }
}

// New people share a room with us: their presence was not in the last query.
let presenceSoon = null;
export function loadPresenceSoon() {
  if (presenceSoon || !supports('presence_query')) return;
  presenceSoon = setTimeout(() => { presenceSoon = null; loadPresence(); }, 300);
}

export function onPresence(ev) {
  if (!ev.user) return;
  S.presence.set(ev.user, { status: ev.status, last_seen: ev.last_seen });
  changed({ sidebar: true, header: true });
  if (profileShown === ev.user) fillProfilePresence(ev.user);
}

let lastInput = Date.now();
function wantedPresence() {
  return document.visibilityState === 'hidden' || Date.now() - lastInput > IDLE_MS ? 'away' : 'online';
}

export function reportPresence() {
  const status = wantedPresence();
  if (status === S.reported || !S.conn || !S.conn.isReady || !supports('presence')) return;
  S.reported = status;
  call('presence', { status }).catch(() => { S.reported = null; });
}

function onUserInput() {
  lastInput = Date.now();
  if (S.reported === 'away') reportPresence();
}

// Refresh "last seen … ago" texts now and then.
setInterval(() => { if (S.me) { reportPresence(); changed({ header: true }); } }, 15000);

// ---------------------------------------------------------------- profiles

let profileShown = null;
let profileOpener = null;

// The user's avatar media id, or null. Unknown users are asked once (their
// profile carries it); profile events keep it current afterwards.
const profilesAsked = new Set();
export function avatarOf(uid) {
  const u = S.users.get(uid);
  if (!u || !('avatar' in u)) ensureProfile(uid);
  return u && u.avatar ? u.avatar : null;
}

function ensureProfile(uid) {
  if (!uid || profilesAsked.has(uid) || !supports('profile_get') || !S.conn || !S.conn.isReady) return;
  profilesAsked.add(uid);
  call('profile_get', { user: uid }).then(({ user }) => {
    const before = S.users.get(uid);
    const had = before && 'avatar' in before ? before.avatar : undefined;
    const u = mergeUser(user);
    if (!u) return;
    if (!('avatar' in u)) u.avatar = null; // older server: stop asking
    if (u.id === S.me.id) { S.me = { ...S.me, ...user }; renderMe(); }
    if (had !== u.avatar) changed({ sidebar: true, header: true });
  }, () => { profilesAsked.delete(uid); });
}

export function onProfile(p) {
  const u = mergeUser(p);
  if (!u) return;
  if (u.id === S.me.id) { S.me = { ...S.me, ...p }; renderMe(); }
  for (const r of S.rooms.values()) {
    for (const m of r.members) if (m.id === u.id) { if (p.display_name) m.display_name = p.display_name; }
    r.nodes.clear();
  }
  if (S.thread) S.thread.nodes.clear();
  if (profileShown === u.id) fillProfile(u);
  changed({ sidebar: true, header: true, messages: true });
  renderThread();
  scheduleCache();
}

function fillProfile(u) {
  const name = u.display_name || u.username || u.id;
  $('profile-name').textContent = name;
  $('profile-username').textContent = u.username ? '@' + u.username : '';
  $('profile-status').textContent = u.status_text || '';
  $('profile-status').hidden = !u.status_text;
  $('profile-bio').textContent = u.bio || '';
  $('profile-bio').hidden = !u.bio;
  custom.paintAvatar($('profile-avatar'), name, u.avatar || null);
  $('profile-message').hidden = u.id === S.me.id;
  fillProfilePresence(u.id);
}

function fillProfilePresence(uid) {
  const p = presenceOf(uid);
  const dot = $('profile-presence');
  dot.hidden = !p;
  if (p) dot.dataset.status = p.status;
  $('profile-seen').textContent = presenceText(uid);
}

export async function showProfile(uid, opener) {
  if (uid === S.me.id) { openSettings(); return; }
  profileShown = uid;
  profileOpener = opener || null;
  const known = S.users.get(uid) || { id: uid };
  fillProfile(known);
  const dlg = $('profile-dialog');
  if (!dlg.open) dlg.showModal();
  $('profile-close').focus();
  if (!supports('profile_get')) return;
  try {
    const { user } = await call('profile_get', { user: uid });
    const u = mergeUser(user);
    if (u && profileShown === uid) fillProfile(u);
  } catch (e) { /* older server: show what we know */ }
}

export function forgetProfiles() { profilesAsked.clear(); }

// Ask for uid's profile again (ours, after each reconnection).
export function refreshProfile(uid) {
  profilesAsked.delete(uid);
  ensureProfile(uid);
}

export function bindProfile() {
  $('profile-close').addEventListener('click', () => $('profile-dialog').close());
  $('profile-dialog').addEventListener('close', () => {
    profileShown = null;
    if (profileOpener && profileOpener.isConnected) profileOpener.focus();
    profileOpener = null;
  });
  $('profile-message').addEventListener('click', async () => {
    const u = S.users.get(profileShown);
    $('profile-dialog').close();
    if (!u || !u.username) return;
    try {
      const reply = await call('create_room', { kind: 'dm', members: [u.username] });
      onRoomEvent(reply.room);
      openRoom(reply.room.id);
    } catch (err) { toast(explain(err, 'Starting a chat')); }
  });

  // presence: idle and hidden tabs report away
  for (const t of ['pointerdown', 'keydown', 'wheel', 'touchstart']) window.addEventListener(t, onUserInput, { passive: true, capture: true });
  let moveAt = 0;
  window.addEventListener('pointermove', () => { const n = Date.now(); if (n - moveAt > 5000) { moveAt = n; onUserInput(); } }, { passive: true });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') lastInput = Date.now(); reportPresence(); });
}
