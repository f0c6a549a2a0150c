// WebSocket connection: request/reply matching, auth, reconnect with
// exponential backoff, app-level pings to notice dead links, and reaction to
// the browser's offline/online events.

const PING_EVERY_MS = 15000;
const PING_TIMEOUT_MS = 8000;
const REQUEST_TIMEOUT_MS = 20000;
const AUTH_TIMEOUT_MS = 10000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
// Requests sent and not answered at once; more wait here, in order. The
// server answers requests past its max_inflight_requests (32 by default)
// with too_many_pending. auth and ping never wait (a ping stuck behind a
// long queue would look like a dead link).
const MAX_INFLIGHT = 16;

export class WsError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

// The WsError of an error reply; a per-user limit's retry_after_ms (ms until
// the request would pass) comes along as retryAfterMs.
function replyError(e) {
  const err = new WsError((e && e.code) || 'error', e && e.message);
  if (e && typeof e.retry_after_ms === 'number') err.retryAfterMs = e.retry_after_ms;
  return err;
}

export function wsUrl() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/v1/ws`;
}

// Events emitted through the callbacks object:
//   onStatus(state, info)   state: 'connecting' | 'online' | 'offline' | 'waiting'
//   onReady(authReply)      authenticated; run rooms/sync/outbox here
//   onEvent(msg)            unsolicited {"ev": ...}
//   onAuthFailed(reason)    token revoked or unknown: log in again
export class Connection {
  constructor(token, callbacks) {
    this.token = token;
    this.cb = callbacks;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.waiting = []; // requests not sent yet: { op, args, id, timer, resolve, reject }
    this.ready = false;
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.retryAt = 0;
    this.onOnline = () => { this.attempt = 0; this.connectNow(); };
    this.onOffline = () => { this.drop('offline'); };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  start() { this.connectNow(); }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    clearTimeout(this.retryTimer);
    this.drop('stopped');
  }

  connectNow() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws) return;
    if (navigator.onLine === false) {
      this.cb.onStatus('offline', { reason: 'no network' });
      return;
    }
    this.cb.onStatus('connecting', {});
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    const authTimer = setTimeout(() => { if (this.ws === ws && !this.ready) this.drop('auth timeout'); }, AUTH_TIMEOUT_MS);
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.request('auth', { token: this.token }, AUTH_TIMEOUT_MS).then((reply) => {
        clearTimeout(authTimer);
        if (this.ws !== ws) return;
        this.ready = true;
        this.attempt = 0;
        this.startPings();
        this.cb.onStatus('online', {});
        this.cb.onReady(reply);
      }, (err) => {
        clearTimeout(authTimer);
        if (this.ws !== ws) return;
        if (err.code === 'unauthenticated') {
          this.stop();
          this.cb.onAuthFailed('Your session has ended. Please sign in again.');
        } else {
          this.drop('auth failed');
        }
      });
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      let msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (!msg || typeof msg !== 'object') return;
      if ('re' in msg && msg.re !== null && this.pending.has(msg.re)) {
        const p = this.pending.get(msg.re);
        this.pending.delete(msg.re);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg);
        else p.reject(replyError(msg.error));
        this.pump();
      } else if (typeof msg.ev === 'string') {
        this.cb.onEvent(msg);
      }
    };
    ws.onclose = (e) => {
      clearTimeout(authTimer);
      if (this.ws !== ws) return;
      if (e.code === 1008) {
        this.stop();
        this.cb.onAuthFailed('You were logged out. Please sign in again.');
        return;
      }
      this.drop(`closed ${e.code}`);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  // Forget the current socket at once (do not wait for a closing handshake
  // that may never complete on a dead link) and schedule a reconnect.
  drop(reason) {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch (e) { /* ignore */ }
    }
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new WsError('disconnected', 'connection lost'));
    }
    this.pending.clear();
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new WsError('disconnected', 'connection lost'));
    }
    if (this.stopped) return;
    if (navigator.onLine === false) {
      this.cb.onStatus('offline', { reason: 'no network' });
      return;
    }
    this.scheduleRetry(reason);
  }

  scheduleRetry() {
    if (this.stopped || this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.cb.onStatus('waiting', { retryAt: this.retryAt });
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.connectNow(); }, delay);
  }

  startPings() {
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.pingTimer = setInterval(() => {
      if (this.ws !== ws || !this.ready) return;
      this.request('ping', {}, PING_TIMEOUT_MS).catch((err) => {
        if (this.ws === ws && err.code === 'timeout') this.drop('ping timeout');
      });
    }, PING_EVERY_MS);
  }

  get isReady() { return this.ready && !!this.ws; }

  // Send one op; resolves with the reply object, rejects with WsError.
  // The timeout counts from the call, waiting included.
  request(op, args = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN || (op !== 'auth' && op !== 'ping' && !this.ready)) {
        reject(new WsError('disconnected', 'not connected'));
        return;
      }
      const id = this.nextId++;
      const w = { op, args, id, resolve, reject, timer: null };
      w.timer = setTimeout(() => {
        const at = this.waiting.indexOf(w);
        if (at >= 0) this.waiting.splice(at, 1);
        const sent = at < 0 && this.pending.delete(id);
        if (at >= 0 || sent) reject(new WsError('timeout', `${op} timed out`));
        if (sent) this.pump(); // its place among the MAX_INFLIGHT is free
      }, timeoutMs);
      if (op === 'auth' || op === 'ping' || (this.waiting.length === 0 && this.pending.size < MAX_INFLIGHT)) this.transmit(w);
      else this.waiting.push(w);
    });
  }

  // Sends waiting requests while fewer than MAX_INFLIGHT are unanswered.
  pump() {
    while (this.waiting.length && this.pending.size < MAX_INFLIGHT && this.ws) this.transmit(this.waiting.shift());
  }

  transmit(w) {
    this.pending.set(w.id, { resolve: w.resolve, reject: w.reject, timer: w.timer });
    try {
      this.ws.send(JSON.stringify({ id: w.id, op: w.op, ...w.args }));
    } catch (e) {
      this.pending.delete(w.id);
      clearTimeout(w.timer);
      w.reject(new WsError('disconnected', 'send failed'));
    }
  }
}
