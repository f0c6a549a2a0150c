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
