// Parley web client: wiring of state, connection and views.
import * as api from './api.js';
import { Connection } from './conn.js';
import { Outbox } from './outbox.js';
import { load, save, remove, SESSION_KEY } from './storage.js';
import { $, el, linkify, fmtTime, fmtFull, fmtDay, dayKey, fmtListTime, setAvatar, clockIcon } from './dom.js';
import { initTheme } from './theme-toggle.js';

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
};

// ---------------------------------------------------------------- boot

function boot() {
  initTheme();
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
  invalid_username: ['auth-username', 'err-username', 'Use 1–32 characters: a–z, 0–9, _ . -'],
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
  S.rooms.clear();
  S.users.clear();
  S.current = null;
  restoreCache();
  $('auth-view').hidden = true;
  $('chat-view').hidden = false;
  document.title = 'Parley';
  renderMe();
  renderSidebar();
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
  remove(SESSION_KEY);
  S.session = null;
  S.me = null;
  S.rooms.clear();
  S.current = null;
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
    for (const u of data.members) S.users.set(u.id, u);
  }
  if (typeof data.member_count === 'number') r.member_count = data.member_count;
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

function roomSubtitle(r) {
  if (r.kind === 'dm') {
    const other = r.members.find((m) => m.id !== S.me.id);
    return other ? '@' + other.username : '';
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
      lastMsg: r.lastMsg, seenAt: r.seenAt, msgs });
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
  const gen = ++readyGen;
  if (auth && auth.user) {
    S.me = auth.user;
    S.users.set(auth.user.id, auth.user);
    renderMe();
  }
  const conn = S.conn;
  try {
    const { rooms } = await conn.request('rooms');
    if (gen !== readyGen) return;
    const since = mergeRooms(rooms);
    // Catch up: loop while the server cut some room short.
    let positions = since;
    for (let i = 0; i < 1000; i++) {
      const reply = await conn.request('sync', { since: positions }, 120000);
      if (gen !== readyGen) return;
      if (!reply.more) break;
      positions = {};
      for (const r of S.rooms.values()) positions[r.id] = r.pos;
    }
    scheduleRender({ sidebar: true, messages: true });
    flushOutbox();
    const cur = currentRoom();
    if (cur && !cur.loaded) loadLatest(cur);
    maybeMarkRead();
  } catch (e) {
    // disconnected mid-way: the next onReady starts over
  }
}

// Merge a `rooms` reply; return the `sync` positions.
function mergeRooms(list) {
  const since = {};
  const seen = new Set();
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
      // Not displayed: ask sync for just the newest message (the preview).
      r.pos = Math.max(r.pos, serverLast - 1, 0);
      if (r.lastMsg && r.lastMsg.seq >= serverLast) r.pos = serverLast;
    }
    r.lastSeq = Math.max(r.lastSeq, serverLast);
    r.unread = d.unread || 0;
    since[r.id] = r.pos;
  }
  for (const id of [...S.rooms.keys()]) {
    if (!seen.has(id)) {
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
}

let roomsRefresh = null;
function refreshRoomsSoon() {
  if (roomsRefresh) return;
  roomsRefresh = setTimeout(async () => {
    roomsRefresh = null;
    if (!S.conn || !S.conn.isReady) return;
    try {
      const { rooms } = await S.conn.request('rooms');
      const since = mergeRooms(rooms);
      await S.conn.request('sync', { since });
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
  r.lastSeq = Math.max(r.lastSeq, d.last_seq || 0);
  if (fresh && r.lastSeq > 0) loadPreview(r);
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
  } else if (ev.action === 'leave') {
    if (ev.user.id === S.me.id) {
      S.rooms.delete(r.id);
      if (S.current === r.id) closeRoom({ pop: false });
    } else {
      r.members = r.members.filter((m) => m.id !== ev.user.id);
      r.member_count = Math.max(0, r.member_count - 1);
    }
  }
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
  if (!r.lastMsg || m.seq >= r.lastMsg.seq) r.lastMsg = m;
  const mine = m.sender === S.me.id;
  if (mine && m.client_id && S.outbox.delete(m.client_id)) {
    // our pending message is now stored
  }
  const isCurrent = S.current === r.id;
  if ((r.loaded || r.loading) && r.atLatest) {
    if (!r.msgs.has(m.seq)) {
      const tail = maxSeq(r);
      r.msgs.set(m.seq, m);
      if (r.loaded && tail && m.seq > tail + 1) fillGap(r, tail, m.seq);
    }
  }
  if (isNew && !mine && !opts.quiet) {
    const reading = isCurrent && isReading(r);
    if (!reading) {
      r.unread++;
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
    const { messages } = await S.conn.request('history', { room: r.id, before: seq, limit: Math.min(500, seq - tail - 1) });
    for (const m of messages) if (!r.msgs.has(m.seq)) r.msgs.set(m.seq, m);
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
        const reply = await S.conn.request('send', { room: item.room, client_id: item.client_id, content: item.content });
        S.outbox.delete(item.client_id);
        if (reply.message) onMessage(reply.message);
        scheduleRender({ messages: S.current === item.room });
      } catch (err) {
        if (err.code === 'disconnected' || err.code === 'timeout') break;
        if (err.code === 'rate_limited' || err.code === 'internal') {
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

function sendText(text) {
  const r = currentRoom();
  if (!r) return;
  const body = text.replace(/\s+$/, '');
  if (!body.trim()) return;
  S.outbox.add(r.id, body);
  if (!r.atLatest) jumpToLatest();
  stickToBottom = true;
  scheduleRender({ messages: true, sidebar: true });
  flushOutbox();
}

// ---------------------------------------------------------------- open/close rooms

function currentRoom() { return S.current ? S.rooms.get(S.current) || null : null; }

let stickToBottom = false;

function openRoom(id, { push = true, focus = true } = {}) {
  const r = S.rooms.get(id);
  if (!r) return;
  const wasOpen = S.current !== null;
  if (S.current !== id) {
    const prev = currentRoom();
    if (prev) { prev.markerSeq = null; prev.newBelow = 0; }
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
  if (!r.loaded && S.conn && S.conn.isReady) loadLatest(r);
  scheduleRender({ sidebar: true, messages: true });
  if (focus && !window.matchMedia('(max-width: 720px)').matches) $('composer-input').focus();
  else if (focus) $('messages').focus({ preventScroll: true });
}

function closeRoom({ pop = true } = {}) {
  const r = currentRoom();
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
    for (const m of messages) if (!r.msgs.has(m.seq)) r.msgs.set(m.seq, m);
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
    for (const m of messages) if (!r.msgs.has(m.seq)) r.msgs.set(m.seq, m);
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
    const { messages } = await S.conn.request('history', { room: r.id, before: after + PAGE + 1, limit: PAGE });
    for (const m of messages) if (!r.msgs.has(m.seq)) r.msgs.set(m.seq, m);
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
  if (r.unread !== 0) { r.unread = 0; scheduleRender({ sidebar: true }); scheduleCache(); }
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
  setAvatar($('me-avatar'), S.me.display_name || S.me.username);
}

function previewText(r) {
  const pend = S.outbox ? S.outbox.forRoom(r.id) : [];
  if (pend.length) return { prefix: 'You: ', text: pend[pend.length - 1].content.body, pending: true };
  const m = r.lastMsg;
  if (!m) return { prefix: '', text: r.kind === 'dm' ? 'Say hello' : 'No messages yet' };
  const who = m.sender === S.me.id ? 'You: ' : (r.kind === 'group' ? userName(m.sender) + ': ' : '');
  const text = m.content && m.content.type === 'text' && typeof m.content.body === 'string'
    ? m.content.body : 'Unsupported message';
  return { prefix: who, text };
}

function renderSidebar() {
  if (!S.me) return;
  const list = $('room-list');
  const f = S.filter.trim().toLowerCase();
  const rooms = [...S.rooms.values()]
    .filter((r) => !f || roomTitle(r).toLowerCase().includes(f) || roomSubtitle(r).toLowerCase().includes(f))
    .sort((a, b) => activity(b) - activity(a) || (b.id > a.id ? 1 : -1));
  const focusedRoom = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.room : null;
  const items = rooms.map((r) => {
    const title = roomTitle(r);
    const pv = previewText(r);
    const active = r.id === S.current;
    const unread = r.unread > 0 && !active ? r.unread : (active && r.unread > 0 ? r.unread : 0);
    const avatar = el('span', { class: 'avatar', 'aria-hidden': 'true' });
    setAvatar(avatar, title);
    if (r.kind === 'group') avatar.classList.add('group');
    const ts = r.lastMsg ? r.lastMsg.ts : 0;
    const label = `${title}${unread ? `, ${unread} unread` : ''}${pv.text ? `. ${pv.prefix}${pv.text}` : ''}`;
    const btn = el('button', {
      type: 'button', class: 'room-item' + (active ? ' active' : '') + (unread ? ' has-unread' : ''),
      'data-room': r.id, 'aria-current': active ? 'true' : null, 'aria-label': label.slice(0, 200),
    },
    avatar,
    el('span', { class: 'room-main' },
      el('span', { class: 'room-top' },
        el('span', { class: 'room-name', text: title }),
        ts ? el('time', { class: 'room-time', datetime: new Date(ts).toISOString(), text: fmtListTime(ts) }) : null),
      el('span', { class: 'room-bottom' },
        el('span', { class: 'room-preview' + (pv.pending ? ' pending' : '') },
          pv.prefix ? el('span', { class: 'preview-who', text: pv.prefix }) : null,
          pv.text.replace(/\s+/g, ' ').slice(0, 120)),
        pv.pending ? el('span', { class: 'preview-pending', title: 'Waiting to send' }, clockIcon()) : null,
        unread ? el('span', { class: 'badge', 'aria-hidden': 'true', text: unread > 999 ? '999+' : String(unread) }) : null)));
    return el('li', null, btn);
  });
  list.replaceChildren(...items);
  $('rooms-empty').hidden = S.rooms.size > 0;
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
  $('room-subtitle').textContent = roomSubtitle(r);
  setAvatar($('room-avatar'), title);
  $('room-avatar').classList.toggle('group', r.kind === 'group');
}

function messageNode(r, m) {
  let li = r.nodes.get(m.seq);
  if (li) return li;
  const mine = m.sender === S.me.id;
  const body = el('div', { class: 'body' });
  if (m.content && m.content.type === 'text' && typeof m.content.body === 'string') {
    body.append(linkify(m.content.body));
  } else {
    body.classList.add('unsupported');
    body.textContent = 'Unsupported message';
  }
  const time = el('time', { datetime: new Date(m.ts).toISOString(), title: fmtFull(m.ts), text: fmtTime(m.ts) });
  li = el('li', { class: 'msg ' + (mine ? 'mine' : 'theirs'), 'data-seq': m.seq, 'data-sender': m.sender },
    el('div', { class: 'bubble' },
      el('span', { class: 'sender', text: userName(m.sender) }),
      body,
      el('span', { class: 'meta' }, time,
        mine ? el('span', { class: 'tick', 'aria-label': 'Sent', title: 'Sent', text: '✓' }) : null)));
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

  const msgs = sortedMsgs(r);
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
  if (r.atLatest) for (const item of S.outbox.forRoom(r.id)) nodes.push(pendingNode(item));
  if (!msgs.length && !S.outbox.forRoom(r.id).length && r.loaded) {
    nodes.push(emptyNode || (emptyNode = el('li', { class: 'empty-room' }, el('span', { text: 'No messages yet. Say hello!' }))));
  }
  reconcile(list, nodes);
  if (!r.hasOlder && r.loaded && msgs.length) $('history-status').textContent = 'Start of the conversation';
  else if (!r.loadingOlder && !r.loading) $('history-status').textContent = '';

  if (pendingScrollToMarker && r.loaded) {
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
  input.addEventListener('input', autosize);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      $('composer').requestSubmit();
    } else if (e.key === 'Escape' && document.body.classList.contains('room-open') &&
               window.matchMedia('(max-width: 720px)').matches) {
      closeRoom();
    }
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = '';
    autosize();
    sendText(text);
    input.focus();
  });

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
    } catch (err) {
      if (err.code === 'user_not_found') {
        $('new-members').setAttribute('aria-invalid', 'true');
        $('err-new-members').textContent = names.length === 1
          ? `No user named “${names[0]}”.` : 'One of these usernames does not exist.';
        $('err-new-members').dataset.code = err.code;
        $('new-members').focus();
      } else if (err.code === 'too_large' && name.length > 0) {
        $('err-new-name').textContent = err.message || 'Too long.';
      } else {
        $('err-new-form').textContent = err.message || err.code;
      }
    } finally {
      $('new-submit').disabled = false;
    }
  });
}

boot();
