// Group invitations in two browsers: Bob lets nobody add him to groups
// (settings → Privacy); Alice's new group invites him instead, the
// invitation appears live in his sidebar, he joins from there; Alice adds
// people from the group info dialog (added at once, or invited); Bob
// declines another invitation, leaves a group (and needs a new invitation to
// come back), and a device that was offline lists what is pending.
// Screenshots invites-sidebar.png, invites-group-dialog.png,
// invites-settings.png, invites-mobile.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, startGroup, send, waitForBody,
  uniqueName, assertNoErrors, shot, apiRegister, WsClient,
} from './helpers.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

function inviteItem(page, name) {
  return page.locator('#invite-list .invite-item', { has: page.locator('.invite-name', { hasText: name }) });
}

// Signs in through the UI (the account exists already).
async function loginUI(page, username) {
  await page.fill('#auth-username', username);
  await page.fill('#auth-password', 'correct horse');
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');
  await page.waitForSelector('#conn-status[data-state="online"]', { timeout: 15000 });
}

test('invitations: privacy setting, live invitation, join, add people, decline, leave', async () => {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const carol = uniqueName('carol');
  const dave = uniqueName('dave');
  const a = await apiRegister(server.base, alice);
  const b = await apiRegister(server.base, bob);
  await apiRegister(server.base, carol);
  const d = await apiRegister(server.base, dave);
  const dc = await WsClient.connect(server.base, d.token);
  await dc.request('settings_set', { settings: { group_add: 'nobody' } });
  dc.close();
  const aw = await WsClient.connect(server.base, a.token); // Alice's other device
  const bw = await WsClient.connect(server.base, b.token); // Bob's other device
  await aw.request('profile_set', { display_name: 'Alice Inviter' });
  await bw.request('profile_set', { display_name: 'Bob Private' });

  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  try {
    await loginUI(A.page, alice);
    await loginUI(B.page, bob);

    // Bob: only invitations. The choice is stored server-side.
    await B.page.click('#btn-settings');
    await B.page.waitForSelector('#settings-dialog[open]');
    assert.equal(await B.page.inputValue('#set-group-add'), 'everyone');
    await B.page.selectOption('#set-group-add', 'nobody');
    await B.page.locator('#set-group-add-help').scrollIntoViewIfNeeded();
    await shot(B.page, 'invites-settings.png');
    await B.page.click('#settings-save');
    await B.page.waitForFunction(() => !document.getElementById('settings-dialog').open);
    assert.equal((await bw.request('settings_get')).settings.group_add, 'nobody');
    assert.equal(await B.page.isHidden('#invites'), true);

    // Alice creates a group with Bob: he is invited, not added.
    await startGroup(A.page, 'Weekend trip', [bob]);
    await A.page.waitForFunction(() => /Invited Bob Private/.test(document.getElementById('toast').textContent));
    await send(A.page, 'plans for saturday');

    // Bob sees the invitation live, with who invited him; not the room.
    await inviteItem(B.page, 'Weekend trip').waitFor({ timeout: 10000 });
    assert.match(await inviteItem(B.page, 'Weekend trip').locator('.invite-sub').textContent(),
      /Alice Inviter invited you · 1 member/);
    assert.equal(await B.page.locator('.room-item', { hasText: 'Weekend trip' }).count(), 0);
    await shot(B.page, 'invites-sidebar.png');

    // Join from the sidebar: the group opens with its history.
    await inviteItem(B.page, 'Weekend trip').getByRole('button', { name: 'Join Weekend trip' }).click();
    await B.page.waitForFunction(() => document.getElementById('room-title').textContent === 'Weekend trip');
    await waitForBody(B.page, 'plans for saturday');
    await B.page.waitForSelector('#invites[hidden]', { state: 'attached' });
    await send(B.page, 'count me in');
    await waitForBody(A.page, 'count me in');

    // Alice adds people from the group info: Carol (everyone) is added,
    // Dave (nobody) is invited, a typo is an error.
    await A.page.click('#btn-room-info');
    await A.page.waitForSelector('#group-dialog[open]');
    await A.page.fill('#group-invite', 'no_such_user_zz');
    await A.page.click('#group-invite-btn');
    await A.page.waitForFunction(() => /No user named/.test(document.getElementById('err-group-invite').textContent));
    await A.page.fill('#group-invite', `${carol}, @${dave}`);
    await A.page.press('#group-invite', 'Enter');
    await A.page.waitForFunction(() => /Added/.test(document.getElementById('group-invite-status').textContent));
    const status = await A.page.textContent('#group-invite-status');
    assert.match(status, new RegExp(`Added ${carol}`));
    assert.match(status, new RegExp(`Invited ${dave}`));
    await A.page.waitForFunction(() => document.getElementById('group-members-title').textContent === '3 members');
    assert.equal(await A.page.isVisible('#group-dialog'), true, 'Enter in "Add people" must not close the dialog');
    await shot(A.page, 'invites-group-dialog.png');
    await A.page.click('#group-close');

    // Decline: another group, declined from the sidebar; joining it is
    // refused afterwards.
    const { room: club } = await aw.request('create_room', { kind: 'group', name: 'Book club', members: [bob] });
    await inviteItem(B.page, 'Book club').waitFor({ timeout: 10000 });
    await inviteItem(B.page, 'Book club').getByRole('button', { name: 'Decline the invitation to Book club' }).click();
    await inviteItem(B.page, 'Book club').waitFor({ state: 'detached', timeout: 10000 });
    await assert.rejects(bw.request('join', { room: club.id }), (e) => e.code === 'forbidden');

    // Leave from the group info: the group is gone; coming back needs a new
    // invitation, which a device that was offline lists after connecting.
    await B.page.click('#btn-room-info');
    await B.page.waitForSelector('#group-dialog[open]');
    await B.page.click('#group-leave');
    await B.page.waitForSelector('#confirm-dialog[open]');
    assert.match(await B.page.textContent('#confirm-text'), /invite you again/);
    await B.page.click('#confirm-ok');
    await B.page.locator('.room-item', { hasText: 'Weekend trip' }).waitFor({ state: 'detached', timeout: 10000 });
    assert.equal(await B.page.isHidden('#group-dialog'), true);
    assertNoErrors(B.page);
    await B.context.close();
    const weekend = (await aw.request('rooms')).rooms.find((r) => r.name === 'Weekend trip');
    await assert.rejects(bw.request('join', { room: weekend.id }), (e) => e.code === 'forbidden');
    await aw.request('invite', { room: weekend.id, users: [bob] });

    const B2 = await newPage(browser, server.base, { viewport: { width: 390, height: 844 } });
    try {
      await loginUI(B2.page, bob);
      await inviteItem(B2.page, 'Weekend trip').waitFor({ timeout: 10000 });
      await shot(B2.page, 'invites-mobile.png');
      await inviteItem(B2.page, 'Weekend trip').getByRole('button', { name: 'Join Weekend trip' }).click();
      await waitForBody(B2.page, 'count me in');
      assertNoErrors(B2.page);
    } finally {
      await B2.context.close();
    }
    assertNoErrors(A.page);
  } finally {
    aw.close();
    bw.close();
    await A.context.close();
    await B.context.close().catch(() => {});
  }
});

test('joining from the sidebar leaves the keyboard in the opened group', async () => {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const a = await apiRegister(server.base, alice);
  const b = await apiRegister(server.base, bob);
  const bw = await WsClient.connect(server.base, b.token);
  await bw.request('settings_set', { settings: { group_add: 'nobody' } });
  bw.close();
  const aw = await WsClient.connect(server.base, a.token);
  await aw.request('create_room', { kind: 'group', name: 'First invite', members: [bob] });
  await aw.request('create_room', { kind: 'group', name: 'Second invite', members: [bob] });
  aw.close();
  const B = await newPage(browser, server.base);
  try {
    await loginUI(B.page, bob);
    await inviteItem(B.page, 'Second invite').waitFor({ timeout: 10000 });
    await inviteItem(B.page, 'First invite').getByRole('button', { name: 'Join First invite' }).click();
    await B.page.waitForFunction(() => document.getElementById('room-title').textContent === 'First invite');
    await B.page.waitForTimeout(200);
    // The group opened with the composer focused; the other invitation's
    // buttons (the list was rendered again) did not take the focus back.
    assert.equal(await B.page.evaluate(() => document.activeElement && document.activeElement.id), 'composer-input');
    assert.equal(await inviteItem(B.page, 'Second invite').count(), 1);
    assertNoErrors(B.page);
  } finally {
    await B.context.close();
  }
});
