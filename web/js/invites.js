// Pending invitations to groups: the sidebar section with Join / Decline,
// kept current by the `invites` op (after each connect) and the `invite`
// event (live, from any of the user's devices). Groups are private: this is
// how one gets into a group one was not added to directly.
import { $, el, fmtAgo } from './dom.js';
import * as custom from './custom.js';

const list = new Map(); // room id -> Invite (docs/protocol.md)
let hooks = null;       // {call, joined(room), explain(err, what), toast(text), changed()}
const busy = new Set(); // room ids with a join/decline in flight

// hooks: call(op, args) -> Promise; joined(roomObject) opens the joined
// group; explain(err, what) -> text; toast(text); changed() after the list
// changed (the sidebar's empty hint depends on it).
export function init(h) {
  hooks = h;
}

// Replaces the list with the server's (the `invites` reply).
export async function load() {
  try {
    const { invites } = await hooks.call('invites');
    list.clear();
    for (const v of invites || []) if (v && v.room) list.set(v.room, v);
  } catch (e) {
    // Older server (unknown_op) or offline: keep what we had.
  }
  render();
}

// The `invite` event.
export function onEvent(ev) {
  if (ev.action === 'add' && ev.invite && ev.invite.room) list.set(ev.invite.room, ev.invite);
  else if (ev.action === 'remove' && ev.room) list.delete(ev.room);
  else return;
  render();
}

export function clear() {
  list.clear();
  render();
}

export function count() {
  return list.size;
}

function inviterName(v) {
  const u = v.inviter || {};
  return u.display_name || u.username || 'Someone';
}

async function accept(v, btn) {
  if (busy.has(v.room)) return;
  busy.add(v.room);
  render();
  let joined = false;
  try {
    const { room } = await hooks.call('join', { room: v.room });
    list.delete(v.room);
    joined = true;
    if (room) hooks.joined(room); // opens the group, focus included
  } catch (err) {
    if (err.code === 'forbidden') {
      // Expired or withdrawn meanwhile: it is gone for good.
      list.delete(v.room);
      hooks.toast('That invitation is no longer valid.');
    } else if (err.code === 'too_large') {
      hooks.toast('That group is full.');
    } else {
      hooks.toast(hooks.explain(err, 'Joining'));
    }
  } finally {
    busy.delete(v.room);
    render();
    // render() replaced the button: after a failure, keep the keyboard in
    // the list (this invitation's Join if it is still there).
    if (!joined && btn && !btn.isConnected) {
      const at = $('invite-list').querySelector(`[data-invite="${CSS.escape(v.room)}"] button`) ||
        $('invite-list').querySelector('button');
      if (at) at.focus();
    }
  }
}

async function decline(v) {
  if (busy.has(v.room)) return;
  busy.add(v.room);
  render();
  try {
    await hooks.call('decline', { room: v.room });
    list.delete(v.room);
  } catch (err) {
    if (err.code === 'not_found') list.delete(v.room);
    else hooks.toast(hooks.explain(err, 'Declining'));
  } finally {
    busy.delete(v.room);
    render();
  }
}

export function render() {
  const section = $('invites');
  if (!section) return;
  const now = Date.now();
  const items = [...list.values()]
    .filter((v) => !v.expires_ts || v.expires_ts > now)
    .sort((a, b) => (b.ts || 0) - (a.ts || 0));
  section.hidden = items.length === 0;
  $('invites-title').textContent = items.length === 1 ? 'Invitation' : `Invitations (${items.length})`;
  $('invite-list').replaceChildren(...items.map((v) => {
    const name = v.name || 'Unnamed group';
    const avatar = el('span', { class: 'avatar group small', 'aria-hidden': 'true' });
    custom.paintAvatar(avatar, name, v.avatar || null);
    const n = v.member_count || 0;
    const who = `${inviterName(v)} invited you`;
    const sub = `${who} · ${n} member${n === 1 ? '' : 's'}${v.ts ? ' · ' + fmtAgo(v.ts) : ''}`;
    const pending = busy.has(v.room);
    const join = el('button', {
      type: 'button', class: 'btn primary small', disabled: pending,
      'aria-label': `Join ${name}`, onclick: (e) => accept(v, e.currentTarget), text: 'Join',
    });
    const no = el('button', {
      type: 'button', class: 'btn ghost small', disabled: pending,
      'aria-label': `Decline the invitation to ${name}`, onclick: () => decline(v), text: 'Decline',
    });
    return el('li', { class: 'invite-item', 'data-invite': v.room },
      avatar,
      el('span', { class: 'invite-main' },
        el('span', { class: 'invite-name', text: name }),
        el('span', { class: 'invite-sub', text: sub })),
      el('span', { class: 'invite-actions' }, join, no));
  }));
  if (hooks && hooks.changed) hooks.changed();
}
