// Avatars and custom emoji. Both are images every signed-in user may read,
// fetched with the bearer token (media.fetchBlob) and shown through blob:
// URLs that live for the whole session: one URL per media id, shared by every
// node that shows it (sidebar, header, profile card, messages, picker).
import { el, setAvatar } from './dom.js';
import * as media from './media.js';

const urls = new Map(); // path -> {url: string|null, promise}

function cachedUrl(path) {
  let c = urls.get(path);
  if (!c) {
    c = { url: null, promise: null };
    c.promise = media.fetchBlob(path).then((blob) => {
      c.url = URL.createObjectURL(blob);
      return c.url;
    }, (err) => { urls.delete(path); throw err; });
    urls.set(path, c);
  }
  return c;
}

export function releaseAllImages() {
  for (const c of urls.values()) if (c.url) URL.revokeObjectURL(c.url);
  urls.clear();
}

// Custom emoji and stickers: thumbnails are JPEGs (transparency flattened on
// white, an animation's first frame) and are never upscaled, so a thumbnail
// smaller than THUMB_MAX on both sides has the original's size: then the
// original is as cheap and keeps transparency and animation.
const THUMB_MAX = 320;
async function decodable(blob) {
  try {
    const bm = await createImageBitmap(blob);
    const size = { w: bm.width, h: bm.height };
    bm.close();
    return size;
  } catch (e) {
    return null;
  }
}

export function imageUrl(id) {
  const key = `img:${id}`;
  let c = urls.get(key);
  if (!c) {
    c = { url: null, promise: null };
    c.promise = media.fetchBlob(media.mediaPath(id, true)).then(async (thumb) => {
      let blob = thumb;
      const t = await decodable(thumb);
      if (t && t.w < THUMB_MAX && t.h < THUMB_MAX) {
        try {
          const orig = await media.fetchBlob(media.mediaPath(id));
          if (await decodable(orig)) blob = orig;
        } catch (e) { /* the thumbnail will do */ }
      }
      c.url = URL.createObjectURL(blob);
      return c.url;
    }, (err) => { urls.delete(key); throw err; });
    urls.set(key, c);
  }
  return c;
}

// ---------------------------------------------------------------- avatars

export function squarePath(id) { return `/v1/media/${encodeURIComponent(id)}/thumb?square=1`; }

// Initials (and hue) first; the picture replaces them once it is loaded.
// A failed load keeps the initials.
export function paintAvatar(node, name, avatarId) {
  const id = avatarId && media.validId(avatarId) ? avatarId : '';
  if (node.dataset.avatar === id && id && node.classList.contains('has-img') && node.dataset.name === name) return;
  setAvatar(node, name);
  node.dataset.name = name;
  node.dataset.avatar = id;
  node.classList.remove('has-img');
  if (!id) return;
  const apply = (url) => {
    if (node.dataset.avatar !== id) return;
    node.replaceChildren(el('img', { class: 'avatar-img', src: url, alt: '', draggable: 'false' }));
    node.classList.add('has-img');
  };
  const c = cachedUrl(squarePath(id));
  if (c.url) apply(c.url);
  else c.promise.then(apply, () => {});
}

// ---------------------------------------------------------------- custom emoji

export const SHORTCODE_RE = /^[a-z0-9_]{2,32}$/;
const REF_RE = /^:([a-z0-9_]{2,32}):$/;
const INLINE_RE = /:([a-z0-9_]{2,32}):/g;

const emoji = new Map(); // shortcode -> {shortcode, media, owner}
let loaded = false;

export function emojiLoaded() { return loaded; }
export function setEmojiList(list) {
  emoji.clear();
  for (const e of Array.isArray(list) ? list : []) addEmoji(e);
  loaded = true;
}
export function addEmoji(e) {
  if (e && typeof e.shortcode === 'string' && SHORTCODE_RE.test(e.shortcode) && media.validId(e.media)) emoji.set(e.shortcode, e);
}
export function removeEmoji(code) { emoji.delete(code); }
export function customEmoji() { return [...emoji.values()].sort((a, b) => (a.shortcode < b.shortcode ? -1 : 1)); }
export function findEmoji(code) { return emoji.get(code) || null; }

// ":name:" of a known custom emoji -> its record, else null.
export function customRef(s) {
  const m = typeof s === 'string' ? REF_RE.exec(s) : null;
  return m ? findEmoji(m[1]) : null;
}

// A small inline image for a custom emoji (the alt text is the shortcode, so
// copying and screen readers keep ":name:").
export function emojiImg(e, cls = 'custom-emoji') {
  const code = `:${e.shortcode}:`;
  const img = el('img', { class: cls, alt: code, title: code, draggable: 'false' });
  const c = imageUrl(e.media);
  if (c.url) img.src = c.url;
  else c.promise.then((u) => { img.src = u; }, () => { img.replaceWith(document.createTextNode(code)); });
  return img;
}

// Replaces ":name:" of known custom emoji inside the text nodes of root
// (links and code left alone). Unknown shortcodes stay text.
export function renderShortcodes(root) {
  if (!emoji.size) return root;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement && n.parentElement.closest('a, code, pre')) continue;
    if (n.nodeValue.includes(':')) texts.push(n);
  }
  for (const t of texts) {
    const s = t.nodeValue;
    const parts = [];
    let last = 0;
    INLINE_RE.lastIndex = 0;
    for (let m = INLINE_RE.exec(s); m; m = INLINE_RE.exec(s)) {
      const e = emoji.get(m[1]);
      if (!e) { INLINE_RE.lastIndex = m.index + 1; continue; }
      if (m.index > last) parts.push(document.createTextNode(s.slice(last, m.index)));
      parts.push(emojiImg(e));
      last = m.index + m[0].length;
    }
    if (!parts.length) continue;
    if (last < s.length) parts.push(document.createTextNode(s.slice(last)));
    t.replaceWith(...parts);
  }
  return root;
}
