// Settings: synced with the server (theme, receipts, presence, who may add
// me), the settings dialog with my profile and photo.
import * as media from './media.js';
import * as custom from './custom.js';
import { bindPasskeySettings, fillPasskeySection } from './passkeys.js';
import { load, save, remove } from './storage.js';
import { $ } from './dom.js';
import { setTheme, currentThemeSetting } from './theme-toggle.js';
import { mergeUser } from './model.js';
import { onProfile } from './profile.js';
import { call, explain, supports } from './requests.js';
import { changed, S } from './state.js';
import { bindSecurity, openSecurity } from './security.js';
import { fillNotifyBox } from './notify-ui.js';

// ---------------------------------------------------------------- settings (server-side, synced)

const PENDING_THEME_KEY = 'parley.theme.pending';

export async function loadSettings() {
  if (!supports('settings_get')) return;
  try {
    const { settings } = await call('settings_get');
    const pending = load(PENDING_THEME_KEY);
    if (pending && settings && pending !== settings.theme) {
      // Chosen while signed out or offline: that choice wins.
      remove(PENDING_THEME_KEY);
      applySettings({ ...settings, theme: pending }, false);
      saveSetting({ theme: pending });
      return;
    }
    remove(PENDING_THEME_KEY);
    applySettings(settings, true);
  } catch (e) { /* older server: local settings only */ }
}

export function applySettings(s, fromServer) {
  if (!s || typeof s !== 'object') return;
  const prev = S.settings;
  S.settings = { ...S.settings, ...s };
  if (fromServer && typeof s.theme === 'string' && s.theme !== currentThemeSetting()) setTheme(s.theme);
  if (prev.show_presence !== S.settings.show_presence) changed({ sidebar: true, header: true });
  if ($('settings-dialog').open && fromServer) fillSettingsForm();
}

export async function saveSetting(partial) {
  S.settings = { ...S.settings, ...partial };
  if (!S.conn || !S.conn.isReady || !supports('settings_set')) {
    if (partial.theme) save(PENDING_THEME_KEY, partial.theme);
    return;
  }
  try {
    const { settings } = await call('settings_set', { settings: partial });
    remove(PENDING_THEME_KEY);
    if (settings) S.settings = { ...S.settings, ...settings };
  } catch (err) {
    if (partial.theme) save(PENDING_THEME_KEY, partial.theme);
  }
}

function fillSettingsForm() {
  const me = { ...S.me, ...(S.users.get(S.me.id) || {}) };
  $('set-display').value = me.display_name || '';
  $('set-status').value = me.status_text || '';
  $('set-bio').value = me.bio || '';
  $('set-theme').value = currentThemeSetting();
  $('set-read-receipts').checked = S.settings.read_receipts !== false;
  $('set-show-presence').checked = S.settings.show_presence !== false;
  $('set-group-add').value = S.settings.group_add || 'everyone';
}

export async function openSettings() {
  const dlg = $('settings-dialog');
  $('err-settings').textContent = '';
  $('err-set-display').textContent = '';
  fillSettingsForm();
  $('err-set-avatar').textContent = '';
  $('set-avatar-status').textContent = '';
  fillAvatarControls();
  openSecurity();
  fillPasskeySection();
  fillNotifyBox();
  if (!dlg.open) dlg.showModal();
  $('set-display').focus();
  if (supports('profile_get') && S.conn && S.conn.isReady) {
    try {
      const { user } = await call('profile_get', { user: S.me.id });
      mergeUser(user);
      if (dlg.open) fillAvatarControls();
      if (dlg.open && document.activeElement === $('set-display') && $('set-display').value === (S.me.display_name || '')) {
        $('set-status').value = user.status_text || '';
        $('set-bio').value = user.bio || '';
      }
    } catch (e) { /* ignore */ }
  }
}

async function saveSettingsForm(e) {
  e.preventDefault();
  $('err-settings').textContent = '';
  $('err-set-display').textContent = '';
  const me = { ...S.me, ...(S.users.get(S.me.id) || {}) };
  const prof = {};
  const dn = $('set-display').value.trim();
  if (!dn) { $('err-set-display').textContent = 'Enter a display name.'; $('set-display').focus(); return; }
  if (dn !== (me.display_name || '')) prof.display_name = dn;
  if ($('set-status').value.trim() !== (me.status_text || '')) prof.status_text = $('set-status').value.trim();
  if ($('set-bio').value.trim() !== (me.bio || '')) prof.bio = $('set-bio').value.trim();
  const theme = $('set-theme').value;
  const set = {};
  if (theme !== currentThemeSetting()) set.theme = theme;
  if ($('set-read-receipts').checked !== (S.settings.read_receipts !== false)) set.read_receipts = $('set-read-receipts').checked;
  if ($('set-show-presence').checked !== (S.settings.show_presence !== false)) set.show_presence = $('set-show-presence').checked;
  if ($('set-group-add').value !== (S.settings.group_add || 'everyone')) set.group_add = $('set-group-add').value;
  const btn = $('settings-save');
  btn.disabled = true;
  try {
    if (Object.keys(prof).length) {
      const { user } = await call('profile_set', prof);
      onProfile(user);
    }
    if (set.theme) setTheme(set.theme);
    if (Object.keys(set).length) {
      if (!S.conn || !S.conn.isReady) throw Object.assign(new Error('offline'), { code: 'disconnected' });
      const { settings } = await call('settings_set', { settings: set });
      applySettings(settings, false);
    }
    $('settings-dialog').close();
  } catch (err) {
    $('err-settings').textContent = explain(err, 'Saving');
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- avatar (settings dialog)

function fillAvatarControls() {
  const me = { ...S.me, ...(S.users.get(S.me.id) || {}) };
  const name = me.display_name || me.username;
  custom.paintAvatar($('set-avatar-preview'), name, me.avatar || null);
  $('set-avatar-remove').hidden = !me.avatar;
  $('set-avatar-pick').textContent = me.avatar ? 'Change photo' : 'Upload photo';
}

async function setMyAvatar(avatar) {
  const { user } = await call('profile_set', { avatar });
  onProfile(user);
  fillAvatarControls();
}

// Picks an image from the file input `<prefix>-file`, uploads it and hands
// its media id to save(); status and errors go to `<prefix>-status` and
// `err-<prefix>`, and the pick/remove buttons are disabled meanwhile. Used
// for the profile photo and for a group's photo.
export async function uploadPhoto(prefix, save, done) {
  const input = $(prefix + '-file');
  const file = input.files && input.files[0];
  input.value = '';
  if (!file) return;
  const status = $(prefix + '-status');
  const errEl = $('err-' + prefix);
  errEl.textContent = '';
  if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
    errEl.textContent = 'Choose a PNG, JPEG, GIF or WebP image.';
    return;
  }
  const busy = [$(prefix + '-pick'), $(prefix + '-remove')];
  for (const b of busy) b.disabled = true;
  status.textContent = 'Uploading photo…';
  let stage = 'upload';
  try {
    const res = await media.upload(file, { name: file.name });
    if (!res.thumb_w) throw Object.assign(new Error('not an image'), { code: 'bad_request' });
    stage = 'save';
    await save(res.id);
    status.textContent = done;
  } catch (err) {
    status.textContent = '';
    errEl.textContent = err && err.code === 'bad_request'
      ? 'That image could not be read. Try another one.'
      : stage === 'upload' ? media.uploadError(err, file.name) : explain(err, 'Saving the photo');
  } finally {
    for (const b of busy) b.disabled = false;
  }
}

function onAvatarFile() {
  return uploadPhoto('set-avatar', (id) => setMyAvatar(id), 'Photo updated.');
}

async function removeMyAvatar() {
  $('err-set-avatar').textContent = '';
  try {
    await setMyAvatar(null);
    $('set-avatar-status').textContent = 'Photo removed.';
    $('set-avatar-pick').focus();
  } catch (err) {
    $('err-set-avatar').textContent = explain(err, 'Removing the photo');
  }
}

export function bindSettings() {
  $('btn-me').addEventListener('click', openSettings);
  $('btn-settings').addEventListener('click', openSettings);
  $('settings-form').addEventListener('submit', saveSettingsForm);
  $('set-avatar-pick').addEventListener('click', () => $('set-avatar-file').click());
  $('set-avatar-file').addEventListener('change', onAvatarFile);
  $('set-avatar-remove').addEventListener('click', removeMyAvatar);
  $('settings-cancel').addEventListener('click', () => $('settings-dialog').close());
  bindSecurity();
  bindPasskeySettings();
}
