// Paging by bytes: with a small max_reply_bytes every list reply is cut
// after a few items (more: true). The web client must still list every
// room, and scrolling up through large messages must reach the first one
// with no gap, in order.
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

let alice;
before(async () => {
  // 16 KiB pages: about 8 rooms, or 7 messages of 2 KB, per reply.
  server = await startServer(['--set', 'max_reply_bytes=16384']);
  browser = await launchBrowser();
  const aName = uniqueName('page');
  const bName = uniqueName('pager');
  alice = { name: aName, ...(await apiRegister(server.base, aName)) };
  const bob = { name: bName, ...(await apiRegister(server.base, bName)) };
  const ws = await WsClient.connect(server.base, bob.token);
  for (let i = 1; i <= 40; i++) {
    const room = (await ws.request('create_room', { kind: 'group', name: `Paged ${i}`, members: [aName] })).room.id;
    await ws.request('send', { room, client_id: `p-${i}`, content: { type: 'text', body: `hello ${i} ${'x'.repeat(1500)}` } });
    if (i === 40) {
      for (let k = 2; k <= 60; k++) {
        await ws.request('send', { room, client_id: `b-${k}`, content: { type: 'text', body: `long ${k} ${'y'.repeat(2000)}` } });
      }
    }
  }
  ws.close();
});

test('every room is listed and long messages page in order', async () => {
  const { context, page } = await newPage(browser, server.base);
  try {
    await loginUI(page, alice.name);
    // The room list comes in five or more pages of `rooms`.
    await page.waitForFunction(() => document.querySelectorAll('#room-list .room-item').length === 40, null, { timeout: 15000 });
    await openRoomByName(page, 'Paged 40');
    await page.locator('#message-list li.msg[data-seq="60"]').waitFor();
    // Scroll up until the first message: every page cut by bytes continues
    // where the previous one stopped.
    for (let i = 0; i < 60 && (await seqs(page))[0] !== 1; i++) {
      await page.$eval('#messages', (e) => { e.scrollTop = 0; });
      await page.waitForTimeout(250);
    }
    const all = await seqs(page);
    assert.deepEqual(all, Array.from({ length: 60 }, (_, i) => i + 1));
    await shot(page, 'paging-desktop.png');
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});
