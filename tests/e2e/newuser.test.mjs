// Issue 6 "done when", tried as a new user would in two browsers: Ana (light
// theme) and Ben (dark theme) register, Ana starts a group with Ben and
// sends two photos at once, a PDF, a voice note (Chromium's fake
// microphone), an animated GIF, a custom emoji (added from the picker,
// typed with :shortcode: autocomplete) and a sticker; Ben sees the
// thumbnails, plays the voice note and opens the lightbox; both set avatars
// (Ana her profile photo, Ben the group's photo). Then Ben on a phone.
// Screenshots of every step land in build/screenshots/newuser-*.png.
// Every fixture is generated here: no binary files in the repository.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerUI, startGroup, openRoomByName, send, waitForBody,
  waitOnline, uniqueName, assertNoErrors, shot,
} from './helpers.mjs';
import { encodePNG } from './png.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required']);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// ---- fixtures

// A landscape: sky, sun, hills (so thumbnails are recognisable in screenshots).
const sunset = (w, h) => encodePNG(w, h, (x, y) => {
  const hill = h * 0.62 + Math.sin(x / w * 6) * h * 0.06;
  if (y > hill) return [40, 110 + Math.round(40 * (y / h)), 60];
  if ((x - w * 0.7) ** 2 + (y - h * 0.35) ** 2 < (h * 0.12) ** 2) return [255, 214, 90];
  return [240 - Math.round(120 * (y / h)), 120 + Math.round(60 * (y / h)), 170 + Math.round(60 * (y / h))];
});
const stripes = (w, h) => encodePNG(w, h, (x, y) => (Math.floor((x + y) / 24) % 2 ? [30, 80, 160] : [250, 250, 250]));
const disc = (w, h, fg, bg) => encodePNG(w, h, (x, y) => ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) * 0.42) ** 2 ? fg : bg));
// A custom emoji as people make them: a party face on a transparent background.
const partyFace = (w) => encodePNG(w, w, (x, y) => {
  const c = w / 2, r = w * 0.44;
  const d = Math.hypot(x - c, y - c);
  if (d > r) return [0, 0, 0, 0];
  if (Math.hypot(x - c * 0.72, y - c * 0.8) < w * 0.06 || Math.hypot(x - c * 1.28, y - c * 0.8) < w * 0.06) return [60, 30, 20, 255];
  if (y > c * 1.15 && y < c * 1.4 && Math.abs(x - c) < w * 0.22 - (y - c * 1.15) * 0.6) return [180, 40, 60, 255];
  return [255, 200, 40, 255];
}, true);

// An animated GIF (3 frames, a moving block), LZW-coded with a clear code
// every second pixel so the code width stays at 3 bits: valid and simple.
function makeGIF(w, h) {
  const out = [Buffer.from('GIF89a', 'ascii')];
  const lsd = Buffer.alloc(7);
  lsd.writeUInt16LE(w, 0); lsd.writeUInt16LE(h, 2);
  lsd[4] = 0xf1; // global colour table, 2^(1+1) = 4 colours
  out.push(lsd, Buffer.from([250, 245, 230, 220, 60, 60, 40, 90, 200, 20, 20, 20]));
  out.push(Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0'), 3, 1, 0, 0, 0])); // loop forever
  for (let f = 0; f < 3; f++) {
    out.push(Buffer.from([0x21, 0xf9, 4, 0, 30, 0, 0, 0])); // 0.3 s per frame
    const id = Buffer.alloc(10);
    id[0] = 0x2c; id.writeUInt16LE(w, 5); id.writeUInt16LE(h, 7);
    out.push(id, Buffer.from([2])); // LZW minimum code size 2: clear 4, end 5
    const bits = [];
    const put = (code) => { for (let i = 0; i < 3; i++) bits.push((code >> i) & 1); };
    let n = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (n++ % 2 === 0) put(4);
        const bx = (w / 4) * f;
        put(x >= bx && x < bx + w / 3 && y > h / 3 && y < (2 * h) / 3 ? 1 + f : 0);
      }
    }
    put(5);
    const bytes = Buffer.alloc(Math.ceil(bits.length / 8));
    bits.forEach((b, i) => { if (b) bytes[i >> 3] |= 1 << (i & 7); });
    for (let i = 0; i < bytes.length; i += 255) {
      const part = bytes.subarray(i, i + 255);
      out.push(Buffer.from([part.length]), part);
    }
    out.push(Buffer.from([0]));
  }
  out.push(Buffer.from([0x3b]));
  return Buffer.concat(out);
}

// A one-page PDF with a line of text (offsets in the xref are computed).
function makePDF(text) {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    null,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const stream = `BT /F1 18 Tf 24 70 Td (${text}) Tj ET`;
  objs[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let pdf = '%PDF-1.4\n';
  const offs = [];
  objs.forEach((o, i) => { offs.push(pdf.length); pdf += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = pdf.length;
  pdf += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const o of offs) pdf += `${String(o).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}

// ---- page helpers

// Every image in the selector has loaded from a blob: URL (at least n of them).
function waitImages(page, sel, n = 1) {
  return page.waitForFunction(([s, k]) => {
    const imgs = [...document.querySelectorAll(s)];
    return imgs.length >= k && imgs.every((i) => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0);
  }, [sel, n], { timeout: 15000 });
}

async function settle(page) {
  await page.mouse.move(0, 0);
  await page.locator('#messages').evaluate((e) => { e.scrollTop = e.scrollHeight; });
}

async function snap(page, name) {
  await settle(page);
  await shot(page, `newuser-${name}.png`);
}

test('a new user in two browsers: photos, PDF, voice note, GIF, custom emoji, sticker, lightbox, avatars', async () => {
  const ana = uniqueName('ana');
  const ben = uniqueName('ben');
  const A = await newPage(browser, server.base, { colorScheme: 'light' });
  const B = await newPage(browser, server.base, { colorScheme: 'dark' });
  let P = null;
  try {
    for (const X of [A, B]) await X.page.emulateMedia({ reducedMotion: 'reduce' });
    await registerUI(A.page, ana, 'Ana Lima');
    await registerUI(B.page, ben, 'Ben Okafor');
    await snap(B.page, '01-welcome-dark');
    await startGroup(A.page, 'Weekend trip', [ben]);
    await send(A.page, 'Hi Ben! Photos from Saturday 👇');
    await openRoomByName(B.page, 'Weekend trip');
    await waitForBody(B.page, 'Hi Ben! Photos from Saturday 👇');

    // two photos at once: thumbnails on both sides
    await A.page.setInputFiles('#file-input', [
      { name: 'sunset.png', mimeType: 'image/png', buffer: sunset(900, 600) },
      { name: 'tent.png', mimeType: 'image/png', buffer: stripes(480, 640) },
    ]);
    await waitImages(B.page, '#message-list li.msg.theirs .media-image img', 2);
    await waitImages(A.page, '#message-list li.msg.mine .media-image img', 2);
    assert.equal(await B.page.locator('#message-list li.msg.theirs .media-image').count(), 2);
    // in the order they were picked, whichever upload finished first
    assert.deepEqual(await B.page.$$eval('#message-list li.msg.theirs .media-image img', (l) => l.map((i) => i.width)), [320, 240]);
    await snap(A.page, '02-photos-light');
    await snap(B.page, '02-photos-dark');

    // a PDF: a file card that says PDF
    await A.page.setInputFiles('#file-input', { name: 'tickets.pdf', mimeType: 'application/pdf', buffer: makePDF('Train tickets') });
    const card = B.page.locator('#message-list li.msg.theirs .file-card', { hasText: 'tickets.pdf' });
    await card.waitFor({ timeout: 15000 });
    assert.match(await card.locator('.file-meta').textContent(), /· PDF$/);
    await snap(B.page, '03-pdf-dark');

    // a voice note from the fake microphone; Ben plays it
    await A.page.waitForSelector('#btn-mic:not([hidden])');
    await A.page.click('#btn-mic');
    await A.page.waitForSelector('#rec-bar:not([hidden])');
    await snap(A.page, '04-recording-light');
    await A.page.waitForFunction(() => document.getElementById('rec-time').textContent === '0:01', null, { timeout: 10000 });
    await A.page.click('#btn-send');
    const audioSel = '#message-list li.msg.theirs .voice audio';
    await B.page.waitForFunction((s) => {
      const a = document.querySelector(s);
      return a && a.src.startsWith('blob:') && a.readyState >= 1;
    }, audioSel, { timeout: 15000 });
    await B.page.evaluate((s) => document.querySelector(s).play(), audioSel);
    await B.page.waitForFunction((s) => {
      const a = document.querySelector(s);
      return a.currentTime > 0 || a.ended;
    }, audioSel, { timeout: 15000 });
    await snap(B.page, '04-voice-dark');

    // an animated GIF plays from the original
    await A.page.setInputFiles('#file-input', { name: 'wave.gif', mimeType: 'image/gif', buffer: makeGIF(120, 90) });
    await waitImages(B.page, '#message-list li.msg-image .media-image img', 3);
    const gifWidth = await B.page.evaluate(() => [...document.querySelectorAll('#message-list li.msg-image .media-image img')].pop().naturalWidth);
    assert.equal(gifWidth, 120, 'the GIF is shown from the original, not a thumbnail');
    await snap(B.page, '05-gif-dark');

    // a custom emoji, added from the composer's picker
    await A.page.click('#btn-emoji');
    await A.page.waitForSelector('.popover.picker');
    await snap(A.page, '06-picker-empty-light');
    await A.page.getByRole('button', { name: 'Add emoji…' }).click();
    await A.page.waitForSelector('#emoji-dialog[open]');
    await A.page.setInputFiles('#emoji-file', { name: 'party parrot.png', mimeType: 'image/png', buffer: partyFace(128) });
    assert.equal(await A.page.inputValue('#emoji-code'), 'party_parrot');
    await A.page.click('#emoji-save');
    await A.page.waitForFunction(() => !document.getElementById('emoji-dialog').open);

    // :shortcode: autocomplete: a listbox of custom and standard emoji
    await A.page.fill('#composer-input', 'what a day :pa');
    const list = A.page.getByRole('listbox', { name: 'Emoji suggestions' });
    await list.waitFor();
    assert.equal(await A.page.getAttribute('#composer-input', 'role'), 'combobox');
    assert.equal(await A.page.getAttribute('#composer-input', 'aria-expanded'), 'true');
    const opts = list.getByRole('option');
    assert.ok(await opts.count() >= 2, 'custom and standard emoji are offered');
    assert.equal(await opts.first().textContent(), ':party_parrot:');
    assert.equal(await opts.first().getAttribute('aria-selected'), 'true');
    await waitImages(A.page, '#mention-list img.picker-emoji');
    await snap(A.page, '07-autocomplete-light');
    await A.page.press('#composer-input', 'ArrowDown');
    assert.equal(await opts.nth(1).getAttribute('aria-selected'), 'true');
    assert.equal(await A.page.getAttribute('#composer-input', 'aria-activedescendant'), 'mention-opt-1');
    await A.page.press('#composer-input', 'ArrowUp');
    await A.page.press('#composer-input', 'Enter');
    assert.equal(await A.page.inputValue('#composer-input'), 'what a day :party_parrot: ');
    assert.equal(await A.page.isHidden('#mention-list'), true);
    // Escape closes it; Tab and a mouse pick insert a standard emoji
    await A.page.type('#composer-input', ':ta');
    await list.waitFor();
    await A.page.press('#composer-input', 'Escape');
    assert.equal(await A.page.isHidden('#mention-list'), true);
    assert.ok((await A.page.inputValue('#composer-input')).endsWith(':ta'));
    await A.page.type('#composer-input', 'd');
    await list.waitFor();
    await A.page.press('#composer-input', 'Tab');
    assert.equal(await A.page.inputValue('#composer-input'), 'what a day :party_parrot: 🎉 ');
    await A.page.type('#composer-input', ':fir');
    await list.getByRole('option', { name: /:fire:/ }).click();
    assert.equal(await A.page.inputValue('#composer-input'), 'what a day :party_parrot: 🎉 🔥 ');
    await A.page.press('#composer-input', 'Enter');
    await waitImages(B.page, '#message-list li.msg.theirs .body img.custom-emoji[alt=":party_parrot:"]');

    // a sticker from the picker's Stickers section: big, no bubble
    await A.page.click('#btn-emoji');
    const stickerBtn = A.page.getByRole('button', { name: 'Send sticker :party_parrot:' });
    await stickerBtn.waitFor();
    await waitImages(A.page, '.popover.picker img.picker-sticker');
    await snap(A.page, '08-picker-stickers-light');
    // by keyboard: down through the emoji rows and the custom row to the
    // sticker, Enter sends it
    assert.equal(await A.page.evaluate(() => document.activeElement.dataset.emoji), '👍');
    await A.page.keyboard.press('ArrowDown');
    assert.equal(await A.page.evaluate(() => document.activeElement.dataset.emoji), '🎉');
    for (let k = 0; k < 4; k++) await A.page.keyboard.press('ArrowDown');
    assert.equal(await A.page.evaluate(() => document.activeElement.dataset.sticker), ':party_parrot:');
    await A.page.keyboard.press('ArrowUp');
    assert.equal(await A.page.evaluate(() => document.activeElement.dataset.emoji), ':party_parrot:');
    await A.page.keyboard.press('ArrowDown');
    await A.page.keyboard.press('Enter');
    const sticker = '#message-list li.msg.theirs.msg-sticker .sticker img';
    await waitImages(B.page, sticker);
    // a small emoji image is shown from its original (a PNG that keeps its
    // transparency), not from the JPEG thumbnail
    assert.equal(await B.page.locator(sticker).evaluate((i) => {
      const cv = document.createElement('canvas');
      cv.width = i.naturalWidth; cv.height = i.naturalHeight;
      const g = cv.getContext('2d');
      g.drawImage(i, 0, 0);
      return g.getImageData(1, 1, 1, 1).data[3];
    }), 0, 'the corner of the sticker is transparent');
    const sbox = await B.page.locator(sticker).boundingBox();
    assert.ok(sbox.width <= 160 && sbox.width >= 120, `sticker at most 160 px: ${sbox.width}`);
    assert.equal(await B.page.locator('#message-list li.msg.theirs.msg-sticker .bubble').evaluate((b) => getComputedStyle(b).backgroundColor),
      'rgba(0, 0, 0, 0)', 'no bubble behind a sticker');
    await B.page.waitForFunction(() => /Sticker/.test(document.querySelector('.room-item .room-preview')?.textContent || ''));
    await snap(B.page, '09-emoji-sticker-dark');
    await snap(A.page, '09-emoji-sticker-light');

    // Ben opens the first photo in the lightbox (the 1280 px rendition, or
    // the original while the server has none)
    const first = B.page.locator('#message-list li.msg.theirs .media-image').first();
    await first.scrollIntoViewIfNeeded();
    await first.click();
    await B.page.waitForSelector('#lightbox[open]');
    await B.page.waitForFunction(() => {
      const i = document.getElementById('lightbox-img');
      // full size (900×600 or 480×640), not the 320 px thumbnail
      return i.src.startsWith('blob:') && i.complete && Math.max(i.naturalWidth, i.naturalHeight) >= 640;
    }, null, { timeout: 15000 });
    await B.page.mouse.move(0, 0);
    await shot(B.page, 'newuser-10-lightbox-dark.png');
    await B.page.keyboard.press('Escape');
    await B.page.waitForFunction(() => !document.getElementById('lightbox').open);

    // avatars: Ana her profile photo, Ben the group's photo
    await A.page.click('#btn-me');
    await A.page.waitForSelector('#settings-dialog[open]');
    await A.page.setInputFiles('#set-avatar-file', { name: 'ana.png', mimeType: 'image/png',
      buffer: disc(400, 300, [250, 180, 60], [60, 120, 200]) });
    await A.page.waitForFunction(() => document.getElementById('set-avatar-status').textContent === 'Photo updated.');
    await A.page.click('#settings-cancel');

    await B.page.click('#btn-room-info');
    await B.page.waitForSelector('#group-dialog[open]');
    assert.equal(await B.page.inputValue('#group-name'), 'Weekend trip');
    assert.equal(await B.page.locator('#group-members li').count(), 2);
    await waitImages(B.page, '#group-members img.avatar-img', 1); // Ana's new photo
    await B.page.setInputFiles('#group-avatar-file', { name: 'hills.png', mimeType: 'image/png', buffer: sunset(600, 400) });
    await B.page.waitForFunction(() => document.getElementById('group-avatar-status').textContent === 'Group photo updated.');
    await waitImages(B.page, '#group-avatar-preview img.avatar-img');
    await B.page.fill('#group-name', 'Weekend trip ⛺');
    await snap(B.page, '11-group-info-dark');
    await B.page.click('#group-save');
    await B.page.waitForFunction(() => !document.getElementById('group-dialog').open);

    // Ana sees the new name and photo in the sidebar and header
    await A.page.waitForFunction(() => document.getElementById('room-title').textContent === 'Weekend trip ⛺');
    await waitImages(A.page, '#room-avatar img.avatar-img');
    await waitImages(A.page, '.room-item.active .avatar img.avatar-img');
    await waitImages(B.page, '#message-list img.avatar-img, #room-avatar img.avatar-img');
    await snap(A.page, '12-avatars-light');
    await snap(B.page, '12-avatars-dark');

    // Ben on a phone (light): the same conversation fits the small screen
    P = await newPage(browser, server.base, { viewport: { width: 375, height: 740 }, contextOptions: { isMobile: true, hasTouch: true } });
    await P.page.emulateMedia({ reducedMotion: 'reduce' });
    await P.page.fill('#auth-username', ben);
    await P.page.fill('#auth-password', 'correct horse');
    await P.page.click('#auth-submit');
    await P.page.waitForSelector('#chat-view:not([hidden])');
    await waitOnline(P.page);
    await waitImages(P.page, '.room-item .avatar img.avatar-img');
    await snap(P.page, '13-phone-rooms');
    await openRoomByName(P.page, 'Weekend trip ⛺');
    await waitImages(P.page, '#message-list li.msg-sticker .sticker img');
    await snap(P.page, '13-phone-chat');
    const wide = await P.page.evaluate(() => [...document.querySelectorAll('#message-list li.msg .bubble')]
      .filter((b) => b.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length);
    assert.equal(wide, 0, 'no bubble overflows the phone screen');
    await P.page.locator('#message-list .media-image').first().scrollIntoViewIfNeeded();
    await P.page.locator('#message-list .media-image').first().click();
    await P.page.waitForFunction(() => document.getElementById('lightbox-img').naturalWidth > 0, null, { timeout: 15000 });
    await shot(P.page, 'newuser-14-phone-lightbox.png');
    await P.page.keyboard.press('Escape');
    await P.page.click('#btn-emoji');
    await waitImages(P.page, '.popover.picker img.picker-sticker');
    await shot(P.page, 'newuser-15-phone-picker.png');

    assertNoErrors(A.page);
    assertNoErrors(B.page);
    assertNoErrors(P.page);
  } finally {
    await A.context.close();
    await B.context.close();
    if (P) await P.context.close();
  }
});
