// Server requests with feature detection, paged lists, and error texts
// (toasts and messages that say what failed and what to do).
import { $ } from './dom.js';
import { S } from './state.js';

// A paged list: ask(args) for the pages while the reply says `more`, and
// return reply[key] of them all, in order. next(reply, items, args) gives the
// args of the following page, or null to stop; the default is for the lists
// paged by bytes (rooms, receipts, emoji_list): `after` = the reply's `next`.
// A page without items ends the list, and so does a cursor that does not
// advance (asking again would never end).
export async function allPages(ask, key, { first = {}, next = afterNext } = {}) {
  const all = [];
  let args = first;
  for (let i = 0; i < 10000; i++) {
    const reply = await ask(args);
    const items = reply[key] || [];
    all.push(...items);
    const more = reply.more && items.length ? next(reply, items, args) : null;
    if (!more) break;
    args = more;
  }
  return all;
}

function afterNext(reply, items, args) {
  return reply.next && reply.next !== args.after ? { after: reply.next } : null;
}

// ---------------------------------------------------------------- requests with feature detection

export function supports(op) { return !S.unsupported.has(op); }

// Send an op; remembers unknown_op so the UI can stop offering it.
export async function call(op, args = {}) {
  if (!S.conn || !S.conn.isReady) throw Object.assign(new Error('You are offline.'), { code: 'disconnected' });
  try {
    return await S.conn.request(op, args);
  } catch (err) {
    if (err.code === 'unknown_op') S.unsupported.add(op);
    throw err;
  }
}

let toastTimer = null;
export function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

export function explain(err, what) {
  if (err.code === 'unknown_op') return `${what} is not available on this server yet.`;
  if (err.code === 'rate_limited') return limitText(err, what);
  if (err.code === 'disconnected' || err.code === 'timeout') return `${what} failed: you are offline.`;
  if (err.code === 'forbidden') return `${what}: not allowed.`;
  if (err.code === 'not_found') return `${what}: that message no longer exists.`;
  return `${what} failed: ${err.message || err.code}`;
}

// rate_limited: "<what> failed: " and when to try again. The per-user limits
// (rooms created, people added) say it in their message; the request rate
// limit says "slow down", and retry_after_ms when.
function limitText(err, what) {
  if (err.message && /try again/.test(err.message)) return `${what} failed: ${err.message}`;
  const ms = err.retryAfterMs;
  const when = typeof ms === 'number' ? `in ${Math.max(1, Math.ceil(ms / 1000))} s` : 'later';
  return `${what} failed: too many requests; try again ${when}`;
}

// "Invited Carol — …" after create_room or invite: who got an invitation
// instead of being added, and who could not be added.
export function addedNote(reply) {
  const name = (u) => u.display_name || u.username;
  const parts = [];
  const inv = reply.invited || [];
  if (inv.length) parts.push(`Invited ${inv.map(name).join(', ')}: they'll join once they accept.`);
  const why = { member: 'already a member', invites_full: 'has too many pending invitations', room_invites_full: 'this group has too many pending invitations', group_full: 'the group is full' };
  for (const sk of reply.skipped || []) {
    if (sk.reason === 'member') continue;
    parts.push(`Could not add ${name(sk.user)}: ${why[sk.reason] || sk.reason}.`);
  }
  return parts.join(' ');
}
