// SPDX-License-Identifier: MIT
// pushsvc.cjs -- a local Web Push service stand-in for the integration tests
// (tests/integration/test_push.c), written on Node's own crypto only: it is
// the browser's side of RFC 8291 and the push service's side of RFC 8030 and
// RFC 8292, implemented independently of parleyd's C code.
//
//   node pushsvc.cjs --port 0 --state FILE
//
// Prints "ready PORT" on stdout once listening on 127.0.0.1. State (the
// subscriptions' private keys, what was received, the answer per
// subscription) lives in FILE, so the service can be stopped and started
// again on the same port (an outage) without losing it.
//
// Control (JSON):
//   POST /ctl/sub                 -> a new subscription {id, endpoint, keys}
//   POST /ctl/answer {id, status} -> answer the subscription's pushes with status
//   GET  /ctl/received?id=ID      -> {pushes: [...], errors: [...], answered: N}
// Push: POST /push/ID. Every push is checked: the VAPID JWT (ES256 with the
// raw R||S signature, verified with the k= key; aud = this origin; exp in
// (now, now + 24 h]; sub mailto:/https:), the headers (TTL, Urgency, Topic,
// Content-Encoding: aes128gcm), then the body is decrypted with the
// subscription's private key. A push failing a check is answered 400 and
// recorded under errors; a good one is recorded under pushes with the
// decrypted JSON, then answered with the subscription's status (201).
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const stateFile = args.state;
let state = { subs: {}, next: 1 };
if (stateFile && fs.existsSync(stateFile)) state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
function save() {
  if (!stateFile) return;
  fs.writeFileSync(stateFile + '.tmp', JSON.stringify(state));
  fs.renameSync(stateFile + '.tmp', stateFile);
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');

function hkdf(salt, ikm, info, len) {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, len));
}

// RFC 8291 4 / RFC 8188: the user agent's decryption (one record).
function decrypt(sub, body) {
  if (body.length < 86 + 17) throw new Error('body too short');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  if (idlen !== 65) throw new Error('keyid length ' + idlen);
  const asPub = body.subarray(21, 86);
  const ct = body.subarray(86);
  if (ct.length > rs) throw new Error('record larger than rs');
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(unb64u(sub.priv));
  const uaPub = ecdh.getPublicKey();
  const secret = ecdh.computeSecret(asPub);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPub, asPub]);
  const ikm = hkdf(unb64u(sub.auth), secret, keyInfo, 32);
  const cek = hkdf(salt, ikm, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
  const nonce = hkdf(salt, ikm, Buffer.from('Content-Encoding: nonce\0'), 12);
  const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ct.subarray(ct.length - 16));
  const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  let end = pt.length - 1;
  while (end >= 0 && pt[end] === 0) end--; // padding
  if (end < 0 || pt[end] !== 2) throw new Error('no last-record delimiter');
  return pt.subarray(0, end).toString('utf8');
}

// RFC 8292: Authorization: vapid t=JWT, k=KEY
function checkVapid(req, origin) {
  const h = req.headers.authorization || '';
  const m = /^vapid t=([A-Za-z0-9_\-.]+), k=([A-Za-z0-9_-]+)$/.exec(h);
  if (!m) throw new Error('Authorization is not "vapid t=..., k=...": ' + h);
  const [hd, cl, sg] = m[1].split('.');
  const header = JSON.parse(unb64u(hd).toString());
  if (header.alg !== 'ES256' || header.typ !== 'JWT') throw new Error('JWT header ' + JSON.stringify(header));
  const claims = JSON.parse(unb64u(cl).toString());
  const sig = unb64u(sg);
  if (sig.length !== 64) throw new Error('signature is ' + sig.length + ' bytes, not raw R||S');
  const k = unb64u(m[2]);
  if (k.length !== 65 || k[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(k.subarray(1, 33)), y: b64u(k.subarray(33)) },
    format: 'jwk',
  });
  const ok = crypto.verify('sha256', Buffer.from(hd + '.' + cl), { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) throw new Error('JWT signature does not verify with k');
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud !== origin) throw new Error('aud ' + claims.aud + ' is not ' + origin);
  if (!(claims.exp > now && claims.exp <= now + 86400)) throw new Error('exp out of range: ' + claims.exp);
  if (!/^(mailto:|https:)/.test(claims.sub || '')) throw new Error('sub ' + claims.sub);
  return { k: m[2], claims };
}

function reply(res, status, obj) {
  const body = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://x');
    const origin = 'http://127.0.0.1:' + server.address().port;
    try {
      if (req.method === 'POST' && url.pathname === '/ctl/sub') {
        const ecdh = crypto.createECDH('prime256v1');
        ecdh.generateKeys();
        const id = String(state.next++);
        state.subs[id] = {
          priv: b64u(ecdh.getPrivateKey()), pub: b64u(ecdh.getPublicKey()),
          auth: b64u(crypto.randomBytes(16)), status: 201, pushes: [], errors: [],
        };
        save();
        const s = state.subs[id];
        return reply(res, 200, { id, endpoint: origin + '/push/' + id, keys: { p256dh: s.pub, auth: s.auth } });
      }
      if (req.method === 'POST' && url.pathname === '/ctl/answer') {
        const a = JSON.parse(body.toString());
        state.subs[a.id].status = a.status;
        save();
        return reply(res, 200, {});
      }
      if (req.method === 'GET' && url.pathname === '/ctl/received') {
        const s = state.subs[url.searchParams.get('id')];
        return reply(res, s ? 200 : 404, s ? { pushes: s.pushes, errors: s.errors, answered: s.answered || 0 } : {});
      }
      const pm = /^\/push\/(\d+)$/.exec(url.pathname);
      if (req.method === 'POST' && pm) {
        const s = state.subs[pm[1]];
        if (!s) return reply(res, 404, {});
        try {
          const v = checkVapid(req, origin);
          if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error('Content-Encoding ' + req.headers['content-encoding']);
          if (!/^\d+$/.test(req.headers.ttl || '')) throw new Error('TTL ' + req.headers.ttl);
          const urgency = req.headers.urgency || 'normal';
          if (!['very-low', 'low', 'normal', 'high'].includes(urgency)) throw new Error('Urgency ' + urgency);
          const topic = req.headers.topic;
          if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic)) throw new Error('Topic ' + topic);
          const text = decrypt(s, body);
          s.answered = (s.answered || 0) + 1;
          if (s.status >= 200 && s.status < 300) {
            s.pushes.push({ ttl: Number(req.headers.ttl), urgency, topic: topic || null, k: v.k, data: JSON.parse(text) });
          }
          save();
          return reply(res, s.status);
        } catch (e) {
          s.errors.push(String(e.message));
          save();
          return reply(res, 400, { error: String(e.message) });
        }
      }
      reply(res, 404, {});
    } catch (e) {
      reply(res, 500, { error: String(e.message) });
    }
  });
});

server.listen(Number(args.port || 0), '127.0.0.1', () => {
  process.stdout.write('ready ' + server.address().port + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
