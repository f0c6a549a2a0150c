// Keeping S in step with the server: catch-up after each (re)connection,
// live events, the outbox of messages waiting to be sent.
import * as invites from './invites.js';
import { onCallEvent } from './call.js';
import { loadReceipts, noteDelivered, onReceipt } from './actions.js';
import { scheduleCache } from './cache.js';
import { onTyping, renderTyping, setCompose } from './composer.js';
import { groupInfoChanged } from './dialogs.js';
import { loadEmoji, onEmojiEvent } from './emoji.js';
import { dropWindow, isDeleted, isMentioned, maxSeq, newRoom, putMsg, updateRoomMeta } from './model.js';
import { loadPresence, loadPresenceSoon, onPresence, onProfile, refreshProfile, reportPresence } from './profile.js';
import { applyPushSettings, onNotifyReady } from './notify.js';
import { allPages } from './requests.js';
import { applySettings, loadSettings } from './settings.js';
import { renderMe } from './sidebar.js';
import { changed, currentRoom, MAX_MSGS, S } from './state.js';
import { putThreadMsg, renderThread } from './thread.js';
import { closeRoom, isReading, loadLatest, maybeMarkRead } from './timeline.js';

// ---------------------------------------------------------------- connection lifecycle

let readyGen = 0;

export async function onReady(auth) {
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
  onNotifyReady();
  if (S.me) refreshProfile(S.me.id);
  try {
    if (!(await catchUp(conn))) return;
    changed({ sidebar: true, messages: true });
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
  changed({ sidebar: true, messages: true });
  scheduleCache();
  return since;
}

export function onEvent(ev) {
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
  else if (ev.ev === 'push_settings' && ev.settings) applyPushSettings(ev.settings);
  else if (typeof ev.ev === 'string' && (ev.ev === 'call' || ev.ev.startsWith('call_'))) onCallEvent(ev);
}

let roomsRefresh = null;
export function refreshRoomsSoon() {
  if (roomsRefresh) return;
  roomsRefresh = setTimeout(async () => {
    roomsRefresh = null;
    if (!S.conn || !S.conn.isReady) return;
    try {
      await catchUp(S.conn);
    } catch (e) { /* next reconnect fixes it */ }
  }, 300);
}

export function onRoomEvent(d) {
  let r = S.rooms.get(d.id);
  const fresh = !r;
  if (!r) {
    r = newRoom(d);
    r.seenAt = Date.now();
    r.pos = d.last_seq || 0;
    S.rooms.set(d.id, r);
  }
  updateRoomMeta(r, d);
  groupInfoChanged(r);
  r.lastSeq = Math.max(r.lastSeq, d.last_seq || 0);
  if (fresh && typeof d.last_version === 'number') r.version = d.last_version;
  if (fresh && r.lastSeq > 0) loadPreview(r);
  if (fresh) loadPresenceSoon();
  changed({ sidebar: true, header: true });
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
  groupInfoChanged(r);
  changed({ sidebar: true, header: true });
  scheduleCache();
}

export function onMessage(m, opts = {}) {
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
  changed({ sidebar: true, messages: isCurrent });
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
    changed({ messages: S.current === r.id });
  } catch (e) { /* ignore */ }
}

// ---------------------------------------------------------------- outbox

export async function flushOutbox() {
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
        changed({ messages: S.current === item.room });
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
        changed({ messages: S.current === item.room });
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

// Apply a message's new state (update event or an op's reply).
export function applyMessage(r, m) {
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
  changed({ messages: S.current === r.id, sidebar: true });
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
