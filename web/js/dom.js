// DOM helpers. User content only ever goes through textContent /
// createTextNode; links are built with DOM APIs, never from HTML strings.

export function $(id) { return document.getElementById(id); }

// el('div', {class: 'x', 'aria-label': 'y'}, child, 'text', ...)
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

// Returns a DocumentFragment with the text, URLs turned into safe links.
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  URL_RE.lastIndex = 0;
  let m;
  while ((m = URL_RE.exec(text)) !== null) {
    let raw = m[0];
    const trail = raw.match(TRAILING);
    if (trail) {
      // keep a closing paren when the URL itself opened one
      let t = trail[0];
      if (t.startsWith(')') && raw.slice(0, -t.length).includes('(')) t = t.slice(1);
      raw = raw.slice(0, raw.length - t.length);
    }
    if (!raw) continue;
    const href = safeHref(raw.startsWith('www.') ? 'https://' + raw : raw);
    if (!href) continue;
    if (m.index > last) frag.append(document.createTextNode(text.slice(last, m.index)));
    const a = document.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = raw;
    frag.append(a);
    last = m.index + raw.length;
    URL_RE.lastIndex = last;
  }
  if (last < text.length) frag.append(document.createTextNode(text.slice(last)));
  return frag;
}

function safeHref(s) {
  try {
    const u = new URL(s);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.href;
  } catch (e) {
    return null;
  }
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

export function fmtTime(ts) { return timeFmt.format(new Date(ts)); }
export function fmtFull(ts) { return fullFmt.format(new Date(ts)); }

export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function fmtDay(ts) {
  const d = new Date(ts);
  const now = new Date();
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const that = new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((today - that) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return dateFmt.format(d);
}

// Sidebar time: time today, weekday this week, otherwise a short date.
export function fmtListTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  const now = new Date();
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (ts >= today) return timeFmt.format(d);
  if (ts >= today - 6 * 86400000) return weekdayFmt.format(d);
  return shortDateFmt.format(d);
}

export function initials(name) {
  const parts = String(name || '?').trim().split(/[\s._-]+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] || '?').slice(0, 2);
  return s.toUpperCase();
}

// A stable hue per name, for avatars.
export function hueOf(name) {
  let h = 0;
  for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 360;
}

export function setAvatar(node, name) {
  node.textContent = initials(name);
  node.dataset.hue = String(hueOf(name) % 12);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// A small clock icon (pending), built with DOM APIs: no emoji font needed.
export function clockIcon() {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'clock');
  const c = document.createElementNS(SVG_NS, 'circle');
  c.setAttribute('cx', '12'); c.setAttribute('cy', '12'); c.setAttribute('r', '9');
  const p = document.createElementNS(SVG_NS, 'path');
  p.setAttribute('d', 'M12 7v5l3 2');
  svg.append(c, p);
  return svg;
}

// Wrap @mentions in text nodes of `root` (a node or fragment) into
// <span class="mention">, for the given lowercase names (usernames, "room").
// Works on text nodes only, so nothing user-controlled becomes markup.
export function markMentions(root, names, mine) {
  if (!names || !names.size) return root;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentNode && n.parentNode.nodeName === 'A') continue;
    texts.push(n);
  }
  const re = /(^|[^a-z0-9_.@-])@([a-z0-9_.-]{1,32})/gi;
  for (const t of texts) {
    const s = t.nodeValue;
    re.lastIndex = 0;
    let m;
    let last = 0;
    const parts = [];
    while ((m = re.exec(s)) !== null) {
      let name = m[2].toLowerCase().replace(/[.-]+$/, '');
      if (!names.has(name)) continue;
      const start = m.index + m[1].length;
      const end = start + 1 + name.length;
      if (start > last) parts.push(document.createTextNode(s.slice(last, start)));
      const span = document.createElement('span');
      span.className = 'mention' + (mine && mine.has(name) ? ' mention-me' : '');
      span.textContent = s.slice(start, end);
      parts.push(span);
      last = end;
      re.lastIndex = end;
    }
    if (!parts.length) continue;
    if (last < s.length) parts.push(document.createTextNode(s.slice(last)));
    t.replaceWith(...parts);
  }
  return root;
}

// Text with every case-insensitive occurrence of `q` wrapped in <mark>.
export function highlightText(text, q) {
  const frag = document.createDocumentFragment();
  const terms = String(q || '').toLowerCase().split(/\s+/).map((w) => w.replace(/["*^():]/g, '')).filter(Boolean);
  if (!terms.length) { frag.append(text); return frag; }
  const lower = text.toLowerCase();
  let i = 0;
  while (i < text.length) {
    let best = -1;
    let len = 0;
    for (const w of terms) {
      const j = lower.indexOf(w, i);
      if (j !== -1 && (best === -1 || j < best)) { best = j; len = w.length; }
    }
    if (best === -1) { frag.append(text.slice(i)); break; }
    if (best > i) frag.append(text.slice(i, best));
    const mk = document.createElement('mark');
    mk.textContent = text.slice(best, best + len);
    frag.append(mk);
    i = best + len;
  }
  return frag;
}

// A short snippet of `text` around the first match of `q`.
export function snippet(text, q, max = 140) {
  const s = String(text).replace(/\s+/g, ' ');
  if (s.length <= max) return s;
  const terms = String(q || '').toLowerCase().split(/\s+/).filter(Boolean);
  const lower = s.toLowerCase();
  let at = -1;
  for (const w of terms) { const j = lower.indexOf(w); if (j !== -1 && (at === -1 || j < at)) at = j; }
  if (at < 0) return s.slice(0, max - 1) + '…';
  const start = Math.max(0, at - 40);
  const out = s.slice(start, start + max);
  return (start > 0 ? '…' : '') + out + (start + max < s.length ? '…' : '');
}

// "just now", "5 min ago", "yesterday at 9:30", ...
export function fmtAgo(ts) {
  const d = Date.now() - ts;
  if (d < 60000) return 'just now';
  if (d < 3600000) return `${Math.floor(d / 60000)} min ago`;
  const today = new Date(); today.setHours(0, 0, 0, 0);
  if (ts >= today.getTime()) return `today at ${fmtTime(ts)}`;
  if (ts >= today.getTime() - 86400000) return `yesterday at ${fmtTime(ts)}`;
  return `${shortDateFmt.format(new Date(ts))} at ${fmtTime(ts)}`;
}

// Simple stroke icons built with DOM APIs.
const ICONS = {
  smile: ['M8 14s1.5 2 4 2 4-2 4-2', 'M9 9h.01', 'M15 9h.01', 'circle:12,12,9'],
  reply: ['M9 14L4 9l5-5', 'M4 9h11a5 5 0 0 1 5 5v5'],
  more: ['circle:5,12,1', 'circle:12,12,1', 'circle:19,12,1'],
  vmore: ['circle:12,5,1', 'circle:12,12,1', 'circle:12,19,1'],
  thread: ['M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z'],
  timer: ['circle:12,13,8', 'M12 9v4l2 2', 'M9 2h6'],
  search: ['circle:11,11,7', 'M21 21l-4.3-4.3'],
  gear: ['circle:12,12,3', 'M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  back: ['M15 18l-6-6 6-6'],
  clip: ['M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l8-8'],
  mic: ['M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z', 'M19 11a7 7 0 0 1-14 0', 'M12 18v3'],
  file: ['M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z', 'M14 3v5h5'],
  download: ['M12 4v11', 'M7 10l5 5 5-5', 'M5 20h14'],
  play: ['M8 5l11 7-11 7z'],
  image: ['M5 4h14a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z', 'circle:9,9,2', 'M20 15l-5-5L5 20'],
};

export function icon(name, cls) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  if (cls) svg.setAttribute('class', cls);
  for (const d of ICONS[name] || []) {
    if (d.startsWith('circle:')) {
      const [cx, cy, r] = d.slice(7).split(',');
      const c = document.createElementNS(SVG_NS, 'circle');
      c.setAttribute('cx', cx); c.setAttribute('cy', cy); c.setAttribute('r', r);
      svg.append(c);
    } else {
      const p = document.createElementNS(SVG_NS, 'path');
      p.setAttribute('d', d);
      svg.append(p);
    }
  }
  return svg;
}
