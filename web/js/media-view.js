// Media in messages: images, files, voice, stickers and videos as nodes,
// their blob: URLs, downloads, and the lightbox.
import * as media from './media.js';
import * as custom from './custom.js';
import { $, el, icon } from './dom.js';
import { msgFromEvent } from './actions.js';
import { toast } from './requests.js';
import { S } from './state.js';

// ---------------------------------------------------------------- media: rendering

const THUMB_BOX = 320; // px, thumbnails are at most 320×320
const STICKER_BOX = 160; // px, stickers are shown at most this big

export function intIn(v, lo, hi) { return Number.isInteger(v) && v >= lo && v <= hi; }

// The media part of a message, or null when the content is not (valid) media.
export function buildMedia(c) {
  if (!c || typeof c !== 'object' || !media.validId(c.media)) return null;
  if (c.type === 'image' && intIn(c.w, 1, 100000) && intIn(c.h, 1, 100000) && (c.thumb === undefined || media.validId(c.thumb))) {
    const { w, h } = media.fit(c.w, c.h, THUMB_BOX, THUMB_BOX);
    const cap = typeof c.caption === 'string' ? c.caption : '';
    const img = el('img', { class: 'media-thumb', alt: cap ? `Photo: ${cap.slice(0, 120)}` : 'Photo', width: w, height: h, decoding: 'async' });
    const btn = el('button', { type: 'button', class: 'media-image', 'data-media-open': c.media,
      'aria-label': cap ? `Photo: ${cap.slice(0, 120)}. Open full size` : 'Photo. Open full size' }, img);
    btn.style.width = `${w}px`;
    btn.style.aspectRatio = `${w} / ${h}`;
    // A GIF plays in the timeline: the original, not its first-frame thumbnail.
    const gif = c.mime === 'image/gif' && c.w * c.h <= 4000000;
    const thumb = gif ? media.mediaPath(c.media)
      : c.thumb ? media.mediaPath(c.thumb) : media.mediaPath(c.media, true);
    // No thumbnail (corrupt or huge image): a modest original is still fine to show.
    loadMedia(img, btn, thumb, c.w * c.h <= 4000000 ? media.mediaPath(c.media) : null);
    return btn;
  }
  if (c.type === 'file' && typeof c.name === 'string' && typeof c.mime === 'string' && Number.isFinite(c.size) && c.size >= 0) {
    const label = media.typeLabel(c.mime, c.name);
    const size = media.fmtSize(c.size);
    return el('div', { class: 'file-card' },
      el('span', { class: 'file-icon', 'aria-hidden': 'true' }, icon('file')),
      el('span', { class: 'file-info' },
        el('span', { class: 'file-name', text: c.name || 'attachment', title: c.name }),
        el('span', { class: 'file-meta', text: `${size} · ${label}` })),
      el('button', { type: 'button', class: 'icon-btn file-download', 'data-media-download': c.media,
        'aria-label': `Download ${c.name || 'file'} (${size})`, title: 'Download' }, icon('download')));
  }
  if (c.type === 'voice' && intIn(c.duration_ms, 1, 86400000)) {
    const dur = media.fmtDuration(c.duration_ms);
    const wave = el('span', { class: 'waveform', 'aria-hidden': 'true' });
    const peaks = Array.isArray(c.waveform) && c.waveform.length ? c.waveform.slice(0, 64) : null;
    if (peaks) {
      for (const v of peaks) {
        const bar = el('span', { class: 'wave-bar' });
        bar.style.height = `${Math.max(10, Math.min(100, Math.round((Number(v) || 0) / 2.55)))}%`;
        wave.append(bar);
      }
    }
    const audio = el('audio', { class: 'voice-audio', controls: true, preload: 'metadata', 'aria-label': `Voice message, ${dur}` });
    const box = el('div', { class: 'voice' },
      el('span', { class: 'voice-head' }, icon('mic', 'voice-icon'), peaks ? wave : null, el('span', { class: 'voice-dur', text: dur })),
      audio);
    loadMedia(audio, box, media.mediaPath(c.media), null);
    return box;
  }
  if (c.type === 'sticker' && (c.w === undefined || intIn(c.w, 1, 100000)) && (c.h === undefined || intIn(c.h, 1, 100000))) {
    // Up to STICKER_BOX on the longer side (small emoji images are scaled up
    // to it too: a sticker is meant to be big), no bubble (see style.css).
    const sw = c.w || STICKER_BOX, sh = c.h || STICKER_BOX;
    const k = STICKER_BOX / Math.max(sw, sh);
    const w = Math.max(1, Math.round(sw * k)), h = Math.max(1, Math.round(sh * k));
    const code = typeof c.emoji === 'string' && custom.SHORTCODE_RE.test(c.emoji) ? `:${c.emoji}:` : '';
    const img = el('img', { class: 'sticker-img', alt: code ? `Sticker ${code}` : 'Sticker', title: code || null,
      width: w, height: h, decoding: 'async', draggable: 'false' });
    const box = el('span', { class: 'sticker loading' }, img);
    box.style.width = `${w}px`;
    box.style.aspectRatio = `${w} / ${h}`;
    // Shared with the custom emoji of the same image (kept for the session).
    const u = custom.imageUrl(c.media);
    const show = (url) => { img.src = url; box.classList.remove('loading'); };
    if (u.url) show(u.url);
    else {
      u.promise.then(show, (err) => {
        box.classList.remove('loading');
        box.classList.add('failed');
        box.title = err.status === 404 ? 'No longer available' : 'Could not load';
      });
    }
    return box;
  }
  if (c.type === 'video' && (c.duration_ms === undefined || intIn(c.duration_ms, 0, 86400000)) &&
      (c.w === undefined || intIn(c.w, 1, 100000)) && (c.h === undefined || intIn(c.h, 1, 100000))) {
    const { w, h } = media.fit(c.w || 16, c.h || 9, THUMB_BOX, THUMB_BOX);
    const dur = c.duration_ms ? media.fmtDuration(c.duration_ms) : '';
    const box = el('div', { class: 'media-video' },
      el('button', { type: 'button', class: 'video-play', 'data-media-play': c.media,
        'aria-label': `Play video${dur ? `, ${dur}` : ''}` }, icon('play', 'play-icon'), el('span', { class: 'video-label', text: dur ? `Video · ${dur}` : 'Video' })));
    box.style.width = `${Math.max(w, 200)}px`;
    box.style.aspectRatio = `${Math.max(w, 200)} / ${Math.round(h * Math.max(w, 200) / w)}`;
    return box;
  }
  return null;
}

// Fetch with auth, show as a blob: URL; `holder` gets loading/failed classes.
async function loadMedia(node, holder, path, fallback) {
  holder.classList.add('loading');
  try {
    node.src = await media.blobUrl(path, node);
    holder.classList.remove('loading');
  } catch (err) {
    if (fallback && err.status === 404) { loadMedia(node, holder, fallback, null); return; }
    holder.classList.remove('loading');
    holder.classList.add('failed');
    holder.title = err.status === 404 ? 'No longer available' : 'Could not load';
  }
}

// blob: URLs of message nodes that are gone are revoked.
export function sweepMedia() {
  if (!media.ownedCount()) return;
  const live = new Set();
  for (const r of S.rooms.values()) for (const n of r.nodes.values()) live.add(n);
  if (S.thread) for (const n of S.thread.nodes.values()) live.add(n);
  media.sweep((node) => { const li = node.closest('li'); return !!li && live.has(li); });
}

export function onMediaClick(t) {
  const open = t.closest('[data-media-open]');
  const dl = t.closest('[data-media-download]');
  const play = t.closest('[data-media-play]');
  if (!open && !dl && !play) return false;
  const hit = msgFromEvent(t);
  const c = hit && hit.m.content;
  if (!c) return true;
  if (open) openLightbox(c, open);
  else if (dl) downloadFile(dl, c.media, c.name);
  else if (play) playVideo(play, c);
  return true;
}

async function downloadFile(btn, id, name) {
  btn.disabled = true;
  btn.classList.add('busy');
  try {
    await media.download(id, name);
  } catch (err) {
    toast(err.status === 404 ? 'That file is no longer available.' : 'Download failed. Check your connection.');
  } finally {
    btn.disabled = false;
    btn.classList.remove('busy');
  }
}

async function playVideo(btn, c) {
  const box = btn.parentNode;
  btn.disabled = true;
  box.classList.add('loading');
  const video = el('video', { class: 'video-player', controls: true, playsinline: true, 'aria-label': 'Video' });
  try {
    video.src = await media.blobUrl(media.mediaPath(c.media), video);
    box.classList.remove('loading');
    btn.replaceWith(video);
    video.play().catch(() => {});
    video.focus();
  } catch (err) {
    box.classList.remove('loading');
    btn.disabled = false;
    toast(err.status === 404 ? 'That video is no longer available.' : 'Could not load the video.');
  }
}

// ---------------------------------------------------------------- media: lightbox

let lightbox = null; // {id, url, opener}

async function openLightbox(c, opener) {
  const dlg = $('lightbox');
  const img = $('lightbox-img');
  closeLightbox();
  const cap = typeof c.caption === 'string' ? c.caption : '';
  const lb = { id: c.media, url: null, opener };
  lightbox = lb;
  $('lightbox-title').textContent = cap || 'Photo';
  img.alt = cap ? `Photo: ${cap.slice(0, 120)}` : 'Photo';
  img.removeAttribute('src');
  img.width = c.w;
  img.height = c.h;
  $('lightbox-status').textContent = 'Loading…';
  dlg.showModal();
  $('lightbox-close').focus();
  try {
    // The 1280 px rendition when the server has it (any failure: the
    // original); GIFs always from the original, which keeps animating.
    const original = media.mediaPath(c.media);
    let url = null;
    if (c.mime !== 'image/gif') {
      try {
        url = await media.blobUrl(`${media.mediaPath(c.media, true)}?size=1280`, img);
        // A server without the 1280 rendition may answer with the small
        // thumbnail: only a big enough picture is worth showing.
        const got = await imageSize(url);
        if (Math.max(got.w, got.h) + 2 < Math.min(Math.max(c.w, c.h), 1280)) { media.release(url); url = null; }
      } catch (err) { url = null; }
      if (lightbox !== lb) { if (url) media.release(url); return; }
    }
    if (!url) url = await media.blobUrl(original, img);
    if (lightbox !== lb) { media.release(url); return; }
    lb.url = url;
    img.src = url;
    $('lightbox-status').textContent = '';
  } catch (err) {
    if (lightbox === lb) $('lightbox-status').textContent = err.status === 404 ? 'This image is no longer available.' : 'Could not load the image.';
  }
}

// Natural size of an image URL (0×0 when it cannot be decoded).
function imageSize(url) {
  const i = new Image();
  i.src = url;
  return i.decode().then(() => ({ w: i.naturalWidth, h: i.naturalHeight }), () => ({ w: 0, h: 0 }));
}

export function closeLightbox() {
  const dlg = $('lightbox');
  if (dlg.open) dlg.close();
  lightboxClosed();
}

// Idempotent: runs on close() and again from the (later) close event.
function lightboxClosed() {
  const lb = lightbox;
  if (!lb || $('lightbox').open) return;
  lightbox = null;
  $('lightbox-img').removeAttribute('src');
  if (lb && lb.url) media.release(lb.url);
  if (lb && lb.opener && lb.opener.isConnected) lb.opener.focus({ preventScroll: true });
}

export function bindLightbox() {
  const dlg = $('lightbox');
  dlg.addEventListener('close', lightboxClosed);
  $('lightbox-close').addEventListener('click', closeLightbox);
  $('lightbox-download').addEventListener('click', async () => {
    if (!lightbox) return;
    const id = lightbox.id;
    try {
      const blob = await media.fetchBlob(media.mediaPath(id));
      const ext = (blob.type.split('/')[1] || 'img').replace('jpeg', 'jpg').replace(/[^a-z0-9]/g, '');
      await media.download(id, `photo-${id}.${ext}`);
    } catch (err) { toast('Download failed. Check your connection.'); }
  });
  dlg.addEventListener('click', (e) => { if (e.target === dlg || e.target === $('lightbox-stage')) closeLightbox(); });

  setInterval(sweepMedia, 30000);
}
