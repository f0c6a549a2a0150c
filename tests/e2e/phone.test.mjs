// Phone layout defects (issue 11): the connection state in the conversation
// header, the message menu next to the long-pressed message; and the
// Settings icon, which must not look like the theme toggle's sun.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, openRoomByName, send,
  waitForBody, uniqueName, assertNoErrors, shot, screenshotDir,
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

const PHONE = { viewport: { width: 375, height: 667 },
  contextOptions: { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } };

// A phone (P) in a DM with a desktop user (B) who is online.
async function phonePair(colorScheme = 'light') {
  const a = uniqueName('pia');
  const b = uniqueName('bo');
  const P = await newPage(browser, server.base, { ...PHONE, colorScheme });
  const B = await newPage(browser, server.base);
  await registerUI(B.page, b, 'Bo Online');
  await registerUI(P.page, a, 'Pia');
  await startDM(P.page, b);
  await send(P.page, 'are you there?');
  await openRoomByName(B.page, 'Pia');
  await send(B.page, 'Yes, long-press this message');
  await waitForBody(P.page, 'Yes, long-press this message');
  return { P, B };
}

test('phone: the conversation header shows that the connection is down', async () => {
  const { P, B } = await phonePair();
  try {
    assert.equal(await P.page.isVisible('#sidebar'), false, 'the sidebar (and its status) is hidden');
    await P.page.waitForFunction(() => document.getElementById('room-subtitle').textContent.includes('online'));
    assert.equal(await P.page.isVisible('#room-presence'), true);

    await P.context.setOffline(true);
    await P.page.waitForSelector('#conn-status:not([data-state="online"])', { state: 'attached', timeout: 10000 });
    // The header says so: no "online" and no green dot while we are not connected.
    await P.page.waitForFunction(() => /Offline|Connecting|Reconnecting/.test(document.getElementById('room-subtitle').textContent),
      null, { timeout: 5000 });
    const sub = await P.page.textContent('#room-subtitle');
    assert.ok(!/\bonline\b/.test(sub), `header still says online: ${sub}`);
    assert.equal(await P.page.isVisible('#room-presence'), false, 'no presence dot while offline');
    assert.equal(await P.page.getAttribute('#room-subtitle', 'data-conn'), await P.page.getAttribute('#conn-status', 'data-state'));
    await shot(P.page, 'phone-offline-header.png');

    await P.context.setOffline(false);
    await P.page.waitForSelector('#conn-status[data-state="online"]', { state: 'attached', timeout: 30000 });
    await P.page.waitForFunction(() => document.getElementById('room-subtitle').textContent.includes('online'));
    assert.equal(await P.page.getAttribute('#room-subtitle', 'data-conn'), null);
    assert.equal(await P.page.isVisible('#room-presence'), true);
    assertNoErrors(B.page);
  } finally {
    await P.context.close();
    await B.context.close();
  }
});

test('phone: long-press opens the message menu next to the message', async () => {
  const { P, B } = await phonePair('dark');
  try {
    const msg = P.page.locator('#message-list li.msg', { hasText: 'long-press this message' }).locator('.bubble');
    // Chromium on a phone fires contextmenu for a long press.
    await msg.click({ button: 'right' });
    const menu = P.page.locator('.popover [role="menu"][aria-label="Message actions"]');
    await menu.waitFor();
    const pop = await P.page.locator('.popover').boundingBox();
    const bubble = await msg.boundingBox();
    const header = await P.page.locator('.room-header').boundingBox();
    assert.ok(pop.y >= header.y + header.height, `menu over the header: top ${pop.y}, header bottom ${header.y + header.height}`);
    // Touching the message: just below it or just above it.
    const gap = pop.y >= bubble.y + bubble.height ? pop.y - (bubble.y + bubble.height) : bubble.y - (pop.y + pop.height);
    assert.ok(gap >= 0 && gap <= 24, `menu ${JSON.stringify(pop)} is not next to the message ${JSON.stringify(bubble)}`);
    assert.ok(pop.x >= 0 && pop.x + pop.width <= 375, 'menu inside the screen');
    await P.page.waitForTimeout(150);
    await shot(P.page, 'phone-message-menu-dark.png');

    // "Add reaction…" opens the picker by the message too.
    await P.page.click('.popover [data-action="react"]');
    await P.page.waitForSelector('.popover.picker');
    const picker = await P.page.locator('.popover.picker').boundingBox();
    assert.ok(picker.y >= header.y + header.height, `picker over the header: top ${picker.y}`);
    await P.page.keyboard.press('Escape');
    assertNoErrors(P.page);
  } finally {
    await P.context.close();
    await B.context.close();
  }
});

// Which cells of a 48×48 grid over the icon's 24×24 box are drawn.
function iconCells(selector) {
  const svg = document.querySelector(selector);
  const shapes = [...svg.querySelectorAll('path, circle, rect, line, polyline, polygon, ellipse')];
  const cells = [];
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 48; x++) {
      const p = new DOMPoint((x + 0.5) / 2, (y + 0.5) / 2);
      const filled = getComputedStyle(svg).fill !== 'none';
      cells.push(shapes.some((s) => s.isPointInStroke(p) || (filled && s.isPointInFill(p))) ? 1 : 0);
    }
  }
  return cells;
}

test('the Settings icon is not a second sun next to the theme toggle', async () => {
  const a = uniqueName('gus');
  const { context, page } = await newPage(browser, server.base, { colorScheme: 'dark' });
  try {
    await registerUI(page, a, 'Gus');
    assert.equal(await page.isVisible('.sidebar .theme-toggle .icon-sun'), true, 'dark mode shows the sun');
    const settings = await page.evaluate(iconCells, '#btn-settings svg');
    const sun = await page.evaluate(iconCells, '.sidebar .theme-toggle .icon-sun');
    let both = 0;
    let either = 0;
    for (let i = 0; i < sun.length; i++) { both += settings[i] & sun[i]; either += settings[i] | sun[i]; }
    assert.ok(settings.some(Boolean) && sun.some(Boolean), 'both icons draw something');
    const overlap = both / either;
    assert.ok(overlap < 0.35, `Settings and the sun share ${Math.round(overlap * 100)}% of their strokes`);
    await page.locator('.sidebar-header').screenshot({ path: path.join(screenshotDir, 'sidebar-header-dark.png') });
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});
