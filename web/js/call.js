// Voice and video calls (issue 19): WebRTC peer to peer, signalled over the
// chat connection (call_* ops and events, docs/protocol.md "Calls"). A 1:1
// call runs between the caller's device and the callee device that
// answered; a group call is a mesh (everyone who joins offers a connection
// to everyone already in it). Media never passes through the server; TURN
// credentials come from turn_credentials. The screen (incoming call, in-call
// view) is call-view.js.

import { call, toast } from './requests.js';
import { S } from './state.js';
import { userName } from './model.js';
import * as view from './call-view.js';

// The call in progress (one at a time), or null.
//   id, room, kind ('audio'|'video'), group, role ('caller'|'callee'),
//   phase ('ringing'|'incoming'|'connecting'|'active'), peers: Map(user -> peer),
//   local: MediaStream, startedAt, muted, camOff, screen (track), audioOnly
let cur = null;
let incoming = null; // { id, room, kind, group, from } while ringing here
let iceCache = null; // { servers, until }
let statsTimer = null;

export function current() { return cur; }

// ---------------------------------------------------------------- media

async function getMedia(kind) {
  const wantVideo = kind === 'video';
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true, video: wantVideo }), audioOnly: !wantVideo };
  } catch (err) {
    if (!wantVideo) throw err;
    // No camera, or camera permission refused: go on as a voice call.
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    toast(explainMedia(err, 'camera') + ' The call continues as a voice call.');
    return { stream, audioOnly: true };
  }
}

function explainMedia(err, what) {
  if (err && (err.name === 'NotAllowedError' || err.name === 'SecurityError')) {
    return `Parley may not use your ${what}: allow it in the browser's site settings.`;
  }
  if (err && (err.name === 'NotFoundError' || err.name === 'OverconstrainedError')) return `No ${what} was found.`;
  return `Your ${what} could not be started (${err && err.message ? err.message : 'unknown error'}).`;
}

async function iceServers() {
  if (iceCache && iceCache.until > Date.now()) return iceCache.servers;
  const servers = [];
  try {
    const r = await call('turn_credentials');
    if (r.stun_urls && r.stun_urls.length) servers.push({ urls: r.stun_urls });
    if (r.urls && r.urls.length && r.username) servers.push({ urls: r.urls, username: r.username, credential: r.credential });
    iceCache = { servers, until: Date.now() + Math.max(30, (r.ttl || 60) - 30) * 1000 };
  } catch (e) { /* an old server: host candidates only */ }
  return servers;
}

// Tests (and operators debugging NAT) may force relay-only ICE.
function icePolicy() {
  try { return localStorage.getItem('parley.ice_policy') === 'relay' ? 'relay' : 'all'; } catch (e) { return 'all'; }
}

// ---------------------------------------------------------------- peers

async function newPeer(user) {
  const pc = new RTCPeerConnection({ iceServers: await iceServers(), iceTransportPolicy: icePolicy() });
  const peer = { user, pc, stream: new MediaStream(), pendingIce: [], quality: '' };
  cur.peers.set(user, peer);
  for (const t of cur.local.getTracks()) pc.addTrack(t, cur.local);
  if (cur.screen) replaceVideo(pc, cur.screen);
  pc.onicecandidate = (e) => signal(user, { type: 'candidate', candidate: e.candidate ? e.candidate.toJSON() : null });
  pc.ontrack = (e) => {
    if (!peer.stream.getTracks().includes(e.track)) peer.stream.addTrack(e.track);
    view.render(cur);
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'connected' && cur && cur.phase !== 'active') {
      cur.phase = 'active';
      if (!cur.startedAt) cur.startedAt = Date.now();
    }
    view.render(cur);
  };
  if (muted()) setSenderTrack(pc, 'audio', null);
  return peer;
}

function muted() { return !!(cur && cur.muted); }

function signal(to, sig) {
  if (!cur) return;
  call('call_signal', { call: cur.id, to, signal: sig }).catch(() => {});
}

async function offerTo(user) {
  const peer = cur.peers.get(user) || await newPeer(user);
  const offer = await peer.pc.createOffer();
  await peer.pc.setLocalDescription(offer);
  signal(user, { type: 'offer', sdp: offer.sdp });
}

async function onSignal(ev) {
  if (!cur || ev.call !== cur.id) return;
  const s = ev.signal || {};
  let peer = cur.peers.get(ev.from);
  if (s.type === 'offer') {
    if (!peer) peer = await newPeer(ev.from);
    await peer.pc.setRemoteDescription({ type: 'offer', sdp: s.sdp });
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    signal(ev.from, { type: 'answer', sdp: answer.sdp });
    flushIce(peer);
  } else if (s.type === 'answer' && peer) {
    await peer.pc.setRemoteDescription({ type: 'answer', sdp: s.sdp });
    flushIce(peer);
  } else if (s.type === 'candidate') {
    if (!peer || !peer.pc.remoteDescription) {
      if (!peer) return;
      peer.pendingIce.push(s.candidate);
      return;
    }
    await peer.pc.addIceCandidate(s.candidate || null).catch(() => {});
  }
}

function flushIce(peer) {
  const list = peer.pendingIce.splice(0);
  for (const c of list) peer.pc.addIceCandidate(c || null).catch(() => {});
}

function dropPeer(user) {
  const peer = cur && cur.peers.get(user);
  if (!peer) return;
  peer.pc.close();
  cur.peers.delete(user);
}

// ---------------------------------------------------------------- controls

function setSenderTrack(pc, kind, track) {
  for (const s of pc.getSenders()) {
    if ((s.track && s.track.kind === kind) || (!s.track && s._kind === kind)) {
      s._kind = kind;
      s.replaceTrack(track).catch(() => {});
    }
  }
}

function localTrack(kind) { return cur && cur.local.getTracks().find((t) => t.kind === kind); }

export function toggleMute() {
  if (!cur) return;
  cur.muted = !cur.muted;
  const t = localTrack('audio');
  if (t) t.enabled = !cur.muted;
  // No track at all on the sender: no packets, not even silence.
  for (const p of cur.peers.values()) setSenderTrack(p.pc, 'audio', cur.muted ? null : t);
  view.render(cur);
}

export function toggleCamera() {
  if (!cur) return;
  const t = localTrack('video');
  if (!t) { toast('This is a voice call: there is no camera to turn on.'); return; }
  cur.camOff = !cur.camOff;
  t.enabled = !cur.camOff;
  for (const p of cur.peers.values()) setSenderTrack(p.pc, 'video', cur.camOff ? null : (cur.screen || t));
  view.render(cur);
}

function replaceVideo(pc, track) {
  const sender = pc.getSenders().find((s) => (s.track && s.track.kind === 'video') || s._kind === 'video');
  if (sender) { sender._kind = 'video'; return sender.replaceTrack(track); }
  pc.addTrack(track, cur.local);
  return null;
}

// Next camera (or microphone when there is no camera).
export async function switchDevice() {
  if (!cur) return;
  const kind = localTrack('video') ? 'videoinput' : 'audioinput';
  const old = localTrack(kind === 'videoinput' ? 'video' : 'audio');
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
  if (devices.length < 2) { toast(`No other ${kind === 'videoinput' ? 'camera' : 'microphone'} found.`); return; }
  const at = devices.findIndex((d) => old && d.deviceId === old.getSettings().deviceId);
  const next = devices[(at + 1) % devices.length];
  try {
    const s = await navigator.mediaDevices.getUserMedia(kind === 'videoinput'
      ? { video: { deviceId: { exact: next.deviceId } } } : { audio: { deviceId: { exact: next.deviceId } } });
    const t = s.getTracks()[0];
    cur.local.removeTrack(old);
    old.stop();
    cur.local.addTrack(t);
    for (const p of cur.peers.values()) setSenderTrack(p.pc, t.kind, t.kind === 'audio' && cur.muted ? null : t);
    view.render(cur);
  } catch (err) { toast(explainMedia(err, kind === 'videoinput' ? 'camera' : 'microphone')); }
}

export async function toggleScreen() {
  if (!cur) return;
  if (cur.screen) { stopScreen(); return; }
  let s;
  try { s = await navigator.mediaDevices.getDisplayMedia({ video: true }); } catch (e) { return; }
  cur.screen = s.getVideoTracks()[0];
  cur.screen.onended = () => stopScreen();
  for (const p of cur.peers.values()) {
    // A voice call has no video sender: add one and negotiate again.
    if (replaceVideo(p.pc, cur.screen) === null) offerTo(p.user);
  }
  view.render(cur);
}

function stopScreen() {
  if (!cur || !cur.screen) return;
  cur.screen.stop();
  cur.screen = null;
  const cam = localTrack('video');
  for (const p of cur.peers.values()) setSenderTrack(p.pc, 'video', cam && !cur.camOff ? cam : null);
  view.render(cur);
}

// ---------------------------------------------------------------- network quality

async function sampleStats() {
  if (!cur) return;
  for (const p of cur.peers.values()) {
    const st = await p.pc.getStats();
    let rtt = null, lost = 0, recv = 0;
    st.forEach((r) => {
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && r.currentRoundTripTime !== undefined) rtt = r.currentRoundTripTime;
      if (r.type === 'inbound-rtp') { lost += r.packetsLost || 0; recv += r.packetsReceived || 0; }
    });
    const d = p.last ? { lost: lost - p.last.lost, recv: recv - p.last.recv } : { lost: 0, recv };
    p.last = { lost, recv };
    const loss = d.recv + d.lost > 0 ? d.lost / (d.recv + d.lost) : 0;
    p.quality = rtt === null ? '' : (loss > 0.08 || rtt > 0.4) ? 'poor' : (loss > 0.02 || rtt > 0.15) ? 'fair' : 'good';
  }
  view.render(cur);
}

// ---------------------------------------------------------------- starting, answering, ending

function begin(c) {
  cur = Object.assign({ peers: new Map(), muted: false, camOff: false, screen: null, startedAt: 0 }, c);
  clearInterval(statsTimer);
  statsTimer = setInterval(sampleStats, 2000);
  view.render(cur);
}

function teardown(message) {
  clearInterval(statsTimer);
  statsTimer = null;
  if (cur) {
    for (const p of cur.peers.values()) p.pc.close();
    if (cur.local) cur.local.getTracks().forEach((t) => t.stop());
    if (cur.screen) cur.screen.stop();
  }
  cur = null;
  view.render(null);
  if (message) toast(message);
}

export async function startCall(roomId, kind) {
  if (cur || incoming) { toast('You are in a call already.'); return; }
  const r = S.rooms.get(roomId);
  if (!r) return;
  let m;
  try { m = await getMedia(kind); } catch (err) { toast(explainMedia(err, 'microphone')); return; }
  begin({ id: null, room: roomId, kind, group: r.kind === 'group', role: 'caller', phase: 'ringing', local: m.stream, audioOnly: m.audioOnly });
  try {
    const res = await call('call_invite', { room: roomId, kind });
    if (!cur) return;
    cur.id = res.call;
    view.render(cur);
  } catch (err) {
    teardown(err.code === 'callee_busy' ? 'They are in another call.' : err.code === 'call_exists'
      ? 'This group has a call going on: join it from the header.' : (err.message || 'The call could not start.'));
  }
}

export async function joinCall(callId, roomId, kind) {
  if (cur) return;
  const r = S.rooms.get(roomId);
  let m;
  try { m = await getMedia(kind); } catch (err) { toast(explainMedia(err, 'microphone')); return; }
  begin({ id: callId, room: roomId, kind, group: !!(r && r.kind === 'group'), role: 'callee', phase: 'connecting', local: m.stream, audioOnly: m.audioOnly });
  try {
    const res = await call(cur.group ? 'call_join' : 'call_answer', { call: callId });
    // The newcomer offers to everyone already in the call (mesh).
    if (cur && cur.group) for (const u of res.participants || []) if (u !== S.me.id) offerTo(u);
  } catch (err) { teardown(err.code === 'call_full' ? 'This call is full.' : (err.message || 'Could not join the call.')); }
}

export async function accept() {
  if (!incoming) return;
  const inc = incoming;
  stopRinging();
  await joinCall(inc.id, inc.room, inc.kind);
}

export function decline() {
  if (!incoming) return;
  const inc = incoming;
  stopRinging();
  call('call_reject', { call: inc.id }).catch(() => {});
}

export function hangup() {
  if (!cur) return;
  const id = cur.id;
  const op = cur.group ? 'call_leave' : 'call_hangup';
  teardown('');
  if (id) call(op, { call: id }).catch(() => {});
}

// ---------------------------------------------------------------- ringing

let ring = null; // { ctx, timer, note }

function startRinging(inc) {
  incoming = inc;
  view.renderIncoming(inc);
  call('call_ring', { call: inc.id }).catch(() => {});
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const beep = () => {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 440;
      g.gain.setValueAtTime(0.0001, ctx.currentTime);
      g.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.05);
      g.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.9);
      o.connect(g).connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 1);
    };
    beep();
    ring = { ctx, timer: setInterval(beep, 2000) };
  } catch (e) { ring = { ctx: null, timer: null }; }
  if (document.visibilityState === 'hidden' && 'Notification' in window && Notification.permission === 'granted') {
    try {
      ring.note = new Notification(`${userName(inc.from)} is calling`, { body: inc.kind === 'video' ? 'Video call' : 'Voice call', tag: 'call-' + inc.id });
      ring.note.onclick = () => { window.focus(); };
    } catch (e) { /* notifications need a service worker on some platforms */ }
  }
  // The server ends an unanswered call (this is a safety net); a group
  // call that others joined goes on, so its ringing stops here after 45 s.
  inc.safety = setTimeout(() => { if (incoming === inc) stopRinging(); }, inc.group ? 45000 : 120000);
}

function stopRinging() {
  if (ring) {
    clearInterval(ring.timer);
    if (ring.ctx) ring.ctx.close().catch(() => {});
    if (ring.note) ring.note.close();
  }
  if (incoming) clearTimeout(incoming.safety);
  ring = null;
  incoming = null;
  view.renderIncoming(null);
}

// ---------------------------------------------------------------- events

// Group rooms with a call going on: room id -> { id, kind, participants }.
export const roomCalls = new Map();

const END_TEXT = {
  declined: 'The call was declined.', timeout: 'No answer.', busy: 'They are busy.',
  disconnected: 'The call was cut off.', cancelled: 'The call was cancelled.',
};

export function onCallEvent(ev) {
  if (ev.ev === 'call_invite') {
    if (ev.from === S.me.id) return;
    if (cur || incoming) return; // the server answers busy to a second caller
    startRinging({ id: ev.call, room: ev.room, kind: ev.kind, group: ev.group, from: ev.from });
  } else if (ev.ev === 'call_ringing') {
    if (cur && cur.id === ev.call) { cur.ringingAt = Date.now(); view.render(cur); }
  } else if (ev.ev === 'call_answered') {
    if (incoming && incoming.id === ev.call) stopRinging(); // another of my devices answered
    if (cur && cur.id === ev.call && cur.role === 'caller' && ev.user !== S.me.id) {
      cur.phase = 'connecting';
      offerTo(ev.user);
    }
  } else if (ev.ev === 'call_dismissed') {
    if (incoming && incoming.id === ev.call) stopRinging();
  } else if (ev.ev === 'call_end') {
    if (incoming && incoming.id === ev.call) stopRinging();
    if (cur && cur.id === ev.call) teardown(ev.reason === 'hangup' || ev.reason === 'ended' ? 'Call ended.' : END_TEXT[ev.reason] || 'Call ended.');
  } else if (ev.ev === 'call_signal') {
    onSignal(ev).catch(() => {});
  } else if (ev.ev === 'call') {
    if (ev.active) roomCalls.set(ev.room, { id: ev.call, kind: ev.kind, participants: ev.participants || [] });
    else roomCalls.delete(ev.room);
    if (cur && cur.id === ev.call) {
      for (const u of [...cur.peers.keys()]) if (!(ev.participants || []).includes(u)) dropPeer(u);
      cur.participants = ev.participants;
    }
    view.renderHeader();
    if (cur) view.render(cur);
  }
}

export function bindCalls() {
  view.bind({ startCall, joinCall, accept, decline, hangup, toggleMute, toggleCamera, switchDevice, toggleScreen, roomCalls, current });
  // For the browser tests: the live peer connections.
  window.__parleyCalls = { current: () => cur, peers: () => (cur ? [...cur.peers.values()].map((p) => p.pc) : []) };
  window.addEventListener('pagehide', () => { if (cur) hangup(); });
}

export function endAllCalls() {
  stopRinging();
  if (cur) hangup();
}
