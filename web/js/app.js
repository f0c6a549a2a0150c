// Parley web client: wiring of state, connection and views.
import * as api from './api.js';
import { Connection } from './conn.js';
import { Outbox } from './outbox.js';
import { load, save, remove, SESSION_KEY } from './storage.js';
import { $, el, linkify, fmtTime, fmtFull, fmtDay, dayKey, fmtListTime, clockIcon, markMentions,
  highlightText, snippet, fmtAgo, icon } from './dom.js';
import { initTheme, setTheme, onThemeChosen, currentThemeSetting } from './theme-toggle.js';
import { openMenu, openEmojiPicker, closePopover, QUICK, noteRecent, EMOJI_NAMES } from './popover.js';
import * as media from './media.js';
import * as custom from './custom.js';
import * as invites from './invites.js';

const PAGE = 50;              // history page size
const MAX_MSGS = 300;         // message nodes kept in the DOM per room
const NEAR_EDGE_PX = 240;     // start loading a page this close to an edge
const BOTTOM_SLACK_PX = 48;   // "at the bottom" tolerance
const CACHE_MSGS = 50;        // messages per room kept for offline start

const S = {
  session: null,     // {token, user_id, username, device_id}
  me: null,          // {id, username, display_name}
  conn: null,
  outbox: null,
  rooms: new Map(),  // id -> room state (see newRoom)
  users: new Map(),  // id -> {id, username, display_name}
  current: null,     // open room id
  status: 'connecting',
  flushing: false,
  filter: '',
  settings: { theme: 'system', read_receipts: true, show_presence: true, notifications: true, group_add: 'everyone' },
  unsupported: new Set(), // ops the server answered unknown_op
  versioned: false,       // server has per-room versions (update events)
  presence: new Map(),    // user id -> {status, last_seen}
  reported: null,         // presence status last reported
  thread: null,           // open thread pane state
  compose: null,          // {mode: 'reply'|'edit', room, seq, ...}
  jump: null,             // {room, seq}: scroll to and flash after render
  uploads: [],            // attachments being uploaded/sent (see startUpload)
};

// ---------------------------------------------------------------- boot

function boot() {
  initTheme();
  onThemeChosen((theme) => saveSetting({ theme }));
  bindAuthView();
  bindChatView();
  if ('serviceWorker' in navigator && location.protocol !== 'file:') {
    navigator.serviceWorker.register('sw.js').catch(() => {});
  }
  const session = load(SESSION_KEY);
  if (session && session.token && session.user_id) startChat(session);
  else showAuth();
}

// ---------------------------------------------------------------- auth view

let authMode = 'login';

function showAuth(message) {
  $('chat-view').hidden = true;
  $('auth-view').hidden = false;
  document.title = 'Parley — Sign in';
  clearAuthErrors();
  if (message) $('err-form').textContent = message;
  setAuthMode(authMode);
  $('auth-username').focus();
}

function setAuthMode(mode) {
  authMode = mode;
  const reg = mode === 'register';
  $('tab-login').setAttribute('aria-selected', String(!reg));
  $('tab-register').setAttribute('aria-selected', String(reg));
  $('tab-login').tabIndex = reg ? -1 : 0;
  $('tab-register').tabIndex = reg ? 0 : -1;
  $('auth-form').setAttribute('aria-labelledby', reg ? 'tab-register' : 'tab-login');
  $('field-display').hidden = !reg;
  $('auth-password').autocomplete = reg ? 'new-password' : 'current-password';
  $('auth-submit').textContent = reg ? 'Create account' : 'Sign in';
  clearAuthErrors();
}

function clearAuthErrors() {
  for (const id of ['err-username', 'err-display', 'err-password', 'err-form']) $(id).textContent = '';
  for (const id of ['auth-username', 'auth-display', 'auth-password']) $(id).removeAttribute('aria-invalid');
}

function fieldError(inputId, errId, text) {
  $(errId).textContent = text;
  if (inputId) {
    $(inputId).setAttribute('aria-invalid', 'true');
    $(inputId).focus();
  }
}

const AUTH_ERRORS = {
  invalid_username: ['auth-username', 'err-username', 'Use 1–32 characters: a–z, 0–9, _ . - (with at least one letter or digit)'],
  username_taken: ['auth-username', 'err-username', 'That username is taken.'],
  weak_password: ['auth-password', 'err-password', 'Use at least 8 characters.'],
  bad_credentials: ['auth-password', 'err-password', 'Wrong username or password.'],
  too_many_sessions: [null, 'err-form', 'Too many devices are signed in to this account.'],
  mfa_required: [null, 'err-form', 'This account needs a one-time code (not supported here yet).'],
};

function bindAuthView() {
  $('tab-login').addEventListener('click', () => setAuthMode('login'));
  $('tab-register').addEventListener('click', () => setAuthMode('register'));
  for (const tab of [$('tab-login'), $('tab-register')]) {
    tab.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        const next = authMode === 'login' ? 'register' : 'login';
        setAuthMode(next);
        $(next === 'login' ? 'tab-login' : 'tab-register').focus();
      }
    });
  }
  $('auth-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearAuthErrors();
    const username = $('auth-username').value.trim().toLowerCase();
    const password = $('auth-password').value;
    const display = $('auth-display').value.trim();
    if (!username) return fieldError('auth-username', 'err-username', 'Enter a username.');
    if (!password) return fieldError('auth-password', 'err-password', 'Enter a password.');
    const btn = $('auth-submit');
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      const res = authMode === 'register'
        ? await api.register(username, password, display)
        : await api.login(username, password);
      const session = { token: res.token, user_id: res.user_id, username: res.username, device_id: res.device_id,
        display_name: display || res.username };
      save(SESSION_KEY, session);
      $('auth-password').value = '';
      startChat(session);
    } catch (err) {
      const known = AUTH_ERRORS[err.code];
      if (known) fieldError(known[0], known[1], known[2]);
      else fieldError(null, 'err-form', err.message || 'Something went wrong.');
      $(known ? known[1] : 'err-form').dataset.code = err.code || '';
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  });
}

// ---------------------------------------------------------------- chat start/stop

function startChat(session) {
  S.session = session;
  S.me = { id: session.user_id, username: session.username, display_name: session.display_name || session.username };
  S.outbox = new Outbox(session.user_id);
  media.setMediaToken(session.token);
  S.rooms.clear();
  S.users.clear();
  S.presence.clear();
  S.unsupported.clear();
  S.current = null;
  S.thread = null;
  S.compose = null;
  restoreCache();
  $('auth-view').hidden = true;
  $('chat-view').hidden = false;
  document.title = 'Parley';
  renderMe();
  renderSidebar();
  invites.clear();
  const last = load(`parley.current.${S.me.id}`);
  if (last && S.rooms.has(last)) openRoom(last, { push: false, focus: false });
  else closeRoom({ pop: false });
  S.conn = new Connection(session.token, {
    onStatus: setStatus,
    onReady,
    onEvent,
    onAuthFailed: (why) => endSession(why),
  });
  S.conn.start();
}

function endSession(message) {
  if (S.conn) S.conn.stop();
  S.conn = null;
  if (S.me) {
    remove(`parley.cache.${S.me.id}`);
    remove(`parley.current.${S.me.id}`);
  }
  if (S.outbox) S.outbox.clear();
  cancelRecording();
  for (const up of S.uploads) if (up.xhr) up.xhr.abort();
  S.uploads = [];
  uploadNodes.clear();
  closeLightbox();
  media.releaseAll();
  custom.releaseAllImages();
  custom.setEmojiList([]);
  profilesAsked.clear();
  remove(SESSION_KEY);
  S.session = null;
  S.me = null;
  S.rooms.clear();
  S.current = null;
  invites.clear();
  $('room-list').replaceChildren();
  $('message-list').replaceChildren();
  showAuth(message);
}

async function logout() {
  const token = S.session && S.session.token;
  if (S.conn) S.conn.stop();
  if (token) { try { await api.logout(token); } catch (e) { /* offline: forget locally anyway */ } }
  endSession('');
}

// ---------------------------------------------------------------- status

let statusTimer = null;

function setStatus(state, info) {
  S.status = state;
  const box = $('conn-status');
  box.dataset.state = state;
  const text = box.querySelector('.conn-text');
  clearInterval(statusTimer);
  const show = () => {
    if (state === 'online') text.textContent = 'Online';
    else if (state === 'connecting') text.textContent = 'Connecting…';
    else if (state === 'offline') text.textContent = 'Offline';
    else if (state === 'waiting') {
      const s = Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000));
      text.textContent = s > 0 ? `Reconnecting in ${s}s…` : 'Reconnecting…';
    }
  };
  show();
  if (state === 'waiting') statusTimer = setInterval(show, 1000);
  document.body.classList.toggle('is-offline', state !== 'online');
  renderPendingState();
}

// ---------------------------------------------------------------- rooms model

function newRoom(data) {
  return {
    id: data.id, kind: data.kind, name: data.name || '', members: data.members || [],
    member_count: data.member_count || 0,
    lastSeq: data.last_seq || 0, pos: 0, unread: data.unread || 0,
    lastMsg: null, seenAt: 0,
    version: 0, disappearing_ms: data.disappearing_ms || 0, mentions: data.mentions || 0,
    avatar: media.validId(data.avatar) ? data.avatar : null,
    typing: new Map(), receipts: new Map(), deliveredSent: 0, receiptsLoaded: false,
    msgs: new Map(), nodes: new Map(), loaded: false, loading: false,
    atLatest: true, hasOlder: false, loadingOlder: false, loadingNewer: false,
    markerSeq: null, readSent: 0, newBelow: 0, seps: new Map(),
  };
}

function updateRoomMeta(r, data) {
  r.kind = data.kind || r.kind;
  r.name = data.name || '';
  if (Array.isArray(data.members)) {
    r.members = data.members;
    for (const u of data.members) S.users.set(u.id, { ...(S.users.get(u.id) || {}), ...u });
  }
  if (typeof data.member_count === 'number') r.member_count = data.member_count;
  if (typeof data.disappearing_ms === 'number') r.disappearing_ms = data.disappearing_ms;
  if ('avatar' in data) r.avatar = media.validId(data.avatar) ? data.avatar : null;
}

// The picture shown for a room: a group's own avatar, a dm's other member's.
function roomAvatar(r) {
  if (r.kind === 'group') return r.avatar || null;
  const other = r.members.find((x) => x.id !== S.me.id);
  return other ? avatarOf(other.id) : null;
}

function roomTitle(r) {
  if (r.kind === 'dm') {
    const other = r.members.find((m) => m.id !== S.me.id);
    return other ? (other.display_name || other.username) : 'Direct message';
  }
  if (r.name) return r.name;
  const names = r.members.filter((m) => m.id !== S.me.id).map((m) => m.display_name || m.username);
  return names.length ? names.join(', ') : 'Group';
}

function roomSubtitle(r, withPresence = false) {
  if (r.kind === 'dm') {
    const other = r.members.find((m) => m.id !== S.me.id);
    if (!other) return '';
    const p = withPresence ? presenceText(other.id) : '';
    return '@' + other.username + (p ? ' · ' + p : '');
  }
  const n = r.member_count || r.members.length;
  if (r.members.length && r.members.length <= 6) {
    return r.members.map((m) => (m.id === S.me.id ? 'You' : (m.display_name || m.username))).join(', ');
  }
  return `${n} members`;
}

function userName(id) {
  if (S.me && id === S.me.id) return S.me.display_name || S.me.username;
  const u = S.users.get(id);
  return u ? (u.display_name || u.username) : id;
}

function activity(r) {
  return Math.max(r.lastMsg ? r.lastMsg.ts : 0, r.seenAt || 0);
}

// Messages stored in the same millisecond still have an order: their ids
// ("m123") grow with every message the server stores.
function lastMsgOrder(r) {
  const id = r.lastMsg && r.lastMsg.id;
  return typeof id === 'string' ? Number(id.slice(1)) || 0 : 0;
}

// ---------------------------------------------------------------- cache (offline start)

let cacheTimer = null;
function scheduleCache() {
  if (cacheTimer) return;
  cacheTimer = setTimeout(() => { cacheTimer = null; writeCache(); }, 400);
}

function writeCache() {
  if (!S.me) return;
  const rooms = [];
  for (const r of S.rooms.values()) {
    const msgs = r.loaded && r.atLatest ? sortedMsgs(r).slice(-CACHE_MSGS) : [];
    rooms.push({ id: r.id, kind: r.kind, name: r.name, members: r.members.length <= 100 ? r.members : [],
      member_count: r.member_count, last_seq: r.lastSeq, pos: r.pos, unread: r.unread,
      lastMsg: r.lastMsg, seenAt: r.seenAt, msgs, version: r.version, disappearing_ms: r.disappearing_ms,
      mentions: r.mentions, avatar: r.avatar });
  }
  if (!save(`parley.cache.${S.me.id}`, { v: 1, me: S.me, rooms })) {
    save(`parley.cache.${S.me.id}`, { v: 1, me: S.me, rooms: rooms.map((r) => ({ ...r, msgs: [] })) });
  }
}

function restoreCache() {
  const c = load(`parley.cache.${S.me.id}`);
  if (!c || c.v !== 1 || !Array.isArray(c.rooms)) return;
  if (c.me && c.me.id === S.me.id) S.me = c.me;
  for (const d of c.rooms) {
    const r = newRoom(d);
    updateRoomMeta(r, d);
    r.pos = d.pos || 0;
    r.version = d.version || 0;
    r.lastMsg = d.lastMsg || null;
    r.seenAt = d.seenAt || 0;
    if (Array.isArray(d.msgs) && d.msgs.length) {
      for (const m of d.msgs) r.msgs.set(m.seq, m);
      r.loaded = true;
      r.atLatest = true;
      r.pos = Math.max(r.pos, d.msgs[d.msgs.length - 1].seq);
      r.hasOlder = d.msgs[0].seq > 1;
    }
    S.rooms.set(r.id, r);
  }
}

// ---------------------------------------------------------------- connection lifecycle

let readyGen = 0;

async function onReady(auth) {
  ++readyGen;
  if (auth && auth.user) {
    S.me = auth.user;
    S.users.set(auth.user.id, auth.user);
    renderMe();
  }
  const conn = S.conn;
  S.reported = null;
  loadSettings();
  invites.load();
  loadPresence();
  reportPresence();
  loadEmoji();
  if (S.me) { profilesAsked.delete(S.me.id); ensureProfile(S.me.id); }
  try {
    if (!(await catchUp(conn))) return;
    scheduleRender({ sidebar: true, messages: true });
    const cur0 = currentRoom();
    if (cur0) loadReceipts(cur0);
    flushOutbox();
    const cur = currentRoom();
    if (cur && !cur.loaded) loadLatest(cur);
    maybeMarkRead();
  } catch (e) {
    // disconnected mid-way: the next onReady starts over
  }
}

// Brings the rooms up to date on conn: every room (the rooms pages), merged
// into S.rooms, then `sync` while the server cut some room short. Returns
// false when a reconnect (a newer onReady) took over meanwhile; throws when
// the connection is lost.
async function catchUp(conn) {
  const gen = readyGen;
  // A room announced (`room` event) while the pages come is not in them.
  const known = new Set(S.rooms.keys());
  const rooms = await allPages((args) => conn.request('rooms', args), 'rooms');
  if (gen !== readyGen) return false;
  let since = mergeRooms(rooms, known);
  for (let i = 0; i < 1000; i++) {
    const reply = await conn.request('sync', { since }, 120000);
    if (gen !== readyGen) return false;
    if (!reply.more) break;
    since = syncPositions();
  }
  // Every update up to the versions the rooms reply named has been replayed.
  for (const d of rooms) {
    const r = S.rooms.get(d.id);
    if (r && typeof d.last_version === 'number') r.version = Math.max(r.version, d.last_version);
  }
  return true;
}

// A paged list: ask(args) for the pages while the reply says `more`, and
// return reply[key] of them all, in order. next(reply, items, args) gives the
// args of the following page, or null to stop; the default is for the lists
// paged by bytes (rooms, receipts, emoji_list): `after` = the reply's `next`.
// A page without items ends the list, and so does a cursor that does not
// advance (asking again would never end).
async function allPages(ask, key, { first = {}, next = afterNext } = {}) {
  const all = [];
  let args = first;
  for (let i = 0; i < 10000; i++) {
    const reply = await ask(args);
    const items = reply[key] || [];
    all.push(...items);
    const more = reply.more && items.length ? next(reply, items, args) : null;
    if (!more) break;
    args = more;
  }
  return all;
}

function afterNext(reply, items, args) {
  return reply.next && reply.next !== args.after ? { after: reply.next } : null;
}

function syncPositions() {
  const since = {};
  for (const r of S.rooms.values()) since[r.id] = S.versioned ? { seq: r.pos, version: r.version } : r.pos;
  return since;
}

// Merge the `rooms` pages; rooms of known (the ids held before the pages
// were asked for) that they do not list are gone. Returns the `sync`
// positions.
function mergeRooms(list, known) {
  const seen = new Set();
  if (list.some((d) => typeof d.last_version === 'number')) S.versioned = true;
  for (const d of list) {
    seen.add(d.id);
    let r = S.rooms.get(d.id);
    if (!r) {
      r = newRoom(d);
      S.rooms.set(d.id, r);
    }
    updateRoomMeta(r, d);
    const serverLast = d.last_seq || 0;
    if (r.loaded && serverLast - r.pos > MAX_MSGS) dropWindow(r);
    if (!r.loaded) {
      // Not displayed: ask sync for just the newest message (the preview),
      // and no updates (nothing older is held; history is current state).
      r.pos = Math.max(r.pos, serverLast - 1, 0);
      if (r.lastMsg && r.lastMsg.seq >= serverLast) r.pos = serverLast;
      if (typeof d.last_version === 'number') r.version = Math.max(r.version, d.last_version);
      if (d.last_message && r.lastMsg && d.last_message.seq === r.lastMsg.seq) r.lastMsg = d.last_message;
    }
    r.lastSeq = Math.max(r.lastSeq, serverLast);
    r.unread = d.unread || 0;
    r.mentions = d.mentions || 0;
  }
  const since = syncPositions();
  for (const id of known) {
    if (!seen.has(id) && S.rooms.has(id)) {
      S.rooms.delete(id);
      if (S.current === id) closeRoom({ pop: false });
    }
  }
  scheduleRender({ sidebar: true, messages: true });
  scheduleCache();
  return since;
}

function dropWindow(r) {
  r.msgs.clear();
  r.nodes.clear();
  r.seps.clear();
  r.loaded = false;
  r.atLatest = true;
  r.hasOlder = false;
}

function onEvent(ev) {
  if (ev.ev === 'message') onMessage(ev);
  else if (ev.ev === 'room' && ev.room) onRoomEvent(ev.room);
  else if (ev.ev === 'member') onMemberEvent(ev);
  else if (ev.ev === 'update') onUpdate(ev);
  else if (ev.ev === 'typing') onTyping(ev);
  else if (ev.ev === 'receipt') onReceipt(ev);
  else if (ev.ev === 'presence') onPresence(ev);
  else if (ev.ev === 'profile' && ev.user) onProfile(ev.user);
  else if (ev.ev === 'settings' && ev.settings) applySettings(ev.settings, true);
  else if (ev.ev === 'emoji' && ev.emoji) onEmojiEvent(ev);
  else if (ev.ev === 'invite') invites.onEvent(ev);
}

let roomsRefresh = null;
function refreshRoomsSoon() {
  if (roomsRefresh) return;
  roomsRefresh = setTimeout(async () => {
    roomsRefresh = null;
    if (!S.conn || !S.conn.isReady) return;
    try {
      await catchUp(S.conn);
    } catch (e) { /* next reconnect fixes it */ }
  }, 300);
}

function onRoomEvent(d) {
  let r = S.rooms.get(d.id);
  const fresh = !r;
  if (!r) {
    r = newRoom(d);
    r.seenAt = Date.now();
    r.pos = d.last_seq || 0;
    S.rooms.set(d.id, r);
  }
  updateRoomMeta(r, d);
  if (groupShown === r.id) fillGroupInfo(r);
  r.lastSeq = Math.max(r.lastSeq, d.last_seq || 0);
  if (fresh && typeof d.last_version === 'number') r.version = d.last_version;
  if (fresh && r.lastSeq > 0) loadPreview(r);
  if (fresh) loadPresenceSoon();
  scheduleRender({ sidebar: true, header: true });
  scheduleCache();
}

async function loadPreview(r) {
  try {
    const { messages } = await S.conn.request('history', { room: r.id, limit: 1 });
    if (messages.length) onMessage(messages[0], { quiet: true });
  } catch (e) { /* ignore */ }
}

function onMemberEvent(ev) {
  const r = S.rooms.get(ev.room);
  if (!r || !ev.user) return;
  S.users.set(ev.user.id, ev.user);
  if (ev.action === 'join') {
    if (!r.members.some((m) => m.id === ev.user.id)) { r.members.push(ev.user); r.member_count++; }
    if (!S.presence.has(ev.user.id)) loadPresenceSoon();
  } else if (ev.action === 'leave') {
    if (ev.user.id === S.me.id) {
      S.rooms.delete(r.id);
      if (S.current === r.id) closeRoom({ pop: false });
    } else {
      r.members = r.members.filter((m) => m.id !== ev.user.id);
      r.member_count = Math.max(0, r.member_count - 1);
    }
  }
  if (groupShown === r.id && S.rooms.has(r.id)) fillGroupInfo(r);
  scheduleRender({ sidebar: true, header: true });
  scheduleCache();
}

function onMessage(m, opts = {}) {
  if (!m || typeof m.room !== 'string' || typeof m.seq !== 'number') return;
  const r = S.rooms.get(m.room);
  if (!r) { refreshRoomsSoon(); return; }
  const isNew = m.seq > r.lastSeq;
  r.lastSeq = Math.max(r.lastSeq, m.seq);
  r.pos = Math.max(r.pos, m.seq);
  if (!r.lastMsg || m.seq > r.lastMsg.seq || (m.seq === r.lastMsg.seq && (m.version || 0) >= (r.lastMsg.version || 0))) {
    r.lastMsg = m;
  }
  const mine = m.sender === S.me.id;
  if (mine && m.client_id && m.reply_to && (!m.reply_to.sender || !m.reply_to.preview)) {
    // keep the quote details the outbox recorded when the reply was written
    const it = S.outbox.get(m.client_id);
    if (it && it.reply_to) {
      m.reply_to = { ...it.reply_to, ...Object.fromEntries(Object.entries(m.reply_to).filter(([, v]) => v)) };
    }
  }
  if (!mine) {
    noteDelivered(r, m.seq);
    if (r.typing.delete(m.sender)) renderTyping();
  }
  if (m.thread_root && S.thread && S.thread.room === r.id && S.thread.root === m.thread_root) {
    putThreadMsg(m);
  }
  if (mine && m.client_id && S.outbox.delete(m.client_id)) {
    // our pending message is now stored
  }
  const isCurrent = S.current === r.id;
  if ((r.loaded || r.loading) && r.atLatest) {
    if (!r.msgs.has(m.seq)) {
      const tail = maxSeq(r);
      r.msgs.set(m.seq, m);
      if (r.loaded && tail && m.seq > tail + 1) fillGap(r, tail, m.seq);
    } else putMsg(r, m);
  }
  if (isNew && !mine && !opts.quiet) {
    const reading = isCurrent && isReading(r);
    if (!reading) {
      r.unread++;
      if (isMentioned(m)) r.mentions++;
      if (isCurrent) {
        if (r.markerSeq === null) r.markerSeq = m.seq;
        r.newBelow++;
      }
    }
  }
  scheduleRender({ sidebar: true, messages: isCurrent });
  scheduleCache();
}

async function fillGap(r, tail, seq) {
  try {
    // Forwards from the tail: a page cut short by the server's byte budget
    // (more: true) continues where it stopped, so no hole is left.
    const from = (after) => ({ after, limit: Math.min(500, seq - after - 1) });
    await allPages(async (args) => {
      const reply = await S.conn.request('history', { room: r.id, before: seq, ...args });
      for (const m of reply.messages) putMsg(r, m);
      return reply;
    }, 'messages', {
      first: from(tail),
      next: (reply, page, args) => {
        const after = page[page.length - 1].seq;
        return after > args.after && after < seq - 1 ? from(after) : null;
      },
    });
    scheduleRender({ messages: S.current === r.id });
  } catch (e) { /* ignore */ }
}

function sortedMsgs(r) {
  return [...r.msgs.values()].sort((a, b) => a.seq - b.seq);
}

function maxSeq(r) {
  let mx = 0;
  for (const s of r.msgs.keys()) if (s > mx) mx = s;
  return mx;
}

function minSeq(r) {
  let mn = Infinity;
  for (const s of r.msgs.keys()) if (s < mn) mn = s;
  return mn === Infinity ? 0 : mn;
}

// ---------------------------------------------------------------- outbox

async function flushOutbox() {
  if (S.flushing || !S.conn || !S.conn.isReady) return;
  S.flushing = true;
  const tried = new Set();
  try {
    for (;;) {
      const item = S.outbox.pending().find((i) => !tried.has(i.client_id));
      if (!item) break;
      tried.add(item.client_id);
      if (!S.rooms.has(item.room)) { S.outbox.markFailed(item.client_id, 'This conversation is gone.'); continue; }
      try {
        const args = { room: item.room, client_id: item.client_id, content: item.content };
        if (item.reply_to) args.reply_to = item.reply_to.seq;
        if (item.thread) args.thread = item.thread;
        const reply = await S.conn.request('send', args);
        if (reply.message) onMessage(reply.message);
        S.outbox.delete(item.client_id);
        scheduleRender({ messages: S.current === item.room });
      } catch (err) {
        if (err.code === 'disconnected' || err.code === 'timeout') break;
        if (err.code === 'rate_limited' || err.code === 'too_many_pending' || err.code === 'internal') {
          tried.delete(item.client_id);
          await new Promise((res) => setTimeout(res, 1000));
          continue;
        }
        const why = err.code === 'too_large' ? 'Message too long.'
          : err.code === 'forbidden' ? 'You are not a member of this conversation.'
            : (err.message || err.code);
        S.outbox.markFailed(item.client_id, why);
        scheduleRender({ messages: S.current === item.room });
      }
    }
  } finally {
    S.flushing = false;
  }
  if (S.outbox.pending().length && S.conn && S.conn.isReady &&
      S.outbox.pending().some((i) => S.rooms.has(i.room))) {
    // items added while the loop was finishing
    setTimeout(flushOutbox, 0);
  }
}

function sendText(text, extra = {}) {
  const r = currentRoom();
  if (!r) return;
  const body = text.replace(/\s+$/, '');
  if (!body.trim()) return;
  S.outbox.add(r.id, body, extra);
  if (extra.thread) { renderThread(); flushOutbox(); return; }
  if (!r.atLatest) jumpToLatest();
  stickToBottom = true;
  scheduleRender({ messages: true, sidebar: true });
  flushOutbox();
}

// ---------------------------------------------------------------- open/close rooms

function currentRoom() { return S.current ? S.rooms.get(S.current) || null : null; }

let stickToBottom = false;

function openRoom(id, { push = true, focus = true, noLoad = false } = {}) {
  const r = S.rooms.get(id);
  if (!r) return;
  const wasOpen = S.current !== null;
  if (S.current !== id) {
    const prev = currentRoom();
    if (prev) { prev.markerSeq = null; prev.newBelow = 0; }
    stopTyping();
    setCompose(null);
    closeMentions();
    if (S.thread && S.thread.room !== id) closeThread({ focus: false });
    S.current = id;
    r.markerSeq = r.unread > 0 ? Math.max(1, r.lastSeq - r.unread + 1) : null;
    r.newBelow = 0;
    markerNode = null;
    $('message-list').replaceChildren();
    stickToBottom = true;
    pendingScrollToMarker = r.markerSeq !== null;
  }
  save(`parley.current.${S.me.id}`, id);
  document.body.classList.add('room-open');
  $('no-room').hidden = true;
  $('room-pane').hidden = false;
  if (push) {
    if (wasOpen) history.replaceState({ room: id }, '');
    else history.pushState({ room: id }, '');
  }
  renderHeader();
  renderTyping();
  if (!r.loaded && !noLoad && S.conn && S.conn.isReady) loadLatest(r);
  if (S.conn && S.conn.isReady) loadReceipts(r);
  scheduleRender({ sidebar: true, messages: true });
  if (focus && !window.matchMedia('(max-width: 720px)').matches) $('composer-input').focus();
  else if (focus) $('messages').focus({ preventScroll: true });
}

function closeRoom({ pop = true } = {}) {
  const r = currentRoom();
  stopTyping();
  setCompose(null);
  if (S.thread) closeThread({ focus: false });
  if (r) { r.markerSeq = null; r.newBelow = 0; }
  const id = S.current;
  S.current = null;
  if (S.me) remove(`parley.current.${S.me.id}`);
  document.body.classList.remove('room-open');
  $('room-pane').hidden = true;
  $('no-room').hidden = false;
  if (pop && history.state && history.state.room) history.back();
  scheduleRender({ sidebar: true });
  if (id) {
    const btn = $('room-list').querySelector(`[data-room="${CSS.escape(id)}"]`);
    if (btn) btn.focus();
  }
}

async function loadLatest(r) {
  if (r.loading) return;
  r.loading = true;
  r.atLatest = true;
  setHistoryStatus(r, 'Loading messages…');
  try {
    const { messages } = await S.conn.request('history', { room: r.id, limit: PAGE });
    for (const m of messages) putMsg(r, m);
    r.loaded = true;
    r.hasOlder = minSeq(r) > 1;
    const mx = maxSeq(r);
    r.pos = Math.max(r.pos, mx);
    r.lastSeq = Math.max(r.lastSeq, mx);
    if (messages.length) {
      const last = messages[messages.length - 1];
      if (!r.lastMsg || last.seq >= r.lastMsg.seq) r.lastMsg = last;
    }
    if (S.current === r.id && !pendingScrollToMarker) stickToBottom = true;
  } catch (e) {
    // offline: will load on the next connection
  } finally {
    r.loading = false;
    setHistoryStatus(r, '');
    scheduleRender({ messages: S.current === r.id, sidebar: true });
    scheduleCache();
  }
}

async function loadOlder(r) {
  if (r.loadingOlder || !r.hasOlder || !S.conn || !S.conn.isReady) return;
  r.loadingOlder = true;
  setHistoryStatus(r, 'Loading older messages…');
  try {
    const before = minSeq(r);
    const { messages } = await S.conn.request('history', { room: r.id, before, limit: PAGE });
    for (const m of messages) putMsg(r, m);
    r.hasOlder = messages.length > 0 && minSeq(r) > 1;
    trim(r, 'newest');
  } catch (e) { /* retry on next scroll */ }
  r.loadingOlder = false;
  setHistoryStatus(r, r.hasOlder ? '' : 'Start of the conversation');
  renderMessages();
}

async function loadNewer(r) {
  if (r.loadingNewer || r.atLatest || !S.conn || !S.conn.isReady) return;
  r.loadingNewer = true;
  try {
    const after = maxSeq(r);
    // Forwards from the newest we have (oldest first): a page cut by bytes
    // still starts right after it.
    const { messages } = await S.conn.request('history', { room: r.id, after, limit: PAGE });
    for (const m of messages) putMsg(r, m);
    if (!messages.length || maxSeq(r) >= r.lastSeq) r.atLatest = true;
    trim(r, 'oldest');
  } catch (e) { /* retry on next scroll */ }
  r.loadingNewer = false;
  renderMessages();
}

// Keep the window bounded; drop from the side away from the reader.
function trim(r, side) {
  if (r.msgs.size <= MAX_MSGS) return;
  const seqs = [...r.msgs.keys()].sort((a, b) => a - b);
  const extra = seqs.length - MAX_MSGS;
  const drop = side === 'oldest' ? seqs.slice(0, extra) : seqs.slice(seqs.length - extra);
  for (const s of drop) { r.msgs.delete(s); r.nodes.delete(s); }
  if (side === 'oldest') r.hasOlder = true;
  else r.atLatest = false;
}

function jumpToLatest() {
  const r = currentRoom();
  if (!r) return;
  if (!r.atLatest) {
    dropWindow(r);
    $('message-list').replaceChildren();
    stickToBottom = true;
    loadLatest(r);
  } else {
    stickToBottom = true;
    scheduleRender({ messages: true });
  }
  r.newBelow = 0;
}

function setHistoryStatus(r, text) {
  if (S.current === r.id) $('history-status').textContent = text;
}

// ---------------------------------------------------------------- read markers

function isAtBottom() {
  const box = $('messages');
  return box.scrollHeight - box.scrollTop - box.clientHeight <= BOTTOM_SLACK_PX;
}

function isReading(r) {
  return S.current === r.id && document.visibilityState === 'visible' && r.atLatest && isAtBottom() &&
    !$('room-pane').hidden;
}

function maybeMarkRead() {
  const r = currentRoom();
  if (!r || !r.loaded || !isReading(r)) return;
  const seq = Math.max(maxSeq(r), 0);
  r.newBelow = 0;
  if (r.unread !== 0 || r.mentions !== 0) { r.unread = 0; r.mentions = 0; scheduleRender({ sidebar: true }); scheduleCache(); }
  if (seq > r.readSent && S.conn && S.conn.isReady) {
    r.readSent = seq;
    S.conn.request('read', { room: r.id, seq }).catch(() => { r.readSent = 0; });
  }
}

// ---------------------------------------------------------------- rendering

const dirty = { sidebar: false, messages: false, header: false };
let renderQueued = false;

function scheduleRender(parts) {
  Object.keys(parts).forEach((k) => { if (parts[k]) dirty[k] = true; });
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(flushRender);
  // rAF does not run in background tabs; make sure state still lands.
  setTimeout(flushRender, 250);
}

function flushRender() {
  if (!renderQueued) return;
  renderQueued = false;
  if (dirty.sidebar) { dirty.sidebar = false; renderSidebar(); }
  if (dirty.header) { dirty.header = false; renderHeader(); }
  if (dirty.messages) { dirty.messages = false; renderMessages(); }
}

function renderMe() {
  $('me-name').textContent = S.me.display_name || S.me.username;
  $('me-name').title = '@' + S.me.username;
  custom.paintAvatar($('me-avatar'), S.me.display_name || S.me.username, avatarOf(S.me.id));
}

function previewText(r) {
  const pend = S.outbox ? S.outbox.forRoom(r.id) : [];
  if (pend.length) return { prefix: 'You: ', text: pend[pend.length - 1].content.body, pending: true };
  const ups = S.uploads.filter((u) => u.room === r.id);
  if (ups.length) return { prefix: 'You: ', text: ups[ups.length - 1].state === 'failed' ? 'Not sent: ' + ups[ups.length - 1].name : 'Sending ' + ups[ups.length - 1].name, pending: true };
  const typing = typingNames(r);
  if (typing.length) return { prefix: '', text: typingLabel(typing, r.kind === 'dm'), typing: true };
  const m = r.lastMsg;
  if (!m) return { prefix: '', text: r.kind === 'dm' ? 'Say hello' : 'No messages yet' };
  const who = m.sender === S.me.id ? 'You: ' : (r.kind === 'group' ? userName(m.sender) + ': ' : '');
  if (isDeleted(m)) return { prefix: '', text: isExpired(m) ? 'Message disappeared' : 'This message was deleted', muted: true };
  return { prefix: who, text: summaryText(m) || 'Unsupported message' };
}

function renderSidebar() {
  if (!S.me) return;
  const list = $('room-list');
  const f = S.filter.trim().toLowerCase();
  const rooms = [...S.rooms.values()]
    .filter((r) => !f || roomTitle(r).toLowerCase().includes(f) || roomSubtitle(r).toLowerCase().includes(f))
    .sort((a, b) => activity(b) - activity(a) || lastMsgOrder(b) - lastMsgOrder(a) || (b.id > a.id ? 1 : -1));
  const focusedRoom = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.room : null;
  const items = rooms.map((r) => {
    const title = roomTitle(r);
    const pv = previewText(r);
    const active = r.id === S.current;
    const unread = r.unread > 0 && !active ? r.unread : (active && r.unread > 0 ? r.unread : 0);
    const avatar = el('span', { class: 'avatar', 'aria-hidden': 'true' });
    if (r.kind === 'group') avatar.classList.add('group');
    const other = r.kind === 'dm' ? r.members.find((x) => x.id !== S.me.id) : null;
    custom.paintAvatar(avatar, title, roomAvatar(r));
    const pres = other ? presenceOf(other.id) : null;
    const wrap = el('span', { class: 'avatar-wrap' }, avatar,
      pres ? el('span', { class: 'presence-dot', 'data-status': pres.status, 'aria-hidden': 'true' }) : null);
    const ts = r.lastMsg ? r.lastMsg.ts : 0;
    const mentions = !active && r.mentions > 0 ? r.mentions : 0;
    const label = `${title}${pres ? `, ${pres.status}` : ''}${unread ? `, ${unread} unread` : ''}` +
      `${mentions ? `, ${mentions} mention${mentions > 1 ? 's' : ''}` : ''}${pv.text ? `. ${pv.prefix}${pv.text}` : ''}`;
    const btn = el('button', {
      type: 'button', class: 'room-item' + (active ? ' active' : '') + (unread ? ' has-unread' : ''),
      'data-room': r.id, 'aria-current': active ? 'true' : null, 'aria-label': label.slice(0, 200),
    },
    wrap,
    el('span', { class: 'room-main' },
      el('span', { class: 'room-top' },
        el('span', { class: 'room-name', text: title }),
        ts ? el('time', { class: 'room-time', datetime: new Date(ts).toISOString(), text: fmtListTime(ts) }) : null),
      el('span', { class: 'room-bottom' },
        custom.renderShortcodes(el('span', { class: 'room-preview' + (pv.pending ? ' pending' : '') + (pv.typing ? ' typing-preview' : '') + (pv.muted ? ' muted' : '') },
          pv.prefix ? el('span', { class: 'preview-who', text: pv.prefix }) : null,
          pv.text.replace(/\s+/g, ' ').slice(0, 120))),
        pv.pending ? el('span', { class: 'preview-pending', title: 'Waiting to send' }, clockIcon()) : null,
        r.disappearing_ms ? el('span', { class: 'preview-timer', title: 'Disappearing messages on' }, icon('timer')) : null,
        mentions ? el('span', { class: 'badge mention-badge', 'aria-hidden': 'true', title: `${mentions} unread mention${mentions > 1 ? 's' : ''}`, text: '@' }) : null,
        unread ? el('span', { class: 'badge', 'aria-hidden': 'true', text: unread > 999 ? '999+' : String(unread) }) : null)));
    return el('li', null, btn);
  });
  list.replaceChildren(...items);
  $('rooms-empty').hidden = S.rooms.size > 0 || invites.count() > 0;
  if (focusedRoom) {
    const b = list.querySelector(`[data-room="${CSS.escape(focusedRoom)}"]`);
    if (b) b.focus({ preventScroll: true });
  }
  const total = [...S.rooms.values()].reduce((n, r) => n + (r.unread > 0 ? r.unread : 0), 0);
  document.title = total ? `(${total}) Parley` : 'Parley';
}

function renderHeader() {
  const r = currentRoom();
  if (!r) return;
  const title = roomTitle(r);
  $('room-title').textContent = title;
  $('room-subtitle').textContent = roomSubtitle(r, true);
  $('room-avatar').classList.toggle('group', r.kind === 'group');
  const other = r.kind === 'dm' ? r.members.find((x) => x.id !== S.me.id) : null;
  custom.paintAvatar($('room-avatar'), title, roomAvatar(r));
  const pres = other ? presenceOf(other.id) : null;
  const dot = $('room-presence');
  dot.hidden = !pres;
  if (pres) dot.dataset.status = pres.status;
  $('btn-room-info').setAttribute('aria-label', other ? `Profile of ${title}` : `Group info: ${title}`);
  const timer = $('room-timer');
  timer.hidden = !r.disappearing_ms;
  if (r.disappearing_ms) {
    const label = timerLabel(r.disappearing_ms);
    timer.replaceChildren(icon('timer'), el('span', { text: timerShort(r.disappearing_ms) }));
    timer.title = `Disappearing messages: ${label}`;
    timer.setAttribute('aria-label', `Disappearing messages: ${label}`);
    timer.setAttribute('role', 'img');
  }
}

function messageNode(r, m) {
  let li = r.nodes.get(m.seq);
  if (li) return li;
  li = buildMessage(r, m, {});
  r.nodes.set(m.seq, li);
  return li;
}

// Make list's children equal to nodes, touching only what changed (keeps
// screen readers from re-reading the whole log, and is cheap).
function reconcile(list, nodes) {
  for (let i = 0; i < nodes.length; i++) {
    const cur = list.children[i];
    if (cur !== nodes[i]) list.insertBefore(nodes[i], cur || null);
  }
  while (list.children.length > nodes.length) list.lastElementChild.remove();
}

let markerNode = null;
let emptyNode = null;
const pendingNodes = new Map(); // client_id + state -> li

function pendingNode(item) {
  const key = `${item.client_id}:${item.state}`;
  let li = pendingNodes.get(key);
  if (!li) {
    li = buildPendingNode(item);
    pendingNodes.set(key, li);
    if (pendingNodes.size > 200) pendingNodes.delete(pendingNodes.keys().next().value);
  }
  return li;
}

function buildPendingNode(item) {
  const failed = item.state === 'failed';
  const status = failed
    ? el('span', { class: 'send-state failed' }, el('span', { text: 'Not sent' }),
      el('button', { type: 'button', class: 'link-btn', 'data-retry': item.client_id, text: 'Retry' }),
      el('button', { type: 'button', class: 'link-btn', 'data-delete': item.client_id, text: 'Delete' }))
    : el('span', { class: 'send-state', role: 'img', 'aria-label': 'Waiting to send', title: 'Waiting to send' }, clockIcon());
  return el('li', { class: 'msg mine pending' + (failed ? ' failed' : ''), 'data-client-id': item.client_id },
    el('div', { class: 'bubble' },
      item.reply_to ? quoteNode(item.reply_to) : null,
      el('div', { class: 'body' }, linkify(item.content.body)),
      el('span', { class: 'meta' }, el('time', { datetime: new Date(item.ts).toISOString(), text: fmtTime(item.ts) }), status),
      failed && item.error ? el('span', { class: 'send-error', text: item.error }) : null));
}

let pendingScrollToMarker = false;

function renderMessages() {
  const r = currentRoom();
  const list = $('message-list');
  const box = $('messages');
  if (!r) return;
  const wasBottom = isAtBottom();
  // Anchor: the first message visible at the top, to keep it in place.
  let anchorSeq = null;
  let anchorOffset = 0;
  const boxTop = box.getBoundingClientRect().top;
  for (const li of list.children) {
    if (!li.dataset.seq) continue;
    const rect = li.getBoundingClientRect();
    if (rect.bottom > boxTop) { anchorSeq = li.dataset.seq; anchorOffset = rect.top - boxTop; break; }
  }

  const now = Date.now();
  const msgs = sortedMsgs(r).filter((m) => !m.thread_root && !(isExpired(m, now)));
  scheduleExpiry(r);
  const nodes = [];
  let prevDay = null;
  let prev = null;
  // The marker goes where the first unread message is, once it is loaded.
  let markerPlaced = r.markerSeq === null || (msgs.length > 0 && r.markerSeq < msgs[0].seq && r.hasOlder);
  for (const m of msgs) {
    const dk = dayKey(m.ts);
    if (dk !== prevDay) {
      const label = fmtDay(m.ts);
      let sep = r.seps.get(dk);
      if (!sep || sep.textContent !== label) {
        sep = el('li', { class: 'day-sep', role: 'separator', 'aria-label': label }, el('span', { text: label }));
        r.seps.set(dk, sep);
      }
      nodes.push(sep);
      prevDay = dk;
      prev = null;
    }
    if (!markerPlaced && r.markerSeq !== null && m.seq >= r.markerSeq && m.sender !== S.me.id) {
      if (!markerNode) {
        markerNode = el('li', { class: 'new-marker', id: 'new-marker', role: 'separator', 'aria-label': 'New messages' },
          el('span', { text: 'New messages' }));
      }
      nodes.push(markerNode);
      markerPlaced = true;
      prev = null;
    }
    const li = messageNode(r, m);
    const cont = prev && prev.sender === m.sender && m.ts - prev.ts < 5 * 60000;
    li.classList.toggle('cont', !!cont);
    li.classList.toggle('show-sender', r.kind === 'group' && m.sender !== S.me.id && !cont);
    nodes.push(li);
    prev = m;
  }
  if (r.atLatest) for (const item of S.outbox.forRoom(r.id)) if (!item.thread) nodes.push(pendingNode(item));
  if (r.atLatest) for (const up of S.uploads) if (up.room === r.id) nodes.push(uploadNode(up));
  if (!msgs.length && !S.outbox.forRoom(r.id).length && !S.uploads.some((u) => u.room === r.id) && r.loaded) {
    nodes.push(emptyNode || (emptyNode = el('li', { class: 'empty-room' }, el('span', { text: 'No messages yet. Say hello!' }))));
  }
  reconcile(list, nodes);
  sweepMedia();
  updateTicks(r);
  if (!r.hasOlder && r.loaded && msgs.length) $('history-status').textContent = 'Start of the conversation';
  else if (!r.loadingOlder && !r.loading) $('history-status').textContent = '';

  if (S.jump && S.jump.room === r.id && r.loaded) {
    const target = list.querySelector(`li[data-seq="${S.jump.seq}"]`);
    if (target) {
      S.jump = null;
      pendingScrollToMarker = false;
      stickToBottom = false;
      target.scrollIntoView({ block: 'center' });
      flash(target);
    }
  } else if (pendingScrollToMarker && r.loaded) {
    pendingScrollToMarker = false;
    stickToBottom = false;
    const mk = $('new-marker');
    if (mk) box.scrollTop = Math.max(0, mk.offsetTop - 16);
    else box.scrollTop = box.scrollHeight;
  } else if (stickToBottom || (wasBottom && r.atLatest)) {
    box.scrollTop = box.scrollHeight;
    if (r.loaded) stickToBottom = false;
  } else if (anchorSeq !== null) {
    const li = list.querySelector(`li[data-seq="${anchorSeq}"]`);
    if (li) box.scrollTop += li.getBoundingClientRect().top - boxTop - anchorOffset;
  }
  updateJump(r);
  maybeMarkRead();
}

function renderPendingState() {
  if (S.current) scheduleRender({ messages: true });
}

function updateJump(r) {
  const show = !r.atLatest || !isAtBottom();
  const far = !r.atLatest || ($('messages').scrollHeight - $('messages').scrollTop - $('messages').clientHeight > 300);
  $('btn-jump').hidden = !(show && (far || r.newBelow > 0));
  $('jump-count').textContent = r.newBelow > 0 ? String(r.newBelow) : '';
  $('btn-jump').setAttribute('aria-label', r.newBelow > 0 ? `Jump to latest, ${r.newBelow} new messages` : 'Jump to latest messages');
}

// ---------------------------------------------------------------- chat view bindings

function bindChatView() {
  invites.init({
    call,
    explain,
    toast,
    joined: (room) => { onRoomEvent(room); openRoom(room.id); },
    changed: () => scheduleRender({ sidebar: true }),
  });
  $('room-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-room]');
    if (b) openRoom(b.dataset.room);
  });
  $('room-list').addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Home' && e.key !== 'End') return;
    const items = [...$('room-list').querySelectorAll('[data-room]')];
    const i = items.indexOf(document.activeElement);
    let j = i;
    if (e.key === 'ArrowDown') j = Math.min(items.length - 1, i + 1);
    else if (e.key === 'ArrowUp') j = Math.max(0, i - 1);
    else if (e.key === 'Home') j = 0;
    else j = items.length - 1;
    if (items[j]) { e.preventDefault(); items[j].focus(); }
  });
  $('room-filter').addEventListener('input', (e) => { S.filter = e.target.value; renderSidebar(); });
  $('btn-back').addEventListener('click', () => closeRoom());
  window.addEventListener('popstate', () => { if (S.current && !(history.state && history.state.room)) closeRoom({ pop: false }); });
  $('btn-logout').addEventListener('click', logout);
  $('btn-jump').addEventListener('click', () => { jumpToLatest(); $('composer-input').focus(); });
  $('conn-status').addEventListener('click', () => { if (S.conn && S.status === 'waiting') { S.conn.attempt = 0; S.conn.connectNow(); } });

  let scrollQueued = false;
  $('messages').addEventListener('scroll', () => {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      const r = currentRoom();
      if (!r) return;
      const box = $('messages');
      if (box.scrollTop < NEAR_EDGE_PX && r.hasOlder) loadOlder(r);
      if (!r.atLatest && box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_EDGE_PX) loadNewer(r);
      if (isAtBottom()) maybeMarkRead();
      updateJump(r);
    });
  }, { passive: true });

  $('message-list').addEventListener('click', (e) => {
    const retry = e.target.closest('[data-retry]');
    const del = e.target.closest('[data-delete]');
    if (retry) { S.outbox.retry(retry.dataset.retry); scheduleRender({ messages: true }); flushOutbox(); }
    if (del) { S.outbox.delete(del.dataset.delete); scheduleRender({ messages: true, sidebar: true }); }
  });

  const input = $('composer-input');
  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 160) + 'px';
  };
  input.addEventListener('input', () => { autosize(); onComposerInput(); updateMentions(); });
  input.addEventListener('click', updateMentions);
  input.addEventListener('blur', () => { stopTyping(); setTimeout(closeMentions, 150); });
  input.addEventListener('keydown', (e) => {
    if (mentionKeydown(e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      $('composer').requestSubmit();
    } else if (e.key === 'ArrowUp' && !input.value && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      const r = currentRoom();
      const last = r ? lastOwnEditable(r) : null;
      if (last) { e.preventDefault(); startEdit(r, last); }
    } else if (e.key === 'Escape' && S.compose) {
      e.preventDefault();
      const wasEdit = S.compose.mode === 'edit';
      setCompose(null);
      if (wasEdit) { input.value = ''; autosize(); }
    } else if (e.key === 'Escape' && document.body.classList.contains('room-open') &&
               window.matchMedia('(max-width: 720px)').matches) {
      closeRoom();
    }
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    if (recorder) { stopRecordingAndSend(); return; }
    const text = input.value;
    const ctx = S.compose;
    closeMentions();
    if (ctx && ctx.mode === 'edit') {
      submitEdit(ctx, text);
      input.value = '';
      autosize();
      input.focus();
      return;
    }
    if (!text.trim()) return;
    input.value = '';
    autosize();
    stopTyping();
    const extra = {};
    if (ctx && ctx.mode === 'reply' && ctx.room === S.current) extra.reply_to = { seq: ctx.seq, sender: ctx.sender, preview: ctx.preview };
    setCompose(null);
    sendText(text, extra);
    input.focus();
  });
  bindFeatures();
  bindMedia();

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      maybeMarkRead();
      if (S.conn && S.status === 'waiting') { S.conn.attempt = 0; S.conn.connectNow(); }
    }
  });
  window.addEventListener('focus', maybeMarkRead);
  // Persist the offline cache when the page goes away (reload, tab close).
  window.addEventListener('pagehide', () => { clearTimeout(cacheTimer); cacheTimer = null; writeCache(); });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') writeCache();
  });

  bindNewDialog();
}

// ---------------------------------------------------------------- new conversation dialog

let newMode = 'dm';

function setNewMode(mode) {
  newMode = mode;
  const group = mode === 'group';
  $('tab-dm').setAttribute('aria-selected', String(!group));
  $('tab-group').setAttribute('aria-selected', String(group));
  $('tab-dm').tabIndex = group ? -1 : 0;
  $('tab-group').tabIndex = group ? 0 : -1;
  $('field-group-name').hidden = !group;
  $('new-members-label').textContent = group ? 'Members' : 'Username';
  $('new-members-help').textContent = group
    ? 'Usernames separated by commas or spaces.' : 'Their Parley username.';
  $('new-submit').textContent = group ? 'Create group' : 'Start chat';
  clearNewErrors();
}

function clearNewErrors() {
  for (const id of ['err-new-name', 'err-new-members', 'err-new-form']) $(id).textContent = '';
  $('new-members').removeAttribute('aria-invalid');
  $('new-name').removeAttribute('aria-invalid');
}

function bindNewDialog() {
  const dlg = $('new-dialog');
  $('btn-new').addEventListener('click', () => {
    $('new-form').reset();
    setNewMode('dm');
    dlg.showModal();
    $('new-members').focus();
  });
  $('new-cancel').addEventListener('click', () => dlg.close());
  $('tab-dm').addEventListener('click', () => setNewMode('dm'));
  $('tab-group').addEventListener('click', () => { setNewMode('group'); $('new-name').focus(); });
  for (const t of [$('tab-dm'), $('tab-group')]) {
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        setNewMode(newMode === 'dm' ? 'group' : 'dm');
        $(newMode === 'dm' ? 'tab-dm' : 'tab-group').focus();
      }
    });
  }
  $('new-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearNewErrors();
    const names = $('new-members').value.split(/[\s,;]+/).map((s) => s.replace(/^@/, '').trim().toLowerCase()).filter(Boolean);
    const name = $('new-name').value.trim();
    if (!names.length) {
      $('new-members').setAttribute('aria-invalid', 'true');
      $('err-new-members').textContent = newMode === 'dm' ? 'Enter a username.' : 'Add at least one member.';
      $('new-members').focus();
      return;
    }
    if (newMode === 'dm' && names.length !== 1) {
      $('err-new-members').textContent = 'A direct message has exactly one other person.';
      return;
    }
    if (newMode === 'dm' && names[0] === S.me.username) {
      $('err-new-members').textContent = 'That is you. Pick someone else.';
      return;
    }
    if (!S.conn || !S.conn.isReady) {
      $('err-new-form').textContent = 'You are offline. Try again when connected.';
      return;
    }
    const args = { kind: newMode, members: names };
    if (newMode === 'group' && name) args.name = name;
    $('new-submit').disabled = true;
    try {
      const reply = await S.conn.request('create_room', args);
      onRoomEvent(reply.room);
      const r = S.rooms.get(reply.room.id);
      if (r && reply.created) r.seenAt = Date.now();
      dlg.close();
      openRoom(reply.room.id);
      const note = addedNote(reply);
      if (note) toast(note);
    } catch (err) {
      if (err.code === 'user_not_found') {
        $('new-members').setAttribute('aria-invalid', 'true');
        $('err-new-members').textContent = names.length === 1
          ? `No user named “${names[0]}”.` : 'One of these usernames does not exist.';
        $('err-new-members').dataset.code = err.code;
        $('new-members').focus();
      } else if (err.code === 'too_large' && name.length > 0 && /\bname\b/i.test(err.message || '')) {
        // Only the name's own limit; too many members, or more people than
        // member_adds_per_hour, are about the request as a whole.
        $('new-name').setAttribute('aria-invalid', 'true');
        $('err-new-name').textContent = 'That name is too long.';
        $('new-name').focus();
      } else if (err.code === 'rate_limited' || err.code === 'too_large') {
        $('err-new-form').textContent = explain(err, newMode === 'dm' ? 'Starting the conversation' : 'Creating the group');
      } else {
        $('err-new-form').textContent = err.message || err.code;
      }
    } finally {
      $('new-submit').disabled = false;
    }
  });
}

// ================================================================ conversation features (issue 4)

const IDLE_MS = Number(load('parley.idleMs')) || 120000; // away after this long without input
const TYPING_EVERY_MS = 2000;
const TIMER_OPTIONS = [[0, 'Off'], [300000, '5 minutes'], [3600000, '1 hour'], [86400000, '1 day'],
  [604800000, '1 week'], [2419200000, '4 weeks']];

// ---------------------------------------------------------------- requests with feature detection

function supports(op) { return !S.unsupported.has(op); }

// Send an op; remembers unknown_op so the UI can stop offering it.
async function call(op, args = {}) {
  if (!S.conn || !S.conn.isReady) throw Object.assign(new Error('You are offline.'), { code: 'disconnected' });
  try {
    return await S.conn.request(op, args);
  } catch (err) {
    if (err.code === 'unknown_op') S.unsupported.add(op);
    throw err;
  }
}

let toastTimer = null;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

function explain(err, what) {
  if (err.code === 'unknown_op') return `${what} is not available on this server yet.`;
  if (err.code === 'rate_limited') return limitText(err, what);
  if (err.code === 'disconnected' || err.code === 'timeout') return `${what} failed: you are offline.`;
  if (err.code === 'forbidden') return `${what}: not allowed.`;
  if (err.code === 'not_found') return `${what}: that message no longer exists.`;
  return `${what} failed: ${err.message || err.code}`;
}

// rate_limited: "<what> failed: " and when to try again. The per-user limits
// (rooms created, people added) say it in their message; the request rate
// limit says "slow down", and retry_after_ms when.
function limitText(err, what) {
  if (err.message && /try again/.test(err.message)) return `${what} failed: ${err.message}`;
  const ms = err.retryAfterMs;
  const when = typeof ms === 'number' ? `in ${Math.max(1, Math.ceil(ms / 1000))} s` : 'later';
  return `${what} failed: too many requests; try again ${when}`;
}

// "Invited Carol — …" after create_room or invite: who got an invitation
// instead of being added, and who could not be added.
function addedNote(reply) {
  const name = (u) => u.display_name || u.username;
  const parts = [];
  const inv = reply.invited || [];
  if (inv.length) parts.push(`Invited ${inv.map(name).join(', ')}: they'll join once they accept.`);
  const why = { member: 'already a member', invites_full: 'has too many pending invitations', room_invites_full: 'this group has too many pending invitations', group_full: 'the group is full' };
  for (const sk of reply.skipped || []) {
    if (sk.reason === 'member') continue;
    parts.push(`Could not add ${name(sk.user)}: ${why[sk.reason] || sk.reason}.`);
  }
  return parts.join(' ');
}

// ---------------------------------------------------------------- messages: state

function isDeleted(m) { return !!(m && (m.deleted || (m.content && m.content.type === 'deleted'))); }
function isExpired(m, now = Date.now()) { return !!(m && m.expires_ts && m.expires_ts <= now); }
function isMentioned(m) {
  return !!(m && m.sender !== S.me.id && ((Array.isArray(m.mentions) && m.mentions.includes(S.me.id)) || m.mention_room === true));
}

// Store m if it is new or a newer version of what we hold.
function putMsg(r, m) {
  const old = r.msgs.get(m.seq);
  if (old && (old.version || 0) >= (m.version || 0) && !(old.version === undefined && m.version !== undefined)) return false;
  r.msgs.set(m.seq, m);
  if (old) r.nodes.delete(m.seq);
  return true;
}

function findMsg(r, seq) {
  const m = r.msgs.get(seq);
  if (m) return m;
  const t = S.thread;
  if (t && t.room === r.id) {
    if (t.rootMsg && t.rootMsg.seq === seq) return t.rootMsg;
    return t.msgs.get(seq) || null;
  }
  return null;
}

// Apply a message's new state (update event or an op's reply).
function applyMessage(r, m) {
  if (!m || typeof m.seq !== 'number') return;
  const held = r.msgs.get(m.seq);
  if (held) putMsg(r, m);
  if (r.lastMsg && r.lastMsg.seq === m.seq && (m.version || 0) >= (r.lastMsg.version || 0)) r.lastMsg = m;
  const t = S.thread;
  if (t && t.room === r.id) {
    if (m.seq === t.root) {
      if (!t.rootMsg || (m.version || 0) >= (t.rootMsg.version || 0)) { t.rootMsg = m; t.nodes.delete(m.seq); }
    } else if (m.thread_root === t.root) putThreadMsg(m);
    renderThread();
  }
  if (S.compose && S.compose.room === r.id && S.compose.seq === m.seq && isDeleted(m)) setCompose(null);
  scheduleRender({ messages: S.current === r.id, sidebar: true });
  scheduleCache();
}

function onUpdate(ev) {
  const r = S.rooms.get(ev.room);
  if (!r || !ev.message) return;
  const m = { room: ev.room, ...ev.message };
  if (typeof ev.version === 'number') {
    if (ev.version > r.version) r.version = ev.version;
    if (m.version === undefined) m.version = ev.version;
  }
  applyMessage(r, m);
}

function bodyText(m) {
  return m && m.content && m.content.type === 'text' && typeof m.content.body === 'string' ? m.content.body : '';
}

// One line for previews and quotes: the text, or what kind of media it is.
function summaryText(m) {
  const c = m && m.content;
  if (!c) return '';
  if (c.type === 'text') return typeof c.body === 'string' ? c.body : '';
  if (c.type === 'image') return typeof c.caption === 'string' && c.caption ? `Photo: ${c.caption}` : 'Photo';
  if (c.type === 'file') return `File: ${typeof c.name === 'string' && c.name ? c.name : 'attachment'}`;
  if (c.type === 'voice') return `Voice message${c.duration_ms > 0 ? ` (${media.fmtDuration(c.duration_ms)})` : ''}`;
  if (c.type === 'video') return `Video${c.duration_ms > 0 ? ` (${media.fmtDuration(c.duration_ms)})` : ''}`;
  if (c.type === 'sticker') return 'Sticker';
  return '';
}

// ---------------------------------------------------------------- messages: rendering

function mentionNames(r) {
  const set = new Set();
  for (const u of r.members) if (u.username) set.add(u.username.toLowerCase());
  if (r.kind === 'group') set.add('room');
  return set;
}

function quoteNode(rt0, r) {
  let rt = rt0;
  // Live events may carry reply_to without sender/preview: fill from what we hold.
  if (r && (!rt.sender || !rt.preview)) {
    const orig = findMsg(r, rt.seq);
    if (orig) {
      rt = { ...rt, sender: rt.sender || orig.sender,
        preview: rt.preview || (isDeleted(orig) ? 'Deleted message' : summaryText(orig).slice(0, 100)) };
    }
  }
  const preview = typeof rt.preview === 'string' ? rt.preview : '';
  if (!rt.sender) {
    return el('button', { type: 'button', class: 'quote', 'data-jump': rt.seq, 'aria-label': 'Reply to an earlier message. Show original' },
      el('span', { class: 'quote-text', text: preview || 'Earlier message' }));
  }
  return el('button', { type: 'button', class: 'quote', 'data-jump': rt.seq,
    'aria-label': `Reply to ${userName(rt.sender)}: ${preview.slice(0, 80)}. Show original` },
  el('span', { class: 'quote-sender', text: userName(rt.sender) }),
  el('span', { class: 'quote-text', text: preview || 'Message' }));
}

function reactionsNode(m) {
  if (!Array.isArray(m.reactions) || !m.reactions.length || isDeleted(m)) return null;
  const box = el('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' });
  for (const rc of m.reactions) {
    const users = Array.isArray(rc.users) ? rc.users : [];
    const mine = users.includes(S.me.id);
    const names = users.map((u) => (u === S.me.id ? 'You' : userName(u)));
    const more = rc.count > names.length ? ` and ${rc.count - names.length} more` : '';
    const who = names.join(', ') + more;
    const ce = custom.customRef(rc.emoji);
    box.append(el('button', {
      type: 'button', class: 'chip' + (mine ? ' mine' : ''), 'data-emoji': rc.emoji, 'aria-pressed': String(mine),
      title: `${who} reacted with ${rc.emoji}`,
      'aria-label': `${rc.emoji} ${rc.count}: ${who}. ${mine ? 'Remove your reaction' : 'Add this reaction'}`,
    }, el('span', { class: 'chip-emoji' }, ce ? custom.emojiImg(ce, 'chip-custom') : rc.emoji), el('span', { class: 'chip-count', text: String(rc.count) })));
  }
  return box;
}

function actionBtn(act, label, iconName) {
  return el('button', { type: 'button', class: 'act-btn', 'data-act': act, 'aria-label': label, title: label,
    'aria-haspopup': act === 'reply' ? null : 'true' }, icon(iconName));
}

// One message <li>; opts.thread: shown in the thread pane.
function buildMessage(r, m, opts) {
  const mine = m.sender === S.me.id;
  const deleted = isDeleted(m);
  let body = el('div', { class: 'body' });
  const mediaNode = deleted ? null : buildMedia(m.content);
  if (deleted) {
    body.classList.add('deleted');
    body.textContent = 'This message was deleted';
  } else if (mediaNode) {
    const cap = m.content.type === 'image' && typeof m.content.caption === 'string' ? m.content.caption : '';
    body = cap ? el('div', { class: 'body caption' }, linkify(cap)) : null;
  } else if (m.content && m.content.type === 'text' && typeof m.content.body === 'string') {
    const mineNames = new Set([S.me.username.toLowerCase()]);
    if (r.kind === 'group') mineNames.add('room');
    body.append(markMentions(linkify(m.content.body), mentionNames(r), mineNames));
    custom.renderShortcodes(body);
  } else {
    body.classList.add('unsupported');
    body.textContent = 'Unsupported message';
  }
  const meta = el('span', { class: 'meta' });
  if (m.expires_ts && !deleted) {
    meta.append(el('span', { class: 'expiry', role: 'img', title: `Disappears ${fmtFull(m.expires_ts)}`,
      'aria-label': `Disappears ${fmtFull(m.expires_ts)}` }, icon('timer')));
  }
  if (m.edited_ts && !deleted) meta.append(el('span', { class: 'edited', title: `Edited ${fmtFull(m.edited_ts)}`, text: 'edited' }));
  meta.append(el('time', { datetime: new Date(m.ts).toISOString(), title: fmtFull(m.ts), text: fmtTime(m.ts) }));
  if (mine && !deleted) meta.append(el('span', { class: 'tick', role: 'img', 'data-state': '' }));
  const count = m.thread_count || 0;
  const threadLink = !opts.thread && !m.thread_root && count > 0
    ? el('button', { type: 'button', class: 'thread-link', 'data-thread': m.seq,
      'aria-label': `${count} ${count === 1 ? 'reply' : 'replies'} in thread. Open thread` },
    icon('thread'), el('span', { text: `${count} ${count === 1 ? 'reply' : 'replies'}` }),
    m.thread_last_ts ? el('span', { class: 'thread-last', text: fmtListTime(m.thread_last_ts) }) : null)
    : null;
  const bubble = el('div', { class: 'bubble' },
    el('button', { type: 'button', class: 'sender', 'data-profile': m.sender, text: userName(m.sender) }),
    m.reply_to && !deleted ? quoteNode(m.reply_to, r) : null,
    mediaNode,
    body,
    reactionsNode(m),
    meta,
    threadLink);
  const actions = deleted ? null : el('div', { class: 'msg-actions', role: 'toolbar', 'aria-label': 'Message actions' },
    actionBtn('react', 'Add reaction', 'smile'),
    opts.thread || m.thread_root ? null : actionBtn('reply', 'Reply', 'reply'),
    actionBtn('more', 'More actions', 'more'));
  const cls = ['msg', mine ? 'mine' : 'theirs'];
  if (deleted) cls.push('deleted');
  if (mediaNode) cls.push('has-media', 'msg-' + m.content.type);
  if (isMentioned(m)) cls.push('mentions-me');
  return el('li', { class: cls.join(' '), 'data-seq': m.seq, 'data-room': r.id, 'data-sender': m.sender,
    'data-version': m.version || 0 }, bubble, actions);
}

function tickState(r, m) {
  const others = r.members.filter((x) => x.id !== S.me.id);
  if (!others.length || !r.receipts.size) return 'sent';
  let read = true;
  let delivered = true;
  for (const o of others) {
    const rc = r.receipts.get(o.id) || {};
    const rs = rc.read_seq || 0;
    const ds = Math.max(rc.delivered_seq || 0, rs);
    if (rs < m.seq) read = false;
    if (ds < m.seq) delivered = false;
  }
  return read ? 'read' : delivered ? 'delivered' : 'sent';
}

const TICKS = { sent: ['✓', 'Sent'], delivered: ['✓✓', 'Delivered'], read: ['✓✓', 'Read'] };

function updateTicks(r) {
  for (const [seq, li] of r.nodes) {
    const tick = li.querySelector('.tick');
    if (!tick) continue;
    const m = r.msgs.get(seq);
    if (!m) continue;
    const st = tickState(r, m);
    if (tick.dataset.state === st) continue;
    tick.dataset.state = st;
    tick.textContent = TICKS[st][0];
    tick.title = TICKS[st][1];
    tick.setAttribute('aria-label', TICKS[st][1]);
  }
}

function flash(node) {
  node.classList.remove('flash');
  void node.offsetWidth;
  node.classList.add('flash');
  setTimeout(() => node.classList.remove('flash'), 2500);
}

let expiryTimer = null;
function scheduleExpiry(r) {
  let next = Infinity;
  const now = Date.now();
  for (const m of r.msgs.values()) if (m.expires_ts && m.expires_ts > now && m.expires_ts < next) next = m.expires_ts;
  clearTimeout(expiryTimer);
  if (next !== Infinity) {
    expiryTimer = setTimeout(() => scheduleRender({ messages: true, sidebar: true }), Math.min(next - now + 50, 2 ** 31 - 1));
  }
}

// ---------------------------------------------------------------- message actions

function msgFromEvent(target) {
  const li = target.closest('li.msg[data-seq]');
  if (!li) return null;
  const r = S.rooms.get(li.dataset.room);
  if (!r) return null;
  const m = findMsg(r, Number(li.dataset.seq));
  return m ? { r, m, li } : null;
}

function onMessageClick(e) {
  const t = e.target;
  const act = t.closest('[data-act]');
  const chip = t.closest('.chip');
  const threadBtn = t.closest('[data-thread]');
  const quote = t.closest('[data-jump]');
  const prof = t.closest('[data-profile]');
  if (onMediaClick(t)) return;
  if (!act && !chip && !threadBtn && !quote && !prof) return;
  const hit = msgFromEvent(t);
  if (!hit) return;
  const { r, m } = hit;
  if (act) {
    if (act.dataset.act === 'react') openReactPicker(act, r, m.seq);
    else if (act.dataset.act === 'reply') startReply(r, m);
    else if (act.dataset.act === 'more') messageMenu(act, r, m);
  } else if (chip) {
    react(r, m.seq, chip.dataset.emoji);
  } else if (threadBtn) {
    openThread(r.id, Number(threadBtn.dataset.thread));
  } else if (quote) {
    jumpToMessage(r.id, Number(quote.dataset.jump));
  } else if (prof) {
    showProfile(prof.dataset.profile, prof);
  }
}

function onMessageContext(e) {
  const hit = msgFromEvent(e.target);
  if (!hit || isDeleted(hit.m) || e.target.closest('a')) return;
  const btn = hit.li.querySelector('[data-act="more"]');
  if (!btn) return;
  e.preventDefault();
  messageMenu(btn, hit.r, hit.m);
}

function messageMenu(anchor, r, m) {
  const mine = m.sender === S.me.id;
  const quick = el('div', { class: 'quick-reactions', role: 'group', 'aria-label': 'Quick reactions' });
  for (const e of QUICK) {
    const b = el('button', { type: 'button', class: 'emoji-btn', 'data-emoji': e, 'aria-label': `React with ${e}`, text: e });
    b.addEventListener('click', () => { noteRecent(e); closePopover(); react(r, m.seq, e); });
    quick.append(b);
  }
  const inThread = !!anchor.closest('#thread-pane');
  const items = [];
  if (!inThread && !m.thread_root) items.push({ id: 'reply', label: 'Reply', onSelect: () => startReply(r, m) });
  if (!m.thread_root && !inThread) items.push({ id: 'thread', label: 'Reply in thread', onSelect: () => openThread(r.id, m.seq) });
  items.push({ id: 'react', label: 'Add reaction…', keepFocus: true, onSelect: () => openReactPicker(anchor, r, m.seq) });
  if (bodyText(m)) items.push({ id: 'copy', label: 'Copy text', onSelect: () => { navigator.clipboard && navigator.clipboard.writeText(bodyText(m)).catch(() => {}); } });
  if (mine) items.push({ id: 'info', label: 'Message info', onSelect: () => showInfo(r, m) });
  if (mine && bodyText(m)) {
    items.push({ id: 'edit', label: 'Edit', keepFocus: true, onSelect: () => (inThread ? startThreadEdit(r, m) : startEdit(r, m)) });
  }
  if (mine) { items.push(null); items.push({ id: 'delete', label: 'Delete', danger: true, keepFocus: true, onSelect: () => confirmDelete(r, m) }); }
  openMenu(anchor, items, { label: 'Message actions', header: quick });
}

async function react(r, seq, emoji) {
  const m = findMsg(r, seq);
  const rc = m && Array.isArray(m.reactions) ? m.reactions.find((x) => x.emoji === emoji) : null;
  const remove = !!(rc && Array.isArray(rc.users) && rc.users.includes(S.me.id));
  try {
    const reply = await call('react', remove ? { room: r.id, seq, emoji, remove: true } : { room: r.id, seq, emoji });
    if (reply.message) applyMessage(r, { room: r.id, ...reply.message });
  } catch (err) { toast(explain(err, 'Reaction')); }
}

function setCompose(ctx) {
  S.compose = ctx;
  const box = $('composer-context');
  if (!ctx) { box.hidden = true; return; }
  box.hidden = false;
  box.dataset.mode = ctx.mode;
  $('composer-context-label').textContent = ctx.mode === 'edit' ? 'Editing message' : `Replying to ${userName(ctx.sender)}`;
  $('composer-context-text').textContent = ctx.preview;
  $('composer-context-cancel').setAttribute('aria-label', ctx.mode === 'edit' ? 'Cancel editing' : 'Cancel reply');
}

function startReply(r, m) {
  if (S.current !== r.id) return;
  setCompose({ mode: 'reply', room: r.id, seq: m.seq, sender: m.sender, preview: summaryText(m).slice(0, 100) });
  $('composer-input').focus();
}

function lastOwnEditable(r) {
  const msgs = sortedMsgs(r);
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (m.sender === S.me.id && !m.thread_root && !isDeleted(m) && bodyText(m) && !isExpired(m)) return m;
  }
  return null;
}

function startEdit(r, m) {
  if (S.current !== r.id) return;
  const input = $('composer-input');
  setCompose({ mode: 'edit', room: r.id, seq: m.seq, sender: m.sender, preview: bodyText(m).slice(0, 100) });
  input.value = bodyText(m);
  input.dispatchEvent(new Event('input'));
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

async function submitEdit(ctx, text) {
  setCompose(null);
  const r = S.rooms.get(ctx.room);
  if (!r) return;
  const m = findMsg(r, ctx.seq);
  const body = text.replace(/\s+$/, '');
  if (!body.trim()) { if (m) confirmDelete(r, m); return; }
  if (m && bodyText(m) === body) return;
  try {
    const reply = await call('edit', { room: r.id, seq: ctx.seq, content: { type: 'text', body } });
    if (reply.message) applyMessage(r, { room: r.id, ...reply.message });
  } catch (err) { toast(explain(err, 'Edit')); }
}

function startThreadEdit(r, m) {
  const input = $('thread-input');
  S.thread.edit = m.seq;
  input.value = bodyText(m);
  input.placeholder = 'Edit your reply';
  input.focus();
}

function confirmDelete(r, m) {
  const dlg = $('confirm-dialog');
  $('confirm-text').textContent = 'It will be removed for everyone in this conversation.';
  dlg.returnValue = '';
  const onClose = async () => {
    dlg.removeEventListener('close', onClose);
    if (dlg.returnValue !== 'ok') return;
    try {
      const reply = await call('delete', { room: r.id, seq: m.seq });
      if (reply.message) applyMessage(r, { room: r.id, ...reply.message });
    } catch (err) { toast(explain(err, 'Delete')); }
  };
  dlg.addEventListener('close', onClose);
  dlg.showModal();
  $('confirm-cancel').focus();
}

async function showInfo(r, m) {
  const dlg = $('info-dialog');
  const box = $('info-body');
  box.replaceChildren(el('p', { class: 'field-help', text: 'Loading…' }));
  dlg.showModal();
  await loadReceipts(r, true);
  const others = r.members.filter((x) => x.id !== S.me.id);
  const read = [];
  const delivered = [];
  const waiting = [];
  for (const o of others) {
    const rc = r.receipts.get(o.id) || {};
    if ((rc.read_seq || 0) >= m.seq) read.push([o, rc.read_ts]);
    else if (Math.max(rc.delivered_seq || 0) >= m.seq) delivered.push([o, rc.delivered_ts]);
    else waiting.push([o, 0]);
  }
  const section = (title, list, cls) => el('section', { class: 'info-section ' + cls },
    el('h3', { text: `${title} (${list.length})` }),
    list.length ? el('ul', { class: 'info-list' }, ...list.map(([u, ts]) => el('li', null,
      el('span', { class: 'info-name', text: u.display_name || u.username }),
      ts ? el('time', { datetime: new Date(ts).toISOString(), text: fmtAgo(ts) }) : null)))
      : el('p', { class: 'field-help', text: 'Nobody yet' }));
  box.replaceChildren(
    el('p', { class: 'info-sent', text: `Sent ${fmtFull(m.ts)}` }),
    section('Read by', read, 'read'),
    section('Delivered to', delivered, 'delivered'),
    waiting.length ? section('Not delivered yet', waiting, 'waiting') : null);
  if (S.unsupported.has('receipts')) box.append(el('p', { class: 'field-help', text: 'Receipts are not available on this server yet.' }));
}

// ---------------------------------------------------------------- receipts

async function loadReceipts(r, force = false) {
  if (!supports('receipts') || (r.receiptsLoaded && !force) || !S.conn || !S.conn.isReady) return;
  try {
    const receipts = await allPages((args) => call('receipts', { room: r.id, ...args }), 'receipts');
    r.receiptsLoaded = true;
    for (const rc of receipts || []) {
      if (!rc || !rc.user || rc.user === S.me.id) continue;
      r.receipts.set(rc.user, { ...rc });
    }
    updateTicks(r);
  } catch (e) { /* older server or offline */ }
}

function onReceipt(ev) {
  const r = S.rooms.get(ev.room);
  if (!r || !ev.user) return;
  if (ev.user === S.me.id) {
    // Another device of ours moved the markers: unread counts follow.
    if (typeof ev.read_seq === 'number' && ev.read_seq > r.readSent) {
      r.readSent = ev.read_seq;
      if (ev.read_seq >= r.lastSeq) { r.unread = 0; r.mentions = 0; r.newBelow = 0; }
      else refreshRoomsSoon();
      scheduleRender({ sidebar: true });
      scheduleCache();
    }
    if (typeof ev.delivered_seq === 'number') r.deliveredSent = Math.max(r.deliveredSent, ev.delivered_seq);
    return;
  }
  const rc = r.receipts.get(ev.user) || { user: ev.user };
  if (typeof ev.read_seq === 'number' && ev.read_seq >= (rc.read_seq || 0)) { rc.read_seq = ev.read_seq; rc.read_ts = ev.ts; }
  if (typeof ev.delivered_seq === 'number' && ev.delivered_seq >= (rc.delivered_seq || 0)) { rc.delivered_seq = ev.delivered_seq; rc.delivered_ts = ev.ts; }
  r.receipts.set(ev.user, rc);
  if (S.current === r.id) updateTicks(r);
}

const deliveredQueue = new Map();
let deliveredTimer = null;
function noteDelivered(r, seq) {
  if (!supports('delivered') || seq <= r.deliveredSent) return;
  r.deliveredSent = seq;
  deliveredQueue.set(r.id, seq);
  if (!deliveredTimer) deliveredTimer = setTimeout(flushDelivered, 200);
}

function flushDelivered() {
  deliveredTimer = null;
  if (!S.conn || !S.conn.isReady) { deliveredQueue.clear(); return; }
  for (const [room, seq] of deliveredQueue) {
    call('delivered', { room, seq }).catch((err) => {
      const r = S.rooms.get(room);
      if (r && err.code !== 'unknown_op' && r.deliveredSent === seq) r.deliveredSent = 0;
    });
  }
  deliveredQueue.clear();
}

// ---------------------------------------------------------------- typing

let typingSentAt = 0;
let typingRoom = null;

function onComposerInput() {
  const r = currentRoom();
  const text = $('composer-input').value;
  if (!r || !text.trim() || (S.compose && S.compose.mode === 'edit')) { if (!text.trim()) stopTyping(); return; }
  if (!supports('typing') || !S.conn || !S.conn.isReady) return;
  const now = Date.now();
  if (typingRoom === r.id && now - typingSentAt < TYPING_EVERY_MS) return;
  typingRoom = r.id;
  typingSentAt = now;
  call('typing', { room: r.id, typing: true }).catch(() => {});
}

function stopTyping() {
  if (!typingRoom) return;
  const room = typingRoom;
  typingRoom = null;
  typingSentAt = 0;
  if (S.conn && S.conn.isReady && supports('typing')) call('typing', { room, typing: false }).catch(() => {});
}

let typingTimer = null;
function onTyping(ev) {
  const r = S.rooms.get(ev.room);
  if (!r || !ev.user || ev.user === S.me.id) return;
  if (ev.typing) r.typing.set(ev.user, Date.now() + (Number(ev.expires_in_ms) || 6000));
  else r.typing.delete(ev.user);
  renderTyping();
  scheduleRender({ sidebar: true });
}

function typingNames(r) {
  const now = Date.now();
  const out = [];
  for (const [u, exp] of r.typing) {
    if (exp <= now) r.typing.delete(u);
    else out.push(userName(u));
  }
  return out;
}

function typingLabel(names, short) {
  if (short && names.length === 1) return 'typing…';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

function renderTyping() {
  const r = currentRoom();
  const box = $('typing');
  const names = r ? typingNames(r) : [];
  const text = names.length ? typingLabel(names, false) : '';
  if (box.textContent !== text) box.textContent = text;
  box.classList.toggle('active', !!text);
  // Expire indicators without renewal.
  clearTimeout(typingTimer);
  let next = Infinity;
  for (const room of S.rooms.values()) for (const exp of room.typing.values()) next = Math.min(next, exp);
  if (next !== Infinity) {
    typingTimer = setTimeout(() => { renderTyping(); scheduleRender({ sidebar: true }); }, Math.max(50, next - Date.now() + 20));
  }
}

// ---------------------------------------------------------------- mentions autocomplete

let mention = null; // {start, end, items, index}

function mentionCandidates(r, q) {
  const out = [];
  for (const u of r.members) {
    if (u.id === S.me.id) continue;
    const un = (u.username || '').toLowerCase();
    const dn = (u.display_name || '').toLowerCase();
    if (!q || un.startsWith(q) || dn.split(/\s+/).some((w) => w.startsWith(q))) out.push({ username: u.username, label: u.display_name || u.username, id: u.id });
  }
  if (r.kind === 'group' && 'room'.startsWith(q)) out.push({ username: 'room', label: 'Everyone in this conversation' });
  return out.slice(0, 8);
}

// Custom emoji (shortcode contains q, prefix matches first) and a few
// standard ones by name, for ":q" in the composer.
function emojiCandidates(q) {
  const rank = (code) => (code.startsWith(q) ? 0 : 1);
  const mine = custom.customEmoji().filter((e) => e.shortcode.includes(q))
    .sort((a, b) => rank(a.shortcode) - rank(b.shortcode) || (a.shortcode < b.shortcode ? -1 : 1))
    .slice(0, 6)
    .map((e) => ({ insert: `:${e.shortcode}:`, label: `:${e.shortcode}:`, img: () => custom.emojiImg(e, 'picker-emoji') }));
  const std = [];
  for (const [glyph, names] of EMOJI_NAMES) {
    const name = names.find((n) => n.startsWith(q)) || names.find((n) => n.includes(q));
    if (name) std.push({ insert: glyph, label: `:${name}:`, glyph, r: name.startsWith(q) ? 0 : 1 });
  }
  std.sort((a, b) => a.r - b.r);
  return [...mine, ...std.slice(0, Math.max(3, 8 - mine.length))].slice(0, 8);
}

function updateMentions() {
  const input = $('composer-input');
  const r = currentRoom();
  if (!r || input.selectionStart !== input.selectionEnd) { closeMentions(); return; }
  const caret = input.selectionStart;
  const before = input.value.slice(0, caret);
  const m = /(^|\s)@([a-z0-9_.-]{0,32})$/i.exec(before);
  const e = m ? null : /(^|\s):([a-z0-9_+-]{2,32})$/i.exec(before);
  if (!m && !e) { closeMentions(); return; }
  const q = (m || e)[2];
  const items = m ? mentionCandidates(r, q.toLowerCase()) : emojiCandidates(q.toLowerCase());
  if (!items.length) { closeMentions(); return; }
  const kind = m ? 'mention' : 'emoji';
  const same = mention && mention.kind === kind && mention.q === q;
  mention = { kind, q, start: caret - q.length - 1, end: caret, items, index: same ? Math.min(mention.index, items.length - 1) : 0 };
  renderMentions();
}

function renderMentions() {
  const list = $('mention-list');
  const input = $('composer-input');
  list.setAttribute('aria-label', mention.kind === 'emoji' ? 'Emoji suggestions' : 'Mention someone');
  list.classList.toggle('emoji-list', mention.kind === 'emoji');
  list.replaceChildren(...mention.items.map((it, i) => {
    const li = mention.kind === 'emoji'
      ? el('li', { role: 'option', id: `mention-opt-${i}`, class: 'mention-opt emoji-opt', 'aria-selected': String(i === mention.index), 'data-index': i },
        el('span', { class: 'emoji-opt-glyph', 'aria-hidden': 'true' }, it.img ? it.img() : it.glyph),
        el('span', { class: 'mention-label', text: it.label }))
      : el('li', { role: 'option', id: `mention-opt-${i}`, class: 'mention-opt', 'aria-selected': String(i === mention.index), 'data-index': i },
        el('span', { class: 'mention-label', text: it.label }), el('span', { class: 'mention-user', text: '@' + it.username }));
    li.addEventListener('mousedown', (ev) => { ev.preventDefault(); pickMention(i); });
    return li;
  }));
  list.hidden = false;
  input.setAttribute('aria-expanded', 'true');
  input.setAttribute('aria-activedescendant', `mention-opt-${mention.index}`);
  const cur = list.querySelector('[aria-selected="true"]');
  if (cur) cur.scrollIntoView({ block: 'nearest' });
}

function closeMentions() {
  mention = null;
  $('mention-list').hidden = true;
  $('composer-input').setAttribute('aria-expanded', 'false');
  $('composer-input').removeAttribute('aria-activedescendant');
}

function pickMention(i) {
  if (!mention) return;
  const input = $('composer-input');
  const it = mention.items[i];
  const text = mention.kind === 'emoji' ? it.insert + ' ' : '@' + it.username + ' ';
  input.value = input.value.slice(0, mention.start) + text + input.value.slice(mention.end);
  const pos = mention.start + text.length;
  closeMentions();
  input.focus();
  input.setSelectionRange(pos, pos);
  input.dispatchEvent(new Event('input'));
  closeMentions();
}

function mentionKeydown(e) {
  if (!mention) return false;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const n = mention.items.length;
    mention.index = (mention.index + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
    renderMentions();
    return true;
  }
  if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') { e.preventDefault(); pickMention(mention.index); return true; }
  if (e.key === 'Escape') { e.preventDefault(); closeMentions(); return true; }
  return false;
}

// ---------------------------------------------------------------- threads

function putThreadMsg(m) {
  const t = S.thread;
  const old = t.msgs.get(m.seq);
  if (old && (old.version || 0) >= (m.version || 0) && old !== m) return;
  t.msgs.set(m.seq, m);
  t.nodes.delete(m.seq);
  renderThread();
}

async function openThread(roomId, root) {
  const r = S.rooms.get(roomId);
  if (!r) return;
  if (S.current !== roomId) openRoom(roomId, { focus: false });
  S.thread = { room: roomId, root, rootMsg: findMsg(r, root), msgs: new Map(), nodes: new Map(), loading: true, edit: null };
  document.body.classList.add('thread-open');
  $('thread-pane').hidden = false;
  $('thread-list').replaceChildren();
  $('thread-root').replaceChildren();
  for (const m of r.msgs.values()) if (m.thread_root === root) S.thread.msgs.set(m.seq, m);
  renderThread();
  $('thread-input').focus();
  const shown = () => S.thread && S.thread.root === root && S.thread.room === roomId;
  try {
    let got = 0;
    await allPages(async (args) => {
      const reply = await call('thread', { room: roomId, root, ...args });
      if (!shown()) return {}; // closed or another thread meanwhile: stop
      if (reply.root && !args.before) { S.thread.rootMsg = { room: roomId, ...reply.root }; S.thread.nodes.delete(root); }
      for (const m of reply.messages || []) putThreadMsg({ room: roomId, ...m });
      return reply;
    }, 'messages', {
      first: { limit: 200 },
      // Pages are cut by bytes too: older replies follow while `more`.
      next: (reply, page, args) => {
        got += page.length;
        const before = page[0].seq;
        return got < 200 && (args.before === undefined || before < args.before) ? { before, limit: 200 - got } : null;
      },
    });
    if (!shown()) return;
  } catch (err) {
    if (S.thread) $('thread-count').textContent = explain(err, 'Loading the thread');
  }
  if (S.thread) { S.thread.loading = false; renderThread(); }
}

function closeThread({ focus = true } = {}) {
  const t = S.thread;
  S.thread = null;
  document.body.classList.remove('thread-open');
  $('thread-pane').hidden = true;
  $('thread-input').value = '';
  if (focus && t) {
    const link = $('message-list').querySelector(`li[data-seq="${t.root}"] [data-thread]`);
    if (link) link.focus();
    else $('composer-input').focus();
  }
}

function renderThread() {
  const t = S.thread;
  if (!t) return;
  const r = S.rooms.get(t.room);
  if (!r) return;
  $('thread-subtitle').textContent = roomTitle(r);
  const rootList = $('thread-root');
  if (t.rootMsg) {
    let n = t.nodes.get(t.root);
    if (!n) { n = buildMessage(r, t.rootMsg, { thread: true }); n.classList.add('show-sender'); t.nodes.set(t.root, n); }
    if (rootList.firstChild !== n) rootList.replaceChildren(n);
  }
  const now = Date.now();
  const msgs = [...t.msgs.values()].filter((m) => !isExpired(m, now)).sort((a, b) => a.seq - b.seq);
  const count = Math.max(msgs.length, (t.rootMsg && t.rootMsg.thread_count) || 0);
  if (!t.loading || count) $('thread-count').textContent = count ? `${count} ${count === 1 ? 'reply' : 'replies'}` : 'No replies yet';
  const nodes = msgs.map((m) => {
    let n = t.nodes.get(m.seq);
    if (!n) { n = buildMessage(r, m, { thread: true }); n.classList.add('show-sender'); t.nodes.set(m.seq, n); }
    return n;
  });
  for (const item of S.outbox.forRoom(t.room)) if (item.thread === t.root) nodes.push(pendingNode(item));
  const box = $('thread-messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  reconcile($('thread-list'), nodes);
  sweepMedia();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// ---------------------------------------------------------------- jump to a message (quotes, search)

async function jumpToMessage(roomId, seq) {
  const r = S.rooms.get(roomId);
  if (!r) return;
  const held = findMsg(r, seq);
  if (held && held.thread_root) { openThread(roomId, held.thread_root); return; }
  if (S.current !== roomId) openRoom(roomId, { noLoad: true, focus: false });
  S.jump = { room: roomId, seq };
  if (r.msgs.has(seq) && r.loaded) { scheduleRender({ messages: true }); return; }
  if (!S.conn || !S.conn.isReady) return;
  dropWindow(r);
  $('message-list').replaceChildren();
  r.loading = true;
  r.atLatest = false;
  setHistoryStatus(r, 'Loading messages…');
  try {
    // The target and what follows (forwards from seq-1, so a page cut by
    // bytes still starts at the target), then what precedes it.
    const after = await S.conn.request('history', { room: r.id, after: seq - 1, limit: 26 });
    for (const m of after.messages) putMsg(r, m);
    if (seq > 1) {
      const before = await S.conn.request('history', { room: r.id, before: seq, limit: 24 });
      for (const m of before.messages) putMsg(r, m);
    }
    r.loaded = true;
    r.hasOlder = minSeq(r) > 1;
    r.atLatest = maxSeq(r) >= r.lastSeq;
    const target = r.msgs.get(seq);
    if (target && target.thread_root) openThread(roomId, target.thread_root);
  } catch (e) { /* offline */ }
  r.loading = false;
  setHistoryStatus(r, '');
  pendingScrollToMarker = false;
  stickToBottom = false;
  renderMessages();
}

// ---------------------------------------------------------------- presence

function presenceOf(uid) {
  if (uid === S.me.id) return S.settings.show_presence === false ? null : { status: S.reported || 'online' };
  return S.presence.get(uid) || null;
}

function presenceText(uid) {
  const p = presenceOf(uid);
  if (!p) return '';
  if (p.status === 'online') return 'online';
  if (p.status === 'away') return 'away';
  return p.last_seen ? `last seen ${fmtAgo(p.last_seen)}` : 'offline';
}

async function loadPresence() {
  if (!supports('presence_query')) return;
  try {
    const { presence } = await call('presence_query');
    for (const p of presence || []) if (p && p.user) S.presence.set(p.user, { status: p.status, last_seen: p.last_seen });
    scheduleRender({ sidebar: true, header: true });
  } catch (e) { /* older server */ }
}

// New people share a room with us: their presence was not in the last query.
let presenceSoon = null;
function loadPresenceSoon() {
  if (presenceSoon || !supports('presence_query')) return;
  presenceSoon = setTimeout(() => { presenceSoon = null; loadPresence(); }, 300);
}

function onPresence(ev) {
  if (!ev.user) return;
  S.presence.set(ev.user, { status: ev.status, last_seen: ev.last_seen });
  scheduleRender({ sidebar: true, header: true });
  if (profileShown === ev.user) fillProfilePresence(ev.user);
}

let lastInput = Date.now();
function wantedPresence() {
  return document.visibilityState === 'hidden' || Date.now() - lastInput > IDLE_MS ? 'away' : 'online';
}

function reportPresence() {
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
setInterval(() => { if (S.me) { reportPresence(); scheduleRender({ header: true }); } }, 15000);

// ---------------------------------------------------------------- profiles

let profileShown = null;
let profileOpener = null;

// The user's avatar media id, or null. Unknown users are asked once (their
// profile carries it); profile events keep it current afterwards.
const profilesAsked = new Set();
function avatarOf(uid) {
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
    if (had !== u.avatar) scheduleRender({ sidebar: true, header: true });
  }, () => { profilesAsked.delete(uid); });
}

function mergeUser(p) {
  if (!p || !p.id) return null;
  const u = { ...(S.users.get(p.id) || {}), ...p };
  S.users.set(p.id, u);
  return u;
}

function onProfile(p) {
  const u = mergeUser(p);
  if (!u) return;
  if (u.id === S.me.id) { S.me = { ...S.me, ...p }; renderMe(); }
  for (const r of S.rooms.values()) {
    for (const m of r.members) if (m.id === u.id) { if (p.display_name) m.display_name = p.display_name; }
    r.nodes.clear();
  }
  if (S.thread) S.thread.nodes.clear();
  if (profileShown === u.id) fillProfile(u);
  scheduleRender({ sidebar: true, header: true, messages: true });
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

async function showProfile(uid, opener) {
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

// ---------------------------------------------------------------- settings (server-side, synced)

const PENDING_THEME_KEY = 'parley.theme.pending';

async function loadSettings() {
  if (!supports('settings_get')) return;
  try {
    const { settings } = await call('settings_get');
    const pending = load(PENDING_THEME_KEY);
    if (pending && settings && pending !== settings.theme) {
      // Chosen while signed out or offline: that choice wins.
      remove(PENDING_THEME_KEY);
      applySettings({ ...settings, theme: pending }, false);
      saveSetting({ theme: pending });
      return;
    }
    remove(PENDING_THEME_KEY);
    applySettings(settings, true);
  } catch (e) { /* older server: local settings only */ }
}

function applySettings(s, fromServer) {
  if (!s || typeof s !== 'object') return;
  const prev = S.settings;
  S.settings = { ...S.settings, ...s };
  if (fromServer && typeof s.theme === 'string' && s.theme !== currentThemeSetting()) setTheme(s.theme);
  if (prev.show_presence !== S.settings.show_presence) scheduleRender({ sidebar: true, header: true });
  if ($('settings-dialog').open && fromServer) fillSettingsForm();
}

async function saveSetting(partial) {
  S.settings = { ...S.settings, ...partial };
  if (!S.conn || !S.conn.isReady || !supports('settings_set')) {
    if (partial.theme) save(PENDING_THEME_KEY, partial.theme);
    return;
  }
  try {
    const { settings } = await call('settings_set', { settings: partial });
    remove(PENDING_THEME_KEY);
    if (settings) S.settings = { ...S.settings, ...settings };
  } catch (err) {
    if (partial.theme) save(PENDING_THEME_KEY, partial.theme);
  }
}

function fillSettingsForm() {
  const me = { ...S.me, ...(S.users.get(S.me.id) || {}) };
  $('set-display').value = me.display_name || '';
  $('set-status').value = me.status_text || '';
  $('set-bio').value = me.bio || '';
  $('set-theme').value = currentThemeSetting();
  $('set-read-receipts').checked = S.settings.read_receipts !== false;
  $('set-show-presence').checked = S.settings.show_presence !== false;
  $('set-group-add').value = S.settings.group_add || 'everyone';
}

async function openSettings() {
  const dlg = $('settings-dialog');
  $('err-settings').textContent = '';
  $('err-set-display').textContent = '';
  fillSettingsForm();
  $('err-set-avatar').textContent = '';
  $('set-avatar-status').textContent = '';
  fillAvatarControls();
  if (!dlg.open) dlg.showModal();
  $('set-display').focus();
  if (supports('profile_get') && S.conn && S.conn.isReady) {
    try {
      const { user } = await call('profile_get', { user: S.me.id });
      mergeUser(user);
      if (dlg.open) fillAvatarControls();
      if (dlg.open && document.activeElement === $('set-display') && $('set-display').value === (S.me.display_name || '')) {
        $('set-status').value = user.status_text || '';
        $('set-bio').value = user.bio || '';
      }
    } catch (e) { /* ignore */ }
  }
}

async function saveSettingsForm(e) {
  e.preventDefault();
  $('err-settings').textContent = '';
  $('err-set-display').textContent = '';
  const me = { ...S.me, ...(S.users.get(S.me.id) || {}) };
  const prof = {};
  const dn = $('set-display').value.trim();
  if (!dn) { $('err-set-display').textContent = 'Enter a display name.'; $('set-display').focus(); return; }
  if (dn !== (me.display_name || '')) prof.display_name = dn;
  if ($('set-status').value.trim() !== (me.status_text || '')) prof.status_text = $('set-status').value.trim();
  if ($('set-bio').value.trim() !== (me.bio || '')) prof.bio = $('set-bio').value.trim();
  const theme = $('set-theme').value;
  const set = {};
  if (theme !== currentThemeSetting()) set.theme = theme;
  if ($('set-read-receipts').checked !== (S.settings.read_receipts !== false)) set.read_receipts = $('set-read-receipts').checked;
  if ($('set-show-presence').checked !== (S.settings.show_presence !== false)) set.show_presence = $('set-show-presence').checked;
  if ($('set-group-add').value !== (S.settings.group_add || 'everyone')) set.group_add = $('set-group-add').value;
  const btn = $('settings-save');
  btn.disabled = true;
  try {
    if (Object.keys(prof).length) {
      const { user } = await call('profile_set', prof);
      onProfile(user);
    }
    if (set.theme) setTheme(set.theme);
    if (Object.keys(set).length) {
      if (!S.conn || !S.conn.isReady) throw Object.assign(new Error('offline'), { code: 'disconnected' });
      const { settings } = await call('settings_set', { settings: set });
      applySettings(settings, false);
    }
    $('settings-dialog').close();
  } catch (err) {
    $('err-settings').textContent = explain(err, 'Saving');
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- avatar (settings dialog)

function fillAvatarControls() {
  const me = { ...S.me, ...(S.users.get(S.me.id) || {}) };
  const name = me.display_name || me.username;
  custom.paintAvatar($('set-avatar-preview'), name, me.avatar || null);
  $('set-avatar-remove').hidden = !me.avatar;
  $('set-avatar-pick').textContent = me.avatar ? 'Change photo' : 'Upload photo';
}

async function setMyAvatar(avatar) {
  const { user } = await call('profile_set', { avatar });
  onProfile(user);
  fillAvatarControls();
}

// Picks an image from the file input `<prefix>-file`, uploads it and hands
// its media id to save(); status and errors go to `<prefix>-status` and
// `err-<prefix>`, and the pick/remove buttons are disabled meanwhile. Used
// for the profile photo and for a group's photo.
async function uploadPhoto(prefix, save, done) {
  const input = $(prefix + '-file');
  const file = input.files && input.files[0];
  input.value = '';
  if (!file) return;
  const status = $(prefix + '-status');
  const errEl = $('err-' + prefix);
  errEl.textContent = '';
  if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
    errEl.textContent = 'Choose a PNG, JPEG, GIF or WebP image.';
    return;
  }
  const busy = [$(prefix + '-pick'), $(prefix + '-remove')];
  for (const b of busy) b.disabled = true;
  status.textContent = 'Uploading photo…';
  let stage = 'upload';
  try {
    const res = await media.upload(file, { name: file.name });
    if (!res.thumb_w) throw Object.assign(new Error('not an image'), { code: 'bad_request' });
    stage = 'save';
    await save(res.id);
    status.textContent = done;
  } catch (err) {
    status.textContent = '';
    errEl.textContent = err && err.code === 'bad_request'
      ? 'That image could not be read. Try another one.'
      : stage === 'upload' ? media.uploadError(err, file.name) : explain(err, 'Saving the photo');
  } finally {
    for (const b of busy) b.disabled = false;
  }
}

function onAvatarFile() {
  return uploadPhoto('set-avatar', (id) => setMyAvatar(id), 'Photo updated.');
}

async function removeMyAvatar() {
  $('err-set-avatar').textContent = '';
  try {
    await setMyAvatar(null);
    $('set-avatar-status').textContent = 'Photo removed.';
    $('set-avatar-pick').focus();
  } catch (err) {
    $('err-set-avatar').textContent = explain(err, 'Removing the photo');
  }
}

// ---------------------------------------------------------------- group info (name, photo, members)

let groupShown = null; // room id of the open group dialog
let groupOpener = null;

function openGroupInfo(r, opener) {
  groupShown = r.id;
  groupOpener = opener || document.activeElement;
  $('group-invite').value = '';
  $('group-invite-status').textContent = '';
  $('err-group-invite').textContent = '';
  $('group-invite').removeAttribute('aria-invalid');
  $('err-group-name').textContent = '';
  $('err-group-avatar').textContent = '';
  $('group-avatar-status').textContent = '';
  $('group-name').value = r.name || '';
  fillGroupInfo(r);
  const dlg = $('group-dialog');
  if (!dlg.open) dlg.showModal();
  $('group-name').focus();
}

function fillGroupInfo(r) {
  const title = roomTitle(r);
  $('group-title').textContent = title;
  custom.paintAvatar($('group-avatar-preview'), title, r.avatar || null);
  $('group-avatar-remove').hidden = !r.avatar;
  $('group-avatar-pick').textContent = r.avatar ? 'Change photo' : 'Upload photo';
  const n = r.member_count || r.members.length;
  $('group-members-title').textContent = `${n} member${n === 1 ? '' : 's'}`;
  $('group-members').replaceChildren(...r.members.map((u) => {
    const name = u.id === S.me.id ? `${u.display_name || u.username} (you)` : (u.display_name || u.username);
    const av = el('span', { class: 'avatar small', 'aria-hidden': 'true' });
    custom.paintAvatar(av, u.display_name || u.username, avatarOf(u.id));
    return el('li', { class: 'group-member' }, av,
      el('span', { class: 'group-member-names' }, el('span', { class: 'group-member-name', text: name }),
        el('span', { class: 'group-member-user', text: '@' + u.username })));
  }));
}

async function groupSettings(args) {
  const { room } = await call('room_settings', { room: groupShown, ...args });
  if (room) onRoomEvent(room);
}

function onGroupAvatarFile() {
  if (!groupShown) { $('group-avatar-file').value = ''; return undefined; }
  return uploadPhoto('group-avatar', (id) => groupSettings({ avatar: id }), 'Group photo updated.');
}

async function removeGroupAvatar() {
  $('err-group-avatar').textContent = '';
  try {
    await groupSettings({ avatar: null });
    $('group-avatar-status').textContent = 'Group photo removed.';
    $('group-avatar-pick').focus();
  } catch (err) {
    $('err-group-avatar').textContent = explain(err, 'Removing the photo');
  }
}

async function saveGroupName(e) {
  e.preventDefault();
  const name = $('group-name').value.trim();
  $('err-group-name').textContent = '';
  if (!name) { $('err-group-name').textContent = 'Enter a name.'; $('group-name').focus(); return; }
  if (utf8Len(name) > 128) { $('err-group-name').textContent = 'That name is too long.'; $('group-name').focus(); return; }
  const r = S.rooms.get(groupShown);
  if (r && r.name === name) { $('group-dialog').close(); return; }
  $('group-save').disabled = true;
  try {
    await groupSettings({ name });
    $('group-dialog').close();
  } catch (err) {
    $('err-group-name').textContent = err.code === 'too_large' ? 'That name is too long.' : explain(err, 'Renaming the group');
  } finally {
    $('group-save').disabled = false;
  }
}

// "Add people": added at once, or invited (their privacy setting decides).
async function inviteToGroup() {
  const input = $('group-invite');
  const names = input.value.split(/[\s,;]+/).map((x) => x.replace(/^@/, '').trim().toLowerCase()).filter(Boolean);
  $('group-invite-status').textContent = '';
  $('err-group-invite').textContent = '';
  input.removeAttribute('aria-invalid');
  if (!names.length) { $('err-group-invite').textContent = 'Enter one or more usernames.'; input.focus(); return; }
  const room = groupShown;
  $('group-invite-btn').disabled = true;
  try {
    const reply = await call('invite', { room, users: names });
    const name = (u) => u.display_name || u.username;
    const parts = [];
    if ((reply.added || []).length) parts.push(`Added ${reply.added.map(name).join(', ')}.`);
    const members = (reply.skipped || []).filter((x) => x.reason === 'member');
    if (members.length) parts.push(`${members.map((x) => name(x.user)).join(', ')} ${members.length === 1 ? 'is' : 'are'} already in the group.`);
    const note = addedNote(reply);
    if (note) parts.push(note);
    $('group-invite-status').textContent = parts.join(' ') || 'Nothing to do.';
    input.value = '';
  } catch (err) {
    input.setAttribute('aria-invalid', 'true');
    $('err-group-invite').textContent = err.code === 'user_not_found'
      ? (names.length === 1 ? `No user named “${names[0]}”.` : `${err.message || 'One of these usernames does not exist'}.`)
      : err.code === 'too_large' && !err.retryAfterMs ? (err.message || 'Too many people at once.')
        : explain(err, 'Adding people');
    input.focus();
  } finally {
    $('group-invite-btn').disabled = false;
  }
}

function leaveGroup() {
  const r = S.rooms.get(groupShown);
  if (!r) return;
  const dlg = $('confirm-dialog');
  $('confirm-title').textContent = `Leave “${roomTitle(r)}”?`;
  $('confirm-text').textContent = 'You will stop receiving its messages. To come back, a member has to invite you again.';
  $('confirm-ok').textContent = 'Leave group';
  dlg.returnValue = '';
  const onClose = async () => {
    dlg.removeEventListener('close', onClose);
    $('confirm-title').textContent = 'Delete message?';
    $('confirm-ok').textContent = 'Delete';
    if (dlg.returnValue !== 'ok') return;
    try {
      await call('leave', { room: r.id });
      S.rooms.delete(r.id);
      if ($('group-dialog').open) $('group-dialog').close();
      if (S.current === r.id) closeRoom({ pop: false });
      scheduleRender({ sidebar: true });
      scheduleCache();
    } catch (err) { toast(explain(err, 'Leaving')); }
  };
  dlg.addEventListener('close', onClose);
  dlg.showModal();
  $('confirm-cancel').focus();
}

function bindGroupDialog() {
  $('group-form').addEventListener('submit', saveGroupName);
  $('group-invite-btn').addEventListener('click', inviteToGroup);
  $('group-invite').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); inviteToGroup(); }
  });
  $('group-leave').addEventListener('click', leaveGroup);
  $('group-close').addEventListener('click', () => $('group-dialog').close());
  $('group-avatar-pick').addEventListener('click', () => $('group-avatar-file').click());
  $('group-avatar-file').addEventListener('change', onGroupAvatarFile);
  $('group-avatar-remove').addEventListener('click', removeGroupAvatar);
  $('group-dialog').addEventListener('close', () => {
    groupShown = null;
    if (groupOpener && groupOpener.isConnected) groupOpener.focus();
    groupOpener = null;
  });
}

// ---------------------------------------------------------------- custom emoji

async function loadEmoji() {
  if (!supports('emoji_list')) return;
  try {
    const emoji = await allPages((args) => call('emoji_list', args), 'emoji');
    custom.setEmojiList(emoji);
    emojiChanged();
  } catch (e) { /* older server: no custom emoji */ }
}

function onEmojiEvent(ev) {
  if (ev.action === 'removed') custom.removeEmoji(ev.emoji.shortcode);
  else custom.addEmoji(ev.emoji);
  emojiChanged();
}

// Messages and reactions that mention a shortcode are rebuilt.
function emojiChanged() {
  for (const r of S.rooms.values()) r.nodes.clear();
  if (S.thread) S.thread.nodes.clear();
  scheduleRender({ messages: true });
  renderThread();
}

function pickerOpts(verb) {
  return {
    verb,
    label: verb === 'Insert' ? 'Insert emoji' : 'Choose a reaction',
    custom: custom.customEmoji().map((e) => ({ code: `:${e.shortcode}:`, img: () => custom.emojiImg(e, 'picker-emoji') })),
    // Custom emoji double as stickers in the composer's picker.
    stickers: verb === 'Insert' ? custom.customEmoji().map((e) => ({ code: `:${e.shortcode}:`,
      img: () => custom.emojiImg(e, 'picker-sticker'), send: () => sendSticker(e) })) : null,
    onAdd: supports('emoji_add') ? () => openAddEmoji() : null,
  };
}

async function sendSticker(e) {
  const r = currentRoom();
  if (!r) return;
  if (!S.conn || !S.conn.isReady) { toast('You are offline. Stickers need a connection.'); return; }
  try {
    const reply = await call('send', { room: r.id, client_id: newUploadClientId(),
      content: { type: 'sticker', media: e.media, emoji: e.shortcode } });
    if (!r.atLatest) jumpToLatest();
    stickToBottom = true;
    if (reply.message) onMessage(reply.message);
  } catch (err) {
    toast(explain(err, 'Sending the sticker'));
  }
  $('composer-input').focus();
}

function openReactPicker(anchor, r, seq) {
  openEmojiPicker(anchor, (e) => react(r, seq, e), pickerOpts('React with'));
}

function insertIntoComposer(text) {
  const ta = $('composer-input');
  const start = ta.selectionStart ?? ta.value.length;
  const end = ta.selectionEnd ?? ta.value.length;
  const before = ta.value.slice(0, start);
  const pad = before && !/\s$/.test(before) && text.startsWith(':') ? ' ' : '';
  ta.setRangeText(pad + text, start, end, 'end');
  ta.dispatchEvent(new Event('input', { bubbles: true }));
  ta.focus();
}

let addEmojiOpener = null;
function openAddEmoji() {
  addEmojiOpener = document.activeElement;
  const dlg = $('emoji-dialog');
  $('emoji-form').reset();
  $('err-emoji').textContent = '';
  $('err-emoji-code').textContent = '';
  $('emoji-preview').replaceChildren();
  if (!dlg.open) dlg.showModal();
  $('emoji-file').focus();
}

function onEmojiFile() {
  const f = $('emoji-file').files && $('emoji-file').files[0];
  const prev = $('emoji-preview');
  for (const img of prev.querySelectorAll('img')) URL.revokeObjectURL(img.src);
  prev.replaceChildren();
  if (!f) return;
  prev.append(el('img', { src: URL.createObjectURL(f), alt: 'Preview of the chosen image', class: 'custom-emoji big' }));
  const code = $('emoji-code');
  if (!code.value) {
    const guess = f.name.replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 32);
    if (custom.SHORTCODE_RE.test(guess)) code.value = guess;
  }
}

async function saveEmoji(e) {
  e.preventDefault();
  $('err-emoji').textContent = '';
  $('err-emoji-code').textContent = '';
  const f = $('emoji-file').files && $('emoji-file').files[0];
  const code = $('emoji-code').value.trim().replace(/^:|:$/g, '').toLowerCase();
  if (!f) { $('err-emoji').textContent = 'Choose an image.'; $('emoji-file').focus(); return; }
  if (!custom.SHORTCODE_RE.test(code)) {
    $('err-emoji-code').textContent = 'Use 2 to 32 lowercase letters, digits or _.';
    $('emoji-code').focus();
    return;
  }
  if (custom.findEmoji(code)) { $('err-emoji-code').textContent = `:${code}: is already taken.`; $('emoji-code').focus(); return; }
  const btn = $('emoji-save');
  btn.disabled = true;
  let stage = 'upload';
  try {
    const res = await media.upload(f, { name: f.name });
    stage = 'add';
    const { emoji } = await call('emoji_add', { shortcode: code, media: res.id });
    custom.addEmoji(emoji);
    emojiChanged();
    $('emoji-dialog').close();
    toast(`Added :${code}:`);
  } catch (err) {
    if (err && err.code === 'emoji_taken') { $('err-emoji-code').textContent = `:${code}: is already taken.`; $('emoji-code').focus(); }
    else if (err && err.code === 'forbidden') $('err-emoji').textContent = 'Adding custom emoji is turned off on this server.';
    else if (err && err.code === 'bad_request') $('err-emoji').textContent = 'That file is not an image the server can use.';
    else $('err-emoji').textContent = stage === 'upload' ? media.uploadError(err, f.name) : explain(err, 'Adding the emoji');
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- disappearing messages

function timerLabel(ms) {
  const o = TIMER_OPTIONS.find(([v]) => v === ms);
  if (o) return o[1];
  if (ms < 60000) return `${Math.round(ms / 1000)} seconds`;
  if (ms < 3600000) return `${Math.round(ms / 60000)} minutes`;
  if (ms < 86400000) return `${Math.round(ms / 3600000)} hours`;
  return `${Math.round(ms / 86400000)} days`;
}

function timerShort(ms) {
  if (ms < 60000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3600000) return `${Math.round(ms / 60000)}m`;
  if (ms < 86400000) return `${Math.round(ms / 3600000)}h`;
  if (ms < 604800000) return `${Math.round(ms / 86400000)}d`;
  return `${Math.round(ms / 604800000)}w`;
}

function openTimerDialog() {
  const r = currentRoom();
  if (!r) return;
  const box = $('timer-options');
  const opts = TIMER_OPTIONS.slice();
  if (r.disappearing_ms && !opts.some(([v]) => v === r.disappearing_ms)) opts.push([r.disappearing_ms, timerLabel(r.disappearing_ms)]);
  box.replaceChildren(el('legend', { class: 'visually-hidden', text: 'Timer' }), ...opts.map(([v, label]) => {
    const input = el('input', { type: 'radio', name: 'timer', value: String(v), id: `timer-${v}` });
    input.checked = v === (r.disappearing_ms || 0);
    return el('label', { class: 'check', for: `timer-${v}` }, input, ' ' + label);
  }));
  $('err-timer').textContent = '';
  $('timer-dialog').showModal();
  const checked = box.querySelector('input:checked');
  if (checked) checked.focus();
}

async function saveTimer(e) {
  e.preventDefault();
  const r = currentRoom();
  const v = box => box.querySelector('input[name="timer"]:checked');
  const sel = v($('timer-options'));
  if (!r || !sel) { $('timer-dialog').close(); return; }
  try {
    const reply = await call('room_settings', { room: r.id, disappearing_ms: Number(sel.value) });
    if (reply.room) onRoomEvent(reply.room);
    $('timer-dialog').close();
  } catch (err) {
    $('err-timer').textContent = explain(err, 'Changing the timer');
  }
}

function roomMenu(anchor) {
  const r = currentRoom();
  if (!r) return;
  const other = r.kind === 'dm' ? r.members.find((x) => x.id !== S.me.id) : null;
  const items = [
    { id: 'search-room', label: 'Search in this conversation', keepFocus: true, onSelect: () => openSearch('room') },
    { id: 'timer', label: `Disappearing messages: ${r.disappearing_ms ? timerLabel(r.disappearing_ms) : 'off'}…`, keepFocus: true, onSelect: openTimerDialog },
  ];
  if (other) items.unshift({ id: 'profile', label: 'View profile', keepFocus: true, onSelect: () => showProfile(other.id, anchor) });
  if (r.kind === 'group') items.unshift({ id: 'group-info', label: 'Group info…', keepFocus: true, onSelect: () => openGroupInfo(r, anchor) });
  openMenu(anchor, items, { label: 'Conversation options' });
}

// ---------------------------------------------------------------- search

let searchTimer = null;
let searchGen = 0;

function openSearch(scope = '') {
  const dlg = $('search-dialog');
  $('search-scope').value = scope === 'room' && S.current ? 'room' : '';
  $('search-scope').querySelector('option[value="room"]').disabled = !S.current;
  if (!dlg.open) dlg.showModal();
  $('search-input').focus();
  $('search-input').select();
  if ($('search-input').value.trim()) runSearch();
}

async function runSearch() {
  const q = $('search-input').value.trim();
  const status = $('search-status');
  const list = $('search-results');
  const gen = ++searchGen;
  if (!q) { list.replaceChildren(); status.textContent = ''; return; }
  const args = { query: q.slice(0, 200), limit: 30 };
  if ($('search-scope').value === 'room' && S.current) args.room = S.current;
  status.textContent = 'Searching…';
  try {
    const { results } = await call('search', args);
    if (gen !== searchGen) return;
    const items = (results || []).filter((m) => m && S.rooms.has(m.room)).map((m) => {
      const r = S.rooms.get(m.room);
      const btn = el('button', { type: 'button', class: 'search-result', 'data-room': m.room, 'data-seq': m.seq },
        el('span', { class: 'result-top' },
          el('span', { class: 'result-sender', text: userName(m.sender) }),
          el('span', { class: 'result-room', text: r.kind === 'dm' ? 'Direct message' : `in ${roomTitle(r)}` }),
          el('time', { datetime: new Date(m.ts).toISOString(), title: fmtFull(m.ts), text: fmtListTime(m.ts) })),
        el('span', { class: 'result-snippet' }, highlightText(snippet(bodyText(m), q), q)));
      return el('li', null, btn);
    });
    list.replaceChildren(...items);
    status.textContent = items.length ? `${items.length} result${items.length > 1 ? 's' : ''}` : 'No messages found.';
  } catch (err) {
    if (gen !== searchGen) return;
    list.replaceChildren();
    status.textContent = explain(err, 'Search');
  }
}

// ---------------------------------------------------------------- bindings

function bindFeatures() {
  for (const id of ['message-list', 'thread-root', 'thread-list']) {
    $(id).addEventListener('click', onMessageClick);
    $(id).addEventListener('contextmenu', onMessageContext);
  }
  $('thread-list').addEventListener('click', (e) => {
    const retry = e.target.closest('[data-retry]');
    const del = e.target.closest('[data-delete]');
    if (retry) { S.outbox.retry(retry.dataset.retry); renderThread(); flushOutbox(); }
    if (del) { S.outbox.delete(del.dataset.delete); renderThread(); }
  });
  $('composer-context-cancel').addEventListener('click', () => {
    const wasEdit = S.compose && S.compose.mode === 'edit';
    setCompose(null);
    if (wasEdit) $('composer-input').value = '';
    $('composer-input').focus();
  });

  // thread pane
  $('thread-close').addEventListener('click', () => closeThread());
  const tin = $('thread-input');
  tin.addEventListener('input', () => {
    tin.style.height = 'auto';
    tin.style.height = Math.min(tin.scrollHeight, 160) + 'px';
  });
  tin.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      $('thread-composer').requestSubmit();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      if (S.thread && S.thread.edit) { S.thread.edit = null; tin.value = ''; tin.placeholder = 'Reply in thread'; }
      else closeThread();
    }
  });
  $('thread-composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = S.thread;
    if (!t) return;
    const text = tin.value;
    if (t.edit) {
      const seq = t.edit;
      t.edit = null;
      tin.placeholder = 'Reply in thread';
      tin.value = '';
      submitEdit({ room: t.room, seq }, text);
      return;
    }
    if (!text.trim()) return;
    tin.value = '';
    tin.style.height = 'auto';
    sendText(text, { thread: t.root });
    tin.focus();
  });

  $('btn-room-menu').addEventListener('click', (e) => roomMenu(e.currentTarget));
  $('btn-room-info').addEventListener('click', (e) => {
    const r = currentRoom();
    if (!r) return;
    const other = r.kind === 'dm' ? r.members.find((x) => x.id !== S.me.id) : null;
    if (other) showProfile(other.id, e.currentTarget);
    else openGroupInfo(r, e.currentTarget);
  });
  $('timer-form').addEventListener('submit', saveTimer);
  bindGroupDialog();
  $('timer-cancel').addEventListener('click', () => $('timer-dialog').close());

  // profile card and settings
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
  $('btn-me').addEventListener('click', openSettings);
  $('btn-settings').addEventListener('click', openSettings);
  $('settings-form').addEventListener('submit', saveSettingsForm);
  $('set-avatar-pick').addEventListener('click', () => $('set-avatar-file').click());
  $('set-avatar-file').addEventListener('change', onAvatarFile);
  $('set-avatar-remove').addEventListener('click', removeMyAvatar);
  $('emoji-form').addEventListener('submit', saveEmoji);
  $('emoji-file').addEventListener('change', onEmojiFile);
  $('emoji-cancel').addEventListener('click', () => $('emoji-dialog').close());
  $('emoji-dialog').addEventListener('close', () => {
    for (const img of $('emoji-preview').querySelectorAll('img')) URL.revokeObjectURL(img.src);
    $('emoji-preview').replaceChildren();
    if (addEmojiOpener && addEmojiOpener.isConnected) addEmojiOpener.focus();
    addEmojiOpener = null;
  });
  $('btn-emoji').addEventListener('click', () => openEmojiPicker($('btn-emoji'), (e) => insertIntoComposer(e), pickerOpts('Insert')));
  $('settings-cancel').addEventListener('click', () => $('settings-dialog').close());
  $('info-close').addEventListener('click', () => $('info-dialog').close());

  // search
  $('btn-search').addEventListener('click', () => openSearch(''));
  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(searchTimer); runSearch(); });
  $('search-input').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
  $('search-scope').addEventListener('change', runSearch);
  $('search-close').addEventListener('click', () => $('search-dialog').close());
  $('search-results').addEventListener('click', (e) => {
    const b = e.target.closest('.search-result');
    if (!b) return;
    $('search-dialog').close();
    jumpToMessage(b.dataset.room, Number(b.dataset.seq));
  });
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k' && S.me && !$('chat-view').hidden) {
      e.preventDefault();
      openSearch(S.current ? 'room' : '');
    }
  });

  // presence: idle and hidden tabs report away
  for (const t of ['pointerdown', 'keydown', 'wheel', 'touchstart']) window.addEventListener(t, onUserInput, { passive: true, capture: true });
  let moveAt = 0;
  window.addEventListener('pointermove', () => { const n = Date.now(); if (n - moveAt > 5000) { moveAt = n; onUserInput(); } }, { passive: true });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') lastInput = Date.now(); reportPresence(); });
}

// ---------------------------------------------------------------- media: rendering

const THUMB_BOX = 320; // px, thumbnails are at most 320×320
const STICKER_BOX = 160; // px, stickers are shown at most this big

function intIn(v, lo, hi) { return Number.isInteger(v) && v >= lo && v <= hi; }

// The media part of a message, or null when the content is not (valid) media.
function buildMedia(c) {
  if (!c || typeof c !== 'object' || !media.validId(c.media)) return null;
  if (c.type === 'image' && intIn(c.w, 1, 100000) && intIn(c.h, 1, 100000) && (c.thumb === undefined || media.validId(c.thumb))) {
    const { w, h } = media.fit(c.w, c.h, THUMB_BOX, THUMB_BOX);
    const cap = typeof c.caption === 'string' ? c.caption : '';
    const img = el('img', { class: 'media-thumb', alt: cap ? `Photo: ${cap.slice(0, 120)}` : 'Photo', width: w, height: h, decoding: 'async' });
    const btn = el('button', { type: 'button', class: 'media-image', 'data-media-open': c.media,
      'aria-label': cap ? `Photo: ${cap.slice(0, 120)}. Open full size` : 'Photo. Open full size' }, img);
    btn.style.width = `${w}px`;
    btn.style.aspectRatio = `${w} / ${h}`;
    // A GIF plays in the timeline: the original, not its first-frame thumbnail.
    const gif = c.mime === 'image/gif' && c.w * c.h <= 4000000;
    const thumb = gif ? media.mediaPath(c.media)
      : c.thumb ? media.mediaPath(c.thumb) : media.mediaPath(c.media, true);
    // No thumbnail (corrupt or huge image): a modest original is still fine to show.
    loadMedia(img, btn, thumb, c.w * c.h <= 4000000 ? media.mediaPath(c.media) : null);
    return btn;
  }
  if (c.type === 'file' && typeof c.name === 'string' && typeof c.mime === 'string' && Number.isFinite(c.size) && c.size >= 0) {
    const label = media.typeLabel(c.mime, c.name);
    const size = media.fmtSize(c.size);
    return el('div', { class: 'file-card' },
      el('span', { class: 'file-icon', 'aria-hidden': 'true' }, icon('file')),
      el('span', { class: 'file-info' },
        el('span', { class: 'file-name', text: c.name || 'attachment', title: c.name }),
        el('span', { class: 'file-meta', text: `${size} · ${label}` })),
      el('button', { type: 'button', class: 'icon-btn file-download', 'data-media-download': c.media,
        'aria-label': `Download ${c.name || 'file'} (${size})`, title: 'Download' }, icon('download')));
  }
  if (c.type === 'voice' && intIn(c.duration_ms, 1, 86400000)) {
    const dur = media.fmtDuration(c.duration_ms);
    const wave = el('span', { class: 'waveform', 'aria-hidden': 'true' });
    const peaks = Array.isArray(c.waveform) && c.waveform.length ? c.waveform.slice(0, 64) : null;
    if (peaks) {
      for (const v of peaks) {
        const bar = el('span', { class: 'wave-bar' });
        bar.style.height = `${Math.max(10, Math.min(100, Math.round((Number(v) || 0) / 2.55)))}%`;
        wave.append(bar);
      }
    }
    const audio = el('audio', { class: 'voice-audio', controls: true, preload: 'metadata', 'aria-label': `Voice message, ${dur}` });
    const box = el('div', { class: 'voice' },
      el('span', { class: 'voice-head' }, icon('mic', 'voice-icon'), peaks ? wave : null, el('span', { class: 'voice-dur', text: dur })),
      audio);
    loadMedia(audio, box, media.mediaPath(c.media), null);
    return box;
  }
  if (c.type === 'sticker' && (c.w === undefined || intIn(c.w, 1, 100000)) && (c.h === undefined || intIn(c.h, 1, 100000))) {
    // Up to STICKER_BOX on the longer side (small emoji images are scaled up
    // to it too: a sticker is meant to be big), no bubble (see style.css).
    const sw = c.w || STICKER_BOX, sh = c.h || STICKER_BOX;
    const k = STICKER_BOX / Math.max(sw, sh);
    const w = Math.max(1, Math.round(sw * k)), h = Math.max(1, Math.round(sh * k));
    const code = typeof c.emoji === 'string' && custom.SHORTCODE_RE.test(c.emoji) ? `:${c.emoji}:` : '';
    const img = el('img', { class: 'sticker-img', alt: code ? `Sticker ${code}` : 'Sticker', title: code || null,
      width: w, height: h, decoding: 'async', draggable: 'false' });
    const box = el('span', { class: 'sticker loading' }, img);
    box.style.width = `${w}px`;
    box.style.aspectRatio = `${w} / ${h}`;
    // Shared with the custom emoji of the same image (kept for the session).
    const u = custom.imageUrl(c.media);
    const show = (url) => { img.src = url; box.classList.remove('loading'); };
    if (u.url) show(u.url);
    else {
      u.promise.then(show, (err) => {
        box.classList.remove('loading');
        box.classList.add('failed');
        box.title = err.status === 404 ? 'No longer available' : 'Could not load';
      });
    }
    return box;
  }
  if (c.type === 'video' && (c.duration_ms === undefined || intIn(c.duration_ms, 0, 86400000)) &&
      (c.w === undefined || intIn(c.w, 1, 100000)) && (c.h === undefined || intIn(c.h, 1, 100000))) {
    const { w, h } = media.fit(c.w || 16, c.h || 9, THUMB_BOX, THUMB_BOX);
    const dur = c.duration_ms ? media.fmtDuration(c.duration_ms) : '';
    const box = el('div', { class: 'media-video' },
      el('button', { type: 'button', class: 'video-play', 'data-media-play': c.media,
        'aria-label': `Play video${dur ? `, ${dur}` : ''}` }, icon('play', 'play-icon'), el('span', { class: 'video-label', text: dur ? `Video · ${dur}` : 'Video' })));
    box.style.width = `${Math.max(w, 200)}px`;
    box.style.aspectRatio = `${Math.max(w, 200)} / ${Math.round(h * Math.max(w, 200) / w)}`;
    return box;
  }
  return null;
}

// Fetch with auth, show as a blob: URL; `holder` gets loading/failed classes.
async function loadMedia(node, holder, path, fallback) {
  holder.classList.add('loading');
  try {
    node.src = await media.blobUrl(path, node);
    holder.classList.remove('loading');
  } catch (err) {
    if (fallback && err.status === 404) { loadMedia(node, holder, fallback, null); return; }
    holder.classList.remove('loading');
    holder.classList.add('failed');
    holder.title = err.status === 404 ? 'No longer available' : 'Could not load';
  }
}

// blob: URLs of message nodes that are gone are revoked.
function sweepMedia() {
  if (!media.ownedCount()) return;
  const live = new Set();
  for (const r of S.rooms.values()) for (const n of r.nodes.values()) live.add(n);
  if (S.thread) for (const n of S.thread.nodes.values()) live.add(n);
  media.sweep((node) => { const li = node.closest('li'); return !!li && live.has(li); });
}

function onMediaClick(t) {
  const open = t.closest('[data-media-open]');
  const dl = t.closest('[data-media-download]');
  const play = t.closest('[data-media-play]');
  if (!open && !dl && !play) return false;
  const hit = msgFromEvent(t);
  const c = hit && hit.m.content;
  if (!c) return true;
  if (open) openLightbox(c, open);
  else if (dl) downloadFile(dl, c.media, c.name);
  else if (play) playVideo(play, c);
  return true;
}

async function downloadFile(btn, id, name) {
  btn.disabled = true;
  btn.classList.add('busy');
  try {
    await media.download(id, name);
  } catch (err) {
    toast(err.status === 404 ? 'That file is no longer available.' : 'Download failed. Check your connection.');
  } finally {
    btn.disabled = false;
    btn.classList.remove('busy');
  }
}

async function playVideo(btn, c) {
  const box = btn.parentNode;
  btn.disabled = true;
  box.classList.add('loading');
  const video = el('video', { class: 'video-player', controls: true, playsinline: true, 'aria-label': 'Video' });
  try {
    video.src = await media.blobUrl(media.mediaPath(c.media), video);
    box.classList.remove('loading');
    btn.replaceWith(video);
    video.play().catch(() => {});
    video.focus();
  } catch (err) {
    box.classList.remove('loading');
    btn.disabled = false;
    toast(err.status === 404 ? 'That video is no longer available.' : 'Could not load the video.');
  }
}

// ---------------------------------------------------------------- media: lightbox

let lightbox = null; // {id, url, opener}

async function openLightbox(c, opener) {
  const dlg = $('lightbox');
  const img = $('lightbox-img');
  closeLightbox();
  const cap = typeof c.caption === 'string' ? c.caption : '';
  const lb = { id: c.media, url: null, opener };
  lightbox = lb;
  $('lightbox-title').textContent = cap || 'Photo';
  img.alt = cap ? `Photo: ${cap.slice(0, 120)}` : 'Photo';
  img.removeAttribute('src');
  img.width = c.w;
  img.height = c.h;
  $('lightbox-status').textContent = 'Loading…';
  dlg.showModal();
  $('lightbox-close').focus();
  try {
    // The 1280 px rendition when the server has it (any failure: the
    // original); GIFs always from the original, which keeps animating.
    const original = media.mediaPath(c.media);
    let url = null;
    if (c.mime !== 'image/gif') {
      try {
        url = await media.blobUrl(`${media.mediaPath(c.media, true)}?size=1280`, img);
        // A server without the 1280 rendition may answer with the small
        // thumbnail: only a big enough picture is worth showing.
        const got = await imageSize(url);
        if (Math.max(got.w, got.h) + 2 < Math.min(Math.max(c.w, c.h), 1280)) { media.release(url); url = null; }
      } catch (err) { url = null; }
      if (lightbox !== lb) { if (url) media.release(url); return; }
    }
    if (!url) url = await media.blobUrl(original, img);
    if (lightbox !== lb) { media.release(url); return; }
    lb.url = url;
    img.src = url;
    $('lightbox-status').textContent = '';
  } catch (err) {
    if (lightbox === lb) $('lightbox-status').textContent = err.status === 404 ? 'This image is no longer available.' : 'Could not load the image.';
  }
}

// Natural size of an image URL (0×0 when it cannot be decoded).
function imageSize(url) {
  const i = new Image();
  i.src = url;
  return i.decode().then(() => ({ w: i.naturalWidth, h: i.naturalHeight }), () => ({ w: 0, h: 0 }));
}

function closeLightbox() {
  const dlg = $('lightbox');
  if (dlg.open) dlg.close();
  lightboxClosed();
}

// Idempotent: runs on close() and again from the (later) close event.
function lightboxClosed() {
  const lb = lightbox;
  if (!lb || $('lightbox').open) return;
  lightbox = null;
  $('lightbox-img').removeAttribute('src');
  if (lb && lb.url) media.release(lb.url);
  if (lb && lb.opener && lb.opener.isConnected) lb.opener.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- media: sending

const uploadNodes = new Map(); // upload id -> li
let uploadSeq = 0;

function newUploadClientId() {
  return 'w-' + (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`);
}

function utf8Len(s) { return new TextEncoder().encode(s).length; }

// Files picked, dropped or pasted: upload each, then send it. The composer
// text becomes the first image's caption (or goes first as a text message).
function sendFiles(fileList) {
  const files = [...(fileList || [])].filter((f) => f && typeof f.size === 'number');
  const r = currentRoom();
  if (!files.length || !r) return;
  if (!S.conn || !S.conn.isReady) {
    toast('You are offline. Attachments need a connection — try again when you are back online.');
    return;
  }
  const input = $('composer-input');
  let text = '';
  if (!(S.compose && S.compose.mode === 'edit')) {
    text = input.value.replace(/\s+$/, '');
    if (text.trim()) { input.value = ''; input.dispatchEvent(new Event('input')); } else text = '';
  }
  const ctx = S.compose && S.compose.mode === 'reply' && S.compose.room === r.id ? S.compose : null;
  if (ctx) setCompose(null);
  const firstImage = files.find((f) => /^image\//.test(f.type));
  const captioned = text && firstImage && utf8Len(text) <= 4096 ? firstImage : null;
  if (text && !captioned) sendText(text, ctx ? { reply_to: { seq: ctx.seq, sender: ctx.sender, preview: ctx.preview } } : {});
  // Uploads run in parallel, but each message waits for the one before it,
  // so the files arrive in the order they were picked.
  let prev = null;
  files.forEach((f, i) => {
    prev = queueUpload(r.id, f, {
      caption: f === captioned ? text : '',
      reply_to: ctx && i === 0 && (captioned || !text) ? { seq: ctx.seq, sender: ctx.sender, preview: ctx.preview } : null,
      after: prev ? prev.settled : null,
    });
  });
}

function queueUpload(room, file, opts = {}) {
  const up = {
    id: `u${++uploadSeq}`, room, file, name: (opts.name || file.name || 'file').slice(0, 255), size: file.size,
    caption: opts.caption || '', reply_to: opts.reply_to || null, voice: opts.voice || null,
    client_id: newUploadClientId(), state: 'uploading', loaded: 0, error: null, xhr: null, res: null,
    preview: /^image\//.test(file.type) && file.size < 20 * 1024 * 1024 ? URL.createObjectURL(file) : null,
    after: opts.after || null, settled: null, settle: null,
  };
  up.settled = new Promise((res) => { up.settle = res; });
  S.uploads.push(up);
  if (S.current === room) {
    const r = currentRoom();
    if (r && !r.atLatest) jumpToLatest();
    stickToBottom = true;
  }
  runUpload(up);
  return up;
}

function renderUploads(up) {
  if (up) uploadNodes.delete(up.id);
  scheduleRender({ messages: !!up && up.room === S.current, sidebar: true });
}

async function runUpload(up) {
  up.state = 'uploading';
  up.error = null;
  up.loaded = 0;
  renderUploads(up);
  try {
    if (!S.conn || !S.conn.isReady) throw Object.assign(new Error('offline'), { code: 'disconnected' });
    if (!up.res) {
      up.res = await media.upload(up.file, {
        name: up.name,
        onXhr: (x) => { up.xhr = x; },
        onProgress: (loaded, total) => { up.loaded = loaded; up.total = total; showProgress(up); },
      });
      up.xhr = null;
    }
    if (!S.uploads.includes(up)) return;
    up.state = 'sending';
    renderUploads(up);
    const content = await contentFor(up, up.res);
    if (up.after) await up.after;
    if (!S.uploads.includes(up)) return;
    const args = { room: up.room, client_id: up.client_id, content };
    if (up.reply_to) args.reply_to = up.reply_to.seq;
    const reply = await call('send', args);
    up.settle();
    dropUpload(up);
    if (reply.message) onMessage(reply.message);
  } catch (err) {
    up.xhr = null;
    if (!S.uploads.includes(up)) return;
    if (err.code === 'aborted') { dropUpload(up); return; }
    up.state = 'failed';
    up.settle(); // a failed file does not hold back the next one
    up.error = err.code === 'bad_request' && up.res ? `The server refused the message: ${err.message || err.code}` : media.uploadError(err, up.name);
    renderUploads(up);
  }
}

async function contentFor(up, res) {
  if (up.voice) {
    const c = { type: 'voice', media: res.id, duration_ms: up.voice.duration_ms };
    if (Array.isArray(up.voice.waveform) && up.voice.waveform.length) c.waveform = up.voice.waveform.slice(0, 64);
    return c;
  }
  const mime = typeof res.mime === 'string' ? res.mime : '';
  if (/^image\//.test(mime) && intIn(res.w, 1, 100000) && intIn(res.h, 1, 100000)) {
    const c = { type: 'image', media: res.id, w: res.w, h: res.h, mime };
    if (up.caption) c.caption = up.caption;
    return c;
  }
  if (/^video\//.test(mime)) {
    const meta = await media.videoMeta(up.file);
    const c = { type: 'video', media: res.id };
    if (intIn(meta.duration_ms, 1, 86400000)) c.duration_ms = meta.duration_ms;
    if (intIn(meta.w, 1, 100000) && intIn(meta.h, 1, 100000)) { c.w = meta.w; c.h = meta.h; }
    return c;
  }
  let name = (res.name || up.name || 'file').trim() || 'file';
  while (utf8Len(name) > 255) name = name.slice(0, -1);
  return { type: 'file', media: res.id, name, size: Number.isFinite(res.size) ? res.size : up.size, mime: (mime || 'application/octet-stream').slice(0, 255) };
}

function dropUpload(up) {
  if (up.settle) up.settle();
  S.uploads = S.uploads.filter((u) => u !== up);
  uploadNodes.delete(up.id);
  if (up.preview) { URL.revokeObjectURL(up.preview); up.preview = null; }
  scheduleRender({ messages: up.room === S.current, sidebar: true });
}

function showProgress(up) {
  const li = uploadNodes.get(up.id);
  if (!li) return;
  const bar = li.querySelector('progress');
  const pct = up.total ? Math.min(100, Math.round((up.loaded / up.total) * 100)) : 0;
  if (bar) bar.value = pct;
  const st = li.querySelector('.upload-status');
  if (st) st.textContent = `Uploading… ${pct}%`;
}

function uploadNode(up) {
  let li = uploadNodes.get(up.id);
  if (!li) { li = buildUploadNode(up); uploadNodes.set(up.id, li); }
  return li;
}

function buildUploadNode(up) {
  const failed = up.state === 'failed';
  const pct = up.total ? Math.min(100, Math.round((up.loaded / up.total) * 100)) : 0;
  let preview = null;
  if (up.preview) {
    preview = el('img', { class: 'upload-preview', alt: '', src: up.preview });
  } else {
    preview = el('span', { class: 'file-icon', 'aria-hidden': 'true' }, icon(up.voice ? 'mic' : 'file'));
  }
  const status = failed ? null
    : up.state === 'sending' ? el('span', { class: 'upload-status', text: 'Sending…' })
      : el('span', { class: 'upload-status', text: `Uploading… ${pct}%` });
  const actions = failed
    ? el('span', { class: 'send-state failed' }, el('span', { text: 'Not sent' }),
      up.error && /too large/.test(up.error) ? null : el('button', { type: 'button', class: 'link-btn', 'data-upload-retry': up.id, text: 'Retry' }),
      el('button', { type: 'button', class: 'link-btn', 'data-upload-dismiss': up.id, text: 'Dismiss' }))
    : up.state === 'uploading'
      ? el('button', { type: 'button', class: 'link-btn', 'data-upload-cancel': up.id, 'aria-label': `Cancel upload of ${up.name}`, text: 'Cancel' })
      : null;
  return el('li', { class: 'msg mine pending upload' + (failed ? ' failed' : ''), 'data-upload': up.id, 'data-state': up.state },
    el('div', { class: 'bubble' },
      el('div', { class: 'upload-card' },
        preview,
        el('span', { class: 'file-info' },
          el('span', { class: 'file-name', text: up.voice ? 'Voice message' : up.name, title: up.name }),
          el('span', { class: 'file-meta', text: up.voice ? media.fmtDuration(up.voice.duration_ms) : media.fmtSize(up.size) }))),
      up.state === 'uploading' ? el('progress', { class: 'upload-progress', max: '100', value: String(pct), 'aria-label': `Uploading ${up.name}` }) : null,
      up.caption ? el('div', { class: 'body caption' }, up.caption) : null,
      el('span', { class: 'meta' }, status, actions),
      failed && up.error ? el('span', { class: 'send-error upload-error', role: 'alert', text: up.error }) : null));
}

function onUploadClick(e) {
  const b = e.target.closest('[data-upload-retry], [data-upload-dismiss], [data-upload-cancel]');
  if (!b) return;
  const id = b.dataset.uploadRetry || b.dataset.uploadDismiss || b.dataset.uploadCancel;
  const up = S.uploads.find((u) => u.id === id);
  if (!up) return;
  if (b.dataset.uploadRetry) runUpload(up);
  else if (b.dataset.uploadCancel) { if (up.xhr) up.xhr.abort(); else dropUpload(up); }
  else dropUpload(up);
}

// ---------------------------------------------------------------- media: voice recording

let recorder = null; // {rec, room, timer}

async function startRecording() {
  const r = currentRoom();
  if (!r || recorder) return;
  if (!S.conn || !S.conn.isReady) { toast('You are offline. Voice messages need a connection.'); return; }
  const rec = new media.VoiceRecorder();
  const btn = $('btn-mic');
  btn.disabled = true;
  try {
    await rec.start();
  } catch (err) {
    btn.disabled = false;
    toast(err && err.name === 'NotAllowedError' ? 'Microphone access was denied.' : 'The microphone is not available.');
    return;
  }
  btn.disabled = false;
  recorder = { rec, room: r.id, timer: null };
  $('composer').classList.add('recording');
  $('rec-bar').hidden = false;
  $('rec-time').textContent = '0:00';
  $('btn-send').setAttribute('aria-label', 'Send voice message');
  recorder.timer = setInterval(() => {
    if (!recorder) return;
    const ms = recorder.rec.elapsed();
    $('rec-time').textContent = media.fmtDuration(Math.floor(ms / 1000) * 1000);
    if (ms > 15 * 60000) stopRecordingAndSend();
  }, 250);
  $('btn-send').focus();
}

function endRecordingUI() {
  if (recorder) clearInterval(recorder.timer);
  recorder = null;
  $('composer').classList.remove('recording');
  $('rec-bar').hidden = true;
  $('btn-send').setAttribute('aria-label', 'Send message');
}

function cancelRecording() {
  if (!recorder) return;
  recorder.rec.cancel();
  endRecordingUI();
  $('composer-input').focus();
}

async function stopRecordingAndSend() {
  if (!recorder) return;
  const { rec, room } = recorder;
  endRecordingUI();
  $('composer-input').focus();
  let res;
  try {
    res = await rec.stop();
  } catch (e) { return; }
  if (!res.blob.size) { toast('Nothing was recorded.'); return; }
  if (!S.conn || !S.conn.isReady) { toast('You are offline. Voice messages need a connection.'); return; }
  const ext = /ogg/.test(res.blob.type) ? 'ogg' : 'webm';
  const file = new File([res.blob], `voice-message.${ext}`, { type: res.blob.type });
  queueUpload(room, file, { voice: { duration_ms: res.duration_ms, waveform: res.waveform } });
}

// ---------------------------------------------------------------- media: bindings

function bindMedia() {
  const fileInput = $('file-input');
  $('btn-attach').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    const files = [...fileInput.files];
    fileInput.value = '';
    sendFiles(files);
  });
  $('message-list').addEventListener('click', onUploadClick);

  // paste files/images into the composer
  $('composer-input').addEventListener('paste', (e) => {
    const files = e.clipboardData ? [...e.clipboardData.files] : [];
    if (!files.length) return;
    e.preventDefault();
    sendFiles(files);
  });

  // drag and drop onto the conversation
  const pane = $('room-pane');
  const overlay = $('drop-overlay');
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let depth = 0;
  pane.addEventListener('dragenter', (e) => { if (!hasFiles(e)) return; e.preventDefault(); depth++; overlay.hidden = false; });
  pane.addEventListener('dragover', (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; overlay.hidden = false; });
  pane.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) overlay.hidden = true; });
  pane.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    sendFiles(e.dataTransfer.files);
  });
  // a file dropped anywhere else must not navigate away from the app
  window.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  window.addEventListener('drop', (e) => { if (hasFiles(e)) e.preventDefault(); });

  // lightbox
  const dlg = $('lightbox');
  dlg.addEventListener('close', lightboxClosed);
  $('lightbox-close').addEventListener('click', closeLightbox);
  $('lightbox-download').addEventListener('click', async () => {
    if (!lightbox) return;
    const id = lightbox.id;
    try {
      const blob = await media.fetchBlob(media.mediaPath(id));
      const ext = (blob.type.split('/')[1] || 'img').replace('jpeg', 'jpg').replace(/[^a-z0-9]/g, '');
      await media.download(id, `photo-${id}.${ext}`);
    } catch (err) { toast('Download failed. Check your connection.'); }
  });
  dlg.addEventListener('click', (e) => { if (e.target === dlg || e.target === $('lightbox-stage')) closeLightbox(); });

  // voice
  const mic = $('btn-mic');
  mic.hidden = !media.canRecord();
  mic.addEventListener('click', startRecording);
  $('rec-cancel').addEventListener('click', cancelRecording);
  $('composer').addEventListener('keydown', (e) => { if (e.key === 'Escape' && recorder) { e.preventDefault(); cancelRecording(); } });
  setInterval(sweepMedia, 30000);
}

boot();
