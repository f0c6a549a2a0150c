// What can be done to a message: the message menu, reactions, edit and
// delete, message info; and the receipts behind the ticks.
import { $, el, fmtFull, fmtAgo } from './dom.js';
import { openMenu, closePopover, QUICK, noteRecent } from './popover.js';
import { scheduleCache } from './cache.js';
import { setCompose, startEdit, startReply } from './composer.js';
import { openReactPicker } from './emoji.js';
import { onMediaClick } from './media-view.js';
import { updateTicks } from './message.js';
import { bodyText, findMsg, isDeleted } from './model.js';
import { showProfile } from './profile.js';
import { allPages, call, explain, supports, toast } from './requests.js';
import { changed, S } from './state.js';
import { applyMessage, refreshRoomsSoon } from './sync.js';
import { openThread } from './thread.js';
import { jumpToMessage } from './timeline.js';

// ---------------------------------------------------------------- message actions

export function msgFromEvent(target) {
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
  // Touch screens hide the actions (a long press is the contextmenu): the
  // menu then opens by the message instead of by its invisible button.
  const { li } = hit;
  messageMenu(btn, hit.r, hit.m, btn.getClientRects().length ? null : () => besideMessage(li));
}

// The visible part of a message's bubble, for placing a popover by it.
function besideMessage(li) {
  const b = (li.querySelector('.bubble') || li).getBoundingClientRect();
  const box = li.closest('.messages, .thread-messages');
  const v = box ? box.getBoundingClientRect() : { top: 0, bottom: document.documentElement.clientHeight };
  const top = Math.min(Math.max(b.top, v.top), v.bottom);
  return { left: b.left, right: b.right, top, bottom: Math.max(top, Math.min(b.bottom, v.bottom)) };
}

// at: where to open instead of by anchor (see openMenu).
function messageMenu(anchor, r, m, at = null) {
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
  items.push({ id: 'react', label: 'Add reaction…', keepFocus: true, onSelect: () => openReactPicker(anchor, r, m.seq, at) });
  if (bodyText(m)) items.push({ id: 'copy', label: 'Copy text', onSelect: () => { navigator.clipboard && navigator.clipboard.writeText(bodyText(m)).catch(() => {}); } });
  if (mine) items.push({ id: 'info', label: 'Message info', onSelect: () => showInfo(r, m) });
  if (mine && bodyText(m)) {
    items.push({ id: 'edit', label: 'Edit', keepFocus: true, onSelect: () => (inThread ? startThreadEdit(r, m) : startEdit(r, m)) });
  }
  if (mine) { items.push(null); items.push({ id: 'delete', label: 'Delete', danger: true, keepFocus: true, onSelect: () => confirmDelete(r, m) }); }
  openMenu(anchor, items, { label: 'Message actions', header: quick, at });
}

export async function react(r, seq, emoji) {
  const m = findMsg(r, seq);
  const rc = m && Array.isArray(m.reactions) ? m.reactions.find((x) => x.emoji === emoji) : null;
  const remove = !!(rc && Array.isArray(rc.users) && rc.users.includes(S.me.id));
  try {
    const reply = await call('react', remove ? { room: r.id, seq, emoji, remove: true } : { room: r.id, seq, emoji });
    if (reply.message) applyMessage(r, { room: r.id, ...reply.message });
  } catch (err) { toast(explain(err, 'Reaction')); }
}

export async function submitEdit(ctx, text) {
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

export async function loadReceipts(r, force = false) {
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

export function onReceipt(ev) {
  const r = S.rooms.get(ev.room);
  if (!r || !ev.user) return;
  if (ev.user === S.me.id) {
    // Another device of ours moved the markers: unread counts follow.
    if (typeof ev.read_seq === 'number' && ev.read_seq > r.readSent) {
      r.readSent = ev.read_seq;
      if (ev.read_seq >= r.lastSeq) { r.unread = 0; r.mentions = 0; r.newBelow = 0; }
      else refreshRoomsSoon();
      changed({ sidebar: true });
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
export function noteDelivered(r, seq) {
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

export function bindActions() {
  for (const id of ['message-list', 'thread-root', 'thread-list']) {
    $(id).addEventListener('click', onMessageClick);
    $(id).addEventListener('contextmenu', onMessageContext);
  }
  $('info-close').addEventListener('click', () => $('info-dialog').close());
}
