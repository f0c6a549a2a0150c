// Dialogs about conversations: new conversation, group info (name, photo,
// members, leave), the disappearing-messages timer, the conversation menu.
import * as custom from './custom.js';
import { $, el } from './dom.js';
import { openMenu } from './popover.js';
import { scheduleCache } from './cache.js';
import { roomTitle, TIMER_OPTIONS, timerLabel } from './model.js';
import { avatarOf, showProfile } from './profile.js';
import { addedNote, call, explain, toast } from './requests.js';
import { openSearch } from './search.js';
import { uploadPhoto } from './settings.js';
import { changed, currentRoom, S } from './state.js';
import { onRoomEvent } from './sync.js';
import { closeRoom, openRoom } from './timeline.js';
import { utf8Len } from './uploads.js';
import { notifyAvailable, openNotifySettings, roomNotifyLabel } from './notify-ui.js';
import { bindWebhooks, openWebhooks } from './webhooks.js';

// ---------------------------------------------------------------- new conversation dialog

let newMode = 'dm';

function setNewMode(mode) {
  newMode = mode;
  const group = mode === 'group';
  $('tab-dm').setAttribute('aria-selected', String(!group));
  $('tab-group').setAttribute('aria-selected', String(group));
  $('tab-dm').tabIndex = group ? -1 : 0;
  $('tab-group').tabIndex = group ? 0 : -1;
  $('field-group-name').hidden = !group;
  $('new-members-label').textContent = group ? 'Members' : 'Username';
  $('new-members-help').textContent = group
    ? 'Usernames separated by commas or spaces.' : 'Their Parley username.';
  $('new-submit').textContent = group ? 'Create group' : 'Start chat';
  clearNewErrors();
}

function clearNewErrors() {
  for (const id of ['err-new-name', 'err-new-members', 'err-new-form']) $(id).textContent = '';
  $('new-members').removeAttribute('aria-invalid');
  $('new-name').removeAttribute('aria-invalid');
}

function bindNewDialog() {
  const dlg = $('new-dialog');
  $('btn-new').addEventListener('click', () => {
    $('new-form').reset();
    setNewMode('dm');
    dlg.showModal();
    $('new-members').focus();
  });
  $('new-cancel').addEventListener('click', () => dlg.close());
  $('tab-dm').addEventListener('click', () => setNewMode('dm'));
  $('tab-group').addEventListener('click', () => { setNewMode('group'); $('new-name').focus(); });
  for (const t of [$('tab-dm'), $('tab-group')]) {
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        setNewMode(newMode === 'dm' ? 'group' : 'dm');
        $(newMode === 'dm' ? 'tab-dm' : 'tab-group').focus();
      }
    });
  }
  $('new-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearNewErrors();
    const names = $('new-members').value.split(/[\s,;]+/).map((s) => s.replace(/^@/, '').trim().toLowerCase()).filter(Boolean);
    const name = $('new-name').value.trim();
    if (!names.length) {
      $('new-members').setAttribute('aria-invalid', 'true');
      $('err-new-members').textContent = newMode === 'dm' ? 'Enter a username.' : 'Add at least one member.';
      $('new-members').focus();
      return;
    }
    if (newMode === 'dm' && names.length !== 1) {
      $('err-new-members').textContent = 'A direct message has exactly one other person.';
      return;
    }
    if (newMode === 'dm' && names[0] === S.me.username) {
      $('err-new-members').textContent = 'That is you. Pick someone else.';
      return;
    }
    if (!S.conn || !S.conn.isReady) {
      $('err-new-form').textContent = 'You are offline. Try again when connected.';
      return;
    }
    const args = { kind: newMode, members: names };
    if (newMode === 'group' && name) args.name = name;
    $('new-submit').disabled = true;
    try {
      const reply = await S.conn.request('create_room', args);
      onRoomEvent(reply.room);
      const r = S.rooms.get(reply.room.id);
      if (r && reply.created) r.seenAt = Date.now();
      dlg.close();
      openRoom(reply.room.id);
      const note = addedNote(reply);
      if (note) toast(note);
    } catch (err) {
      if (err.code === 'user_not_found') {
        $('new-members').setAttribute('aria-invalid', 'true');
        $('err-new-members').textContent = names.length === 1
          ? `No user named “${names[0]}”.` : 'One of these usernames does not exist.';
        $('err-new-members').dataset.code = err.code;
        $('new-members').focus();
      } else if (err.code === 'too_large' && name.length > 0 && /\bname\b/i.test(err.message || '')) {
        // Only the name's own limit; too many members, or more people than
        // member_adds_per_hour, are about the request as a whole.
        $('new-name').setAttribute('aria-invalid', 'true');
        $('err-new-name').textContent = 'That name is too long.';
        $('new-name').focus();
      } else if (err.code === 'rate_limited' || err.code === 'too_large') {
        $('err-new-form').textContent = explain(err, newMode === 'dm' ? 'Starting the conversation' : 'Creating the group');
      } else {
        $('err-new-form').textContent = err.message || err.code;
      }
    } finally {
      $('new-submit').disabled = false;
    }
  });
}

// ---------------------------------------------------------------- group info (name, photo, members)

let groupShown = null; // room id of the open group dialog
let groupOpener = null;

function openGroupInfo(r, opener) {
  groupShown = r.id;
  groupOpener = opener || document.activeElement;
  $('group-invite').value = '';
  $('group-invite-status').textContent = '';
  $('err-group-invite').textContent = '';
  $('group-invite').removeAttribute('aria-invalid');
  $('err-group-name').textContent = '';
  $('err-group-avatar').textContent = '';
  $('group-avatar-status').textContent = '';
  $('group-name').value = r.name || '';
  fillGroupInfo(r);
  const dlg = $('group-dialog');
  if (!dlg.open) dlg.showModal();
  $('group-name').focus();
}

function fillGroupInfo(r) {
  const title = roomTitle(r);
  $('group-title').textContent = title;
  custom.paintAvatar($('group-avatar-preview'), title, r.avatar || null);
  $('group-avatar-remove').hidden = !r.avatar;
  $('group-avatar-pick').textContent = r.avatar ? 'Change photo' : 'Upload photo';
  const n = r.member_count || r.members.length;
  $('group-members-title').textContent = `${n} member${n === 1 ? '' : 's'}`;
  $('group-members').replaceChildren(...r.members.map((u) => {
    const name = u.id === S.me.id ? `${u.display_name || u.username} (you)` : (u.display_name || u.username);
    const av = el('span', { class: 'avatar small', 'aria-hidden': 'true' });
    custom.paintAvatar(av, u.display_name || u.username, avatarOf(u.id));
    return el('li', { class: 'group-member' }, av,
      el('span', { class: 'group-member-names' }, el('span', { class: 'group-member-name', text: name }),
        el('span', { class: 'group-member-user', text: '@' + u.username })));
  }));
}

async function groupSettings(args) {
  const { room } = await call('room_settings', { room: groupShown, ...args });
  if (room) onRoomEvent(room);
}

function onGroupAvatarFile() {
  if (!groupShown) { $('group-avatar-file').value = ''; return undefined; }
  return uploadPhoto('group-avatar', (id) => groupSettings({ avatar: id }), 'Group photo updated.');
}

async function removeGroupAvatar() {
  $('err-group-avatar').textContent = '';
  try {
    await groupSettings({ avatar: null });
    $('group-avatar-status').textContent = 'Group photo removed.';
    $('group-avatar-pick').focus();
  } catch (err) {
    $('err-group-avatar').textContent = explain(err, 'Removing the photo');
  }
}

async function saveGroupName(e) {
  e.preventDefault();
  const name = $('group-name').value.trim();
  $('err-group-name').textContent = '';
  if (!name) { $('err-group-name').textContent = 'Enter a name.'; $('group-name').focus(); return; }
  if (utf8Len(name) > 128) { $('err-group-name').textContent = 'That name is too long.'; $('group-name').focus(); return; }
  const r = S.rooms.get(groupShown);
  if (r && r.name === name) { $('group-dialog').close(); return; }
  $('group-save').disabled = true;
  try {
    await groupSettings({ name });
    $('group-dialog').close();
  } catch (err) {
    $('err-group-name').textContent = err.code === 'too_large' ? 'That name is too long.' : explain(err, 'Renaming the group');
  } finally {
    $('group-save').disabled = false;
  }
}

// "Add people": added at once, or invited (their privacy setting decides).
async function inviteToGroup() {
  const input = $('group-invite');
  const names = input.value.split(/[\s,;]+/).map((x) => x.replace(/^@/, '').trim().toLowerCase()).filter(Boolean);
  $('group-invite-status').textContent = '';
  $('err-group-invite').textContent = '';
  input.removeAttribute('aria-invalid');
  if (!names.length) { $('err-group-invite').textContent = 'Enter one or more usernames.'; input.focus(); return; }
  const room = groupShown;
  $('group-invite-btn').disabled = true;
  try {
    const reply = await call('invite', { room, users: names });
    const name = (u) => u.display_name || u.username;
    const parts = [];
    if ((reply.added || []).length) parts.push(`Added ${reply.added.map(name).join(', ')}.`);
    const members = (reply.skipped || []).filter((x) => x.reason === 'member');
    if (members.length) parts.push(`${members.map((x) => name(x.user)).join(', ')} ${members.length === 1 ? 'is' : 'are'} already in the group.`);
    const note = addedNote(reply);
    if (note) parts.push(note);
    $('group-invite-status').textContent = parts.join(' ') || 'Nothing to do.';
    input.value = '';
  } catch (err) {
    input.setAttribute('aria-invalid', 'true');
    $('err-group-invite').textContent = err.code === 'user_not_found'
      ? (names.length === 1 ? `No user named “${names[0]}”.` : `${err.message || 'One of these usernames does not exist'}.`)
      : err.code === 'too_large' && !err.retryAfterMs ? (err.message || 'Too many people at once.')
        : explain(err, 'Adding people');
    input.focus();
  } finally {
    $('group-invite-btn').disabled = false;
  }
}

function leaveGroup() {
  const r = S.rooms.get(groupShown);
  if (!r) return;
  const dlg = $('confirm-dialog');
  $('confirm-title').textContent = `Leave “${roomTitle(r)}”?`;
  $('confirm-text').textContent = 'You will stop receiving its messages. To come back, a member has to invite you again.';
  $('confirm-ok').textContent = 'Leave group';
  dlg.returnValue = '';
  const onClose = async () => {
    dlg.removeEventListener('close', onClose);
    $('confirm-title').textContent = 'Delete message?';
    $('confirm-ok').textContent = 'Delete';
    if (dlg.returnValue !== 'ok') return;
    try {
      await call('leave', { room: r.id });
      S.rooms.delete(r.id);
      if ($('group-dialog').open) $('group-dialog').close();
      if (S.current === r.id) closeRoom({ pop: false });
      changed({ sidebar: true });
      scheduleCache();
    } catch (err) { toast(explain(err, 'Leaving')); }
  };
  dlg.addEventListener('close', onClose);
  dlg.showModal();
  $('confirm-cancel').focus();
}

function bindGroupDialog() {
  $('group-form').addEventListener('submit', saveGroupName);
  $('group-invite-btn').addEventListener('click', inviteToGroup);
  $('group-invite').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); inviteToGroup(); }
  });
  $('group-leave').addEventListener('click', leaveGroup);
  $('group-close').addEventListener('click', () => $('group-dialog').close());
  $('group-avatar-pick').addEventListener('click', () => $('group-avatar-file').click());
  $('group-avatar-file').addEventListener('change', onGroupAvatarFile);
  $('group-avatar-remove').addEventListener('click', removeGroupAvatar);
  $('group-dialog').addEventListener('close', () => {
    groupShown = null;
    if (groupOpener && groupOpener.isConnected) groupOpener.focus();
    groupOpener = null;
  });
}

function openTimerDialog() {
  const r = currentRoom();
  if (!r) return;
  const box = $('timer-options');
  const opts = TIMER_OPTIONS.slice();
  if (r.disappearing_ms && !opts.some(([v]) => v === r.disappearing_ms)) opts.push([r.disappearing_ms, timerLabel(r.disappearing_ms)]);
  box.replaceChildren(el('legend', { class: 'visually-hidden', text: 'Timer' }), ...opts.map(([v, label]) => {
    const input = el('input', { type: 'radio', name: 'timer', value: String(v), id: `timer-${v}` });
    input.checked = v === (r.disappearing_ms || 0);
    return el('label', { class: 'check', for: `timer-${v}` }, input, ' ' + label);
  }));
  $('err-timer').textContent = '';
  $('timer-dialog').showModal();
  const checked = box.querySelector('input:checked');
  if (checked) checked.focus();
}

async function saveTimer(e) {
  e.preventDefault();
  const r = currentRoom();
  const v = box => box.querySelector('input[name="timer"]:checked');
  const sel = v($('timer-options'));
  if (!r || !sel) { $('timer-dialog').close(); return; }
  try {
    const reply = await call('room_settings', { room: r.id, disappearing_ms: Number(sel.value) });
    if (reply.room) onRoomEvent(reply.room);
    $('timer-dialog').close();
  } catch (err) {
    $('err-timer').textContent = explain(err, 'Changing the timer');
  }
}

function roomMenu(anchor) {
  const r = currentRoom();
  if (!r) return;
  const other = r.kind === 'dm' ? r.members.find((x) => x.id !== S.me.id) : null;
  const items = [
    { id: 'search-room', label: 'Search in this conversation', keepFocus: true, onSelect: () => openSearch('room') },
    { id: 'timer', label: `Disappearing messages: ${r.disappearing_ms ? timerLabel(r.disappearing_ms) : 'off'}…`, keepFocus: true, onSelect: openTimerDialog },
  ];
  if (notifyAvailable()) items.push({ id: 'notify', label: roomNotifyLabel(r), keepFocus: true, onSelect: () => openNotifySettings(r.id) });
  if (r.kind === 'group') items.push({ id: 'webhooks', label: 'Integrations (webhooks)…', keepFocus: true, onSelect: () => openWebhooks(r) });
  if (other) items.unshift({ id: 'profile', label: 'View profile', keepFocus: true, onSelect: () => showProfile(other.id, anchor) });
  if (r.kind === 'group') items.unshift({ id: 'group-info', label: 'Group info…', keepFocus: true, onSelect: () => openGroupInfo(r, anchor) });
  openMenu(anchor, items, { label: 'Conversation options' });
}

// The group dialog shows r: refresh it after r changed.
export function groupInfoChanged(r) {
  if (groupShown === r.id && S.rooms.has(r.id)) fillGroupInfo(r);
}

export function bindDialogs() {
  bindNewDialog();
  $('btn-room-menu').addEventListener('click', (e) => roomMenu(e.currentTarget));
  $('btn-room-info').addEventListener('click', (e) => {
    const r = currentRoom();
    if (!r) return;
    const other = r.kind === 'dm' ? r.members.find((x) => x.id !== S.me.id) : null;
    if (other) showProfile(other.id, e.currentTarget);
    else openGroupInfo(r, e.currentTarget);
  });
  $('timer-form').addEventListener('submit', saveTimer);
  bindGroupDialog();
  $('timer-cancel').addEventListener('click', () => $('timer-dialog').close());
  bindWebhooks();
}
