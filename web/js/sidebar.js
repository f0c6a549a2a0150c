// The sidebar: who I am, the connection status, the list of conversations.
import * as custom from './custom.js';
import * as invites from './invites.js';
import { $, el, fmtListTime, clockIcon, icon } from './dom.js';
import { typingLabel, typingNames } from './composer.js';
import { isDeleted, isExpired, presenceOf, roomSubtitle, roomTitle, summaryText, userName } from './model.js';
import { avatarOf, roomAvatar } from './profile.js';
import { changed, S, subscribe } from './state.js';
import { openRoom, renderPendingState } from './timeline.js';

// ---------------------------------------------------------------- status

let statusTimer = null;

// The connection state in words, as the sidebar and the conversation header show it.
export function statusText() {
  if (S.status === 'online') return 'Online';
  if (S.status === 'connecting') return 'Connecting…';
  if (S.status === 'offline') return 'Offline';
  if (S.status === 'waiting') {
    const s = Math.max(0, Math.ceil((S.retryAt - Date.now()) / 1000));
    return s > 0 ? `Reconnecting in ${s}s…` : 'Reconnecting…';
  }
  return '';
}

export function setStatus(state, info) {
  S.status = state;
  S.retryAt = state === 'waiting' && info ? info.retryAt : 0;
  const box = $('conn-status');
  box.dataset.state = state;
  const text = box.querySelector('.conn-text');
  clearInterval(statusTimer);
  const show = () => {
    text.textContent = statusText();
    // The header repeats it: on a phone the sidebar is hidden.
    changed({ header: true });
  };
  show();
  if (state === 'waiting') statusTimer = setInterval(show, 1000);
  document.body.classList.toggle('is-offline', state !== 'online');
  renderPendingState();
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

export function renderMe() {
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

export function renderSidebar() {
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

export function bindSidebar() {
  subscribe('sidebar', renderSidebar);
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
  $('conn-status').addEventListener('click', () => { if (S.conn && S.status === 'waiting') { S.conn.attempt = 0; S.conn.connectNow(); } });
}
