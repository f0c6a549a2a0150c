// Popovers anchored to a button: action menus and the emoji picker.
// One popover at a time; Escape or a click outside closes it and focus
// returns to the anchor. Positioned with CSSOM (allowed under the CSP).
import { el } from './dom.js';
import { load, save } from './storage.js';

let open = null; // {node, anchor, onClose}

export function closePopover({ restoreFocus = true } = {}) {
  if (!open) return;
  const { node, anchor, onClose } = open;
  open = null;
  node.remove();
  if (anchor) anchor.setAttribute('aria-expanded', 'false');
  if (onClose) onClose();
  if (restoreFocus && anchor && anchor.isConnected) anchor.focus({ preventScroll: true });
}

export function isPopoverOpen() { return !!open; }

// Below the rect r (right-aligned to it), or above it when there is no room.
function place(node, r) {
  const vw = document.documentElement.clientWidth;
  const vh = document.documentElement.clientHeight;
  const w = node.offsetWidth;
  const h = node.offsetHeight;
  let left = Math.min(Math.max(8, r.right - w), vw - w - 8);
  if (r.left + w < vw - 8 && r.right - w < 8) left = Math.max(8, r.left);
  let top = r.bottom + 6;
  if (top + h > vh - 8) top = Math.max(8, r.top - h - 6);
  node.style.left = `${Math.round(left)}px`;
  node.style.top = `${Math.round(top)}px`;
}

// at: a rect {left, right, top, bottom}, or a function returning one, to
// place the popover by instead of the anchor (e.g. an anchor that is hidden).
function show(node, anchor, at, onClose) {
  closePopover({ restoreFocus: false });
  document.body.append(node);
  place(node, (typeof at === 'function' ? at() : at) || anchor.getBoundingClientRect());
  open = { node, anchor, onClose };
  anchor.setAttribute('aria-expanded', 'true');
}

document.addEventListener('pointerdown', (e) => {
  if (open && !open.node.contains(e.target) && !(open.anchor && open.anchor.contains(e.target))) {
    closePopover({ restoreFocus: false });
  }
}, true);
document.addEventListener('keydown', (e) => {
  if (open && e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); closePopover(); }
}, true);
window.addEventListener('resize', () => closePopover({ restoreFocus: false }));

// items: [{label, onSelect, danger?, id?}] or null for a separator.
// header: optional node shown above the items (e.g. quick reactions).
// at: where to open instead of by the anchor (see show).
export function openMenu(anchor, items, { label = 'Actions', header = null, at = null } = {}) {
  const list = el('div', { class: 'menu', role: 'menu', 'aria-label': label });
  for (const it of items) {
    if (!it) { list.append(el('div', { class: 'menu-sep', role: 'separator' })); continue; }
    const b = el('button', { type: 'button', role: 'menuitem', class: 'menu-item' + (it.danger ? ' danger' : ''),
      tabindex: '-1', 'data-action': it.id || null, text: it.label });
    b.addEventListener('click', () => { closePopover({ restoreFocus: !it.keepFocus }); it.onSelect(); });
    list.append(b);
  }
  const node = el('div', { class: 'popover' }, header, list);
  list.addEventListener('keydown', (e) => {
    const btns = [...list.querySelectorAll('[role="menuitem"]')];
    const i = btns.indexOf(document.activeElement);
    let j = -1;
    if (e.key === 'ArrowDown') j = (i + 1) % btns.length;
    else if (e.key === 'ArrowUp') j = (i - 1 + btns.length) % btns.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = btns.length - 1;
    else if (e.key === 'Tab') { closePopover(); return; }
    if (j >= 0) { e.preventDefault(); btns[j].focus(); }
  });
  show(node, anchor, at);
  const first = list.querySelector('[role="menuitem"]');
  if (first) first.focus();
  return node;
}

// ---------------------------------------------------------------- emoji picker

export const EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🙏', '🎉', '🔥', '👏', '😊', '😍', '🤔',
  '😅', '👀', '💯', '✅', '😁', '🙌', '😎', '🥳', '😭', '👌', '💪', '🚀'];
export const QUICK = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
// Names of the standard emoji for `:name` autocomplete (first name is shown).
export const EMOJI_NAMES = [
  ['👍', ['thumbsup', '+1', 'like', 'yes']], ['❤️', ['heart', 'love']], ['😂', ['joy', 'laugh', 'lol']],
  ['😮', ['open_mouth', 'wow', 'surprised']], ['😢', ['cry', 'sad']], ['🙏', ['pray', 'please', 'thanks']],
  ['🎉', ['tada', 'party', 'congrats']], ['🔥', ['fire', 'lit']], ['👏', ['clap', 'applause']],
  ['😊', ['blush', 'smile', 'happy']], ['😍', ['heart_eyes', 'love_it']], ['🤔', ['thinking', 'hmm']],
  ['😅', ['sweat_smile', 'phew']], ['👀', ['eyes', 'look']], ['💯', ['100', 'hundred', 'perfect']],
  ['✅', ['check', 'done', 'ok']], ['😁', ['grin', 'beaming']], ['🙌', ['raised_hands', 'hooray', 'praise']],
  ['😎', ['sunglasses', 'cool']], ['🥳', ['partying_face', 'party_face', 'celebrate']], ['😭', ['sob', 'crying']],
  ['👌', ['ok_hand', 'perfect_hand']], ['💪', ['muscle', 'strong']], ['🚀', ['rocket', 'launch', 'ship_it']],
];
const RECENT_KEY = 'parley.emoji.recent';

export function recentEmoji() {
  const r = load(RECENT_KEY, []);
  return Array.isArray(r) ? r.filter((e) => typeof e === 'string').slice(0, 8) : [];
}

export function noteRecent(emoji) {
  save(RECENT_KEY, [emoji, ...recentEmoji().filter((e) => e !== emoji)].slice(0, 8));
}

function emojiGrid(list, label, onPick) {
  const grid = el('div', { class: 'emoji-grid', role: 'group', 'aria-label': label });
  for (const e of list) {
    const b = el('button', { type: 'button', class: 'emoji-btn', 'data-emoji': e, 'aria-label': `React with ${e}`, title: e, text: e });
    b.addEventListener('click', () => onPick(e));
    grid.append(b);
  }
  return grid;
}

// Custom emoji: opts.custom = [{code: ':name:', img: () => Node}] shown in
// their own group; opts.onAdd adds an "Add emoji" button; opts.verb names
// what a pick does ('React with', 'Insert').
function customGrid(list, verb, onPick) {
  const grid = el('div', { class: 'emoji-grid custom-grid', role: 'group', 'aria-label': 'Custom emoji' });
  for (const c of list) {
    const b = el('button', { type: 'button', class: 'emoji-btn custom', 'data-emoji': c.code, 'aria-label': `${verb} ${c.code}`, title: c.code }, c.img());
    b.addEventListener('click', () => onPick(c.code));
    grid.append(b);
  }
  return grid;
}

// Stickers: [{code, img: () => Node, send: () => void}]; a click sends one.
function stickerGrid(list) {
  if (!list.length) return el('p', { class: 'picker-empty', text: 'Custom emoji you add can be sent as stickers.' });
  const grid = el('div', { class: 'sticker-grid', role: 'group', 'aria-label': 'Stickers' });
  for (const c of list) {
    const b = el('button', { type: 'button', class: 'emoji-btn sticker-btn', 'data-sticker': c.code, 'aria-label': `Send sticker ${c.code}`, title: c.code }, c.img());
    b.addEventListener('click', () => { closePopover({ restoreFocus: false }); c.send(); });
    grid.append(b);
  }
  return grid;
}

// The button in the nearest row below (or above) btns[i], closest in x: the
// grids differ in columns (emoji 6, stickers 4), so rows are found by layout.
function verticalNeighbour(btns, i, down) {
  const r = btns[i].getBoundingClientRect();
  const cx = r.left + r.width / 2;
  let best = -1, bestRow = Infinity, bestDx = Infinity;
  btns.forEach((b, k) => {
    const q = b.getBoundingClientRect();
    const dy = down ? q.top - r.bottom : r.top - q.bottom;
    if (dy < -2) return;
    const row = Math.round(dy);
    const dx = Math.abs(q.left + q.width / 2 - cx);
    if (row < bestRow - 2 || (Math.abs(row - bestRow) <= 2 && dx < bestDx)) { best = k; bestRow = row; bestDx = dx; }
  });
  return best >= 0 ? best : i;
}

export function openEmojiPicker(anchor, onPick, opts = {}) {
  const pick = (e) => { noteRecent(e); closePopover(); onPick(e); };
  const verb = opts.verb || 'React with';
  const custom = Array.isArray(opts.custom) ? opts.custom : [];
  const known = new Set(custom.map((c) => c.code));
  // A recent custom emoji that was removed since is not offered.
  const recent = recentEmoji().filter((e) => !/^:[a-z0-9_]+:$/.test(e) || known.has(e));
  const recentGrid = (list) => {
    const g = emojiGrid(list.filter((e) => !known.has(e)), 'Recent', pick);
    for (const e of list) if (known.has(e)) g.append(customGrid(custom.filter((c) => c.code === e), verb, pick).firstChild);
    return g;
  };
  const node = el('div', { class: 'popover picker', role: 'dialog', 'aria-label': opts.label || 'Choose a reaction' },
    recent.length ? el('p', { class: 'picker-title', text: 'Recent' }) : null,
    recent.length ? recentGrid(recent) : null,
    el('p', { class: 'picker-title', text: 'Emoji' }),
    emojiGrid(EMOJI, 'Emoji', pick),
    custom.length || opts.onAdd ? el('p', { class: 'picker-title', text: 'Custom' }) : null,
    custom.length ? customGrid(custom, verb, pick) : null,
    !custom.length && opts.onAdd ? el('p', { class: 'picker-empty', text: 'No custom emoji yet.' }) : null,
    opts.onAdd ? el('button', { type: 'button', class: 'link-btn picker-add', onclick: () => { closePopover({ restoreFocus: false }); opts.onAdd(); } }, 'Add emoji…') : null,
    Array.isArray(opts.stickers) ? el('p', { class: 'picker-title', text: 'Stickers' }) : null,
    Array.isArray(opts.stickers) ? stickerGrid(opts.stickers) : null);
  if (verb !== 'React with') for (const b of node.querySelectorAll('.emoji-btn:not(.custom):not(.sticker-btn)')) b.setAttribute('aria-label', `${verb} ${b.dataset.emoji}`);
  node.addEventListener('keydown', (e) => {
    const btns = [...node.querySelectorAll('.emoji-btn')];
    const i = btns.indexOf(document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (e.key === 'ArrowRight') j = Math.min(btns.length - 1, i + 1);
    else if (e.key === 'ArrowLeft') j = Math.max(0, i - 1);
    else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') j = verticalNeighbour(btns, i, e.key === 'ArrowDown');
    else if (e.key === 'Tab') { closePopover(); return; }
    if (j >= 0) { e.preventDefault(); btns[j].focus(); }
  });
  show(node, anchor, opts.at);
  const first = node.querySelector('.emoji-btn');
  if (first) first.focus();
  return node;
}
