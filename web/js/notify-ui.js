// The notification screens: the Notifications box of the settings dialog
// (turn notifications on or off for this device), the one-time hint in the
// sidebar, and the notification settings dialog (account: mute, do not
// disturb, content-free; per room: level and mute), synced by push_settings.
import { $, el } from './dom.js';
import { roomTitle } from './model.js';
import { explain } from './requests.js';
import { S } from './state.js';
import { deviceState, disablePush, dismissHint, enablePush, N, roomPref, setPushSettings } from './notify.js';

const HOUR = 3600000;
const MUTES = [
  ['0', 'Off'],
  [String(HOUR), 'For 1 hour'],
  [String(8 * HOUR), 'For 8 hours'],
  [String(24 * HOUR), 'For 1 day'],
  [String(7 * 24 * HOUR), 'For 1 week'],
  ['forever', 'Until I turn it back on'],
];
const FOREVER = 253402300799000; // 9999-12-31: "until I turn it back on"
const LEVEL_TEXT = { default: 'Default', all: 'All messages', mentions: 'Mentions and replies', nothing: 'Nothing' };

let dialogRoom = null; // room id the dialog shows, or null (account only)

// ---------------------------------------------------------------- the settings dialog's box

const STATUS = {
  unsupported: 'This browser cannot show notifications.',
  'server-off': 'This server does not send notifications.',
  denied: 'Notifications are blocked for this site. Allow them in your browser’s site settings to turn them on.',
  on: 'On for this device: you are notified of direct messages, mentions and replies while Parley is closed.',
  off: 'Get notified of direct messages, mentions and replies while Parley is closed. Your browser asks for permission first.',
};

export function fillNotifyBox() {
  const st = deviceState();
  $('notify-status').textContent = STATUS[st];
  $('notify-enable').hidden = st !== 'off';
  $('notify-disable').hidden = st !== 'on';
  $('notify-open').hidden = st === 'unsupported' || st === 'server-off';
}

async function onEnable(e) {
  const btn = e.currentTarget;
  const err = btn.id === 'notify-hint-on' ? $('notify-hint-text') : $('err-notify');
  if (btn.id !== 'notify-hint-on') err.textContent = '';
  btn.disabled = true;
  try {
    await enablePush();
    if (btn.id === 'notify-hint-on') return;
  } catch (ex) {
    const text = ex.code ? explain(ex, 'Turning on notifications') : ex.message;
    if (btn.id === 'notify-hint-on') err.textContent = text;
    else $('err-notify').textContent = text;
  } finally {
    btn.disabled = false;
    fillNotifyBox();
  }
}

async function onDisable() {
  $('err-notify').textContent = '';
  try {
    await disablePush();
  } catch (ex) {
    $('err-notify').textContent = ex.code ? explain(ex, 'Turning off notifications') : ex.message;
  }
  fillNotifyBox();
}

// ---------------------------------------------------------------- the settings dialog

function fillMuteSelect(sel, until) {
  const opts = [];
  if (until > Date.now()) {
    const text = until >= FOREVER ? 'Muted until you turn it back on'
      : `Muted until ${new Date(until).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}`;
    opts.push(el('option', { value: 'keep' }, text));
  }
  for (const [v, t] of MUTES) opts.push(el('option', { value: v }, t));
  sel.replaceChildren(...opts);
  sel.value = until > Date.now() ? 'keep' : '0';
}

function muteValue(sel) {
  const v = sel.value;
  if (v === 'keep') return undefined;
  if (v === 'forever') return FOREVER;
  const ms = Number(v);
  return ms > 0 ? Date.now() + ms : 0;
}

// Do-not-disturb hours are kept in UTC on the server; the screen shows local time.
function pad(n) { return String(n).padStart(2, '0'); }
function shiftHHMM(hhmm, minutes) {
  const m = /^(\d{2}):(\d{2})$/.exec(hhmm || '');
  if (!m) return '';
  const t = (((Number(m[1]) * 60 + Number(m[2]) + minutes) % 1440) + 1440) % 1440;
  return `${pad(Math.floor(t / 60))}:${pad(t % 60)}`;
}
const tzOffset = () => new Date().getTimezoneOffset(); // UTC - local, minutes
export const utcToLocal = (hhmm) => shiftHHMM(hhmm, -tzOffset());
export const localToUtc = (hhmm) => shiftHHMM(hhmm, tzOffset());

function fillDialog() {
  const s = N.settings || { content_free: false, mute_until: 0, dnd: null, rooms: {} };
  const r = dialogRoom ? S.rooms.get(dialogRoom) : null;
  $('nt-room-box').hidden = !r;
  if (r) {
    const p = roomPref(r.id);
    $('nt-room-legend').textContent = roomTitle(r);
    const def = r.kind === 'dm' ? 'every message' : 'mentions and replies';
    $('nt-room-level').options[0].textContent = `Default (${def})`;
    $('nt-room-level').value = p.level;
    fillMuteSelect($('nt-room-mute'), p.mute_until);
  }
  $('nt-content-free').checked = !!s.content_free;
  fillMuteSelect($('nt-mute'), s.mute_until || 0);
  $('nt-dnd').checked = !!s.dnd;
  $('nt-dnd-start').value = s.dnd ? utcToLocal(s.dnd.start) : '22:00';
  $('nt-dnd-end').value = s.dnd ? utcToLocal(s.dnd.end) : '07:00';
  $('nt-dnd-times').hidden = !s.dnd;
  $('nt-device').textContent = STATUS[deviceState()];
}

export function openNotifySettings(roomId = null) {
  dialogRoom = roomId && S.rooms.has(roomId) ? roomId : null;
  $('err-nt').textContent = '';
  $('nt-status').textContent = N.settings ? '' : 'Loading…';
  fillDialog();
  const dlg = $('notify-dialog');
  if (!dlg.open) dlg.showModal();
  (dialogRoom ? $('nt-room-level') : $('nt-content-free')).focus();
}

// The room menu's label: "Notifications: Mentions and replies…"
export function roomNotifyLabel(r) {
  const p = roomPref(r.id);
  const muted = p.mute_until > Date.now();
  return `Notifications: ${muted ? 'muted' : LEVEL_TEXT[p.level] || 'Default'}…`;
}

async function saveDialog(e) {
  e.preventDefault();
  $('err-nt').textContent = '';
  const s = N.settings || { content_free: false, mute_until: 0, dnd: null, rooms: {} };
  const acct = {};
  if ($('nt-content-free').checked !== !!s.content_free) acct.content_free = $('nt-content-free').checked;
  const mute = muteValue($('nt-mute'));
  if (mute !== undefined && mute !== (s.mute_until || 0)) acct.mute_until = mute;
  if ($('nt-dnd').checked) {
    const start = localToUtc($('nt-dnd-start').value);
    const end = localToUtc($('nt-dnd-end').value);
    if (!start || !end || start === end) {
      $('err-nt').textContent = 'Choose when do not disturb starts and ends.';
      return;
    }
    if (!s.dnd || s.dnd.start !== start || s.dnd.end !== end) acct.dnd = { start, end };
  } else if (s.dnd) {
    acct.dnd = null;
  }
  let room = null;
  if (dialogRoom && S.rooms.has(dialogRoom)) {
    const p = roomPref(dialogRoom);
    room = {};
    if ($('nt-room-level').value !== p.level) room.level = $('nt-room-level').value;
    const rm = muteValue($('nt-room-mute'));
    if (rm !== undefined && rm !== p.mute_until) room.mute_until = rm;
    if (!Object.keys(room).length) room = null;
  }
  const btn = $('nt-save');
  btn.disabled = true;
  try {
    if (Object.keys(acct).length) await setPushSettings(acct);
    if (room) await setPushSettings({ room: dialogRoom, ...room });
    $('notify-dialog').close();
  } catch (err) {
    $('err-nt').textContent = err.code === 'push_disabled' ? 'This server does not send notifications.'
      : explain(err, 'Saving notification settings');
  } finally {
    btn.disabled = false;
  }
}

export function bindNotifyUi() {
  $('notify-enable').addEventListener('click', onEnable);
  $('notify-hint-on').addEventListener('click', onEnable);
  $('notify-hint-later').addEventListener('click', dismissHint);
  $('notify-disable').addEventListener('click', onDisable);
  $('notify-open').addEventListener('click', () => openNotifySettings(null));
  $('notify-form').addEventListener('submit', saveDialog);
  $('nt-cancel').addEventListener('click', () => $('notify-dialog').close());
  $('nt-dnd').addEventListener('change', () => { $('nt-dnd-times').hidden = !$('nt-dnd').checked; });
  N.listeners.add(() => {
    if ($('settings-dialog').open) fillNotifyBox();
    // Loaded, or changed on another device: show what the server holds.
    if ($('notify-dialog').open) {
      $('nt-status').textContent = '';
      fillDialog();
    }
  });
}

// Per-room settings need a server that keeps them (push_settings_get answered).
export function notifyAvailable() { return !!N.settings && !N.serverOff; }
