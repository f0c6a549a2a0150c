// Issue 12, accounts, as a user meets them in the web client: Settings →
// Security turns on two-step verification (QR code and key, a code from
// the "phone" computed here with HMAC-SHA1 as an authenticator app does,
// RFC 6238), shows the recovery codes once; sign-out and sign-in ask for
// the code; a recovery code works instead; another device is signed out
// from the devices list; a weak password is refused at registration; an
// operator's reset link (parleyd --reset-link) sets a new password.
// Screenshots: build/screenshots/security-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  startServer, launchBrowser, newPage, registerUI, uniqueName, assertNoErrors, shot, repoRoot,
} from './helpers.mjs';

let server;
let browser;
before(async () => {
  server = await startServer(['--set', `password_blocklist=${path.join(repoRoot, 'share', 'common-passwords.txt')}`]);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

function base32Decode(s) {
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, acc = 0;
  const out = [];
  for (const ch of s.replace(/[\s=]/g, '').toUpperCase()) {
    acc = (acc << 5) | alpha.indexOf(ch);
    bits += 5;
    if (bits >= 8) { out.push((acc >> (bits - 8)) & 255); bits -= 8; }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP, SHA-1, 30 s, 6 digits, at Unix time t seconds.
function totp(secretB32, t = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const h = crypto.createHmac('sha1', base32Decode(secretB32)).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function signOut(page) {
  await page.click('#btn-logout');
  await page.waitForSelector('#auth-view:not([hidden])');
}

async function signIn(page, username, password) {
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.fill('#auth-username', username);
  await page.fill('#auth-password', password);
  await page.click('#auth-submit');
}

test('two-step verification, recovery codes, devices, reset link', async () => {
  const { context, page } = await newPage(browser, server.base);
  const user = uniqueName('sec');

  // A common password is refused with a reason.
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.fill('#auth-username', user);
  await page.fill('#auth-password', 'password1');
  await page.click('#auth-submit');
  await page.waitForFunction(() => document.querySelector('#err-password').textContent.length > 0);
  assert.match(await page.textContent('#err-password'), /common/);
  await page.fill('#auth-password', '');
  await registerUI(page, user, 'Sec Ure');

  // Settings → Security: set up the authenticator app.
  await page.click('#btn-me');
  await page.waitForSelector('#sec-totp-setup:not([hidden])');
  assert.match(await page.textContent('#sec-totp-status'), /Off/);
  await page.click('#sec-totp-setup');
  await page.waitForSelector('#sec-setup:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#sec-qr').naturalWidth > 0);
  const secret = (await page.textContent('#sec-secret')).replace(/\s+/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await page.locator('#security-box').scrollIntoViewIfNeeded();
  await shot(page, 'security-1-setup.png');
  await page.fill('#sec-code', '000000');
  await page.click('#sec-totp-confirm');
  await page.waitForFunction(() => document.querySelector('#err-sec-code').textContent.length > 0);
  await page.fill('#sec-code', totp(secret));
  await page.click('#sec-totp-confirm');
  await page.waitForSelector('#sec-codes:not([hidden])');
  const codes = await page.$$eval('#sec-code-list li', (els) => els.map((e) => e.textContent));
  assert.equal(codes.length, 10);
  assert.match(await page.textContent('#sec-totp-status'), /On/);
  await page.locator('#sec-codes').scrollIntoViewIfNeeded();
  await shot(page, 'security-2-codes.png');
  await page.click('#sec-codes-done');
  await page.click('#settings-cancel');

  // Sign out; signing in asks for the code.
  await signOut(page);
  await signIn(page, user, 'correct horse');
  await page.waitForSelector('#field-mfa:not([hidden])');
  await shot(page, 'security-3-code-prompt.png');
  await page.fill('#auth-code', '123456');
  await page.click('#auth-submit');
  await page.waitForFunction(() => document.querySelector('#err-code').textContent.length > 0);
  // The enrolment's code is spent; the next step's code is in the window.
  await page.fill('#auth-code', totp(secret, Date.now() / 1000 + 30));
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');

  // And with a recovery code instead.
  await signOut(page);
  await signIn(page, user, 'correct horse');
  await page.waitForSelector('#field-mfa:not([hidden])');
  await page.click('#auth-use-recovery');
  assert.equal(await page.textContent('#auth-code-label'), 'Recovery code');
  await page.fill('#auth-code', codes[0].toUpperCase());
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');

  // Another device (a phone, here Node) signs in; this one signs it out.
  let r = await fetch(`${server.base}/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: user, password: 'correct horse', recovery_code: codes[1], device_name: 'Test phone' }) });
  assert.equal(r.status, 200);
  const phone = await r.json();
  await page.click('#btn-me');
  const phoneRow = page.locator('#device-list li', { hasText: 'Test phone' });
  await phoneRow.waitFor();
  assert.equal(await page.locator('#device-list li', { hasText: 'This device' }).count(), 1);
  await page.locator('#device-list').scrollIntoViewIfNeeded();
  await shot(page, 'security-4-devices.png');
  await phoneRow.getByRole('button', { name: /Sign out/ }).click();
  await phoneRow.waitFor({ state: 'detached' });
  r = await fetch(`${server.base}/v1/sessions`, { headers: { Authorization: `Bearer ${phone.token}` } });
  assert.equal(r.status, 401);
  await page.click('#settings-cancel');
  await signOut(page);

  // An operator's reset link sets a new password (the server keeps running).
  const bin = process.env.PARLEYD ? path.resolve(process.env.PARLEYD) : path.resolve(repoRoot, 'build/parleyd');
  const out = spawnSync(bin, ['--data', server.dataDir, '--log-level', 'error', '--reset-link', user], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const link = out.stdout.trim();
  assert.match(link, /^\/#reset=[A-Za-z0-9_-]{43}$/);
  await page.goto(server.base + link);
  await page.waitForSelector('#auth-view:not([hidden])');
  assert.equal(await page.textContent('#auth-submit'), 'Set new password');
  await page.fill('#auth-password', 'qwerty123');
  await page.click('#auth-submit');
  await page.waitForFunction(() => document.querySelector('#err-password').textContent.length > 0);
  await page.fill('#auth-password', 'a fresh start');
  await shot(page, 'security-5-reset.png');
  await page.click('#auth-submit');
  await page.waitForFunction(() => /Password changed/.test(document.querySelector('#err-form').textContent));
  await signIn(page, user, 'a fresh start');
  await page.waitForSelector('#field-mfa:not([hidden])');
  await page.click('#auth-use-recovery');
  await page.fill('#auth-code', codes[2]);
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');
  assertNoErrors(page);
  await context.close();
});
