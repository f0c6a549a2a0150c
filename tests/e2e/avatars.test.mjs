// Avatars and custom emoji (issue 6) in two browsers: an avatar uploaded in
// the settings dialog shows for the other user (sidebar, header, profile
// card) as a square blob: image; a custom emoji added from the composer's
// emoji button renders inline in text and works as a reaction; an unknown
// :shortcode: stays text. Screenshots avatars-desktop.png, emoji-picker.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, openRoomByName, send, waitForBody,
  uniqueName, assertNoErrors, shot,
} from './helpers.mjs';
import { encodePNG } from './png.mjs';

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

// ---- a valid PNG (RGB): a coloured disc on a background, so a centre crop shows
function makePNG(w, h, fg, bg) {
  const r = Math.min(w, h) * 0.4;
  return encodePNG(w, h, (x, y) => ((x - w / 2) ** 2 + (y - h / 2) ** 2 < r * r ? fg : bg));
}

// The avatar node shows a loaded square picture.
function waitAvatarImg(page, sel) {
  return page.waitForFunction((s) => {
    const i = document.querySelector(s)?.querySelector('img.avatar-img');
    return !!i && i.src.startsWith('blob:') && i.complete && i.naturalWidth === 256 && i.naturalHeight === 256;
  }, sel, { timeout: 15000 });
}

function msgLi(page, text) {
  return page.locator('#message-list li.msg:not(.pending)', { has: page.locator('.body', { hasText: text }) }).first();
}

test('avatar shows for the other user; custom emoji inline and as a reaction', async () => {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  try {
    await registerUI(A.page, alice, 'Alice Avatar');
    await registerUI(B.page, bob, 'Bob Avatar');
    await startDM(A.page, bob);
    await send(A.page, 'hello with a face');
    await openRoomByName(B.page, 'Alice Avatar');
    await waitForBody(B.page, 'hello with a face');
    // B: initials before any avatar
    assert.equal(await B.page.textContent('#room-avatar'), 'AA');

    // A uploads an avatar in the settings dialog (a wide image: cropped square)
    await A.page.click('#btn-me');
    await A.page.waitForSelector('#settings-dialog[open]');
    assert.equal(await A.page.textContent('#set-avatar-pick'), 'Upload photo');
    assert.equal(await A.page.isHidden('#set-avatar-remove'), true);
    await A.page.setInputFiles('#set-avatar-file', { name: 'me.png', mimeType: 'image/png',
      buffer: makePNG(480, 320, [240, 170, 40], [40, 90, 160]) });
    await waitAvatarImg(A.page, '#set-avatar-preview');
    await A.page.waitForFunction(() => document.getElementById('set-avatar-status').textContent === 'Photo updated.');
    assert.equal(await A.page.textContent('#set-avatar-pick'), 'Change photo');
    assert.equal(await A.page.isVisible('#set-avatar-remove'), true);
    await A.page.click('#settings-cancel');
    await waitAvatarImg(A.page, '#me-avatar');

    // B sees it (profile event): header and sidebar, and in the profile card
    await waitAvatarImg(B.page, '#room-avatar');
    await waitAvatarImg(B.page, '.room-item.active .avatar');
    await B.page.click('#btn-room-info');
    await B.page.waitForSelector('#profile-dialog[open]');
    await waitAvatarImg(B.page, '#profile-avatar');
    await B.page.click('#profile-close');

    // a fresh page of B (no event): the avatar comes with the profile
    const B2 = await newPage(browser, server.base, { contextOptions: { storageState: await B.context.storageState() } });
    try {
      await B2.page.waitForSelector('#chat-view:not([hidden])');
      await waitAvatarImg(B2.page, '.room-item .avatar');
    } finally {
      await B2.context.close();
    }

    // custom emoji: A adds one from the composer's emoji button
    const code = ('pp_' + alice).slice(0, 24).replace(/[^a-z0-9_]/g, '_');
    await A.page.click('#btn-emoji');
    await A.page.waitForSelector('.popover.picker');
    await A.page.getByRole('button', { name: 'Add emoji…' }).click();
    await A.page.waitForSelector('#emoji-dialog[open]');
    await A.page.setInputFiles('#emoji-file', { name: 'party.png', mimeType: 'image/png',
      buffer: makePNG(64, 64, [230, 40, 120], [255, 255, 255]) });
    await A.page.fill('#emoji-code', '');
    await A.page.click('#emoji-save');
    assert.match(await A.page.textContent('#err-emoji-code'), /2 to 32/); // empty shortcode refused
    await A.page.fill('#emoji-code', code);
    await A.page.click('#emoji-save');
    await A.page.waitForFunction(() => !document.getElementById('emoji-dialog').open);

    // the composer picker lists it; picking inserts :code:
    await A.page.fill('#composer-input', 'look');
    await A.page.click('#btn-emoji');
    await A.page.click(`.popover.picker .emoji-btn.custom[data-emoji=":${code}:"]`);
    assert.equal(await A.page.inputValue('#composer-input'), `look :${code}:`);
    await A.page.press('#composer-input', 'Enter');

    // B renders it inline as an image; an unknown shortcode stays text
    const inline = `#message-list li.msg.theirs .body img.custom-emoji[alt=":${code}:"]`;
    await B.page.waitForFunction((s) => {
      const i = document.querySelector(s);
      return !!i && i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0;
    }, inline, { timeout: 15000 });
    await send(A.page, 'not a thing :no_such_emoji_zz: here');
    await waitForBody(B.page, 'not a thing :no_such_emoji_zz: here');
    assert.equal(await B.page.locator('#message-list li.msg .body', { hasText: 'no_such_emoji_zz' }).locator('img').count(), 0);

    // B reacts with it from the reaction picker's Custom row
    const li = msgLi(B.page, 'look');
    await li.hover();
    await li.locator('[data-act="react"]').click();
    await B.page.waitForSelector(`.popover.picker .emoji-btn.custom[data-emoji=":${code}:"] img[src^="blob:"]`);
    await B.page.waitForFunction(() => [...document.querySelectorAll('.popover.picker img.picker-emoji')].every((i) => i.complete && i.naturalWidth > 0));
    await shot(B.page, 'emoji-picker.png');
    await B.page.click(`.popover.picker .emoji-btn.custom[data-emoji=":${code}:"]`);
    const chip = `#message-list li.msg .chip[data-emoji=":${code}:"]`;
    for (const P of [A, B]) {
      await P.page.waitForFunction((s) => {
        const c = document.querySelector(s);
        const i = c?.querySelector('img.chip-custom');
        return c?.querySelector('.chip-count').textContent === '1' && i && i.complete && i.naturalWidth > 0;
      }, chip, { timeout: 15000 });
    }
    assert.equal(await B.page.getAttribute(chip, 'aria-pressed'), 'true');
    await B.page.mouse.move(0, 0);
    await shot(B.page, 'avatars-desktop.png');
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally {
    await A.context.close();
    await B.context.close();
  }
});
