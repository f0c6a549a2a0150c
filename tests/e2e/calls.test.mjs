// Voice and video calls (issue 19) in headless Chromium with fake devices,
// two (or three) browser contexts: a 1:1 video call connects with media
// flowing both ways, mute stops outbound audio, hang up ends both sides and
// writes the history message; decline and missed calls; a three-way group
// call connects every pair; a relay-only call through a coturn started here
// on loopback. Screenshots: incoming call, in-call view, phone layout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, startGroup, openRoomByName,
  uniqueName, assertNoErrors, shot,
} from './helpers.mjs';

const TURN_SECRET = 'e2e-turn-secret';
let server;
let browser;
let turn = null; // { proc, port, dir }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function turnserverPath() {
  for (const p of ['/usr/bin/turnserver', '/usr/sbin/turnserver']) if (fs.existsSync(p)) return p;
  try { return execFileSync('sh', ['-c', 'command -v turnserver'], { encoding: 'utf8' }).trim() || null; } catch (e) { return null; }
}

// coturn on 127.0.0.1, a free port, a temp config: TURN REST API secret.
async function startTurn() {
  const bin = turnserverPath();
  if (!bin) return null;
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-turn-'));
  const conf = path.join(dir, 'turnserver.conf');
  fs.writeFileSync(conf, [
    'listening-ip=127.0.0.1', 'relay-ip=127.0.0.1', `listening-port=${port}`,
    'min-port=49160', 'max-port=49960', 'use-auth-secret', `static-auth-secret=${TURN_SECRET}`,
    'realm=parley.test', 'no-tls', 'no-dtls', 'no-cli', 'fingerprint', 'allow-loopback-peers',
    'no-multicast-peers', `pidfile=${path.join(dir, 'turn.pid')}`, `log-file=${path.join(dir, 'turn.log')}`,
    'simple-log', `userdb=${path.join(dir, 'turndb')}`, 'no-stdout-log', '',
  ].join('\n'));
  const proc = spawn(bin, ['-c', conf], { stdio: 'ignore' });
  // Wait until it listens (TCP on the same port).
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise((r) => { const s = net.connect(port, '127.0.0.1', () => { s.end(); r(true); }); s.on('error', () => r(false)); });
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) { proc.kill('SIGKILL'); return null; }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, port, dir };
}

before(async () => {
  turn = await startTurn();
  const extra = ['--set', 'call_ring_timeout_ms=3000', '--set', 'sweep_interval_ms=200'];
  if (turn) {
    extra.push('--set', `turn_urls=turn:127.0.0.1:${turn.port}?transport=udp`, '--set', `turn_secret=${TURN_SECRET}`);
  }
  server = await startServer(extra);
  browser = await launchBrowser(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection']);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (turn) {
    const exited = new Promise((r) => turn.proc.once('exit', r));
    turn.proc.kill('SIGTERM'); // by PID: the process this file started
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (turn.proc.exitCode === null) turn.proc.kill('SIGKILL');
    fs.rmSync(turn.dir, { recursive: true, force: true });
  }
});

async function users(n, opts = []) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const name = uniqueName(['ann', 'bob', 'cid'][i]);
    const p = await newPage(browser, server.base, opts[i] || {});
    await registerUI(p.page, name, ['Ann', 'Bob', 'Cid'][i]);
    out.push({ name, ...p });
  }
  return out;
}

// Every live RTCPeerConnection of the page's call, as summaries.
function peerStates(page) {
  return page.evaluate(() => (window.__parleyCalls ? window.__parleyCalls.peers().map((pc) => pc.connectionState) : []));
}

async function waitConnected(page, n, timeout = 20000) {
  await page.waitForFunction((k) => {
    const pcs = window.__parleyCalls ? window.__parleyCalls.peers() : [];
    return pcs.length === k && pcs.every((pc) => pc.connectionState === 'connected');
  }, n, { timeout });
}

// Totals over the page's connections: inbound bytes and decoded frames,
// outbound audio bytes, and the selected candidate pair's local type.
function stats(page) {
  return page.evaluate(async () => {
    const out = { inBytes: 0, frames: 0, outAudio: 0, inVideoBytes: 0, types: [] };
    for (const pc of window.__parleyCalls.peers()) {
      const st = await pc.getStats();
      let pairId = null;
      st.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId; });
      st.forEach((r) => {
        if (r.type === 'inbound-rtp') { out.inBytes += r.bytesReceived || 0; if (r.kind === 'video') { out.frames += r.framesDecoded || 0; out.inVideoBytes += r.bytesReceived || 0; } }
        if (r.type === 'outbound-rtp' && r.kind === 'audio') out.outAudio += r.bytesSent || 0;
      });
      if (pairId) {
        const pair = st.get(pairId);
        const local = pair && st.get(pair.localCandidateId);
        const remote = pair && st.get(pair.remoteCandidateId);
        out.types.push(`${local && local.candidateType}/${remote && remote.candidateType}`);
      }
    }
    return out;
  });
}

// Polls until f(stats) holds (media takes a moment to flow).
async function until(page, f, what, timeout = 15000) {
  const deadline = Date.now() + timeout;
  let s;
  for (;;) {
    s = await stats(page);
    if (f(s)) return s;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(s)}`);
    await page.waitForTimeout(250);
  }
}

async function historyText(page, re) {
  await page.waitForFunction((src) => [...document.querySelectorAll('#message-list .call-entry')]
    .some((e) => new RegExp(src).test(e.textContent)), re.source, { timeout: 15000 });
}

test('1:1 video call: connects, media both ways, mute, hang up, history', async () => {
  const [A, B] = await users(2);
  await startDM(A.page, B.name);
  await openRoomByName(B.page, 'Ann');
  await A.page.click('#btn-call-video');
  await B.page.waitForSelector('#call-incoming:not([hidden]) #btn-call-accept');
  await shot(B.page, 'call-incoming.png');
  await B.page.click('#btn-call-accept');
  await waitConnected(A.page, 1);
  await waitConnected(B.page, 1);
  for (const P of [A, B]) {
    const s1 = await until(P.page, (s) => s.frames > 0 && s.inBytes > 0, 'media flows');
    await until(P.page, (s) => s.frames > s1.frames && s.inBytes > s1.inBytes, 'media keeps flowing');
  }
  await A.page.waitForSelector('#call-timer:not(:empty)');
  await shot(A.page, 'call-in-call.png');
  // Mute: the audio sender has no track, so outbound audio bytes stop.
  await A.page.click('#btn-call-mute');
  await A.page.waitForTimeout(800); // packets already queued drain first
  const m1 = await stats(A.page);
  await A.page.waitForTimeout(1500);
  const m2 = await stats(A.page);
  assert.equal(m2.outAudio, m1.outAudio, 'no audio bytes go out while muted');
  await A.page.click('#btn-call-mute');
  await until(A.page, (s) => s.outAudio > m2.outAudio, 'audio flows again after unmute');
  await A.page.click('#btn-call-hangup');
  await A.page.waitForSelector('#call-view', { state: 'hidden' });
  await B.page.waitForSelector('#call-view', { state: 'hidden' });
  await historyText(A.page, /^Video call · \d+:\d\d$/);
  await historyText(B.page, /^Video call · \d+:\d\d$/);
  assert.deepEqual(await peerStates(B.page), []);
  assertNoErrors(A.page);
  assertNoErrors(B.page);
  await A.context.close();
  await B.context.close();
});

test('declined and missed calls end on both sides and leave history', async () => {
  const [A, B] = await users(2);
  await startDM(A.page, B.name);
  await openRoomByName(B.page, 'Ann');
  await A.page.click('#btn-call-audio');
  await B.page.waitForSelector('#call-incoming:not([hidden]) #btn-call-decline');
  await B.page.click('#btn-call-decline');
  await A.page.waitForSelector('#call-view', { state: 'hidden' });
  await historyText(A.page, /^Voice call · declined$/);
  await historyText(B.page, /^Voice call · you declined$/);
  // Nobody answers: the server's ring timeout (3 s here) makes it missed.
  await A.page.click('#btn-call-video');
  await B.page.waitForSelector('#call-incoming:not([hidden])');
  await B.page.waitForSelector('#call-incoming', { state: 'hidden', timeout: 15000 });
  await A.page.waitForSelector('#call-view', { state: 'hidden' });
  await historyText(B.page, /^Missed video call$/);
  await historyText(A.page, /^Video call · no answer$/);
  assertNoErrors(A.page);
  assertNoErrors(B.page);
  await A.context.close();
  await B.context.close();
});

test('three-way group call connects every pair (mesh); phone layout', async () => {
  const phone = { viewport: { width: 390, height: 844 }, contextOptions: { isMobile: true, hasTouch: true } };
  const [A, B, C] = await users(3, [{}, {}, phone]);
  await startGroup(A.page, 'Call crew', [B.name, C.name]);
  await openRoomByName(B.page, 'Call crew');
  await A.page.click('#btn-call-video');
  await B.page.waitForSelector('#call-incoming:not([hidden])');
  await B.page.click('#btn-call-accept');
  await waitConnected(A.page, 1);
  await C.page.waitForSelector('#call-incoming:not([hidden])');
  await C.page.click('#btn-call-accept');
  for (const P of [A, B, C]) await waitConnected(P.page, 2);
  for (const P of [A, B, C]) await until(P.page, (s) => s.frames > 0, 'video from both others');
  await C.page.waitForTimeout(500);
  await shot(C.page, 'call-phone.png');
  await shot(A.page, 'call-group.png');
  for (const P of [C, B, A]) await P.page.click('#btn-call-hangup');
  await historyText(B.page, /^Group video call · \d+:\d\d$/);
  for (const P of [A, B, C]) { assertNoErrors(P.page); await P.context.close(); }
});

test('TURN only: iceTransportPolicy relay connects through coturn', async (t) => {
  if (!turn) { t.skip('coturn (turnserver) is not installed: apt-get install coturn'); return; }
  const [A, B] = await users(2);
  for (const P of [A, B]) await P.page.evaluate(() => localStorage.setItem('parley.ice_policy', 'relay'));
  await startDM(A.page, B.name);
  await openRoomByName(B.page, 'Ann');
  await A.page.click('#btn-call-audio');
  await B.page.waitForSelector('#call-incoming:not([hidden])');
  await B.page.click('#btn-call-accept');
  await waitConnected(A.page, 1);
  await waitConnected(B.page, 1);
  for (const P of [A, B]) {
    const s = await until(P.page, (x) => x.inBytes > 0 && x.types.length === 1, 'relayed media');
    assert.match(s.types[0], /^relay\//, 'the selected pair is relayed');
  }
  await A.page.click('#btn-call-hangup');
  await B.page.waitForSelector('#call-view', { state: 'hidden' });
  assertNoErrors(A.page);
  assertNoErrors(B.page);
  await A.context.close();
  await B.context.close();
});
