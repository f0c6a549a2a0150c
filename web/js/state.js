// The client's state and how views learn that it changed.
// S is one plain object that the modules read and update directly; after an
// update they call changed({sidebar, header, messages}) to say which views
// are stale. Views register with subscribe(part, render); the stale ones are
// redrawn once per animation frame, in the order sidebar, header, messages.

export const MAX_MSGS = 300;  // message nodes kept in the DOM per room

export const S = {
  session: null,     // {token, user_id, username, device_id}
  me: null,          // {id, username, display_name}
  conn: null,
  outbox: null,
  rooms: new Map(),  // id -> room state (see newRoom in model.js)
  users: new Map(),  // id -> {id, username, display_name}
  current: null,     // open room id
  status: 'connecting',  // the connection: 'connecting' | 'online' | 'offline' | 'waiting'
  retryAt: 0,             // 'waiting': when the next attempt starts (ms)
  flushing: false,
  filter: '',
  settings: { theme: 'system', read_receipts: true, show_presence: true, notifications: true, group_add: 'everyone' },
  unsupported: new Set(), // ops the server answered unknown_op
  versioned: false,       // server has per-room versions (update events)
  presence: new Map(),    // user id -> {status, last_seen}
  reported: null,         // presence status last reported
  thread: null,           // open thread pane state (see openThread in thread.js)
  compose: null,          // {mode: 'reply'|'edit', room, seq, ...}
  jump: null,             // {room, seq}: scroll to and flash after render
  uploads: [],            // attachments being uploaded/sent (see queueUpload in uploads.js)
};

export function currentRoom() { return S.current ? S.rooms.get(S.current) || null : null; }

// ---------------------------------------------------------------- change notification

const PARTS = ['sidebar', 'header', 'messages'];
const views = { sidebar: [], header: [], messages: [] };
const dirty = { sidebar: false, header: false, messages: false };
let renderQueued = false;

export function subscribe(part, render) {
  views[part].push(render);
}

export function changed(parts) {
  Object.keys(parts).forEach((k) => { if (parts[k]) dirty[k] = true; });
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(flushRender);
  // rAF does not run in background tabs; make sure state still lands.
  setTimeout(flushRender, 250);
}

function flushRender() {
  if (!renderQueued) return;
  renderQueued = false;
  for (const part of PARTS) {
    if (!dirty[part]) continue;
    dirty[part] = false;
    for (const render of views[part]) render();
  }
}
