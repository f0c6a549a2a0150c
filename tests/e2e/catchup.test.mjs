// Catching up after connecting, with the page's WebSocket routed through the
// test (playwright routeWebSocket) to shape the server's `rooms` replies: a
// group announced by a `room` event while the rooms pages are being fetched
// stays in the sidebar, and a server that repeats the `next` cursor it was
// sent does not keep the client asking.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, waitOnline, uniqueName, assertNoErrors, apiRegister, WsClient,
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

async function loginUI(page, username) {
  await page.fill('#auth-username', username);
  await page.fill('#auth-password', 'correct horse');
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');
  await waitOnline(page);
}

// Routes the page's WebSocket: frames pass unchanged, except the replies to
// `rooms`, which go through rewrite(reply, request) (may be async; what it
// returns is sent instead). onEvent(ev) sees each event passed to the page.
function routeRooms(page, rewrite, onEvent = () => {}) {
  const asked = new Map(); // request id -> the rooms request
  return page.routeWebSocket(/\/v1\/ws$/, (ws) => {
    const srv = ws.connectToServer();
    ws.onMessage((m) => {
      try {
        const j = JSON.parse(m);
        if (j && j.op === 'rooms') asked.set(j.id, j);
      } catch (e) { /* not JSON: pass it on */ }
      srv.send(m);
    });
    srv.onMessage(async (m) => {
      let j = null;
      try { j = JSON.parse(m); } catch (e) { /* pass it on */ }
      if (j && asked.has(j.re)) {
        ws.send(JSON.stringify(await rewrite(j, asked.get(j.re))));
        return;
      }
      if (j && j.ev) onEvent(j);
      ws.send(m);
    });
  });
}

function roomNames(page) {
  return page.$$eval('#room-list .room-item .room-name', (els) => els.map((e) => e.textContent).sort());
}

async function until(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a group announced while the rooms pages come stays listed', async () => {
  const alice = uniqueName('cua');
  const bob = uniqueName('cub');
  await apiRegister(server.base, alice);
  const b = await apiRegister(server.base, bob);
  const bw = await WsClient.connect(server.base, b.token);
  await bw.request('create_room', { kind: 'group', name: 'Before login', members: [alice] });
  const { context, page } = await newPage(browser, server.base);
  try {
    let announced = false;
    let released = false;
    await routeRooms(page, async (reply) => {
      if (!released) {
        // Hold the first page (made before the group exists) until the
        // group's room event has reached the page.
        await bw.request('create_room', { kind: 'group', name: 'During paging', members: [alice] });
        await until(() => announced, 'the room event');
        released = true;
      }
      return reply;
    }, (ev) => { if (ev.ev === 'room' && ev.room && ev.room.name === 'During paging') announced = true; });
    await loginUI(page, alice);
    await until(() => released, 'the rooms reply');
    // The catch-up (sync after the pages) is done well within this.
    await page.waitForTimeout(1500);
    assert.deepEqual(await roomNames(page), ['Before login', 'During paging']);
    assertNoErrors(page);
  } finally {
    bw.close();
    await context.close();
  }
});

test('paging rooms stops when the server repeats the cursor it was sent', async () => {
  const alice = uniqueName('cuc');
  const bob = uniqueName('cud');
  await apiRegister(server.base, alice);
  const b = await apiRegister(server.base, bob);
  const bw = await WsClient.connect(server.base, b.token);
  await bw.request('create_room', { kind: 'group', name: 'Page one', members: [alice] });
  await bw.request('create_room', { kind: 'group', name: 'Page two', members: [alice] });
  bw.close();
  const { context, page } = await newPage(browser, server.base);
  try {
    let pages = 0;
    let first = null;
    await routeRooms(page, (reply, req) => {
      pages++;
      if (!first) {
        first = reply.rooms;
        return { ...reply, more: true, next: reply.rooms[reply.rooms.length - 1].id };
      }
      // A broken server: the same rooms again, "more", and the cursor it was just sent.
      return { ...reply, rooms: first, more: true, next: req.after };
    });
    await loginUI(page, alice);
    await until(() => pages >= 2, 'the second rooms page');
    await page.waitForTimeout(1500);
    assert.equal(pages, 2, 'no third rooms request');
    assert.deepEqual(await roomNames(page), ['Page one', 'Page two']);
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});
