// One message as a DOM node: body, quote, reactions, ticks, actions.
import * as custom from './custom.js';
import { callText } from './call-history.js';
import { el, linkify, fmtTime, fmtFull, fmtListTime, markMentions, icon } from './dom.js';
import { buildMedia } from './media-view.js';
import { findMsg, isDeleted, isMentioned, summaryText, userName } from './model.js';
import { S } from './state.js';

// ---------------------------------------------------------------- messages: rendering

function mentionNames(r) {
  const set = new Set();
  for (const u of r.members) if (u.username) set.add(u.username.toLowerCase());
  if (r.kind === 'group') set.add('room');
  return set;
}

export function quoteNode(rt0, r) {
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
export function buildMessage(r, m, opts) {
  // Posted by an incoming webhook (issue 16): the server sets content.via.
  const via = m.content && typeof m.content.via === 'object' && m.content.via ? m.content.via : null;
  const mine = m.sender === S.me.id && !via;
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
  } else if (m.content && m.content.type === 'call') {
    body.classList.add('call-entry');
    body.dataset.outcome = m.content.outcome || '';
    body.textContent = callText(m.content, mine);
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
    via
      ? el('span', { class: 'sender via', title: `Posted by the webhook “${via.name}” of ${userName(m.sender)}` },
        String(via.username || via.name || 'webhook'), el('span', { class: 'badge bot', text: 'BOT' }))
      : el('button', { type: 'button', class: 'sender', 'data-profile': m.sender, text: userName(m.sender) }),
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
  if (via) cls.push('via-hook');
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

export function updateTicks(r) {
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

export function flash(node) {
  node.classList.remove('flash');
  void node.offsetWidth;
  node.classList.add('flash');
  setTimeout(() => node.classList.remove('flash'), 2500);
}
