// web/js/conn.js on its own, in Node with a fake WebSocket (no server, no
// browser): the request queue behind MAX_INFLIGHT.
import { test } from 'node:test';
import assert from 'node:assert/strict';

// The browser globals conn.js uses.
globalThis.window = { addEventListener() {}, removeEventListener() {} };
globalThis.location = { protocol: 'http:', host: '127.0.0.1:1' };
Object.defineProperty(globalThis, 'navigator', { value: { onLine: true }, configurable: true });

// Records what the client sends; answers auth, and other requests only when
// the test says so.
class FakeSocket {
  static OPEN = 1;
  static last = null;
  constructor() {
    this.readyState = FakeSocket.OPEN;
    this.sent = [];
    FakeSocket.last = this;
    setTimeout(() => this.onopen && this.onopen(), 0);
  }
  send(text) {
    const msg = JSON.parse(text);
    this.sent.push(msg);
    if (msg.op === 'auth') setTimeout(() => this.reply(msg.id, { user: { id: 'u1' } }), 0);
  }
  reply(id, body = {}) {
    if (this.onmessage) this.onmessage({ data: JSON.stringify({ re: id, ok: true, ...body }) });
  }
  close() {}
}
globalThis.WebSocket = FakeSocket;

const { Connection } = await import('../../web/js/conn.js');

test('a request that times out lets the next waiting one go', async () => {
  let ready;
  const online = new Promise((r) => { ready = r; });
  const conn = new Connection('t', { onStatus() {}, onReady: ready, onEvent() {}, onAuthFailed() {} });
  conn.start();
  await online;
  const ws = FakeSocket.last;
  const ops = () => ws.sent.filter((m) => m.op !== 'auth').map((m) => m.op);
  const all = [];
  try {
    // 16 unanswered (one of them gives up soon), then one that waits.
    const slow = conn.request('slow', {}, 50);
    for (let i = 1; i < 16; i++) all.push(conn.request('busy', {}, 60000));
    const queued = conn.request('queued', {}, 60000);
    all.push(queued);
    assert.equal(ops().length, 16);
    assert.ok(!ops().includes('queued'));
    await assert.rejects(slow, { code: 'timeout' });
    assert.equal(ops().at(-1), 'queued', 'sent once the timed-out request freed its place');
    const q = ws.sent.find((m) => m.op === 'queued');
    ws.reply(q.id, { fine: true });
    assert.equal((await queued).fine, true);
  } finally {
    conn.stop(); // rejects what is left and clears the timers
    await Promise.allSettled(all);
  }
});
