// The thread pane: a root message and its replies, with a composer of its own.
import { $ } from './dom.js';
import { submitEdit } from './actions.js';
import { sendText } from './composer.js';
import { sweepMedia } from './media-view.js';
import { buildMessage } from './message.js';
import { findMsg, isExpired, roomTitle } from './model.js';
import { allPages, call, explain } from './requests.js';
import { S } from './state.js';
import { flushOutbox } from './sync.js';
import { openRoom, pendingNode, reconcile } from './timeline.js';

// ---------------------------------------------------------------- threads

export function putThreadMsg(m) {
  const t = S.thread;
  const old = t.msgs.get(m.seq);
  if (old && (old.version || 0) >= (m.version || 0) && old !== m) return;
  t.msgs.set(m.seq, m);
  t.nodes.delete(m.seq);
  renderThread();
}

export async function openThread(roomId, root) {
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

export function closeThread({ focus = true } = {}) {
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

export function renderThread() {
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

export function bindThread() {
  $('thread-list').addEventListener('click', (e) => {
    const retry = e.target.closest('[data-retry]');
    const del = e.target.closest('[data-delete]');
    if (retry) { S.outbox.retry(retry.dataset.retry); renderThread(); flushOutbox(); }
    if (del) { S.outbox.delete(del.dataset.delete); renderThread(); }
  });
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
}
