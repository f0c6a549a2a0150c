// Files and media (issue 6) in two browsers: an image with a thumbnail and a
// lightbox, a file card that downloads, a hostile file name shown as text,
// an over-limit upload, a voice message from Chromium's fake microphone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, openRoomByName, send, waitForBody,
  waitOnline, uniqueName, assertNoErrors, shot, apiRegister,
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

// ---- a valid PNG, built here (RGB, a gradient with a square in the middle)
function makePNG(w, h) {
  return encodePNG(w, h, (x, y) => {
    const inSquare = x > w / 3 && x < (2 * w) / 3 && y > h / 3 && y < (2 * h) / 3;
    return inSquare ? [250, 200, 40] : [Math.round((x / w) * 255), 120, Math.round((y / h) * 255)];
  });
}

async function loginUI(page, username, password = 'correct horse') {
  await page.fill('#auth-username', username);
  await page.fill('#auth-password', password);
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');
  await waitOnline(page);
}

// The n-th image thumbnail in the timeline has loaded from a blob: URL.
function waitThumb(page, n = 1) {
  return page.waitForFunction((k) => {
    const imgs = [...document.querySelectorAll('#message-list li.msg[data-seq] .media-image img')];
    return imgs.length >= k && imgs.slice(0, k).every((i) => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0);
  }, n, { timeout: 15000 });
}

const HOSTILE = '<img src=x onerror=alert(1)>.txt';

test('image with thumbnail and lightbox, file card with download, hostile name as text', async () => {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  let P = null;
  try {
    await registerUI(A.page, alice, 'Alice Media');
    await registerUI(B.page, bob, 'Bob Media');
    await startDM(A.page, bob);
    await send(A.page, 'photos coming');
    await openRoomByName(B.page, 'Alice Media');
    await waitForBody(B.page, 'photos coming');

    // image: composer text becomes the caption
    await A.page.fill('#composer-input', 'A square at sunset');
    await A.page.setInputFiles('#file-input', { name: 'square.png', mimeType: 'image/png', buffer: makePNG(640, 480) });
    await waitThumb(A.page);
    assert.equal(await A.page.inputValue('#composer-input'), '', 'the caption left the composer');
    await waitThumb(B.page);
    const thumb = B.page.locator('#message-list li.msg.theirs .media-image').first();
    const img = thumb.locator('img');
    assert.equal(await img.getAttribute('width'), '320');
    assert.equal(await img.getAttribute('height'), '240');
    const box = await thumb.boundingBox();
    assert.ok(Math.abs(box.width - 320) <= 1 && Math.abs(box.height - 240) <= 1, `thumbnail box ${box.width}×${box.height}`);
    assert.equal(await B.page.locator('#message-list li.msg.theirs .body.caption').last().textContent(), 'A square at sunset');
    // sidebar preview names the photo
    await B.page.waitForFunction(() => /Photo: A square at sunset/.test(document.querySelector('.room-item .room-preview')?.textContent || ''));

    // lightbox: full size image, Escape closes, focus returns to the thumbnail
    await thumb.click();
    await B.page.waitForSelector('#lightbox[open]');
    await B.page.waitForFunction(() => {
      const i = document.getElementById('lightbox-img');
      return i.src.startsWith('blob:') && i.complete && i.naturalWidth === 640 && i.naturalHeight === 480;
    });
    assert.equal(await B.page.textContent('#lightbox-title'), 'A square at sunset');
    await B.page.keyboard.press('Escape');
    // closed, the full-size blob: URL released, focus back on the thumbnail
    await B.page.waitForFunction(() => !document.getElementById('lightbox').open &&
      !document.getElementById('lightbox-img').hasAttribute('src'));
    assert.equal(await B.page.evaluate(() => document.activeElement?.classList.contains('media-image')), true);
    // and it opens again with the close button working too
    await thumb.click();
    await B.page.waitForFunction(() => document.getElementById('lightbox-img').naturalWidth === 640);
    await B.page.getByRole('button', { name: 'Close image viewer' }).click();
    await B.page.waitForFunction(() => !document.getElementById('lightbox').open);

    // a plain file: card with name, size and type; download with auth
    const notes = Buffer.from('meeting notes\nline two\n');
    await A.page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: notes });
    const card = B.page.locator('#message-list li.msg.theirs .file-card', { hasText: 'notes.txt' });
    await card.waitFor({ timeout: 15000 });
    assert.equal(await card.locator('.file-name').textContent(), 'notes.txt');
    assert.equal(await card.locator('.file-meta').textContent(), `${notes.length} B · Text`);
    const [dl] = await Promise.all([
      B.page.waitForEvent('download'),
      card.getByRole('button', { name: /Download notes\.txt/ }).click(),
    ]);
    assert.equal(dl.suggestedFilename(), 'notes.txt');
    assert.deepEqual(fs.readFileSync(await dl.path()), notes);

    // hostile file name: shown as text, nothing runs
    await A.page.setInputFiles('#file-input', { name: HOSTILE, mimeType: 'text/plain', buffer: Buffer.from('x') });
    const evil = B.page.locator('#message-list li.msg.theirs .file-card', { hasText: 'onerror' });
    await evil.waitFor({ timeout: 15000 });
    assert.equal(await evil.locator('.file-name').textContent(), HOSTILE);
    assert.equal(await B.page.locator('#message-list .file-card img').count(), 0);
    assert.equal(await B.page.locator('#message-list img[src="x"]').count(), 0);
    await A.page.locator('#message-list li.msg.mine .file-card', { hasText: 'onerror' }).waitFor();

    // upload bubbles are gone once sent; both sides show the same messages
    await A.page.waitForFunction(() => !document.querySelector('#message-list li.upload'));
    assert.equal(await A.page.locator('#message-list li.msg.has-media').count(), 3);
    assert.equal(await B.page.locator('#message-list li.msg.has-media').count(), 3);

    await B.page.emulateMedia({ reducedMotion: 'reduce' });
    await B.page.locator('#messages').evaluate((e) => { e.scrollTop = e.scrollHeight; });
    await shot(B.page, 'media-desktop.png');

    // phone: Bob on a second device
    P = await newPage(browser, server.base, { viewport: { width: 375, height: 667 }, contextOptions: { isMobile: true, hasTouch: true } });
    await loginUI(P.page, bob);
    await openRoomByName(P.page, 'Alice Media');
    await waitThumb(P.page);
    await P.page.emulateMedia({ reducedMotion: 'reduce' });
    const pbox = await P.page.locator('#message-list .media-image').first().boundingBox();
    assert.ok(pbox.width <= 375 - 20 && pbox.height > 0, `phone thumbnail fits: ${pbox.width}`);
    await P.page.locator('#messages').evaluate((e) => { e.scrollTop = e.scrollHeight; });
    await shot(P.page, 'media-phone.png');

    assertNoErrors(A.page);
    assertNoErrors(B.page);
    assertNoErrors(P.page);
  } finally {
    await A.context.close();
    await B.context.close();
    if (P) await P.context.close();
  }
});

test('an upload over max_upload_bytes shows the too_large error; drop and paste send files', async () => {
  const small = await startServer(['--set', 'max_upload_bytes=1k']);
  const { context, page } = await newPage(browser, small.base);
  try {
    const other = uniqueName('olga');
    await apiRegister(small.base, other);
    await registerUI(page, uniqueName('ulla'), 'Ulla');
    await startDM(page, other);
    await page.setInputFiles('#file-input', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(8192, 7) });
    const err = page.locator('#message-list li.upload.failed .upload-error');
    await err.waitFor({ timeout: 15000 });
    assert.match(await err.textContent(), /“big\.bin” is too large to send/);
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await shot(page, 'media-error.png');
    assert.equal(await page.locator('#message-list li.upload.failed [data-upload-retry]').count(), 0, 'no retry for too large');
    await page.locator('#message-list li.upload.failed [data-upload-dismiss]').click();
    await page.waitForFunction(() => !document.querySelector('#message-list li.upload'));
    // a small file still goes through on the same server
    await page.setInputFiles('#file-input', { name: 'ok.txt', mimeType: 'text/plain', buffer: Buffer.from('fine') });
    await page.locator('#message-list li.msg[data-seq] .file-card', { hasText: 'ok.txt' }).waitFor({ timeout: 15000 });
    // drag and drop onto the conversation, and a pasted file in the composer
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped'], 'dropped.txt', { type: 'text/plain' }));
      const pane = document.getElementById('messages');
      pane.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
      pane.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    assert.equal(await page.isVisible('#drop-overlay'), true, 'drop hint shown while dragging files');
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped'], 'dropped.txt', { type: 'text/plain' }));
      document.getElementById('messages').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    assert.equal(await page.isVisible('#drop-overlay'), false);
    await page.locator('#message-list li.msg[data-seq] .file-card', { hasText: 'dropped.txt' }).waitFor({ timeout: 15000 });
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['pasted'], 'pasted.txt', { type: 'text/plain' }));
      document.getElementById('composer-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await page.locator('#message-list li.msg[data-seq] .file-card', { hasText: 'pasted.txt' }).waitFor({ timeout: 15000 });
    assertNoErrors(page);
  } finally {
    await context.close();
    await small.stop();
  }
});

test('voice message from the (fake) microphone plays on the other side', async () => {
  const alice = uniqueName('vala');
  const bob = uniqueName('vbob');
  const A = await newPage(browser, server.base);
  const B = await newPage(browser, server.base);
  try {
    await registerUI(A.page, alice, 'Vala');
    await registerUI(B.page, bob, 'Vbob');
    await startDM(A.page, bob);
    await send(A.page, 'listen');
    await openRoomByName(B.page, 'Vala');
    await waitForBody(B.page, 'listen');
    await A.page.waitForSelector('#btn-mic:not([hidden])');
    await A.page.click('#btn-mic');
    await A.page.waitForSelector('#rec-bar:not([hidden])');
    await A.page.waitForFunction(() => document.getElementById('rec-time').textContent === '0:01', null, { timeout: 10000 });
    await A.page.click('#btn-send');
    await B.page.waitForFunction(() => {
      const a = document.querySelector('#message-list li.msg.theirs .voice audio');
      return a && a.src.startsWith('blob:');
    }, null, { timeout: 15000 });
    const dur = await B.page.textContent('#message-list li.msg.theirs .voice .voice-dur');
    assert.match(dur, /^0:0[1-9]$/);
    // the waveform has bars, and the audio is decodable (metadata loads)
    assert.ok(await B.page.locator('#message-list li.msg.theirs .wave-bar').count() > 0);
    await B.page.waitForFunction(() => document.querySelector('#message-list li.msg.theirs .voice audio').readyState >= 1);
    await B.page.emulateMedia({ reducedMotion: 'reduce' });
    await shot(B.page, 'media-voice.png');
    assertNoErrors(A.page);
    assertNoErrors(B.page);
  } finally {
    await A.context.close();
    await B.context.close();
  }
});
