// The offline start: rooms and their latest messages kept in localStorage.
import { load, save } from './storage.js';
import { newRoom, sortedMsgs, updateRoomMeta } from './model.js';
import { S } from './state.js';

const CACHE_MSGS = 50;        // messages per room kept for offline start

// ---------------------------------------------------------------- cache (offline start)

let cacheTimer = null;
export function scheduleCache() {
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

export function restoreCache() {
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

export function bindCache() {
  // Persist the offline cache when the page goes away (reload, tab close).
  window.addEventListener('pagehide', () => { clearTimeout(cacheTimer); cacheTimer = null; writeCache(); });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') writeCache();
  });
}
