// The call screens (issue 19): call buttons in the conversation header, the
// incoming-call screen, the in-call view (videos, self view as
// picture-in-picture, timer, network quality, controls) with a phone
// layout. The logic is call.js; this file only draws and forwards clicks.

import { $, el } from './dom.js';
import { currentRoom, S, subscribe } from './state.js';
import { roomTitle, userName } from './model.js';

let A = null; // the actions call.js handed to bind()
let timerTick = null;

const ICONS = {
  phone: 'M6.6 10.8a15.1 15.1 0 006.6 6.6l2.2-2.2a1 1 0 011-.25 11.4 11.4 0 003.6.57 1 1 0 011 1V20a1 1 0 01-1 1A17 17 0 013 4a1 1 0 011-1h3.5a1 1 0 011 1c0 1.25.2 2.45.57 3.57a1 1 0 01-.25 1z',
  video: 'M17 10.5V7a1 1 0 00-1-1H4a1 1 0 00-1 1v10a1 1 0 001 1h12a1 1 0 001-1v-3.5l4 4v-11z',
  mic: 'M12 14a3 3 0 003-3V5a3 3 0 00-6 0v6a3 3 0 003 3zm5-3a5 5 0 01-10 0H5a7 7 0 006 6.9V21h2v-3.1A7 7 0 0019 11z',
  screen: 'M3 4h18v12H3zM8 20h8M12 16v4',
  swap: 'M7 7h11l-3-3M17 17H6l3 3',
};

function svg(name) {
  const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  p.setAttribute('d', ICONS[name]);
  s.append(p);
  return s;
}

function btn(id, label, iconName, onclick, cls = '') {
  return el('button', { type: 'button', id, class: `icon-btn call-btn ${cls}`, 'aria-label': label, title: label, onclick }, svg(iconName));
}

export function bind(actions) {
  A = actions;
  const menu = $('btn-room-menu');
  const join = el('button', { type: 'button', id: 'btn-call-join', class: 'call-join', hidden: true,
    onclick: () => { const r = currentRoom(); const c = r && A.roomCalls.get(r.id); if (c) A.joinCall(c.id, r.id, c.kind); } });
  menu.before(join,
    btn('btn-call-audio', 'Voice call', 'phone', () => { const r = currentRoom(); if (r) A.startCall(r.id, 'audio'); }),
    btn('btn-call-video', 'Video call', 'video', () => { const r = currentRoom(); if (r) A.startCall(r.id, 'video'); }));
  document.body.append(
    el('div', { id: 'call-incoming', class: 'call-incoming', hidden: true, role: 'alertdialog', 'aria-labelledby': 'call-incoming-title' }),
    el('div', { id: 'call-view', class: 'call-view', hidden: true, role: 'region', 'aria-label': 'Call' }));
  subscribe('header', renderHeader);
}

// The header: call buttons, and "Join call (n)" in a group with a call.
export function renderHeader() {
  const r = currentRoom();
  const c = r && A ? A.roomCalls.get(r.id) : null;
  const join = $('btn-call-join');
  if (!join) return;
  const inThis = A.current() && c && A.current().id === c.id;
  join.hidden = !c || inThis;
  if (c) join.textContent = `Join call · ${c.participants.length} in it`;
  join.title = c ? c.participants.map(userName).join(', ') : '';
}

export function renderIncoming(inc) {
  const box = $('call-incoming');
  if (!box) return;
  if (!inc) { box.hidden = true; box.replaceChildren(); return; }
  const kind = inc.kind === 'video' ? 'Video call' : 'Voice call';
  box.replaceChildren(el('div', { class: 'call-card' },
    el('div', { class: 'call-avatar', text: (userName(inc.from) || '?').slice(0, 1).toUpperCase() }),
    el('h2', { id: 'call-incoming-title', text: userName(inc.from) }),
    el('p', { class: 'call-sub', text: inc.group ? `${kind} in a group` : `Incoming ${kind.toLowerCase()}…` }),
    el('div', { class: 'call-actions' },
      el('button', { type: 'button', id: 'btn-call-decline', class: 'call-round decline', 'aria-label': 'Decline', onclick: () => A.decline() }, svg('phone'), el('span', { text: 'Decline' })),
      el('button', { type: 'button', id: 'btn-call-accept', class: 'call-round accept', 'aria-label': 'Accept', onclick: () => A.accept() }, svg(inc.kind === 'video' ? 'video' : 'phone'), el('span', { text: 'Accept' })))));
  box.hidden = false;
  $('btn-call-accept').focus();
}

function fmtTimer(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function videoFor(stream, muted, cls) {
  const v = el('video', { class: cls, autoplay: true, playsinline: true });
  v.muted = muted;
  v.srcObject = stream;
  return v;
}

const tiles = new Map(); // user -> tile, kept across renders so videos keep playing

export function render(cur) {
  const box = $('call-view');
  if (!box) return;
  clearInterval(timerTick);
  if (!cur) { box.hidden = true; box.replaceChildren(); tiles.clear(); renderHeader(); return; }
  box.hidden = false;
  let grid = box.querySelector('.call-grid');
  if (!grid) {
    box.replaceChildren(
      el('div', { class: 'call-top' }, el('span', { class: 'call-title' }), el('span', { class: 'call-timer', id: 'call-timer' }), el('span', { class: 'call-quality', id: 'call-quality' })),
      grid = el('div', { class: 'call-grid' }),
      el('div', { class: 'call-self' }),
      el('div', { class: 'call-controls' }));
  }
  const r = S.rooms.get(cur.room);
  box.querySelector('.call-title').textContent = r ? roomTitle(r) : 'Call';
  for (const [u, t] of tiles) if (!cur.peers.has(u)) { t.remove(); tiles.delete(u); }
  for (const p of cur.peers.values()) {
    let t = tiles.get(p.user);
    if (!t) {
      t = el('div', { class: 'call-tile', dataset: { user: p.user } }, videoFor(p.stream, false, 'call-remote'), el('span', { class: 'call-name', text: userName(p.user) }));
      tiles.set(p.user, t);
      grid.append(t);
    }
    const v = t.querySelector('video');
    if (v.srcObject !== p.stream) v.srcObject = p.stream;
    t.dataset.quality = p.quality || '';
    t.dataset.state = p.pc.connectionState;
  }
  grid.dataset.count = String(cur.peers.size);
  const waiting = cur.peers.size === 0 ? (cur.role === 'caller' ? (cur.ringingAt ? 'Ringing…' : 'Calling…') : 'Connecting…') : '';
  let wait = grid.querySelector('.call-wait');
  if (waiting && !wait) grid.append(wait = el('p', { class: 'call-wait' }));
  if (wait) { if (waiting) wait.textContent = waiting; else wait.remove(); }
  // Self view: picture-in-picture in a corner.
  const self = box.querySelector('.call-self');
  const shown = cur.screen ? new MediaStream([cur.screen]) : cur.local;
  if (!self.firstChild || self.firstChild.dataset.src !== (cur.screen ? 'screen' : 'cam')) {
    const v = videoFor(shown, true, 'call-self-video');
    v.dataset.src = cur.screen ? 'screen' : 'cam';
    self.replaceChildren(v);
  }
  self.hidden = cur.audioOnly && !cur.screen;
  self.classList.toggle('off', !!cur.camOff);
  // Network quality: the worst of the peers.
  const order = ['good', 'fair', 'poor'];
  const q = [...cur.peers.values()].map((p) => p.quality).filter(Boolean).sort((a, b) => order.indexOf(b) - order.indexOf(a))[0] || '';
  const qn = $('call-quality');
  qn.dataset.q = q;
  qn.textContent = q ? `Network: ${q}` : '';
  const controls = box.querySelector('.call-controls');
  controls.replaceChildren(
    btn('btn-call-mute', cur.muted ? 'Unmute' : 'Mute', 'mic', () => A.toggleMute(), cur.muted ? 'on' : ''),
    btn('btn-call-camera', cur.camOff ? 'Turn camera on' : 'Turn camera off', 'video', () => A.toggleCamera(), cur.camOff || cur.audioOnly ? 'on' : ''),
    btn('btn-call-switch', 'Switch camera or microphone', 'swap', () => A.switchDevice()),
    btn('btn-call-screen', cur.screen ? 'Stop sharing' : 'Share screen', 'screen', () => A.toggleScreen(), cur.screen ? 'on' : ''),
    btn('btn-call-hangup', 'Hang up', 'phone', () => A.hangup(), 'hangup'));
  const tick = () => { const n = $('call-timer'); if (n) n.textContent = cur.startedAt ? fmtTimer(Date.now() - cur.startedAt) : ''; };
  tick();
  timerTick = setInterval(tick, 1000);
  renderHeader();
}
