// Connection loss: missed messages after reconnect show exactly once and in
// order; messages written offline survive a reload and are delivered once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, openRoomByName, send,
  bodies, waitForBody, waitOnline, uniqueName, assertNoErrors, shot,
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

async function pair() {
  const a = uniqueName('olive');
  const b = uniqueName('pete');
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  await registerUI(A.page, a, 'Olive');
  await registerUI(B.page, b, 'Pete');
  await startDM(A.page, b);
  await send(A.page, 'hello before');
  await openRoomByName(B.page, 'Olive');
  await waitForBody(B.page, 'hello before');
  return { A, B };
}

async function goOffline(ctx, page) {
  await ctx.setOffline(true);
  await page.waitForSelector('#conn-status:not([data-state="online"])', { timeout: 10000 });
}

test('offline then back: every missed message shows once, in order', async () => {
  const { A, B } = await pair();
  try {
    await send(B.page, 'live 1');
    await waitForBody(A.page, 'live 1');
    await goOffline(A.context, A.page);
    assert.equal(await A.page.getAttribute('#conn-status', 'data-state'), 'offline');
    const missed = Array.from({ length: 8 }, (_, i) => `missed ${i + 1}`);
    for (const t of missed) await send(B.page, t);
    await waitForBody(B.page, 'missed 8');
    await A.page.waitForTimeout(500);
    assert.ok(!(await bodies(A.page)).includes('missed 1'), 'nothing arrives while offline');
    await A.context.setOffline(false);
    await waitOnline(A.page);
    await waitForBody(A.page, 'missed 8');
    await send(B.page, 'after reconnect');
    await waitForBody(A.page, 'after reconnect');
    await waitForBody(B.page, 'after reconnect');
    const expected = ['hello before', 'live 1', ...missed, 'after reconnect'];
    assert.deepEqual(await bodies(A.page), expected);
    assert.deepEqual(await bodies(B.page), expected);
    // A second drop and a server-side close (1000 from our side) change nothing.
    await goOffline(A.context, A.page);
    await A.context.setOffline(false);
    await waitOnline(A.page);
    await A.page.waitForTimeout(500);
    assert.deepEqual(await bodies(A.page), expected);
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally {
    await A.context.close();
    await B.context.close();
  }
});

test('offline send survives a reload and arrives exactly once', async () => {
  const { A, B } = await pair();
  try {
    // The service worker must control the page so that a reload works offline.
    await A.page.evaluate(async () => { await navigator.serviceWorker.ready; });
    await A.page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 10000 });
    await goOffline(A.context, A.page);
    await send(A.page, 'written offline 1');
    await send(A.page, 'written offline 2');
    await A.page.waitForSelector('#message-list li.msg.pending >> nth=1');
    assert.equal(await A.page.locator('#message-list li.msg.pending').count(), 2);

    await A.page.reload();
    await A.page.waitForSelector('#chat-view:not([hidden])');
    if (process.env.DEBUG_E2E) {
      await A.page.waitForTimeout(500);
      console.log(await A.page.evaluate(() => ({ ls: { ...localStorage }, html: document.getElementById('message-list').outerHTML.slice(0, 2000), pane: document.getElementById('room-pane').hidden })));
    }
    assert.equal(await A.page.getAttribute('#conn-status', 'data-state'), 'offline');
    await A.page.waitForSelector('#message-list li.msg.pending >> nth=1');
    assert.deepEqual(await A.page.$$eval('#message-list li.msg.pending .body', (e) => e.map((x) => x.textContent)),
      ['written offline 1', 'written offline 2']);
    assert.equal(await B.page.locator('#message-list li.msg .body', { hasText: 'written offline' }).count(), 0);
    await shot(A.page, 'desktop-offline-pending.png');

    await A.context.setOffline(false);
    await waitOnline(A.page);
    await waitForBody(A.page, 'written offline 2');
    await A.page.waitForFunction(() => document.querySelectorAll('#message-list li.msg.pending').length === 0);
    await waitForBody(B.page, 'written offline 2');
    const expected = ['hello before', 'written offline 1', 'written offline 2'];
    assert.deepEqual(await bodies(A.page), expected);
    assert.deepEqual(await bodies(B.page), expected);
    // From the server's point of view too: a fresh load of B shows them once.
    await B.page.reload();
    await waitOnline(B.page);
    await openRoomByName(B.page, 'Olive');
    await waitForBody(B.page, 'written offline 2');
    assert.deepEqual(await bodies(B.page), expected);
    assert.deepEqual(await A.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley.outbox'))
      .map((k) => JSON.parse(localStorage.getItem(k)).length)), [0]);
    assertNoErrors(B.page);
  } finally {
    await A.context.close();
    await B.context.close();
  }
});

test('server restart (close 1001): clients reconnect with backoff and catch up', async () => {
  const { A, B } = await pair();
  try {
    await server.stop({ keepData: true });
    await A.page.waitForSelector('#conn-status:not([data-state="online"])', { timeout: 10000 });
    await B.page.waitForSelector('#conn-status:not([data-state="online"])', { timeout: 10000 });
    await send(A.page, 'sent while the server was down');
    await A.page.waitForSelector('#message-list li.msg.pending');
    server = await startServer([], server);
    await waitOnline(A.page, 20000);
    await waitOnline(B.page, 20000);
    await waitForBody(B.page, 'sent while the server was down', 15000);
    await waitForBody(A.page, 'sent while the server was down');
    await send(B.page, 'welcome back');
    await waitForBody(A.page, 'welcome back');
    await waitForBody(B.page, 'welcome back');
    const expected = ['hello before', 'sent while the server was down', 'welcome back'];
    assert.deepEqual(await bodies(A.page), expected);
    assert.deepEqual(await bodies(B.page), expected);
  } finally {
    await A.context.close();
    await B.context.close();
  }
});
