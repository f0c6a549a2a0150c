// The composer: sending text, reply/edit context, typing notices, @mention
// and :emoji: suggestions.
import * as custom from './custom.js';
import { $, el } from './dom.js';
import { EMOJI_NAMES } from './popover.js';
import { submitEdit } from './actions.js';
import { bodyText, isDeleted, isExpired, sortedMsgs, summaryText, userName } from './model.js';
import { call, supports } from './requests.js';
import { changed, currentRoom, S } from './state.js';
import { flushOutbox } from './sync.js';
import { renderThread } from './thread.js';
import { closeRoom, jumpToLatest, stickToBottomNext } from './timeline.js';
import { isRecording, stopRecordingAndSend } from './uploads.js';

export function sendText(text, extra = {}) {
  const r = currentRoom();
  if (!r) return;
  const body = text.replace(/\s+$/, '');
  if (!body.trim()) return;
  S.outbox.add(r.id, body, extra);
  if (extra.thread) { renderThread(); flushOutbox(); return; }
  if (!r.atLatest) jumpToLatest();
  stickToBottomNext();
  changed({ messages: true, sidebar: true });
  flushOutbox();
}
const TYPING_EVERY_MS = 2000;

export function setCompose(ctx) {
  S.compose = ctx;
  const box = $('composer-context');
  if (!ctx) { box.hidden = true; return; }
  box.hidden = false;
  box.dataset.mode = ctx.mode;
  $('composer-context-label').textContent = ctx.mode === 'edit' ? 'Editing message' : `Replying to ${userName(ctx.sender)}`;
  $('composer-context-text').textContent = ctx.preview;
  $('composer-context-cancel').setAttribute('aria-label', ctx.mode === 'edit' ? 'Cancel editing' : 'Cancel reply');
}

export function startReply(r, m) {
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

export function startEdit(r, m) {
  if (S.current !== r.id) return;
  const input = $('composer-input');
  setCompose({ mode: 'edit', room: r.id, seq: m.seq, sender: m.sender, preview: bodyText(m).slice(0, 100) });
  input.value = bodyText(m);
  input.dispatchEvent(new Event('input'));
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
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

export function stopTyping() {
  if (!typingRoom) return;
  const room = typingRoom;
  typingRoom = null;
  typingSentAt = 0;
  if (S.conn && S.conn.isReady && supports('typing')) call('typing', { room, typing: false }).catch(() => {});
}

let typingTimer = null;
export function onTyping(ev) {
  const r = S.rooms.get(ev.room);
  if (!r || !ev.user || ev.user === S.me.id) return;
  if (ev.typing) r.typing.set(ev.user, Date.now() + (Number(ev.expires_in_ms) || 6000));
  else r.typing.delete(ev.user);
  renderTyping();
  changed({ sidebar: true });
}

export function typingNames(r) {
  const now = Date.now();
  const out = [];
  for (const [u, exp] of r.typing) {
    if (exp <= now) r.typing.delete(u);
    else out.push(userName(u));
  }
  return out;
}

export function typingLabel(names, short) {
  if (short && names.length === 1) return 'typing…';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

export function renderTyping() {
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
    typingTimer = setTimeout(() => { renderTyping(); changed({ sidebar: true }); }, Math.max(50, next - Date.now() + 20));
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

export function closeMentions() {
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

export function insertIntoComposer(text) {
  const ta = $('composer-input');
  const start = ta.selectionStart ?? ta.value.length;
  const end = ta.selectionEnd ?? ta.value.length;
  const before = ta.value.slice(0, start);
  const pad = before && !/\s$/.test(before) && text.startsWith(':') ? ' ' : '';
  ta.setRangeText(pad + text, start, end, 'end');
  ta.dispatchEvent(new Event('input', { bubbles: true }));
  ta.focus();
}

export function bindComposer() {
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
    if (isRecording()) { stopRecordingAndSend(); return; }
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
  $('composer-context-cancel').addEventListener('click', () => {
    const wasEdit = S.compose && S.compose.mode === 'edit';
    setCompose(null);
    if (wasEdit) $('composer-input').value = '';
    $('composer-input').focus();
  });
}
