// Parley web client: boot, session start and end, and the wiring of the views.
//
// Plain ES modules, no build step. The state and its change notification
// (state.js) and the data model over it (model.js) import no view; the views
// import them and each other where one opens another.
//   state.js       S, the one state object; changed(parts) marks views stale,
//                  subscribe(part, render) registers a view (one render per frame)
//   model.js       rooms, users, messages, presence, timer labels; no DOM
//   requests.js    call() with feature detection, paged lists, error texts, toast
//   sync.js        catch-up after each connection, live events, the outbox
//   cache.js       the offline start (localStorage)
//   auth.js        the sign-in / register view
//   sidebar.js     me, the connection status, the conversation list
//   timeline.js    the open conversation: header, message window, scrolling, read marker
//   message.js     one message as a DOM node
//   actions.js     message menu, reactions, edit and delete, message info, receipts
//   composer.js    sending, reply/edit context, typing, @mention and :emoji: suggestions
//   thread.js      the thread pane
//   dialogs.js     new conversation, group info, disappearing timer, conversation menu
//   profile.js     presence, profiles and avatars, the profile card
//   settings.js    synced settings, the settings dialog with my profile and photo
//   emoji.js       custom emoji and stickers, the Add emoji dialog
//   search.js      message search
//   media-view.js  media in messages, downloads, the lightbox
//   uploads.js     file uploads with progress, voice recording
//   notify.js      push subscription, notification settings, badge; notify-ui.js its screens
//   call.js        voice and video calls (WebRTC); call-view.js its screens
// Helpers: api.js (REST), conn.js (the WebSocket), outbox.js, storage.js,
// dom.js, popover.js, media.js, custom.js, invites.js, theme-toggle.js.

import * as api from './api.js';
import * as media from './media.js';
import * as custom from './custom.js';
import * as invites from './invites.js';
import { Connection } from './conn.js';
import { Outbox } from './outbox.js';
import { load, remove, SESSION_KEY } from './storage.js';
import { $ } from './dom.js';
import { initTheme, onThemeChosen } from './theme-toggle.js';
import { bindActions } from './actions.js';
import { bindCalls, endAllCalls } from './call.js';
import { bindAuthView, showAuth } from './auth.js';
import { bindCache, restoreCache } from './cache.js';
import { bindComposer } from './composer.js';
import { bindDialogs } from './dialogs.js';
import { bindEmoji } from './emoji.js';
import { bindLightbox, closeLightbox } from './media-view.js';
import { bindNotify, onLogout as notifyLogout, takeRoomFromUrl } from './notify.js';
import { bindNotifyUi } from './notify-ui.js';
import { bindProfile, forgetProfiles } from './profile.js';
import { call, explain, toast } from './requests.js';
import { bindSearch } from './search.js';
import { bindSettings, saveSetting } from './settings.js';
import { bindSidebar, renderMe, renderSidebar, setStatus } from './sidebar.js';
import { changed, S } from './state.js';
import { onEvent, onReady, onRoomEvent } from './sync.js';
import { bindThread } from './thread.js';
import { bindTimeline, closeRoom, maybeMarkRead, openRoom } from './timeline.js';
import { bindUploads, cancelRecording, dropAllUploads } from './uploads.js';

// ---------------------------------------------------------------- boot

function boot() {
  initTheme();
  onThemeChosen((theme) => saveSetting({ theme }));
  bindAuthView();
  bindChatView();
  if ('serviceWorker' in navigator && location.protocol !== 'file:') {
    navigator.serviceWorker.register('sw.js').catch(() => {});
  }
  const session = load(SESSION_KEY);
  // A password reset link opens the reset form even over a stored session.
  if (session && session.token && session.user_id && !/^#reset=/.test(location.hash)) startChat(session);
  else showAuth();
}

// ---------------------------------------------------------------- chat start/stop

export function startChat(session) {
  S.session = session;
  S.me = { id: session.user_id, username: session.username, display_name: session.display_name || session.username };
  S.outbox = new Outbox(session.user_id);
  media.setMediaToken(session.token);
  S.rooms.clear();
  S.users.clear();
  S.presence.clear();
  S.unsupported.clear();
  S.current = null;
  S.thread = null;
  S.compose = null;
  restoreCache();
  $('auth-view').hidden = true;
  $('chat-view').hidden = false;
  document.title = 'Parley';
  renderMe();
  renderSidebar();
  invites.clear();
  // A clicked notification opened the app on its room (#room=r12).
  const fromPush = takeRoomFromUrl();
  const last = fromPush || load(`parley.current.${S.me.id}`);
  if (last && S.rooms.has(last)) openRoom(last, { push: false, focus: false });
  else closeRoom({ pop: false });
  S.conn = new Connection(session.token, {
    onStatus: setStatus,
    onReady,
    onEvent,
    onAuthFailed: (why) => endSession(why),
  });
  S.conn.start();
}

function endSession(message) {
  if (S.conn) S.conn.stop();
  S.conn = null;
  if (S.me) {
    remove(`parley.cache.${S.me.id}`);
    remove(`parley.current.${S.me.id}`);
  }
  if (S.outbox) S.outbox.clear();
  endAllCalls();
  cancelRecording();
  dropAllUploads();
  closeLightbox();
  media.releaseAll();
  custom.releaseAllImages();
  custom.setEmojiList([]);
  forgetProfiles();
  remove(SESSION_KEY);
  S.session = null;
  S.me = null;
  S.rooms.clear();
  S.current = null;
  invites.clear();
  $('room-list').replaceChildren();
  $('message-list').replaceChildren();
  showAuth(message);
}

async function logout() {
  const token = S.session && S.session.token;
  if (S.conn) S.conn.stop();
  await notifyLogout();
  if (token) { try { await api.logout(token); } catch (e) { /* offline: forget locally anyway */ } }
  endSession('');
}

// ---------------------------------------------------------------- wiring

function bindChatView() {
  invites.init({
    call,
    explain,
    toast,
    joined: (room) => { onRoomEvent(room); openRoom(room.id); },
    changed: () => changed({ sidebar: true }),
  });
  bindSidebar();
  $('btn-logout').addEventListener('click', logout);
  bindTimeline();
  bindComposer();
  bindActions();
  bindThread();
  bindDialogs();
  bindProfile();
  bindSettings();
  bindEmoji();
  bindSearch();
  bindUploads();
  bindLightbox();
  bindNotify((id) => openRoom(id));
  bindNotifyUi();
  bindCalls();

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      maybeMarkRead();
      if (S.conn && S.status === 'waiting') { S.conn.attempt = 0; S.conn.connectNow(); }
    }
  });
  window.addEventListener('focus', maybeMarkRead);
  bindCache();
}

boot();
