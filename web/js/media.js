// Media: uploads (XHR for progress), authenticated downloads turned into
// blob: URLs (media needs `Authorization: Bearer`, so <img src> cannot load
// it directly), voice recording, and small formatting helpers.
import { ApiError } from './api.js';

let token = null;
export function setMediaToken(t) { token = t; }

// Ids look like "f12"; anything else is refused before it reaches a URL.
export function validId(id) { return typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id); }

// ---------------------------------------------------------------- upload

// Resolves with the server's reply ({id, mime, size, name, w?, h?, ...}).
// opts.onProgress(loaded, total); opts.onXhr(xhr) to allow abort().
export function upload(file, opts = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const name = opts.name || file.name || '';
    xhr.open('POST', '/v1/media' + (name ? `?name=${encodeURIComponent(name)}` : ''));
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => { if (opts.onProgress) opts.onProgress(e.loaded, e.lengthComputable ? e.total : file.size); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status === 200 || xhr.status === 201) {
        if (data && validId(data.id)) resolve(data);
        else reject(new ApiError('bad_reply', 'The server sent an unexpected answer.', xhr.status));
        return;
      }
      const err = (data && data.error) || {};
      reject(new ApiError(err.code || (xhr.status === 413 ? 'too_large' : `http_${xhr.status}`), err.message || xhr.statusText, xhr.status));
    };
    xhr.onerror = () => reject(new ApiError('network', 'The connection was lost during the upload.', 0));
    xhr.onabort = () => reject(new ApiError('aborted', 'Upload cancelled.', 0));
    if (opts.onXhr) opts.onXhr(xhr);
    xhr.send(file);
  });
}

export function uploadError(err, name) {
  const what = name ? `“${name}”` : 'The file';
  switch (err && err.code) {
    case 'too_large': return `${what} is too large to send.`;
    case 'insufficient_storage': return 'The server is out of storage space. Try again later.';
    case 'unauthenticated': return 'Your session has expired. Sign in again to send files.';
    case 'bad_request': return `${what} could not be uploaded (empty or unreadable).`;
    case 'network': return 'The connection was lost during the upload.';
    case 'disconnected': case 'timeout': return 'You are offline. Files need a connection to send.';
    case 'not_found': return `${what} is no longer available on the server.`;
    default: return `Upload failed: ${(err && (err.message || err.code)) || 'unknown error'}`;
  }
}

// ---------------------------------------------------------------- download

// Blobs recently fetched, by path; small LRU so re-rendered nodes (a
// reaction rebuilds a message) do not fetch again.
const blobs = new Map(); // path -> Promise<Blob>
const BLOB_CACHE = 80;
const BLOB_CACHE_MAX_ITEM = 4 * 1024 * 1024;

export function fetchBlob(path) {
  let p = blobs.get(path);
  if (p) { blobs.delete(path); blobs.set(path, p); return p; }
  p = (async () => {
    let res;
    try {
      res = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit' });
    } catch (e) {
      throw new ApiError('network', 'Cannot reach the server.', 0);
    }
    if (!res.ok) {
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      const err = (data && data.error) || {};
      throw new ApiError(err.code || `http_${res.status}`, err.message || res.statusText, res.status);
    }
    return res.blob();
  })();
  // failures are not remembered; big files (originals, videos) are not kept in memory
  p.then((b) => { if (b.size > BLOB_CACHE_MAX_ITEM && blobs.get(path) === p) blobs.delete(path); },
    () => { if (blobs.get(path) === p) blobs.delete(path); });
  blobs.set(path, p);
  while (blobs.size > BLOB_CACHE) blobs.delete(blobs.keys().next().value);
  return p;
}

export function mediaPath(id, thumb = false) {
  return `/v1/media/${encodeURIComponent(id)}${thumb ? '/thumb' : ''}`;
}

// blob: URLs handed out, with the DOM node that shows them. sweep() revokes
// the ones whose node is gone (trimmed from the window, replaced, logged out).
const owned = new Map(); // url -> node

export async function blobUrl(path, owner) {
  const blob = await fetchBlob(path);
  const url = URL.createObjectURL(blob);
  owned.set(url, owner);
  return url;
}

export function release(url) {
  if (owned.delete(url)) URL.revokeObjectURL(url);
}

// alive(node) -> true while the node may still be shown.
export function sweep(alive) {
  for (const [url, node] of owned) {
    if (!node.isConnected && !alive(node)) { owned.delete(url); URL.revokeObjectURL(url); }
  }
}

export function releaseAll() {
  for (const url of owned.keys()) URL.revokeObjectURL(url);
  owned.clear();
  blobs.clear();
}

export function ownedCount() { return owned.size; }

// Save a media file: fetch with auth, then a[download] on a blob: URL.
export async function download(id, name) {
  const blob = await fetchBlob(mediaPath(id));
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name || 'download';
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// ---------------------------------------------------------------- formatting

export function fmtSize(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function fmtDuration(ms) {
  const s = Math.max(0, Math.round((ms || 0) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

// A short type label: "PDF", "PNG", "Text", else the extension or subtype.
export function typeLabel(mime, name) {
  const known = { 'application/pdf': 'PDF', 'text/plain': 'Text', 'application/zip': 'ZIP',
    'application/octet-stream': '' };
  if (mime && known[mime] !== undefined && known[mime]) return known[mime];
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(name || '');
  if (ext) return ext[1].toUpperCase();
  if (mime && mime.includes('/')) return mime.split('/')[1].split(/[+;.-]/)[0].toUpperCase().slice(0, 12);
  return 'File';
}

// Fit w×h in a box without upscaling.
export function fit(w, h, maxW, maxH) {
  if (!(w > 0 && h > 0)) return { w: maxW, h: Math.round(maxH * 0.75) };
  const s = Math.min(1, maxW / w, maxH / h);
  return { w: Math.max(1, Math.round(w * s)), h: Math.max(1, Math.round(h * s)) };
}

// Metadata of a local video file (for the `video` content), best effort.
export function videoMeta(file, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const v = document.createElement('video');
    let done = false;
    const finish = (meta) => {
      if (done) return;
      done = true;
      URL.revokeObjectURL(url);
      v.removeAttribute('src');
      resolve(meta);
    };
    v.preload = 'metadata';
    v.muted = true;
    v.onloadedmetadata = () => finish({
      duration_ms: Number.isFinite(v.duration) && v.duration > 0 ? Math.round(v.duration * 1000) : undefined,
      w: v.videoWidth || undefined, h: v.videoHeight || undefined,
    });
    v.onerror = () => finish({});
    setTimeout(() => finish({}), timeoutMs);
    v.src = url;
  });
}

// ---------------------------------------------------------------- voice

export function canRecord() {
  return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
}

// Recorder: start() asks for the mic; stop() resolves {blob, duration_ms, waveform}.
export class VoiceRecorder {
  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const types = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus'];
    const mimeType = types.find((t) => MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(t));
    this.rec = new MediaRecorder(this.stream, mimeType ? { mimeType } : undefined);
    this.chunks = [];
    this.rec.ondataavailable = (e) => { if (e.data && e.data.size) this.chunks.push(e.data); };
    this.started = performance.now();
    this.rec.start(250);
  }

  elapsed() { return this.started ? performance.now() - this.started : 0; }

  stopTracks() {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
  }

  cancel() {
    if (this.rec && this.rec.state !== 'inactive') { this.rec.ondataavailable = null; this.rec.stop(); }
    this.stopTracks();
  }

  stop() {
    const elapsed = this.elapsed();
    return new Promise((resolve, reject) => {
      if (!this.rec || this.rec.state === 'inactive') { reject(new Error('not recording')); return; }
      this.rec.onstop = async () => {
        this.stopTracks();
        const blob = new Blob(this.chunks, { type: this.rec.mimeType || 'audio/webm' });
        let duration = elapsed;
        let waveform;
        try {
          const res = await analyse(blob);
          if (res.duration_ms > 0) duration = res.duration_ms;
          waveform = res.waveform;
        } catch (e) { /* keep the wall-clock duration, no waveform */ }
        resolve({ blob, duration_ms: Math.max(1, Math.min(86400000, Math.round(duration))), waveform });
      };
      this.rec.stop();
    });
  }
}

// 64 peaks (0..255) and the duration, from the decoded audio.
async function analyse(blob) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return {};
  const ctx = new Ctx();
  try {
    const buf = await ctx.decodeAudioData(await blob.arrayBuffer());
    const data = buf.getChannelData(0);
    const n = 64;
    const step = Math.max(1, Math.floor(data.length / n));
    const peaks = [];
    for (let i = 0; i < n && i * step < data.length; i++) {
      let mx = 0;
      const end = Math.min(data.length, (i + 1) * step);
      for (let j = i * step; j < end; j++) { const v = Math.abs(data[j]); if (v > mx) mx = v; }
      peaks.push(mx);
    }
    const top = Math.max(...peaks, 1e-6);
    const waveform = peaks.map((p) => Math.max(0, Math.min(255, Math.round((p / top) * 255))));
    return { duration_ms: Math.round(buf.duration * 1000), waveform: waveform.length ? waveform : undefined };
  } finally {
    ctx.close().catch(() => {});
  }
}
