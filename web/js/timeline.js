// The open conversation: header, message list (a bounded window of history
// around what is read), scrolling, read markers, jumping to a message.
import * as custom from './custom.js';
import { save, remove } from './storage.js';
import { $, el, linkify, fmtTime, fmtDay, dayKey, clockIcon, icon } from './dom.js';
import { loadReceipts } from './actions.js';
import { scheduleCache } from './cache.js';
import { closeMentions, renderTyping, setCompose, stopTyping } from './composer.js';
import { sweepMedia } from './media-view.js';
import { buildMessage, flash, quoteNode, updateTicks } from './message.js';
import { dropWindow, findMsg, isExpired, maxSeq, minSeq, presenceOf, putMsg, roomSubtitle, roomTitle, sortedMsgs, timerLabel, timerShort } from './model.js';
import { roomAvatar } from './profile.js';
import { statusText } from './sidebar.js';
import { changed, currentRoom, MAX_MSGS, S, subscribe } from './state.js';
import { flushOutbox } from './sync.js';
import { closeThread, openThread } from './thread.js';
import { uploadNode } from './uploads.js';

const PAGE = 50;              // history page size
const NEAR_EDGE_PX = 240;     // start loading a page this close to an edge
const BOTTOM_SLACK_PX = 48;   // "at the bottom" tolerance

let stickToBottom = false;

export function openRoom(id, { push = true, focus = true, noLoad = false } = {}) {
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
  changed({ sidebar: true, messages: true });
  if (focus && !window.matchMedia('(max-width: 720px)').matches) $('composer-input').focus();
  else if (focus) $('messages').focus({ preventScroll: true });
}

export function closeRoom({ pop = true } = {}) {
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
  changed({ sidebar: true });
  if (id) {
    const btn = $('room-list').querySelector(`[data-room="${CSS.escape(id)}"]`);
    if (btn) btn.focus();
  }
}

export async function loadLatest(r) {
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
    changed({ messages: S.current === r.id, sidebar: true });
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

export function jumpToLatest() {
  const r = currentRoom();
  if (!r) return;
  if (!r.atLatest) {
    dropWindow(r);
    $('message-list').replaceChildren();
    stickToBottom = true;
    loadLatest(r);
  } else {
    stickToBottom = true;
    changed({ messages: true });
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

export function isReading(r) {
  return S.current === r.id && document.visibilityState === 'visible' && r.atLatest && isAtBottom() &&
    !$('room-pane').hidden;
}

export function maybeMarkRead() {
  const r = currentRoom();
  if (!r || !r.loaded || !isReading(r)) return;
  const seq = Math.max(maxSeq(r), 0);
  r.newBelow = 0;
  if (r.unread !== 0 || r.mentions !== 0) { r.unread = 0; r.mentions = 0; changed({ sidebar: true }); scheduleCache(); }
  if (seq > r.readSent && S.conn && S.conn.isReady) {
    r.readSent = seq;
    S.conn.request('read', { room: r.id, seq }).catch(() => { r.readSent = 0; });
  }
}

function renderHeader() {
  const r = currentRoom();
  if (!r) return;
  const title = roomTitle(r);
  $('room-title').textContent = title;
  // While not connected the subtitle says so instead of who is online (that
  // would be stale), with the sidebar's status dot (amber, red when offline).
  const down = S.status !== 'online';
  const sub = $('room-subtitle');
  sub.textContent = down ? statusText() : roomSubtitle(r, true);
  if (down) sub.dataset.conn = S.status;
  else delete sub.dataset.conn;
  $('room-avatar').classList.toggle('group', r.kind === 'group');
  const other = r.kind === 'dm' ? r.members.find((x) => x.id !== S.me.id) : null;
  custom.paintAvatar($('room-avatar'), title, roomAvatar(r));
  const pres = other ? presenceOf(other.id) : null;
  const dot = $('room-presence');
  dot.hidden = !pres || down;
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
export function reconcile(list, nodes) {
  for (let i = 0; i < nodes.length; i++) {
    const cur = list.children[i];
    if (cur !== nodes[i]) list.insertBefore(nodes[i], cur || null);
  }
  while (list.children.length > nodes.length) list.lastElementChild.remove();
}

let markerNode = null;
let emptyNode = null;
const pendingNodes = new Map(); // client_id + state -> li

export function pendingNode(item) {
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

export function renderPendingState() {
  if (S.current) changed({ messages: true });
}

function updateJump(r) {
  const show = !r.atLatest || !isAtBottom();
  const far = !r.atLatest || ($('messages').scrollHeight - $('messages').scrollTop - $('messages').clientHeight > 300);
  $('btn-jump').hidden = !(show && (far || r.newBelow > 0));
  $('jump-count').textContent = r.newBelow > 0 ? String(r.newBelow) : '';
  $('btn-jump').setAttribute('aria-label', r.newBelow > 0 ? `Jump to latest, ${r.newBelow} new messages` : 'Jump to latest messages');
}

let expiryTimer = null;
function scheduleExpiry(r) {
  let next = Infinity;
  const now = Date.now();
  for (const m of r.msgs.values()) if (m.expires_ts && m.expires_ts > now && m.expires_ts < next) next = m.expires_ts;
  clearTimeout(expiryTimer);
  if (next !== Infinity) {
    expiryTimer = setTimeout(() => changed({ messages: true, sidebar: true }), Math.min(next - now + 50, 2 ** 31 - 1));
  }
}

// ---------------------------------------------------------------- jump to a message (quotes, search)

export async function jumpToMessage(roomId, seq) {
  const r = S.rooms.get(roomId);
  if (!r) return;
  const held = findMsg(r, seq);
  if (held && held.thread_root) { openThread(roomId, held.thread_root); return; }
  if (S.current !== roomId) openRoom(roomId, { noLoad: true, focus: false });
  S.jump = { room: roomId, seq };
  if (r.msgs.has(seq) && r.loaded) { changed({ messages: true }); return; }
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

// The next render of the open room scrolls to its bottom.
export function stickToBottomNext() { stickToBottom = true; }

export function bindTimeline() {
  subscribe('header', renderHeader);
  subscribe('messages', renderMessages);
  $('btn-back').addEventListener('click', () => closeRoom());
  window.addEventListener('popstate', () => { if (S.current && !(history.state && history.state.room)) closeRoom({ pop: false }); });
  $('btn-jump').addEventListener('click', () => { jumpToLatest(); $('composer-input').focus(); });

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
    if (retry) { S.outbox.retry(retry.dataset.retry); changed({ messages: true }); flushOutbox(); }
    if (del) { S.outbox.delete(del.dataset.delete); changed({ messages: true, sidebar: true }); }
  });
}
