// Outbox: messages the user wrote that the server has not acknowledged yet.
// Kept in localStorage (per user) so they survive reloads and go out on the
// next connection with their original client_id; the server dedupes by it.
import { load, save, remove } from './storage.js';

export class Outbox {
  constructor(userId) {
    this.key = `parley.outbox.${userId}`;
    this.items = load(this.key, []);
    if (!Array.isArray(this.items)) this.items = [];
  }

  persist() { save(this.key, this.items); }

  // extra: {reply_to?: {seq, sender, preview}, thread?: rootSeq}
  add(room, body, extra = {}) {
    const item = {
      client_id: newClientId(),
      room,
      content: { type: 'text', body },
      ts: Date.now(),
      state: 'pending', // pending | failed
      error: null,
    };
    if (extra.reply_to) item.reply_to = extra.reply_to;
    if (extra.thread) item.thread = extra.thread;
    this.items.push(item);
    this.persist();
    return item;
  }

  get(clientId) { return this.items.find((i) => i.client_id === clientId) || null; }

  forRoom(room) { return this.items.filter((i) => i.room === room); }

  pending() { return this.items.filter((i) => i.state === 'pending'); }

  markFailed(clientId, error) {
    const it = this.get(clientId);
    if (it) { it.state = 'failed'; it.error = error; this.persist(); }
  }

  retry(clientId) {
    const it = this.get(clientId);
    if (it) { it.state = 'pending'; it.error = null; this.persist(); }
    return it;
  }

  delete(clientId) {
    const n = this.items.length;
    this.items = this.items.filter((i) => i.client_id !== clientId);
    if (this.items.length !== n) this.persist();
    return this.items.length !== n;
  }

  clear() { this.items = []; remove(this.key); }
}

function newClientId() {
  if (crypto.randomUUID) return 'w-' + crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return 'w-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
