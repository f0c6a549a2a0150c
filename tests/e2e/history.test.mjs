// History: a room opens with only the newest page; scrolling up loads older
// pages in order; the DOM stays bounded in long rooms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, openRoomByName, waitOnline, uniqueName, assertNoErrors,
  apiRegister, WsClient, shot,
} from './helpers.mjs';

let server;
let browser;
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function seed(ws, room, n, prefix) {
  for (let i = 1; i <= n; i++) {
    for (;;) {
      try {
        await ws.request('send', { room, client_id: `${prefix}-${i}`, content: { type: 'text', body: `${prefix} ${i}` } });
        break;
      } catch (e) {
        if (e.code !== 'rate_limited') throw e;
        await new Promise((r) => setTimeout(r, 200)); // same client_id: retried safely
      }
    }
  }
}

async function loginUI(page, username, password = 'correct horse') {
  await page.fill('#auth-username', username);
  await page.fill('#auth-password', password);
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');
  await waitOnline(page);
}

function seqs(page) {
  return page.$$eval('#message-list li.msg[data-seq]', (els) => els.map((e) => Number(e.dataset.seq)));
}

async function scrollToTopUntil(page, done, maxRounds = 40) {
  for (let i = 0; i < maxRounds; i++) {
    if (await done()) return;
    await page.$eval('#messages', (e) => { e.scrollTop = 0; });
    await page.waitForTimeout(250);
  }
  assert.ok(await done(), 'history did not finish loading');
}

let alice;
let bob;
let dm;
let big;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const aName = uniqueName('hana');
  const bName = uniqueName('ivan');
  alice = { name: aName, ...(await apiRegister(server.base, aName)) };
  bob = { name: bName, ...(await apiRegister(server.base, bName)) };
  const ws = await WsClient.connect(server.base, bob.token);
  dm = (await ws.request('create_room', { kind: 'dm', members: [aName] })).room.id;
  await seed(ws, dm, 120, 'msg');
  big = (await ws.request('create_room', { kind: 'group', name: 'Big room', members: [aName] })).room.id;
  await seed(ws, big, 400, 'big');
  ws.close();
});

test('scrolling up loads older history in order', async () => {
  const { context, page } = await newPage(browser, server.base);
  try {
    await loginUI(page, alice.name);
    await openRoomByName(page, bob.name);
    await page.waitForSelector('#message-list li.msg');
    const first = await seqs(page);
    assert.equal(first.length, 50, 'only the newest page is fetched');
    assert.equal(first[first.length - 1], 120);
    // the newest message is visible (scrolled to the bottom)
    await page.locator('#message-list li.msg[data-seq="120"]').waitFor();
    assert.ok(await page.$eval('#messages', (e) => e.scrollHeight - e.scrollTop - e.clientHeight < 60));
    await scrollToTopUntil(page, async () => (await seqs(page))[0] === 1);
    const all = await seqs(page);
    assert.deepEqual(all, Array.from({ length: 120 }, (_, i) => i + 1));
    const texts = await page.$$eval('#message-list li.msg .body', (els) => els.map((e) => e.textContent));
    assert.deepEqual(texts, Array.from({ length: 120 }, (_, i) => `msg ${i + 1}`));
    assert.equal(await page.textContent('#history-status'), 'Start of the conversation');
    assert.equal(await page.locator('#message-list .day-sep').count(), 1);
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});

test('a long room keeps the DOM bounded in both directions', async () => {
  const { context, page } = await newPage(browser, server.base);
  try {
    await loginUI(page, alice.name);
    await openRoomByName(page, 'Big room');
    await page.locator('#message-list li.msg[data-seq="400"]').waitFor();
    assert.equal((await seqs(page)).length, 50);
    await scrollToTopUntil(page, async () => (await seqs(page))[0] === 1, 80);
    const top = await seqs(page);
    assert.ok(top.length <= 300, `at most 300 message nodes, got ${top.length}`);
    assert.deepEqual(top, Array.from({ length: top.length }, (_, i) => i + 1), 'contiguous from 1');
    assert.ok(!top.includes(400));
    // Back to the newest.
    await page.click('#btn-jump');
    await page.locator('#message-list li.msg[data-seq="400"]').waitFor();
    const bottom = await seqs(page);
    assert.ok(bottom.length <= 300);
    assert.deepEqual(bottom, Array.from({ length: bottom.length }, (_, i) => 400 - bottom.length + 1 + i));
    await shot(page, 'desktop-light-group.png');
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});
