// Incoming webhooks in the browser (issue 16): Alice opens the group's
// menu → Integrations, creates a webhook and gets its URL and a curl line
// once; a POST of that curl line's body to the URL shows up live for Bob,
// named after the webhook with a BOT badge; Alice revokes it and the URL
// answers 410. Screenshot hooks-dialog.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, startGroup, waitForBody, uniqueName, assertNoErrors, shot,
  apiRegister, registerUI,
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

test('incoming webhook: create from the room menu, post with curl, revoke', async () => {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const b = await apiRegister(server.base, bob);
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  try {
    await registerUI(A.page, alice);
    await startGroup(A.page, 'Builds', [bob]);
    // Bob signs in with the account made over the API.
    await B.page.fill('#auth-username', bob);
    await B.page.fill('#auth-password', 'correct horse');
    await B.page.click('#auth-submit');
    await B.page.waitForSelector('#chat-view:not([hidden])');
    const item = B.page.locator('.room-item', { has: B.page.locator('.room-name', { hasText: 'Builds' }) }).first();
    await item.waitFor({ timeout: 10000 });
    await item.click();

    await A.page.click('#btn-room-menu');
    await A.page.getByRole('menuitem', { name: /Integrations/ }).click();
    await A.page.waitForSelector('#hooks-dialog[open]');
    await A.page.fill('#hooks-name', 'CI');
    await A.page.click('#hooks-create');
    await A.page.waitForSelector('#hooks-created:not([hidden])');
    await A.page.waitForSelector('#hooks-list .hook-name:text("CI")');
    const url = await A.page.inputValue('#hooks-url');
    const curl = await A.page.inputValue('#hooks-curl');
    assert.match(url, /\/v1\/hooks\/w\d+\/[A-Za-z0-9_-]{43}$/);
    assert.ok(curl.includes(url) && curl.startsWith('curl -X POST'), curl);
    await shot(A.page, 'hooks-dialog.png');

    // What the curl line sends.
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'Hello from curl' }) });
    assert.equal(r.status, 200);
    await waitForBody(B.page, 'Hello from curl');
    const sender = await B.page.locator('#message-list li.msg.via-hook .sender').first().textContent();
    assert.match(sender, /^CI\s*BOT$/);

    // Revoke: the URL stops working.
    await A.page.click('#hooks-list [data-revoke]');
    await A.page.waitForSelector('#hooks-list .empty');
    const gone = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'late' }) });
    assert.equal(gone.status, 410);
    await A.page.click('#hooks-close');
    assertNoErrors(A.page);
    assertNoErrors(B.page);
    void b;
  } finally {
    await A.context.close();
    await B.context.close();
  }
});
