// The data model over S: rooms, users, messages and presence; no DOM.
import * as media from './media.js';
import { callText } from './call-history.js';
import { fmtAgo } from './dom.js';
import { S } from './state.js';

// ---------------------------------------------------------------- rooms model

export function newRoom(data) {
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

export function updateRoomMeta(r, data) {
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

export function roomTitle(r) {
  if (r.kind === 'dm') {
    const other = r.members.find((m) => m.id !== S.me.id);
    return other ? (other.display_name || other.username) : 'Direct message';
  }
  if (r.name) return r.name;
  const names = r.members.filter((m) => m.id !== S.me.id).map((m) => m.display_name || m.username);
  return names.length ? names.join(', ') : 'Group';
}

export function roomSubtitle(r, withPresence = false) {
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

export function userName(id) {
  if (S.me && id === S.me.id) return S.me.display_name || S.me.username;
  const u = S.users.get(id);
  return u ? (u.display_name || u.username) : id;
}

export function dropWindow(r) {
  r.msgs.clear();
  r.nodes.clear();
  r.seps.clear();
  r.loaded = false;
  r.atLatest = true;
  r.hasOlder = false;
}

export function sortedMsgs(r) {
  return [...r.msgs.values()].sort((a, b) => a.seq - b.seq);
}

export function maxSeq(r) {
  let mx = 0;
  for (const s of r.msgs.keys()) if (s > mx) mx = s;
  return mx;
}

export function minSeq(r) {
  let mn = Infinity;
  for (const s of r.msgs.keys()) if (s < mn) mn = s;
  return mn === Infinity ? 0 : mn;
}
export const TIMER_OPTIONS = [[0, 'Off'], [300000, '5 minutes'], [3600000, '1 hour'], [86400000, '1 day'],
  [604800000, '1 week'], [2419200000, '4 weeks']];

// ---------------------------------------------------------------- messages: state

export function isDeleted(m) { return !!(m && (m.deleted || (m.content && m.content.type === 'deleted'))); }
export function isExpired(m, now = Date.now()) { return !!(m && m.expires_ts && m.expires_ts <= now); }
export function isMentioned(m) {
  return !!(m && m.sender !== S.me.id && ((Array.isArray(m.mentions) && m.mentions.includes(S.me.id)) || m.mention_room === true));
}

// Store m if it is new or a newer version of what we hold.
export function putMsg(r, m) {
  const old = r.msgs.get(m.seq);
  if (old && (old.version || 0) >= (m.version || 0) && !(old.version === undefined && m.version !== undefined)) return false;
  r.msgs.set(m.seq, m);
  if (old) r.nodes.delete(m.seq);
  return true;
}

export function findMsg(r, seq) {
  const m = r.msgs.get(seq);
  if (m) return m;
  const t = S.thread;
  if (t && t.room === r.id) {
    if (t.rootMsg && t.rootMsg.seq === seq) return t.rootMsg;
    return t.msgs.get(seq) || null;
  }
  return null;
}

export function bodyText(m) {
  return m && m.content && m.content.type === 'text' && typeof m.content.body === 'string' ? m.content.body : '';
}

// One line for previews and quotes: the text, or what kind of media it is.
export function summaryText(m) {
  const c = m && m.content;
  if (!c) return '';
  if (c.type === 'text') return typeof c.body === 'string' ? c.body : '';
  if (c.type === 'image') return typeof c.caption === 'string' && c.caption ? `Photo: ${c.caption}` : 'Photo';
  if (c.type === 'file') return `File: ${typeof c.name === 'string' && c.name ? c.name : 'attachment'}`;
  if (c.type === 'voice') return `Voice message${c.duration_ms > 0 ? ` (${media.fmtDuration(c.duration_ms)})` : ''}`;
  if (c.type === 'video') return `Video${c.duration_ms > 0 ? ` (${media.fmtDuration(c.duration_ms)})` : ''}`;
  if (c.type === 'sticker') return 'Sticker';
  if (c.type === 'call') return callText(c, m.sender === (S.me && S.me.id));
  return '';
}

// ---------------------------------------------------------------- presence

export function presenceOf(uid) {
  if (uid === S.me.id) return S.settings.show_presence === false ? null : { status: S.reported || 'online' };
  return S.presence.get(uid) || null;
}

export function presenceText(uid) {
  const p = presenceOf(uid);
  if (!p) return '';
  if (p.status === 'online') return 'online';
  if (p.status === 'away') return 'away';
  return p.last_seen ? `last seen ${fmtAgo(p.last_seen)}` : 'offline';
}

export function mergeUser(p) {
  if (!p || !p.id) return null;
  const u = { ...(S.users.get(p.id) || {}), ...p };
  S.users.set(p.id, u);
  return u;
}

// ---------------------------------------------------------------- disappearing messages

export function timerLabel(ms) {
  const o = TIMER_OPTIONS.find(([v]) => v === ms);
  if (o) return o[1];
  if (ms < 60000) return `${Math.round(ms / 1000)} seconds`;
  if (ms < 3600000) return `${Math.round(ms / 60000)} minutes`;
  if (ms < 86400000) return `${Math.round(ms / 3600000)} hours`;
  return `${Math.round(ms / 86400000)} days`;
}

export function timerShort(ms) {
  if (ms < 60000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3600000) return `${Math.round(ms / 60000)}m`;
  if (ms < 86400000) return `${Math.round(ms / 3600000)}h`;
  if (ms < 604800000) return `${Math.round(ms / 86400000)}d`;
  return `${Math.round(ms / 604800000)}w`;
}
