// Custom emoji and stickers: the list from the server, the pickers' options,
// the Add emoji dialog.
import * as media from './media.js';
import * as custom from './custom.js';
import { $, el } from './dom.js';
import { openEmojiPicker } from './popover.js';
import { react } from './actions.js';
import { insertIntoComposer } from './composer.js';
import { allPages, call, explain, supports, toast } from './requests.js';
import { changed, currentRoom, S } from './state.js';
import { onMessage } from './sync.js';
import { renderThread } from './thread.js';
import { jumpToLatest, stickToBottomNext } from './timeline.js';
import { newUploadClientId } from './uploads.js';

// ---------------------------------------------------------------- custom emoji

export async function loadEmoji() {
  if (!supports('emoji_list')) return;
  try {
    const emoji = await allPages((args) => call('emoji_list', args), 'emoji');
    custom.setEmojiList(emoji);
    emojiChanged();
  } catch (e) { /* older server: no custom emoji */ }
}

export function onEmojiEvent(ev) {
  if (ev.action === 'removed') custom.removeEmoji(ev.emoji.shortcode);
  else custom.addEmoji(ev.emoji);
  emojiChanged();
}

// Messages and reactions that mention a shortcode are rebuilt.
function emojiChanged() {
  for (const r of S.rooms.values()) r.nodes.clear();
  if (S.thread) S.thread.nodes.clear();
  changed({ messages: true });
  renderThread();
}

function pickerOpts(verb) {
  return {
    verb,
    label: verb === 'Insert' ? 'Insert emoji' : 'Choose a reaction',
    custom: custom.customEmoji().map((e) => ({ code: `:${e.shortcode}:`, img: () => custom.emojiImg(e, 'picker-emoji') })),
    // Custom emoji double as stickers in the composer's picker.
    stickers: verb === 'Insert' ? custom.customEmoji().map((e) => ({ code: `:${e.shortcode}:`,
      img: () => custom.emojiImg(e, 'picker-sticker'), send: () => sendSticker(e) })) : null,
    onAdd: supports('emoji_add') ? () => openAddEmoji() : null,
  };
}

async function sendSticker(e) {
  const r = currentRoom();
  if (!r) return;
  if (!S.conn || !S.conn.isReady) { toast('You are offline. Stickers need a connection.'); return; }
  try {
    const reply = await call('send', { room: r.id, client_id: newUploadClientId(),
      content: { type: 'sticker', media: e.media, emoji: e.shortcode } });
    if (!r.atLatest) jumpToLatest();
    stickToBottomNext();
    if (reply.message) onMessage(reply.message);
  } catch (err) {
    toast(explain(err, 'Sending the sticker'));
  }
  $('composer-input').focus();
}

export function openReactPicker(anchor, r, seq, at = null) {
  openEmojiPicker(anchor, (e) => react(r, seq, e), { ...pickerOpts('React with'), at });
}

let addEmojiOpener = null;
function openAddEmoji() {
  addEmojiOpener = document.activeElement;
  const dlg = $('emoji-dialog');
  $('emoji-form').reset();
  $('err-emoji').textContent = '';
  $('err-emoji-code').textContent = '';
  $('emoji-preview').replaceChildren();
  if (!dlg.open) dlg.showModal();
  $('emoji-file').focus();
}

function onEmojiFile() {
  const f = $('emoji-file').files && $('emoji-file').files[0];
  const prev = $('emoji-preview');
  for (const img of prev.querySelectorAll('img')) URL.revokeObjectURL(img.src);
  prev.replaceChildren();
  if (!f) return;
  prev.append(el('img', { src: URL.createObjectURL(f), alt: 'Preview of the chosen image', class: 'custom-emoji big' }));
  const code = $('emoji-code');
  if (!code.value) {
    const guess = f.name.replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 32);
    if (custom.SHORTCODE_RE.test(guess)) code.value = guess;
  }
}

async function saveEmoji(e) {
  e.preventDefault();
  $('err-emoji').textContent = '';
  $('err-emoji-code').textContent = '';
  const f = $('emoji-file').files && $('emoji-file').files[0];
  const code = $('emoji-code').value.trim().replace(/^:|:$/g, '').toLowerCase();
  if (!f) { $('err-emoji').textContent = 'Choose an image.'; $('emoji-file').focus(); return; }
  if (!custom.SHORTCODE_RE.test(code)) {
    $('err-emoji-code').textContent = 'Use 2 to 32 lowercase letters, digits or _.';
    $('emoji-code').focus();
    return;
  }
  if (custom.findEmoji(code)) { $('err-emoji-code').textContent = `:${code}: is already taken.`; $('emoji-code').focus(); return; }
  const btn = $('emoji-save');
  btn.disabled = true;
  let stage = 'upload';
  try {
    const res = await media.upload(f, { name: f.name });
    stage = 'add';
    const { emoji } = await call('emoji_add', { shortcode: code, media: res.id });
    custom.addEmoji(emoji);
    emojiChanged();
    $('emoji-dialog').close();
    toast(`Added :${code}:`);
  } catch (err) {
    if (err && err.code === 'emoji_taken') { $('err-emoji-code').textContent = `:${code}: is already taken.`; $('emoji-code').focus(); }
    else if (err && err.code === 'forbidden') $('err-emoji').textContent = 'Adding custom emoji is turned off on this server.';
    else if (err && err.code === 'bad_request') $('err-emoji').textContent = 'That file is not an image the server can use.';
    else $('err-emoji').textContent = stage === 'upload' ? media.uploadError(err, f.name) : explain(err, 'Adding the emoji');
  } finally {
    btn.disabled = false;
  }
}

export function bindEmoji() {
  $('emoji-form').addEventListener('submit', saveEmoji);
  $('emoji-file').addEventListener('change', onEmojiFile);
  $('emoji-cancel').addEventListener('click', () => $('emoji-dialog').close());
  $('emoji-dialog').addEventListener('close', () => {
    for (const img of $('emoji-preview').querySelectorAll('img')) URL.revokeObjectURL(img.src);
    $('emoji-preview').replaceChildren();
    if (addEmojiOpener && addEmojiOpener.isConnected) addEmojiOpener.focus();
    addEmojiOpener = null;
  });
  $('btn-emoji').addEventListener('click', () => openEmojiPicker($('btn-emoji'), (e) => insertIntoComposer(e), pickerOpts('Insert')));
}
