// Sending files: uploads with progress (picked, pasted, dropped), their
// messages, voice recording.
import * as media from './media.js';
import { $, el, icon } from './dom.js';
import { sendText, setCompose } from './composer.js';
import { intIn } from './media-view.js';
import { call, toast } from './requests.js';
import { changed, currentRoom, S } from './state.js';
import { onMessage } from './sync.js';
import { jumpToLatest, stickToBottomNext } from './timeline.js';

// ---------------------------------------------------------------- media: sending

const uploadNodes = new Map(); // upload id -> li
let uploadSeq = 0;

export function newUploadClientId() {
  return 'w-' + (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`);
}

export function utf8Len(s) { return new TextEncoder().encode(s).length; }

// Files picked, dropped or pasted: upload each, then send it. The composer
// text becomes the first image's caption (or goes first as a text message).
function sendFiles(fileList) {
  const files = [...(fileList || [])].filter((f) => f && typeof f.size === 'number');
  const r = currentRoom();
  if (!files.length || !r) return;
  if (!S.conn || !S.conn.isReady) {
    toast('You are offline. Attachments need a connection — try again when you are back online.');
    return;
  }
  const input = $('composer-input');
  let text = '';
  if (!(S.compose && S.compose.mode === 'edit')) {
    text = input.value.replace(/\s+$/, '');
    if (text.trim()) { input.value = ''; input.dispatchEvent(new Event('input')); } else text = '';
  }
  const ctx = S.compose && S.compose.mode === 'reply' && S.compose.room === r.id ? S.compose : null;
  if (ctx) setCompose(null);
  const firstImage = files.find((f) => /^image\//.test(f.type));
  const captioned = text && firstImage && utf8Len(text) <= 4096 ? firstImage : null;
  if (text && !captioned) sendText(text, ctx ? { reply_to: { seq: ctx.seq, sender: ctx.sender, preview: ctx.preview } } : {});
  // Uploads run in parallel, but each message waits for the one before it,
  // so the files arrive in the order they were picked.
  let prev = null;
  files.forEach((f, i) => {
    prev = queueUpload(r.id, f, {
      caption: f === captioned ? text : '',
      reply_to: ctx && i === 0 && (captioned || !text) ? { seq: ctx.seq, sender: ctx.sender, preview: ctx.preview } : null,
      after: prev ? prev.settled : null,
    });
  });
}

function queueUpload(room, file, opts = {}) {
  const up = {
    id: `u${++uploadSeq}`, room, file, name: (opts.name || file.name || 'file').slice(0, 255), size: file.size,
    caption: opts.caption || '', reply_to: opts.reply_to || null, voice: opts.voice || null,
    client_id: newUploadClientId(), state: 'uploading', loaded: 0, error: null, xhr: null, res: null,
    preview: /^image\//.test(file.type) && file.size < 20 * 1024 * 1024 ? URL.createObjectURL(file) : null,
    after: opts.after || null, settled: null, settle: null,
  };
  up.settled = new Promise((res) => { up.settle = res; });
  S.uploads.push(up);
  if (S.current === room) {
    const r = currentRoom();
    if (r && !r.atLatest) jumpToLatest();
    stickToBottomNext();
  }
  runUpload(up);
  return up;
}

function renderUploads(up) {
  if (up) uploadNodes.delete(up.id);
  changed({ messages: !!up && up.room === S.current, sidebar: true });
}

async function runUpload(up) {
  up.state = 'uploading';
  up.error = null;
  up.loaded = 0;
  renderUploads(up);
  try {
    if (!S.conn || !S.conn.isReady) throw Object.assign(new Error('offline'), { code: 'disconnected' });
    if (!up.res) {
      up.res = await media.upload(up.file, {
        name: up.name,
        onXhr: (x) => { up.xhr = x; },
        onProgress: (loaded, total) => { up.loaded = loaded; up.total = total; showProgress(up); },
      });
      up.xhr = null;
    }
    if (!S.uploads.includes(up)) return;
    up.state = 'sending';
    renderUploads(up);
    const content = await contentFor(up, up.res);
    if (up.after) await up.after;
    if (!S.uploads.includes(up)) return;
    const args = { room: up.room, client_id: up.client_id, content };
    if (up.reply_to) args.reply_to = up.reply_to.seq;
    const reply = await call('send', args);
    up.settle();
    dropUpload(up);
    if (reply.message) onMessage(reply.message);
  } catch (err) {
    up.xhr = null;
    if (!S.uploads.includes(up)) return;
    if (err.code === 'aborted') { dropUpload(up); return; }
    up.state = 'failed';
    up.settle(); // a failed file does not hold back the next one
    up.error = err.code === 'bad_request' && up.res ? `The server refused the message: ${err.message || err.code}` : media.uploadError(err, up.name);
    renderUploads(up);
  }
}

async function contentFor(up, res) {
  if (up.voice) {
    const c = { type: 'voice', media: res.id, duration_ms: up.voice.duration_ms };
    if (Array.isArray(up.voice.waveform) && up.voice.waveform.length) c.waveform = up.voice.waveform.slice(0, 64);
    return c;
  }
  const mime = typeof res.mime === 'string' ? res.mime : '';
  if (/^image\//.test(mime) && intIn(res.w, 1, 100000) && intIn(res.h, 1, 100000)) {
    const c = { type: 'image', media: res.id, w: res.w, h: res.h, mime };
    if (up.caption) c.caption = up.caption;
    return c;
  }
  if (/^video\//.test(mime)) {
    const meta = await media.videoMeta(up.file);
    const c = { type: 'video', media: res.id };
    if (intIn(meta.duration_ms, 1, 86400000)) c.duration_ms = meta.duration_ms;
    if (intIn(meta.w, 1, 100000) && intIn(meta.h, 1, 100000)) { c.w = meta.w; c.h = meta.h; }
    return c;
  }
  let name = (res.name || up.name || 'file').trim() || 'file';
  while (utf8Len(name) > 255) name = name.slice(0, -1);
  return { type: 'file', media: res.id, name, size: Number.isFinite(res.size) ? res.size : up.size, mime: (mime || 'application/octet-stream').slice(0, 255) };
}

function dropUpload(up) {
  if (up.settle) up.settle();
  S.uploads = S.uploads.filter((u) => u !== up);
  uploadNodes.delete(up.id);
  if (up.preview) { URL.revokeObjectURL(up.preview); up.preview = null; }
  changed({ messages: up.room === S.current, sidebar: true });
}

function showProgress(up) {
  const li = uploadNodes.get(up.id);
  if (!li) return;
  const bar = li.querySelector('progress');
  const pct = up.total ? Math.min(100, Math.round((up.loaded / up.total) * 100)) : 0;
  if (bar) bar.value = pct;
  const st = li.querySelector('.upload-status');
  if (st) st.textContent = `Uploading… ${pct}%`;
}

export function uploadNode(up) {
  let li = uploadNodes.get(up.id);
  if (!li) { li = buildUploadNode(up); uploadNodes.set(up.id, li); }
  return li;
}

function buildUploadNode(up) {
  const failed = up.state === 'failed';
  const pct = up.total ? Math.min(100, Math.round((up.loaded / up.total) * 100)) : 0;
  let preview = null;
  if (up.preview) {
    preview = el('img', { class: 'upload-preview', alt: '', src: up.preview });
  } else {
    preview = el('span', { class: 'file-icon', 'aria-hidden': 'true' }, icon(up.voice ? 'mic' : 'file'));
  }
  const status = failed ? null
    : up.state === 'sending' ? el('span', { class: 'upload-status', text: 'Sending…' })
      : el('span', { class: 'upload-status', text: `Uploading… ${pct}%` });
  const actions = failed
    ? el('span', { class: 'send-state failed' }, el('span', { text: 'Not sent' }),
      up.error && /too large/.test(up.error) ? null : el('button', { type: 'button', class: 'link-btn', 'data-upload-retry': up.id, text: 'Retry' }),
      el('button', { type: 'button', class: 'link-btn', 'data-upload-dismiss': up.id, text: 'Dismiss' }))
    : up.state === 'uploading'
      ? el('button', { type: 'button', class: 'link-btn', 'data-upload-cancel': up.id, 'aria-label': `Cancel upload of ${up.name}`, text: 'Cancel' })
      : null;
  return el('li', { class: 'msg mine pending upload' + (failed ? ' failed' : ''), 'data-upload': up.id, 'data-state': up.state },
    el('div', { class: 'bubble' },
      el('div', { class: 'upload-card' },
        preview,
        el('span', { class: 'file-info' },
          el('span', { class: 'file-name', text: up.voice ? 'Voice message' : up.name, title: up.name }),
          el('span', { class: 'file-meta', text: up.voice ? media.fmtDuration(up.voice.duration_ms) : media.fmtSize(up.size) }))),
      up.state === 'uploading' ? el('progress', { class: 'upload-progress', max: '100', value: String(pct), 'aria-label': `Uploading ${up.name}` }) : null,
      up.caption ? el('div', { class: 'body caption' }, up.caption) : null,
      el('span', { class: 'meta' }, status, actions),
      failed && up.error ? el('span', { class: 'send-error upload-error', role: 'alert', text: up.error }) : null));
}

function onUploadClick(e) {
  const b = e.target.closest('[data-upload-retry], [data-upload-dismiss], [data-upload-cancel]');
  if (!b) return;
  const id = b.dataset.uploadRetry || b.dataset.uploadDismiss || b.dataset.uploadCancel;
  const up = S.uploads.find((u) => u.id === id);
  if (!up) return;
  if (b.dataset.uploadRetry) runUpload(up);
  else if (b.dataset.uploadCancel) { if (up.xhr) up.xhr.abort(); else dropUpload(up); }
  else dropUpload(up);
}

// ---------------------------------------------------------------- media: voice recording

let recorder = null; // {rec, room, timer}

async function startRecording() {
  const r = currentRoom();
  if (!r || recorder) return;
  if (!S.conn || !S.conn.isReady) { toast('You are offline. Voice messages need a connection.'); return; }
  const rec = new media.VoiceRecorder();
  const btn = $('btn-mic');
  btn.disabled = true;
  try {
    await rec.start();
  } catch (err) {
    btn.disabled = false;
    toast(err && err.name === 'NotAllowedError' ? 'Microphone access was denied.' : 'The microphone is not available.');
    return;
  }
  btn.disabled = false;
  recorder = { rec, room: r.id, timer: null };
  $('composer').classList.add('recording');
  $('rec-bar').hidden = false;
  $('rec-time').textContent = '0:00';
  $('btn-send').setAttribute('aria-label', 'Send voice message');
  recorder.timer = setInterval(() => {
    if (!recorder) return;
    const ms = recorder.rec.elapsed();
    $('rec-time').textContent = media.fmtDuration(Math.floor(ms / 1000) * 1000);
    if (ms > 15 * 60000) stopRecordingAndSend();
  }, 250);
  $('btn-send').focus();
}

function endRecordingUI() {
  if (recorder) clearInterval(recorder.timer);
  recorder = null;
  $('composer').classList.remove('recording');
  $('rec-bar').hidden = true;
  $('btn-send').setAttribute('aria-label', 'Send message');
}

export function cancelRecording() {
  if (!recorder) return;
  recorder.rec.cancel();
  endRecordingUI();
  $('composer-input').focus();
}

export async function stopRecordingAndSend() {
  if (!recorder) return;
  const { rec, room } = recorder;
  endRecordingUI();
  $('composer-input').focus();
  let res;
  try {
    res = await rec.stop();
  } catch (e) { return; }
  if (!res.blob.size) { toast('Nothing was recorded.'); return; }
  if (!S.conn || !S.conn.isReady) { toast('You are offline. Voice messages need a connection.'); return; }
  const ext = /ogg/.test(res.blob.type) ? 'ogg' : 'webm';
  const file = new File([res.blob], `voice-message.${ext}`, { type: res.blob.type });
  queueUpload(room, file, { voice: { duration_ms: res.duration_ms, waveform: res.waveform } });
}

// True while a voice message is being recorded.
export function isRecording() { return !!recorder; }

// Signing out: every upload is dropped (their requests aborted).
export function dropAllUploads() {
  for (const up of S.uploads) if (up.xhr) up.xhr.abort();
  S.uploads = [];
  uploadNodes.clear();
}

// ---------------------------------------------------------------- bindings

export function bindUploads() {
  const fileInput = $('file-input');
  $('btn-attach').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    const files = [...fileInput.files];
    fileInput.value = '';
    sendFiles(files);
  });
  $('message-list').addEventListener('click', onUploadClick);

  // paste files/images into the composer
  $('composer-input').addEventListener('paste', (e) => {
    const files = e.clipboardData ? [...e.clipboardData.files] : [];
    if (!files.length) return;
    e.preventDefault();
    sendFiles(files);
  });

  // drag and drop onto the conversation
  const pane = $('room-pane');
  const overlay = $('drop-overlay');
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let depth = 0;
  pane.addEventListener('dragenter', (e) => { if (!hasFiles(e)) return; e.preventDefault(); depth++; overlay.hidden = false; });
  pane.addEventListener('dragover', (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; overlay.hidden = false; });
  pane.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) overlay.hidden = true; });
  pane.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    sendFiles(e.dataTransfer.files);
  });
  // a file dropped anywhere else must not navigate away from the app
  window.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  window.addEventListener('drop', (e) => { if (hasFiles(e)) e.preventDefault(); });

  // voice
  const mic = $('btn-mic');
  mic.hidden = !media.canRecord();
  mic.addEventListener('click', startRecording);
  $('rec-cancel').addEventListener('click', cancelRecording);
  $('composer').addEventListener('keydown', (e) => { if (e.key === 'Escape' && recorder) { e.preventDefault(); cancelRecording(); } });
}
