// Web Push in the web client (issue 15): web/js/notify.js, notify-ui.js, sw.js.
//
// Covered:
//  - the page side of subscribing: "Turn on notifications" in Settings (a
//    user action) asks for permission, calls pushManager.subscribe with the
//    server's VAPID key (push_key) and hands the subscription to the real
//    push_subscribe op: the server then lists it (push_subscriptions);
//    logging out unsubscribes the browser and the server forgets it.
//  - the service worker's `push` handler: a push is delivered with the
//    DevTools protocol (ServiceWorker.deliverPushMessage) carrying the JSON
//    payload the server encrypts (docs/protocol.md, "Web Push
//    notifications"); the notification shown (registration.getNotifications())
//    has the title, the text, the sender's photo as the icon (stored by the
//    page for the worker), the room tag (a second push to the room replaces
//    it), renotify only for a mention, and the content-free text.
//  - opening the room: the worker's click path (openFromNotification, what
//    `notificationclick` runs) posts to the open tab, which opens the room;
//    a fresh tab on `#room=r…` (what it opens when no tab is open) shows it.
//  - the settings screen: per-room level from the room's menu, account
//    mute / do-not-disturb (local time → UTC) / content-free, round-tripped
//    through the server (push_settings_get), and a second tab of the same
//    user shows the change from the push_settings event; the one-time hint
//    ("Not now" keeps it hidden); the unread badge (navigator.setAppBadge).
//  - screenshots of the settings screen, light and dark.
// Not covered (cannot be here): a real push service (headless Chromium's
// pushManager.subscribe() fails without one, so PushManager is stubbed in the
// page), the browser's permission prompt itself (granted by the test), a
// real click on a system notification (CDP has none: the click handler's
// function is called in the worker), openWindow from a click (needs the
// user activation a real click gives). The server's encryption and delivery
// are tests/integration/test_push.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { encodePNG } from './png.mjs';
import {
  startServer, launchBrowser, newPage, registerUI, uniqueName, startDM, startGroup, waitOnline,
  apiRegister, WsClient, shot, assertNoErrors,
} from './helpers.mjs';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// Replaces PushManager in the page: subscribe() records the key it was given
// and returns a PushSubscription-like object with a real P-256 key.
function stubPush(context, sub) {
  return context.addInitScript((s) => {
    if (typeof window === 'undefined' || !('PushManager' in window)) return;
    const st = { subscribeCalls: 0, unsubscribed: 0, key: null, badge: [] };
    window.__push = st;
    let cur = null;
    const make = (key) => ({
      endpoint: s.endpoint, expirationTime: null, options: { userVisibleOnly: true, applicationServerKey: key },
      toJSON() { return { endpoint: s.endpoint, expirationTime: null, keys: { p256dh: s.p256dh, auth: s.auth } }; },
      async unsubscribe() { cur = null; st.unsubscribed++; return true; },
    });
    PushManager.prototype.subscribe = async function (opts) {
      st.subscribeCalls++;
      const k = new Uint8Array(opts.applicationServerKey);
      st.key = btoa(String.fromCharCode(...k)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      cur = make(k.buffer);
      return cur;
    };
    PushManager.prototype.getSubscription = async function () { return cur; };
    if ('setAppBadge' in navigator) {
      navigator.setAppBadge = async (n) => { st.badge.push(n); };
      navigator.clearAppBadge = async () => { st.badge.push(0); };
    }
  }, sub);
}

async function waitFor(fn, what, timeout = 15000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function login(base, username, password = 'correct horse') {
  const r = await fetch(`${base}/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }) });
  assert.equal(r.status, 200, `login ${username}`);
  return r.json();
}

const currentRoom = (page) => page.evaluate(() => {
  const b = document.querySelector('#room-list [data-room][aria-current="true"]');
  return b && !document.getElementById('room-pane').hidden ? b.dataset.room : null;
});

test('web push: subscribe, notifications, click, settings screen', { timeout: 180000 }, async () => {
  const srv = await startServer();
  const browser = await launchBrowser();
  try {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const sub = {
      endpoint: `https://push.example.com/send/${crypto.randomBytes(8).toString('hex')}`,
      p256dh: b64url(ecdh.getPublicKey()), auth: b64url(crypto.randomBytes(16)),
    };
    const aliceName = uniqueName('alice');
    const bobName = uniqueName('bob');
    const carolName = uniqueName('carol');
    const bob = await apiRegister(srv.base, bobName);
    await apiRegister(srv.base, carolName);
    // Bob has a photo: Alice's notifications show it as the icon.
    const png = encodePNG(64, 64, (x, y) => [x * 4, y * 4, 200]);
    const up = await fetch(`${srv.base}/v1/media?name=bob.png`, { method: 'POST',
      headers: { Authorization: `Bearer ${bob.token}`, 'Content-Type': 'image/png' }, body: png });
    assert.ok(up.ok, `avatar upload ${up.status}`);
    const bobWs = await WsClient.connect(srv.base, bob.token);
    await bobWs.request('profile_set', { avatar: (await up.json()).id });
    bobWs.close();

    // Tab 1: Alice, notifications permitted, PushManager stubbed. Kolkata
    // (UTC+5:30, no DST) makes the do-not-disturb conversion visible.
    const ctxOpts = { timezoneId: 'Asia/Kolkata' };
    const { context, page } = await newPage(browser, srv.base, { contextOptions: ctxOpts });
    await context.grantPermissions(['notifications'], { origin: srv.base });
    await stubPush(context, sub);
    await page.reload();
    await registerUI(page, aliceName, 'Alice');
    await startDM(page, bobName);
    const dmRoom = await waitFor(() => currentRoom(page), 'the DM open');
    await startGroup(page, 'crew', [bobName, carolName]);
    const groupRoom = await waitFor(async () => { const r = await currentRoom(page); return r !== dmRoom && r; }, 'the group open');
    // Permission already granted: no hint.
    assert.equal(await page.isHidden('#notify-hint'), true);

    const session = await page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')));
    const other = await login(srv.base, aliceName);
    const ws = await WsClient.connect(srv.base, other.token);
    const { key } = await ws.request('push_key');
    assert.equal((await ws.request('push_subscriptions')).subscriptions.length, 0);

    // Settings → Notifications → Turn on.
    await page.click('#btn-settings');
    await page.waitForSelector('#notify-enable:not([hidden])');
    await page.click('#notify-enable');
    await page.waitForSelector('#notify-disable:not([hidden])');
    assert.match(await page.textContent('#notify-status'), /On for this device/);
    const st = await page.evaluate(() => window.__push);
    assert.equal(st.subscribeCalls, 1);
    assert.equal(st.key, key, 'subscribed with the server key');
    const subs = (await ws.request('push_subscriptions')).subscriptions;
    assert.deepEqual(subs.map((x) => x.endpoint), [sub.endpoint], 'the server holds the subscription');
    await page.click('#settings-cancel');

    // A push to the worker, as the server sends it, while the group is open.
    // The page stores Bob's square photo for the worker (it has no token).
    await waitFor(() => page.evaluate(async () => (await (await caches.open('parley-avatars-v1')).keys())
      .some((r) => /\/avatar\/u[0-9]+$/.test(r.url))), 'the avatar stored for the worker');
    const sw = await waitFor(() => context.serviceWorkers()[0], 'the service worker');
    const cdp = await context.newCDPSession(page);
    const regs = new Promise((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
        const r = e.registrations.find((x) => !x.isDeleted && x.scopeURL.startsWith(srv.base));
        if (r) resolve(r.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    const registrationId = await regs;
    const deliver = (payload) => cdp.send('ServiceWorker.deliverPushMessage',
      { origin: srv.base + '/', registrationId, data: JSON.stringify(payload) });
    const shown = () => page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications())
      .map((n) => ({ title: n.title, body: n.body, tag: n.tag, renotify: n.renotify, icon: n.icon, data: n.data })));
    const base = { v: 1, type: 'message', room: dmRoom, sender: bob.user_id, ts: Date.now() };
    await deliver({ ...base, seq: 1, id: 'm1', why: 'dm', title: 'Bob', content_free: false, sender_name: 'Bob',
      content_type: 'text', body: 'first <b>push</b>' });
    await deliver({ ...base, seq: 2, id: 'm2', why: 'dm', title: 'Bob', content_free: false, sender_name: 'Bob',
      content_type: 'text', body: 'second push' });
    let ns = await waitFor(async () => { const v = await shown(); return v.some((n) => n.body === 'second push') && v; }, 'the notification');
    assert.equal(ns.length, 1, 'a burst in one room is one notification (tag)');
    assert.equal(ns[0].title, 'Bob');
    assert.equal(ns[0].tag, `room:${dmRoom}`);
    assert.equal(ns[0].renotify, false, 'a plain message does not alert again');
    assert.equal(ns[0].data.room, dmRoom);
    assert.match(ns[0].icon, /^data:image\/(jpeg|png);base64,/, 'the sender\'s photo as the icon');
    // A content-free mention in the group: the text is not shown, it alerts.
    await deliver({ v: 1, type: 'message', room: groupRoom, seq: 3, id: 'm3', sender: bob.user_id, why: 'mention',
      ts: Date.now(), title: 'New message from Bob', content_free: true });
    ns = await waitFor(async () => { const v = await shown(); return v.length === 2 && v; }, 'the second notification');
    const g = ns.find((n) => n.tag === `room:${groupRoom}`);
    assert.equal(g.title, 'New message from Bob');
    assert.equal(g.body, 'You were mentioned. Open Parley to read it.');
    assert.equal(g.renotify, true);
    // A hostile payload shows a generic notification with the app icon.
    await deliver({ room: '../x', title: 42, body: { x: 1 }, sender: '../../v1/x' });
    const gen = await waitFor(async () => (await shown()).find((n) => n.tag === 'parley' && n.title === 'New message'), 'the generic one');
    assert.match(gen.icon, /icon-192\.png$/);

    // The click: the open tab is told to open the DM.
    assert.equal(await currentRoom(page), groupRoom);
    assert.equal(await sw.evaluate((room) => self.openFromNotification(room), dmRoom), 'focused');
    await waitFor(async () => (await currentRoom(page)) === dmRoom, 'the DM opened by the click');
    // No tab: the worker opens index.html#room=…; such a tab shows the room.
    const cold = await context.newPage();
    await cold.goto(`${srv.base}/#room=${groupRoom}`);
    await waitOnline(cold);
    await waitFor(async () => (await currentRoom(cold)) === groupRoom, 'the group opened from the URL');
    assert.equal(await cold.evaluate(() => location.hash), '', 'the room hash is consumed');
    await cold.close();

    // Tab 2: Alice on another device (no permission yet: the one-time hint).
    const t2 = await newPage(browser, srv.base, { contextOptions: ctxOpts });
    await stubPush(t2.context, sub);
    await t2.page.fill('#auth-username', aliceName);
    await t2.page.fill('#auth-password', 'correct horse');
    await t2.page.click('#auth-submit');
    await waitOnline(t2.page);
    await t2.page.waitForSelector('#notify-hint:not([hidden])');
    await shot(t2.page, 'notify-hint.png');
    await t2.page.click('#notify-hint-later');
    assert.equal(await t2.page.isHidden('#notify-hint'), true);
    assert.equal(await t2.page.evaluate((k) => localStorage.getItem(k), `parley.push.hint.${session.user_id}`), '"dismissed"',
      '"Not now" is remembered');
    await t2.page.click('#btn-settings');
    await t2.page.click('#notify-open');
    await t2.page.waitForSelector('#notify-dialog[open]');
    assert.equal(await t2.page.isChecked('#nt-content-free'), false);

    // Tab 1: the DM's menu → Notifications.
    await page.click('#btn-room-menu');
    await page.getByRole('menuitem', { name: /^Notifications: Default/ }).click();
    await page.waitForSelector('#notify-dialog[open]');
    assert.equal(await page.isVisible('#nt-room-box'), true);
    await page.selectOption('#nt-room-level', 'nothing');
    await page.selectOption('#nt-room-mute', String(3600000));
    await page.check('#nt-dnd');
    await page.fill('#nt-dnd-start', '22:00');
    await page.fill('#nt-dnd-end', '07:00');
    await page.check('#nt-content-free');
    await shot(page, 'notify-settings-light.png');
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot(page, 'notify-settings-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });
    const t0 = Date.now();
    await page.click('#nt-save');
    await page.waitForFunction(() => !document.getElementById('notify-dialog').open);
    const { settings } = await ws.request('push_settings_get');
    assert.equal(settings.content_free, true);
    assert.deepEqual(settings.dnd, { start: '16:30', end: '01:30' }, 'local 22:00–07:00 in Kolkata, kept in UTC');
    assert.equal(settings.rooms[dmRoom].level, 'nothing');
    assert.ok(settings.rooms[dmRoom].mute_until >= t0 + 3600000 - 5000 && settings.rooms[dmRoom].mute_until <= Date.now() + 3600000 + 5000);
    assert.equal(settings.mute_until, 0);
    // Tab 2's open screen follows the push_settings event.
    await t2.page.waitForFunction(() => document.getElementById('nt-content-free').checked, null, { timeout: 10000 });
    assert.equal(await t2.page.isChecked('#nt-dnd'), true);
    assert.equal(await t2.page.inputValue('#nt-dnd-start'), '22:00');
    // The menu says what is set; reopening shows the server's state.
    await page.click('#btn-room-menu');
    await page.getByRole('menuitem', { name: 'Notifications: muted…' }).click();
    await page.waitForSelector('#notify-dialog[open]');
    assert.equal(await page.inputValue('#nt-room-level'), 'nothing');
    assert.equal(await page.inputValue('#nt-room-mute'), 'keep');
    await page.click('#nt-cancel');
    await t2.page.click('#nt-cancel');

    // The unread badge: Bob writes in the group while Alice reads the DM.
    const bws = await WsClient.connect(srv.base, bob.token);
    await bws.request('send', { room: groupRoom, client_id: 'b1', content: { type: 'text', body: 'hi crew' } });
    assert.equal(await page.evaluate(() => 'setAppBadge' in navigator), true, 'Chromium has the Badging API');
    await waitFor(async () => (await page.evaluate(() => window.__push.badge)).includes(1), 'badge 1');
    await page.click(`#room-list [data-room="${groupRoom}"]`);
    await waitFor(async () => (await page.evaluate(() => window.__push.badge)).at(-1) === 0, 'badge cleared');
    bws.close();

    // Log out: the browser's subscription and the server's go.
    assert.equal(session.user_id.startsWith('u'), true);
    await page.click('#btn-logout');
    await page.waitForSelector('#auth-view:not([hidden])');
    assert.equal(await page.evaluate(() => window.__push.unsubscribed), 1);
    await waitFor(async () => (await ws.request('push_subscriptions')).subscriptions.length === 0, 'server forgot it');
    ws.close();
    assertNoErrors(page);
    assertNoErrors(t2.page);
    await t2.context.close();
    await context.close();
  } finally {
    await browser.close();
    await srv.stop();
  }
});
