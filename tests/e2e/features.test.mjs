// Conversation features (issue 4) in the browser: typing, receipts, reactions,
// mentions, edit/delete, replies, threads, presence, profiles, settings sync,
// disappearing messages, search, version-aware sync.
// Each test is skipped (with the reason) when the server lacks the op it
// needs; that is decided at load time by probing a private parleyd.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, uniqueName, apiRegister, WsClient, openRoomByName,
  send, waitForBody, shot, assertNoErrors, waitOnline,
} from './helpers.mjs';

// ---------------------------------------------------------------- server + probe

let server;
let shortTimers = true;
try {
  server = await startServer(['--set', 'min_disappearing_ms=100']);
} catch (e) {
  if (!/min_disappearing_ms/.test(String(e))) throw e;
  shortTimers = false;
  server = await startServer();
}
const browser = await launchBrowser();
after(async () => { await browser.close(); await server.stop(); });

async function probe() {
  const a = await apiRegister(server.base, uniqueName('probea'));
  const b = await apiRegister(server.base, uniqueName('probeb'));
  const c = await WsClient.connect(server.base, a.token);
  const { room } = await c.request('create_room', { kind: 'dm', members: [b.username] });
  const { message } = await c.request('send', { room: room.id, client_id: 'p1', content: { type: 'text', body: `hi @${b.username}` } });
  const has = {};
  const tries = {
    edit: ['edit', { room: room.id, seq: 1, content: { type: 'text', body: 'probe edited' } }],
    react: ['react', { room: room.id, seq: 1, emoji: '👍' }],
    typing: ['typing', { room: room.id, typing: false }],
    delivered: ['delivered', { room: room.id, seq: 1 }],
    receipts: ['receipts', { room: room.id }],
    thread: ['thread', { room: room.id, root: 1 }],
    presence: ['presence', { status: 'online' }],
    presence_query: ['presence_query', {}],
    profile_get: ['profile_get', { user: a.user_id }],
    profile_set: ['profile_set', { bio: 'probe' }],
    settings_get: ['settings_get', {}],
    settings_set: ['settings_set', { settings: { read_receipts: true } }],
    search: ['search', { query: 'probe' }],
    room_settings: ['room_settings', { room: room.id, disappearing_ms: 0 }],
  };
  for (const [k, [op, args]] of Object.entries(tries)) {
    try { await c.request(op, args); has[k] = true; } catch (e) { has[k] = e.code !== 'unknown_op'; }
  }
  has.mentions = Array.isArray(message.mentions);
  try {
    const r = await c.request('send', { room: room.id, client_id: 'p2', reply_to: 1, content: { type: 'text', body: 'r' } });
    has.reply_to = !!r.message.reply_to;
    const t = await c.request('send', { room: room.id, client_id: 'p3', thread: 1, content: { type: 'text', body: 't' } });
    has.threads = has.thread && t.message.thread_root === 1;
  } catch (e) { has.reply_to = false; has.threads = false; }
  try {
    await c.request('delete', { room: room.id, seq: 2 });
    has.delete = true;
  } catch (e) { has.delete = e.code !== 'unknown_op'; }
  try {
    await c.request('sync', { since: { [room.id]: { seq: 0, version: 0 } } });
    has.versioned = true;
  } catch (e) { has.versioned = false; }
  c.close();
  return has;
}
const has = await probe();
const need = (...ops) => {
  const missing = ops.filter((o) => !has[o]);
  return missing.length ? `server op ${missing.join(', ')} not available` : false;
};
console.log('# server features:', JSON.stringify(has), 'short timers:', shortTimers);

// ---------------------------------------------------------------- helpers

// Register through the API and open the app already signed in.
async function userPage(reg, opts = {}) {
  const { context, page } = await newPage(browser, server.base, opts);
  await page.evaluate((s) => localStorage.setItem('parley.session', JSON.stringify(s)),
    { token: reg.token, user_id: reg.user_id, username: reg.username, device_id: reg.device_id, display_name: reg.username });
  await page.reload();
  await page.waitForSelector('#chat-view:not([hidden])');
  await waitOnline(page);
  return { context, page, reg };
}

async function newUser(prefix, displayName) {
  const username = uniqueName(prefix);
  const r = await fetch(`${server.base}/v1/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: 'correct horse', display_name: displayName || username }) });
  assert.equal(r.status, 201);
  return r.json();
}

async function wsFor(reg) { return WsClient.connect(server.base, reg.token); }

async function dmRoom(a, b) {
  const c = await wsFor(a);
  const { room } = await c.request('create_room', { kind: 'dm', members: [b.username] });
  c.close();
  return room;
}

async function groupRoom(a, members, name) {
  const c = await wsFor(a);
  const { room } = await c.request('create_room', { kind: 'group', name, members: members.map((m) => m.username) });
  c.close();
  return room;
}

function msgLi(page, text) {
  return page.locator('#message-list li.msg:not(.pending)', { has: page.locator('.body', { hasText: text }) }).first();
}

async function hoverAct(page, li, act) {
  await li.hover();
  await li.locator(`[data-act="${act}"]`).click();
}

async function menuAction(page, li, action) {
  await hoverAct(page, li, 'more');
  await page.locator(`.popover [data-action="${action}"]`).click();
}

async function closeAll(...ps) { for (const p of ps) await p.context.close(); }

// ---------------------------------------------------------------- typing

test('typing indicator: shown to the other side, cleared on send', { skip: need('typing') }, async () => {
  const a = await newUser('typa', 'Alice Typer');
  const b = await newUser('typb', 'Bob');
  await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Bob');
    await openRoomByName(B.page, 'Alice Typer');
    await A.page.click('#composer-input');
    await A.page.keyboard.type('hello the');
    await B.page.waitForFunction(() => document.getElementById('typing').textContent === 'Alice Typer is typing…');
    await B.page.waitForSelector('#typing.active');
    await A.page.keyboard.press('Enter');
    await B.page.waitForFunction(() => document.getElementById('typing').textContent === '');
    await waitForBody(B.page, 'hello the');
    // Clearing the composer also stops the indicator.
    await A.page.keyboard.type('x');
    await B.page.waitForFunction(() => document.getElementById('typing').textContent.includes('typing'));
    await A.page.keyboard.press('Backspace');
    await B.page.waitForFunction(() => document.getElementById('typing').textContent === '');
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally { await closeAll(A, B); }
});

// ---------------------------------------------------------------- receipts

test('receipts: ✓ sent, ✓✓ delivered, read in a DM; read-by list in a group', { skip: need('delivered', 'receipts') }, async () => {
  const a = await newUser('reca', 'Ann');
  const b = await newUser('recb', 'Ben');
  const c = await newUser('recc', 'Cat');
  await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Ben');
    await B.context.setOffline(true);
    await send(A.page, 'did you get this');
    const tick = msgLi(A.page, 'did you get this').locator('.tick');
    await tick.waitFor();
    assert.equal(await tick.getAttribute('data-state'), 'sent');
    assert.equal(await tick.textContent(), '✓');
    await B.context.setOffline(false);
    // B is online but has not opened the conversation: delivered, not read.
    await A.page.waitForFunction(() => {
      const t = [...document.querySelectorAll('#message-list li.msg .tick')].pop();
      return t && t.dataset.state === 'delivered';
    }, null, { timeout: 20000 });
    assert.equal(await tick.textContent(), '✓✓');
    await openRoomByName(B.page, 'Ann');
    await A.page.waitForFunction(() => {
      const t = [...document.querySelectorAll('#message-list li.msg .tick')].pop();
      return t && t.dataset.state === 'read' && t.getAttribute('aria-label') === 'Read';
    });

    // Group: the info popover lists who read it.
    const g = await groupRoom(a, [b, c], 'Receipts club');
    await openRoomByName(A.page, 'Receipts club');
    await send(A.page, 'group receipt test');
    await openRoomByName(B.page, 'Receipts club');
    await waitForBody(B.page, 'group receipt test');
    const li = msgLi(A.page, 'group receipt test');
    await menuAction(A.page, li, 'info');
    await A.page.waitForSelector('#info-dialog[open] .info-section.read li');
    await A.page.waitForFunction(() => document.querySelector('#info-dialog .info-section.read h3').textContent === 'Read by (1)');
    assert.match(await A.page.textContent('#info-dialog .info-section.read'), /Ben/);
    assert.doesNotMatch(await A.page.textContent('#info-dialog .info-section.read'), /Cat/);
    await A.page.click('#info-close');
    assert.ok(g.id);
    assertNoErrors(A.page);
  } finally { await closeAll(A, B); }
});

test('unread counts follow across devices of the same user', { skip: need('receipts') }, async () => {
  const a = await newUser('unra', 'Una');
  const b = await newUser('unrb', 'Vic');
  await dmRoom(a, b);
  const b2 = await (await fetch(`${server.base}/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: b.username, password: 'correct horse' }) })).json();
  const B1 = await userPage(b);
  const B2 = await userPage({ ...b2, username: b.username });
  try {
    const ca = await wsFor(a);
    const room = (await ca.request('rooms')).rooms[0];
    await ca.request('send', { room: room.id, client_id: 'u1', content: { type: 'text', body: 'ping one' } });
    await ca.request('send', { room: room.id, client_id: 'u2', content: { type: 'text', body: 'ping two' } });
    ca.close();
    for (const P of [B1, B2]) await P.page.waitForSelector('.room-item.has-unread .badge');
    await openRoomByName(B1.page, 'Una');
    await B2.page.waitForFunction(() => !document.querySelector('.room-item.has-unread'));
  } finally { await closeAll(B1, B2); }
});

// ---------------------------------------------------------------- reactions

test('reactions: picker, chips with counts and who, toggle, seen by the other browser', { skip: need('react') }, async () => {
  const a = await newUser('reaa', 'Ada');
  const b = await newUser('reab', 'Bea');
  await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Bea');
    await openRoomByName(B.page, 'Ada');
    await send(A.page, 'react to me');
    await waitForBody(B.page, 'react to me');
    // B reacts with the picker (keyboard: the action button opens it, arrows move).
    const liB = msgLi(B.page, 'react to me');
    await hoverAct(B.page, liB, 'react');
    await B.page.waitForSelector('.popover.picker');
    await shot(B.page, 'features-picker.png');
    assert.equal(await B.page.locator('.popover.picker .emoji-grid').last().locator('.emoji-btn').count(), 24);
    await B.page.click('.popover.picker .emoji-grid >> nth=-1 >> [data-emoji="👍"]');
    const chipSel = '#message-list li.msg .chip[data-emoji="👍"]';
    for (const P of [A, B]) await P.page.waitForFunction((s) => document.querySelector(s)?.querySelector('.chip-count').textContent === '1', chipSel);
    assert.equal(await B.page.getAttribute(chipSel, 'aria-pressed'), 'true');
    assert.equal(await A.page.getAttribute(chipSel, 'aria-pressed'), 'false');
    assert.match(await A.page.getAttribute(chipSel, 'title'), /Bea reacted with 👍/);
    // A clicks the chip: joins it.
    await A.page.click(chipSel);
    for (const P of [A, B]) await P.page.waitForFunction((s) => document.querySelector(s)?.querySelector('.chip-count').textContent === '2', chipSel);
    assert.match(await B.page.getAttribute(chipSel, 'title'), /Ada/);
    // Recent emoji appear in B's picker next time.
    await hoverAct(B.page, liB, 'react');
    await B.page.waitForSelector('.popover.picker .picker-title:text("Recent")');
    await B.page.keyboard.press('Escape');
    await B.page.waitForSelector('.popover', { state: 'detached' });
    // B toggles off.
    await B.page.click(chipSel);
    for (const P of [A, B]) await P.page.waitForFunction((s) => document.querySelector(s)?.querySelector('.chip-count').textContent === '1', chipSel);
    assert.equal(await B.page.getAttribute(chipSel, 'aria-pressed'), 'false');
    // Second emoji through the quick row of the actions menu.
    await hoverAct(A.page, msgLi(A.page, 'react to me'), 'more');
    await A.page.click('.popover .quick-reactions [data-emoji="😂"]');
    await B.page.waitForSelector('#message-list .chip[data-emoji="😂"]');
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally { await closeAll(A, B); }
});

// ---------------------------------------------------------------- mentions

test('mentions: @-autocomplete, highlight for the mentioned user, sidebar badge', { skip: need('mentions') }, async () => {
  const a = await newUser('mena', 'Mona');
  const b = await newUser('menb', 'Nils');
  const c = await newUser('menc', 'Otto');
  await groupRoom(a, [b, c], 'Mention room');
  await dmRoom(b, c);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Mention room');
    await openRoomByName(B.page, 'Otto'); // B looks at another conversation
    await A.page.click('#composer-input');
    await A.page.keyboard.type('hey @' + b.username.slice(0, 4));
    await A.page.waitForSelector('#mention-list:not([hidden]) .mention-opt');
    assert.match(await A.page.textContent('#mention-list'), /Nils/);
    assert.equal(await A.page.getAttribute('#composer-input', 'aria-expanded'), 'true');
    await A.page.keyboard.press('Enter'); // picks, does not send
    assert.equal(await A.page.inputValue('#composer-input'), `hey @${b.username} `);
    await A.page.keyboard.type('look');
    await A.page.keyboard.press('Enter');
    const text = `hey @${b.username} look`;
    await waitForBody(A.page, text);
    const item = B.page.locator('.room-item', { has: B.page.locator('.room-name', { hasText: 'Mention room' }) });
    await item.locator('.mention-badge').waitFor();
    assert.match(await item.getAttribute('aria-label'), /1 mention/);
    await item.click();
    await waitForBody(B.page, text);
    await B.page.waitForSelector('#message-list li.msg.mentions-me .mention.mention-me');
    await B.page.waitForFunction(() => !document.querySelector('.mention-badge'));
    await shot(B.page, 'features-mention.png');
    // The sender does not get the highlight.
    assert.equal(await A.page.locator('#message-list li.msg.mentions-me').count(), 0);
  } finally { await closeAll(A, B); }
});

// ---------------------------------------------------------------- edit / delete

test('edit (Up arrow) and delete own messages, seen in both browsers', { skip: need('edit', 'delete') }, async () => {
  const a = await newUser('eda', 'Eda');
  const b = await newUser('edb', 'Fox');
  await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Fox');
    await openRoomByName(B.page, 'Eda');
    await send(A.page, 'first version');
    await send(A.page, 'delete me');
    await waitForBody(B.page, 'delete me');
    // Up arrow edits the last own message; here: edit "delete me" first? No: use the menu for the older one.
    await menuAction(A.page, msgLi(A.page, 'first version'), 'edit');
    await A.page.waitForSelector('#composer-context[data-mode="edit"]:not([hidden])');
    assert.equal(await A.page.inputValue('#composer-input'), 'first version');
    await A.page.fill('#composer-input', 'second version');
    await A.page.press('#composer-input', 'Enter');
    for (const P of [A, B]) {
      await waitForBody(P.page, 'second version');
      await msgLi(P.page, 'second version').locator('.edited').waitFor();
    }
    // Up arrow in the empty composer edits the last own message.
    await A.page.click('#composer-input');
    await A.page.keyboard.press('ArrowUp');
    assert.equal(await A.page.inputValue('#composer-input'), 'delete me');
    await A.page.keyboard.press('Escape');
    assert.equal(await A.page.inputValue('#composer-input'), '');
    // Delete through the menu and the confirm dialog.
    await menuAction(A.page, msgLi(A.page, 'delete me'), 'delete');
    await A.page.waitForSelector('#confirm-dialog[open]');
    await A.page.click('#confirm-ok');
    for (const P of [A, B]) {
      await P.page.waitForFunction(() => [...document.querySelectorAll('#message-list li.msg.deleted .body')]
        .some((e) => e.textContent === 'This message was deleted'));
      assert.equal(await P.page.locator('#message-list .body', { hasText: 'delete me' }).count(), 0);
    }
    // B cannot edit A's message: no edit/delete in its menu.
    await hoverAct(B.page, msgLi(B.page, 'second version'), 'more');
    assert.equal(await B.page.locator('.popover [data-action="edit"], .popover [data-action="delete"]').count(), 0);
    await B.page.keyboard.press('Escape');
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally { await closeAll(A, B); }
});

test('edits made while offline arrive through version-aware sync', { skip: need('edit', 'versioned') }, async () => {
  const a = await newUser('vsa', 'Vera');
  const b = await newUser('vsb', 'Walt');
  const room = await dmRoom(a, b);
  const B = await userPage(b);
  try {
    const ca = await wsFor(a);
    await ca.request('send', { room: room.id, client_id: 'v1', content: { type: 'text', body: 'original text' } });
    await openRoomByName(B.page, 'Vera');
    await waitForBody(B.page, 'original text');
    await B.context.setOffline(true);
    await B.page.waitForSelector('#conn-status:not([data-state="online"])');
    await ca.request('edit', { room: room.id, seq: 1, content: { type: 'text', body: 'changed while away' } });
    if (has.react) await ca.request('react', { room: room.id, seq: 1, emoji: '🔥' });
    await B.context.setOffline(false);
    await waitForBody(B.page, 'changed while away');
    if (has.react) await B.page.waitForSelector('#message-list .chip[data-emoji="🔥"]');
    assert.equal(await B.page.locator('#message-list li.msg:not(.pending)').count(), 1);
    // And after a reload (cached messages + positions).
    await B.page.reload();
    await waitForBody(B.page, 'changed while away');
    ca.close();
  } finally { await closeAll(B); }
});

// ---------------------------------------------------------------- replies and threads

test('replies quote the original; clicking the quote jumps to it', { skip: need('reply_to') }, async () => {
  const a = await newUser('rpa', 'Rita');
  const b = await newUser('rpb', 'Sam');
  const room = await dmRoom(a, b);
  const ca = await wsFor(a);
  for (let i = 1; i <= 30; i++) await ca.request('send', { room: room.id, client_id: `s${i}`, content: { type: 'text', body: `filler ${i}` } });
  ca.close();
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(B.page, 'Rita');
    await waitForBody(B.page, 'filler 30');
    await hoverAct(B.page, msgLi(B.page, 'filler 2'), 'reply');
    await B.page.waitForSelector('#composer-context[data-mode="reply"]:not([hidden])');
    assert.match(await B.page.textContent('#composer-context'), /Replying to Rita/);
    await B.page.keyboard.type('answering two');
    await B.page.keyboard.press('Enter');
    await B.page.waitForSelector('#composer-context', { state: 'hidden' });
    await openRoomByName(A.page, 'Sam');
    await waitForBody(A.page, 'answering two');
    const quote = msgLi(A.page, 'answering two').locator('.quote');
    assert.equal(await quote.locator('.quote-text').textContent(), 'filler 2');
    assert.equal(await quote.locator('.quote-sender').textContent(), 'Rita');
    await quote.click();
    await A.page.waitForSelector('#message-list li.msg.flash .body:text-is("filler 2")');
    await A.page.waitForFunction(() => {
      const li = document.querySelector('#message-list li.msg.flash');
      const box = document.getElementById('messages').getBoundingClientRect();
      const r = li.getBoundingClientRect();
      return r.top >= box.top && r.bottom <= box.bottom;
    });
    assertNoErrors(A.page);
  } finally { await closeAll(A, B); }
});

test('threads: pane with replies, count on the root, hidden from the timeline; screenshots', { skip: need('threads') }, async () => {
  const a = await newUser('tha', 'Tara');
  const b = await newUser('thb', 'Ugo');
  await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Ugo');
    await openRoomByName(B.page, 'Tara');
    await send(A.page, 'Plan for the weekend?');
    await send(A.page, 'Also: who brings snacks');
    await waitForBody(B.page, 'Plan for the weekend?');
    await menuAction(B.page, msgLi(B.page, 'Plan for the weekend?'), 'thread');
    await B.page.waitForSelector('#thread-pane:not([hidden]) #thread-root li.msg');
    await B.page.waitForFunction(() => document.activeElement.id === 'thread-input');
    await B.page.keyboard.type('Hiking on Saturday');
    await B.page.keyboard.press('Enter');
    await B.page.waitForSelector('#thread-list li.msg:not(.pending) .body:text-is("Hiking on Saturday")');
    const link = msgLi(A.page, 'Plan for the weekend?').locator('.thread-link');
    await link.waitFor();
    assert.match(await link.textContent(), /1 reply/);
    // Not in the main timeline of either browser.
    for (const P of [A, B]) assert.equal(await P.page.locator('#message-list .body', { hasText: 'Hiking on Saturday' }).count(), 0);
    await link.click();
    await A.page.waitForSelector('#thread-list li.msg .body:text-is("Hiking on Saturday")');
    await A.page.fill('#thread-input', 'Count me in');
    await A.page.press('#thread-input', 'Enter');
    await B.page.waitForSelector('#thread-list li.msg:not(.pending) .body:text-is("Count me in")');
    await A.page.waitForFunction(() => /2 replies/.test(document.querySelector('#message-list .thread-link')?.textContent || ''));
    assert.equal(await A.page.textContent('#thread-count'), '2 replies');

    // Dress the timeline for the screenshots: a reply and reactions when available.
    if (has.reply_to) {
      await hoverAct(A.page, msgLi(A.page, 'Also: who brings snacks'), 'reply');
      await A.page.keyboard.type('I can bring crisps');
      await A.page.keyboard.press('Enter');
      await waitForBody(A.page, 'I can bring crisps');
    }
    if (has.react) {
      await hoverAct(B.page, msgLi(B.page, 'Plan for the weekend?'), 'react');
      await B.page.click('.popover.picker .emoji-grid >> nth=-1 >> [data-emoji="🎉"]');
      await A.page.waitForSelector('#message-list .chip[data-emoji="🎉"]');
    }
    await A.page.mouse.move(0, 0);
    await A.page.emulateMedia({ reducedMotion: 'reduce' }); // no colour transitions mid-screenshot
    await shot(A.page, 'features-desktop-light.png');
    await A.page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
    await A.page.waitForFunction(() => getComputedStyle(document.querySelector('.room-item.active')).backgroundColor === 'rgb(18, 58, 55)');
    await shot(A.page, 'features-desktop-dark.png');
    // Escape closes the pane and returns focus to the thread link.
    await A.page.focus('#thread-input');
    await A.page.keyboard.press('Escape');
    await A.page.waitForSelector('#thread-pane', { state: 'hidden' });

    // Phone: the thread takes the full screen, with a back button.
    const P = await userPage(a, { viewport: { width: 375, height: 667 } });
    try {
      await openRoomByName(P.page, 'Ugo');
      await msgLi(P.page, 'Plan for the weekend?').locator('.thread-link').click();
      await P.page.waitForSelector('#thread-list li.msg .body:text-is("Count me in")');
      const box = await P.page.locator('#thread-pane').boundingBox();
      assert.equal(Math.round(box.width), 375);
      await shot(P.page, 'features-phone-thread.png');
      await P.page.click('#thread-close');
      await P.page.waitForSelector('#thread-pane', { state: 'hidden' });
      await P.page.waitForSelector('#room-pane:not([hidden])');
    } finally { await closeAll(P); }
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally { await closeAll(A, B); }
});

// ---------------------------------------------------------------- presence and profiles

test('presence: online dot, then offline with last seen when the other leaves', { skip: need('presence', 'presence_query') }, async () => {
  const a = await newUser('pra', 'Pia');
  const b = await newUser('prb', 'Quin');
  await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Quin');
    await A.page.waitForSelector('#room-presence[data-status="online"]:not([hidden])');
    await A.page.waitForSelector('.room-item .presence-dot[data-status="online"]');
    assert.match(await A.page.textContent('#room-subtitle'), /online/);
    // Someone who starts sharing a room later gets a dot too.
    const c = await newUser('prc', 'Rolf');
    const C = await userPage(c);
    await dmRoom(c, a);
    const item = A.page.locator('.room-item', { has: A.page.locator('.room-name', { hasText: 'Rolf' }) });
    await item.locator('.presence-dot[data-status="online"]').waitFor();
    await closeAll(C);
    await B.context.close();
    await A.page.waitForSelector('#room-presence[data-status="offline"]', { timeout: 20000 });
    await A.page.waitForFunction(() => /last seen|offline/.test(document.getElementById('room-subtitle').textContent));
  } finally { await closeAll(A); }
});

test('profile: edit own name, status and bio; the other browser sees them', { skip: need('profile_set', 'profile_get') }, async () => {
  const a = await newUser('pfa', 'Pat');
  const b = await newUser('pfb', 'Rex');
  await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(B.page, 'Pat');
    await A.page.click('#btn-me');
    await A.page.waitForSelector('#settings-dialog[open]');
    await A.page.fill('#set-display', 'Patricia');
    await A.page.fill('#set-status', 'On holiday 🏖');
    await A.page.fill('#set-bio', 'Loves <b>maps</b> & trains');
    await A.page.click('#settings-save');
    await A.page.waitForSelector('#settings-dialog', { state: 'hidden' });
    await A.page.waitForFunction(() => document.getElementById('me-name').textContent === 'Patricia');
    await B.page.waitForFunction(() => document.getElementById('room-title').textContent === 'Patricia', null, { timeout: 10000 });
    await B.page.click('#btn-room-info');
    await B.page.waitForSelector('#profile-dialog[open]');
    await B.page.waitForFunction(() => document.getElementById('profile-bio').textContent === 'Loves <b>maps</b> & trains');
    assert.equal(await B.page.textContent('#profile-status'), 'On holiday 🏖');
    assert.equal(await B.page.textContent('#profile-username'), '@' + a.username);
    assert.equal(await B.page.locator('#profile-dialog b').count(), 0);
    await B.page.click('#profile-close');
    assertNoErrors(A.page);
  } finally { await closeAll(A, B); }
});

test('settings sync: the theme chosen on one device applies on another', { skip: need('settings_set', 'settings_get') }, async () => {
  const a = await newUser('sta', 'Stan');
  const a2 = await (await fetch(`${server.base}/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: a.username, password: 'correct horse' }) })).json();
  const A1 = await userPage(a);
  const A2 = await userPage({ ...a2, username: a.username });
  try {
    assert.equal(await A2.page.getAttribute('html', 'data-theme'), null);
    await A1.page.click('.sidebar [data-theme-toggle]');
    await A2.page.waitForSelector('html[data-theme="dark"]');
    // The settings dialog shows the synced value; read receipts toggle round-trips.
    await A2.page.click('#btn-settings');
    assert.equal(await A2.page.inputValue('#set-theme'), 'dark');
    await A2.page.uncheck('#set-read-receipts');
    await A2.page.click('#settings-save');
    await A2.page.waitForSelector('#settings-dialog', { state: 'hidden' });
    const c = await wsFor(a);
    const { settings } = await c.request('settings_get');
    c.close();
    assert.equal(settings.read_receipts, false);
    assert.equal(settings.theme, 'dark');
    // A fresh context of the same user starts dark after sign-in.
    const A3 = await userPage(a);
    await A3.page.waitForSelector('html[data-theme="dark"]');
    await closeAll(A3);
  } finally { await closeAll(A1, A2); }
});

// ---------------------------------------------------------------- disappearing messages

test('disappearing messages: room timer in the header; expired messages vanish everywhere', { skip: need('room_settings') }, async () => {
  const a = await newUser('dsa', 'Dora');
  const b = await newUser('dsb', 'Eli');
  const room = await dmRoom(a, b);
  const A = await userPage(a);
  const B = await userPage(b);
  try {
    await openRoomByName(A.page, 'Eli');
    await openRoomByName(B.page, 'Dora');
    await A.page.click('#btn-room-menu');
    await A.page.click('.popover [data-action="timer"]');
    await A.page.waitForSelector('#timer-dialog[open]');
    await A.page.check('#timer-300000');
    await A.page.click('#timer-save');
    await A.page.waitForSelector('#timer-dialog', { state: 'hidden' });
    for (const P of [A, B]) await P.page.waitForSelector('#room-timer:not([hidden])');
    assert.match(await B.page.getAttribute('#room-timer', 'aria-label'), /5 minutes/);
    await send(A.page, 'self-destructing');
    await msgLi(B.page, 'self-destructing').locator('.expiry').waitFor();
    if (!shortTimers) return; // no test minimum: the expiry itself is covered by the server suite
    const c = await wsFor(a);
    await c.request('send', { room: room.id, client_id: 'short1', ttl_ms: 1500, content: { type: 'text', body: 'gone soon' } });
    c.close();
    for (const P of [A, B]) await waitForBody(P.page, 'gone soon');
    for (const P of [A, B]) {
      await P.page.waitForFunction(() => ![...document.querySelectorAll('#message-list .body')].some((e) => e.textContent === 'gone soon'), null, { timeout: 15000 });
    }
    assert.equal(await B.page.locator('#message-list .body', { hasText: 'self-destructing' }).count(), 1);
  } finally { await closeAll(A, B); }
});

// ---------------------------------------------------------------- search

test('search: results with snippets; clicking one opens the room at the message', { skip: need('search') }, async () => {
  const a = await newUser('sra', 'Sara');
  const b = await newUser('srb', 'Tom');
  const room = await dmRoom(a, b);
  const g = await groupRoom(a, [b], 'Search group');
  const ca = await wsFor(a);
  for (let i = 1; i <= 120; i++) {
    const body = i === 7 ? 'the quick brown fox jumps over the lazy dog' : `padding message ${i}`;
    await ca.request('send', { room: room.id, client_id: `q${i}`, content: { type: 'text', body } });
  }
  await ca.request('send', { room: g.id, client_id: 'g1', content: { type: 'text', body: 'a fox in the group' } });
  ca.close();
  const B = await userPage(b);
  try {
    await B.page.click('#btn-search');
    await B.page.waitForSelector('#search-dialog[open]');
    await B.page.fill('#search-input', 'fox');
    await B.page.waitForFunction(() => document.querySelectorAll('#search-results .search-result').length === 2);
    assert.match(await B.page.textContent('#search-results'), /Search group/);
    assert.equal(await B.page.locator('#search-results mark').first().textContent(), 'fox');
    await shot(B.page, 'features-search.png');
    await B.page.locator('#search-results .search-result', { hasText: 'quick brown' }).click();
    await B.page.waitForSelector('#search-dialog', { state: 'hidden' });
    await B.page.waitForSelector('#message-list li.msg.flash .body:text-is("the quick brown fox jumps over the lazy dog")');
    assert.equal(await B.page.textContent('#room-title'), 'Sara');
    // Context around it is loaded; scrolling down reaches the latest again.
    await waitForBody(B.page, 'padding message 8');
    await B.page.click('#btn-jump');
    await waitForBody(B.page, 'padding message 120');
    // Scoped to the current conversation.
    await B.page.click('#btn-room-menu');
    await B.page.click('.popover [data-action="search-room"]');
    await B.page.waitForSelector('#search-dialog[open]');
    assert.equal(await B.page.inputValue('#search-scope'), 'room');
    await B.page.waitForFunction(() => document.querySelectorAll('#search-results .search-result').length === 1);
    assertNoErrors(B.page);
  } finally { await closeAll(B); }
});

// ---------------------------------------------------------------- always runs

test('feature UI degrades gracefully on a server without the ops', async () => {
  const a = await newUser('gra', 'Gus');
  const b = await newUser('grb', 'Hal');
  await dmRoom(a, b);
  const A = await userPage(a);
  try {
    await openRoomByName(A.page, 'Hal');
    await send(A.page, 'plain message');
    await waitForBody(A.page, 'plain message');
    const li = msgLi(A.page, 'plain message');
    await hoverAct(A.page, li, 'more');
    await A.page.waitForSelector('.popover [role="menuitem"]');
    // keyboard: arrows move within the menu, Escape returns focus to the button
    await A.page.keyboard.press('ArrowDown');
    await A.page.keyboard.press('Escape');
    await A.page.waitForFunction(() => document.activeElement && document.activeElement.dataset.act === 'more');
    await A.page.click('#btn-search');
    await A.page.waitForSelector('#search-dialog[open]');
    await A.page.keyboard.press('Escape');
    await A.page.click('#btn-settings');
    await A.page.waitForSelector('#settings-dialog[open]');
    await A.page.click('#settings-cancel');
    assertNoErrors(A.page);
  } finally { await closeAll(A); }
});
