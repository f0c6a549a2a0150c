// Live chat between browsers: DM both ways, a group of three, hostile content.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, startGroup, openRoomByName, send,
  bodies, waitForBody, uniqueName, assertNoErrors, shot,
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

test('two browsers: register, start a DM, exchange messages live both ways', async () => {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  try {
    await registerUI(A.page, alice, 'Alice Liddell');
    await registerUI(B.page, bob, 'Bob Builder');
    await startDM(A.page, bob);
    assert.equal(await A.page.textContent('#room-title'), 'Bob Builder');
    await send(A.page, 'Hi Bob! see https://example.com/a?b=1.');
    // Bob gets the room and the message live.
    await openRoomByName(B.page, 'Alice Liddell');
    await waitForBody(B.page, 'Hi Bob! see https://example.com/a?b=1.');
    const link = B.page.locator('#message-list a').first();
    assert.equal(await link.getAttribute('href'), 'https://example.com/a?b=1');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await link.getAttribute('target'), '_blank');
    await send(B.page, 'Hello Alice\nsecond line');
    await waitForBody(A.page, 'Hello Alice\nsecond line');
    await send(A.page, 'third');
    await waitForBody(B.page, 'third');
    await waitForBody(A.page, 'third'); // the sender's own copy turns from pending to sent
    assert.deepEqual(await bodies(A.page), ['Hi Bob! see https://example.com/a?b=1.', 'Hello Alice\nsecond line', 'third']);
    assert.deepEqual(await bodies(B.page), await bodies(A.page));
    // sender's own messages are on the right, the other's on the left
    assert.equal(await A.page.locator('#message-list li.msg.mine').count(), 2);
    assert.equal(await A.page.locator('#message-list li.msg.theirs').count(), 1);
    // sidebar preview
    await A.page.waitForFunction(() => document.querySelector('.room-item .room-preview')?.textContent === 'You: third');
    await shot(A.page, 'desktop-light-dm.png');
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally {
    await A.context.close();
    await B.context.close();
  }
});

test('a group of three: everyone sees everyone, with sender names', async () => {
  const names = [uniqueName('carol'), uniqueName('dave'), uniqueName('erin')];
  const displays = ['Carol', 'Dave', 'Erin'];
  const P = [];
  try {
    for (let i = 0; i < 3; i++) {
      P.push(await newPage(browser, server.base));
      await registerUI(P[i].page, names[i], displays[i]);
    }
    await startGroup(P[0].page, 'Weekend plans', [names[1], names[2]]);
    assert.equal(await P[0].page.textContent('#room-title'), 'Weekend plans');
    await send(P[0].page, 'from carol');
    for (const i of [1, 2]) {
      await openRoomByName(P[i].page, 'Weekend plans');
      await waitForBody(P[i].page, 'from carol');
    }
    await send(P[1].page, 'from dave');
    await send(P[2].page, 'from erin');
    for (const { page } of P) {
      await waitForBody(page, 'from dave');
      await waitForBody(page, 'from erin');
    }
    const orders = await Promise.all(P.map(({ page }) => bodies(page)));
    for (const o of orders) {
      assert.equal(o.length, 3);
      assert.equal(o[0], 'from carol');
      assert.deepEqual(o, orders[0], 'every member sees the same order');
    }
    // Sender names are shown on other people's messages in a group.
    const senders = await P[0].page.$$eval('#message-list li.msg.show-sender .sender', (els) => els.map((e) => e.textContent));
    assert.ok(senders.includes('Dave') && senders.includes('Erin'), `senders: ${senders}`);
    assert.match(await P[0].page.textContent('#room-subtitle'), /Dave/);
    for (const { page } of P) assertNoErrors(page);
  } finally {
    for (const { context } of P) await context.close();
  }
});

test('hostile content is shown as text and runs nothing', async () => {
  const a = uniqueName('mallory');
  const b = uniqueName('victim');
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  try {
    await registerUI(A.page, a, '<b>Mallory</b><img src=x onerror=alert(2)>');
    await registerUI(B.page, b, 'Victim');
    await startDM(A.page, b);
    const evil = ['<img src=x onerror=alert(1)>', '<script>alert(1)</script>',
      'javascript:alert(1) and <a href="javascript:alert(1)">x</a>', '"><svg onload=alert(1)>'];
    for (const t of evil) await send(A.page, t);
    await openRoomByName(B.page, '<b>Mallory</b><img src=x onerror=alert(2)>');
    for (const t of evil) await waitForBody(B.page, t);
    assert.deepEqual(await bodies(B.page), evil);
    for (const { page } of [A, B]) {
      // No element was created from the content.
      // (the UI's own icons are aria-hidden SVGs; content could never produce one)
      assert.equal(await page.locator('#message-list img, #message-list script, #message-list svg:not([aria-hidden="true"]), #message-list .body svg, #room-list img, #room-list b').count(), 0);
      assert.equal(await page.locator('#message-list a').count(), 0, 'javascript: is never a link');
      await page.waitForTimeout(300);
      assertNoErrors(page);
    }
    assert.equal(await B.page.textContent('#room-title'), '<b>Mallory</b><img src=x onerror=alert(2)>');
  } finally {
    await A.context.close();
    await B.context.close();
  }
});

test('works under a strict Content-Security-Policy with no violations', async () => {
  const csp = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
  // Use the server's own policy when it sends one; otherwise add ours to every
  // response. Responses fulfilled by Playwright have no known address space,
  // so Chromium's Local Network Access checks would then block the WebSocket
  // to 127.0.0.1: that browser runs with the check off.
  const served = (await fetch(server.base + '/')).headers.get('content-security-policy');
  const cspBrowser = served ? browser : await launchBrowser(['--disable-features=LocalNetworkAccessChecks']);
  const mk = async () => {
    const context = await cspBrowser.newContext({ baseURL: server.base, serviceWorkers: 'block' });
    if (!served) {
      await context.route('**/*', async (route) => {
        const res = await route.fetch();
        const headers = { ...res.headers(), 'content-security-policy': csp };
        await route.fulfill({ response: res, headers });
      });
    }
    await context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
      });
    });
    const page = await context.newPage();
    page.dialogs = [];
    page.errors = [];
    page.on('dialog', async (d) => { page.dialogs.push(d.message()); await d.dismiss(); });
    page.on('pageerror', (e) => page.errors.push(String(e)));
    await page.goto(server.base + '/');
    return { context, page };
  };
  const A = await mk();
  const B = await mk();
  try {
    const a = uniqueName('csp');
    const b = uniqueName('cspb');
    await registerUI(A.page, a, 'Csp A');
    await registerUI(B.page, b, 'Csp B');
    await startDM(A.page, b);
    await send(A.page, 'under CSP <img src=x onerror=alert(1)> https://example.com/x');
    await openRoomByName(B.page, 'Csp A');
    await waitForBody(B.page, 'under CSP <img src=x onerror=alert(1)> https://example.com/x');
    await A.page.click('[data-theme-toggle].icon-btn');
    await A.page.click('#btn-new');
    await A.page.keyboard.press('Escape');
    for (const { page } of [A, B]) {
      assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
      assertNoErrors(page);
    }
    const policy = await A.page.evaluate(async () => (await fetch('/')).headers.get('content-security-policy'));
    assert.ok(policy && policy.includes("default-src 'self'"), `policy in force: ${policy}`);
  } finally {
    await A.context.close();
    await B.context.close();
    if (cspBrowser !== browser) await cspBrowser.close();
  }
});
