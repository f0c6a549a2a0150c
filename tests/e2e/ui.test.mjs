// Accounts, sidebar behaviour, themes, phone layout and screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, startGroup, openRoomByName, send,
  bodies, waitForBody, waitOnline, uniqueName, assertNoErrors, shot, apiRegister, WsClient,
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

test('register/login errors are shown next to the field; session is remembered; logout', async () => {
  const taken = uniqueName('taken');
  await apiRegister(server.base, taken);
  const { context, page } = await newPage(browser, server.base);
  try {
    await page.waitForSelector('#auth-view:not([hidden])');
    // wrong password
    await page.fill('#auth-username', taken);
    await page.fill('#auth-password', 'not the password');
    await page.click('#auth-submit');
    await page.waitForFunction(() => document.getElementById('err-password').textContent !== '');
    assert.equal(await page.getAttribute('#err-password', 'data-code'), 'bad_credentials');
    assert.equal(await page.getAttribute('#auth-password', 'aria-invalid'), 'true');
    // taken username
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.fill('#auth-username', taken);
    await page.fill('#auth-password', 'long enough pw');
    await page.click('#auth-submit');
    await page.waitForFunction(() => document.getElementById('err-username').textContent !== '');
    assert.equal(await page.getAttribute('#err-username', 'data-code'), 'username_taken');
    // invalid username and weak password
    await page.fill('#auth-username', 'Bad Name!');
    await page.click('#auth-submit');
    await page.waitForFunction(() => document.getElementById('err-username').dataset.code === 'invalid_username');
    await page.fill('#auth-username', uniqueName('fresh'));
    await page.fill('#auth-password', 'short');
    await page.click('#auth-submit');
    await page.waitForFunction(() => document.getElementById('err-password').dataset.code === 'weak_password');
    await shot(page, 'desktop-light-register-error.png');
    // success, then reload keeps the session
    const me = uniqueName('quinn');
    await page.fill('#auth-username', me);
    await page.fill('#auth-password', 'long enough pw');
    await page.click('#auth-submit');
    await page.waitForSelector('#chat-view:not([hidden])');
    await waitOnline(page);
    await page.reload();
    await waitOnline(page);
    assert.equal(await page.textContent('#me-name'), me);
    // logout revokes the token and forgets it
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).token);
    await page.click('#btn-logout');
    await page.waitForSelector('#auth-view:not([hidden])');
    assert.equal(await page.evaluate(() => localStorage.getItem('parley.session')), null);
    await assert.rejects(WsClient.connect(server.base, token), /unknown|revoked|token/i);
    // log in again
    await page.fill('#auth-username', me);
    await page.fill('#auth-password', 'long enough pw');
    await page.click('#auth-submit');
    await waitOnline(page);
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});

test('sidebar: last activity order, unread counts, previews, new-messages marker, read sync', async () => {
  const me = uniqueName('rita');
  const others = [uniqueName('sam'), uniqueName('tess')];
  const tok = await Promise.all(others.map((n) => apiRegister(server.base, n)));
  const { context, page } = await newPage(browser, server.base);
  try {
    await registerUI(page, me, 'Rita');
    const ws = await Promise.all(tok.map((t) => WsClient.connect(server.base, t.token)));
    const rooms = [];
    for (const c of ws) rooms.push((await c.request('create_room', { kind: 'dm', members: [me] })).room.id);
    await page.waitForFunction(() => document.querySelectorAll('.room-item').length === 2);
    await ws[0].request('send', { room: rooms[0], client_id: 'a1', content: { type: 'text', body: 'from sam 1' } });
    await ws[1].request('send', { room: rooms[1], client_id: 'b1', content: { type: 'text', body: 'from tess' } });
    await ws[0].request('send', { room: rooms[0], client_id: 'a2', content: { type: 'text', body: 'from sam 2' } });
    await page.waitForFunction(() => document.querySelector('.room-item .room-preview')?.textContent === 'from sam 2');
    const names = await page.$$eval('.room-item .room-name', (e) => e.map((x) => x.textContent));
    assert.deepEqual(names, [others[0], others[1]], 'most recent first');
    const badges = await page.$$eval('.room-item .badge', (e) => e.map((x) => x.textContent));
    assert.deepEqual(badges, ['2', '1']);
    await ws[1].request('send', { room: rooms[1], client_id: 'b2', content: { type: 'text', body: 'tess again' } });
    await page.waitForFunction((n) => document.querySelector('.room-item .room-name')?.textContent === n, others[1]);
    // open sam's room: marker before the first unread, badge cleared, read sent
    await openRoomByName(page, others[0]);
    await waitForBody(page, 'from sam 2');
    assert.equal(await page.locator('#new-marker').count(), 1);
    assert.equal(await page.$eval('#new-marker + li .body', (e) => e.textContent), 'from sam 1');
    await page.waitForFunction((n) => ![...document.querySelectorAll('.room-item')]
      .find((b) => b.querySelector('.room-name').textContent === n).querySelector('.badge'), others[0]);
    await page.waitForTimeout(300);
    const fresh = await WsClient.connect(server.base, (await (await fetch(`${server.base}/v1/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: me, password: 'correct horse' }) })).json()).token);
    const list = (await fresh.request('rooms')).rooms;
    assert.equal(list.find((r) => r.id === rooms[0]).unread, 0, 'read marker reached the server');
    assert.equal(list.find((r) => r.id === rooms[1]).unread, 2);
    // a live message in the open room (at the bottom) does not count as unread
    await ws[0].request('send', { room: rooms[0], client_id: 'a3', content: { type: 'text', body: 'live while open' } });
    await waitForBody(page, 'live while open');
    await page.waitForTimeout(300);
    assert.equal(await page.locator('.room-item.active .badge').count(), 0);
    for (const c of [...ws, fresh]) c.close();
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});

test('dark mode toggle persists across reload; desktop screenshots light and dark', async () => {
  const a = uniqueName('uma');
  const b = uniqueName('vic');
  const c = uniqueName('wes');
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  try {
    await apiRegister(server.base, c);
    await registerUI(B.page, b, 'Victor Hugo');
    await registerUI(A.page, a, 'Uma Thurman');
    await startGroup(A.page, 'Design review', [b, c]);
    await send(A.page, 'Morning! The new mockups are up: https://example.com/mockups');
    await openRoomByName(B.page, 'Design review');
    await send(B.page, 'Looks great. One question about the sidebar spacing —\ncan we make the unread badge a little bigger?');
    await send(B.page, 'Also 👍 on dark mode');
    await waitForBody(A.page, 'Also 👍 on dark mode');
    await startDM(A.page, b);
    await send(A.page, 'quick one: lunch at 12?');
    await openRoomByName(A.page, 'Design review');
    await A.page.waitForTimeout(200);
    const bg = () => A.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await bg();
    assert.equal(await A.page.getAttribute('[data-theme-toggle].icon-btn', 'aria-pressed'), 'false');
    await shot(A.page, 'desktop-light.png');
    await A.page.click('[data-theme-toggle].icon-btn');
    assert.equal(await A.page.getAttribute('html', 'data-theme'), 'dark');
    const dark = await bg();
    assert.notEqual(dark, light);
    await A.page.waitForTimeout(200);
    await shot(A.page, 'desktop-dark.png');
    await A.page.reload();
    await waitOnline(A.page);
    assert.equal(await A.page.getAttribute('html', 'data-theme'), 'dark');
    assert.equal(await bg(), dark, 'dark after reload');
    assert.equal(await A.page.getAttribute('[data-theme-toggle].icon-btn', 'aria-pressed'), 'true');
    await A.page.click('[data-theme-toggle].icon-btn');
    await A.page.reload();
    await waitOnline(A.page);
    assert.equal(await A.page.getAttribute('html', 'data-theme'), 'light');
    assert.equal(await bg(), light);
    assertNoErrors(A.page);
  } finally {
    await A.context.close();
    await B.context.close();
  }
});

test('system dark preference is followed without a stored choice', async () => {
  const { context, page } = await newPage(browser, server.base, { colorScheme: 'dark' });
  try {
    await page.waitForSelector('#auth-view:not([hidden])');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(11, 20, 22)');
    await shot(page, 'desktop-dark-login.png');
  } finally {
    await context.close();
  }
});

test('phone 375x667: one pane at a time with back navigation; screenshots', async () => {
  const a = uniqueName('xena');
  const b = uniqueName('yuri');
  const P = await newPage(browser, server.base, { viewport: { width: 375, height: 667 },
    contextOptions: { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } });
  const B = await newPage(browser, server.base);
  try {
    await shot(P.page, 'phone-login.png');
    await registerUI(B.page, b, 'Yuri Gagarin');
    await registerUI(P.page, a, 'Xena');
    await startDM(P.page, b);
    // conversation only: the sidebar is hidden
    assert.equal(await P.page.isVisible('#sidebar'), false);
    assert.equal(await P.page.isVisible('#btn-back'), true);
    await send(P.page, 'Hi Yuri! Are you around this weekend?');
    await openRoomByName(B.page, 'Xena');
    await send(B.page, 'Hey! Yes — Saturday works. Want to grab coffee at https://example.com/cafe ?');
    await send(B.page, 'Or a walk if the weather is nice ☀️');
    await waitForBody(P.page, 'Or a walk if the weather is nice ☀️');
    await send(P.page, 'Coffee sounds perfect.\nSee you at 10!');
    await waitForBody(P.page, 'Coffee sounds perfect.\nSee you at 10!');
    await P.page.waitForTimeout(200);
    await shot(P.page, 'phone-conversation.png');
    await P.page.click('#btn-back');
    assert.equal(await P.page.isVisible('#sidebar'), true);
    assert.equal(await P.page.isVisible('#room-pane'), false);
    await shot(P.page, 'phone-room-list.png');
    // dark on the phone
    await P.page.click('[data-theme-toggle].icon-btn');
    await shot(P.page, 'phone-room-list-dark.png');
    await openRoomByName(P.page, 'Yuri Gagarin');
    await P.page.waitForTimeout(200);
    await shot(P.page, 'phone-conversation-dark.png');
    await waitForBody(B.page, 'Coffee sounds perfect.\nSee you at 10!');
    assert.deepEqual(await bodies(P.page), await bodies(B.page));
    assertNoErrors(P.page);
  } finally {
    await P.context.close();
    await B.context.close();
  }
});

test('keyboard only: new chat dialog, room list arrows, Enter sends, Shift+Enter adds a line', async () => {
  const a = uniqueName('kim');
  const b = uniqueName('lee');
  const c = uniqueName('max');
  await apiRegister(server.base, b);
  await apiRegister(server.base, c);
  const { context, page } = await newPage(browser, server.base);
  try {
    await registerUI(page, a, 'Kim');
    for (const who of [b, c]) {
      await page.focus('#btn-new');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#new-dialog[open]');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'new-members');
      await page.keyboard.type(who);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => !document.getElementById('new-dialog').open);
      await page.waitForFunction(() => document.activeElement?.id === 'composer-input');
    }
    // unknown user: error shown next to the field, dialog stays open
    await page.focus('#btn-new');
    await page.keyboard.press('Enter');
    await page.keyboard.type('nobody-here');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('err-new-members').dataset.code === 'user_not_found');
    assert.equal(await page.getAttribute('#new-members', 'aria-invalid'), 'true');
    await shot(page, 'desktop-light-new-chat-error.png');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.getElementById('new-dialog').open);
    // compose with the keyboard
    await page.focus('#composer-input');
    await page.keyboard.type('line one');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('line two');
    assert.equal(await page.inputValue('#composer-input'), 'line one\nline two');
    await page.keyboard.press('Enter');
    await waitForBody(page, 'line one\nline two');
    assert.equal(await page.inputValue('#composer-input'), '');
    // room list: arrows move between conversations, Enter opens
    await page.focus('.room-item >> nth=0');
    await page.keyboard.press('ArrowDown');
    const focused = await page.evaluate(() => document.activeElement.querySelector('.room-name')?.textContent);
    assert.equal(focused, b);
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.getElementById('room-title').textContent === n, b);
    // focus is visible
    await page.focus('#btn-new');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(outline, 'solid');
    // every button has an accessible name
    const unnamed = await page.$$eval('button', (bs) => bs.filter((x) => x.offsetParent !== null &&
      !(x.getAttribute('aria-label') || x.textContent.trim())).map((x) => x.outerHTML.slice(0, 80)));
    assert.deepEqual(unnamed, []);
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});
