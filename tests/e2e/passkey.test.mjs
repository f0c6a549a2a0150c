// Passkeys (issue 12): in Chromium with a CDP virtual authenticator (ctap2,
// internal, resident keys, user verification), a user registers, adds a
// passkey in Settings, logs out and signs in with the passkey alone
// (discoverable credential, no username), and the session works (a message
// goes out). Then at the HTTP level from Node, with assertions the
// authenticator makes: a replayed challenge and a tampered origin are
// refused, and a removed passkey no longer signs in.
// A second test makes the passkey the second factor: a user with a password
// and a passkey signs in with the password, gets the MFA step and completes
// it with "Use a passkey".
// The page is opened on http://localhost:PORT (https://localhost:TLSPORT
// under PL_E2E_TLS=1): "localhost" is the rpId (an IP address cannot be
// one) and a secure context. Screenshots: build/screenshots/passkey-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, launchBrowser, newPage, registerUI, startDM, send, waitForBody, waitOnline, uniqueName,
  assertNoErrors, shot, apiRegister, TLS,
} from './helpers.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

let server;
let browser;
let base;
let dataDir;
before(async () => {
  const port = await freePort();
  const tlsPort = TLS ? await freePort() : 0;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-e2e-'));
  base = TLS ? `https://localhost:${tlsPort}` : `http://localhost:${port}`;
  server = await startServer(['--set', `webauthn_origins=${base}`,
    '--set', 'webauthn_rp_id=localhost'], { dataDir, port, tlsPort });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop({ keepData: true });
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, authenticatorId };
}

async function postJSON(pathname, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + pathname, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
}

// An assertion from the page's authenticator over a challenge the server
// issued (base64url fields, as the web client sends them).
function assertInPage(page, options) {
  return page.evaluate(async (o) => {
    const { fromB64u, toB64u } = await import('/js/passkeys.js');
    const cred = await navigator.credentials.get({ publicKey: { challenge: fromB64u(o.challenge), rpId: o.rpId,
      userVerification: 'required', allowCredentials: [] } });
    const r = cred.response;
    return { id: cred.id, type: cred.type, response: { clientDataJSON: toB64u(r.clientDataJSON),
      authenticatorData: toB64u(r.authenticatorData), signature: toB64u(r.signature),
      userHandle: r.userHandle ? toB64u(r.userHandle) : null } };
  }, options);
}

test('passkey: add in settings, sign in without a password, send; replay, origin, removal refused', async () => {
  const { context, page } = await newPage(browser, base);
  await addAuthenticator(page);
  const name = uniqueName('pk');
  const friend = uniqueName('pkf');
  await apiRegister(base, friend);
  await registerUI(page, name, 'Passkey Pat');

  // Settings → Security: passkeys → add one named "Laptop".
  await page.click('#btn-settings');
  await page.waitForSelector('#settings-dialog[open]');
  await page.waitForSelector('#passkey-empty:not([hidden])');
  await page.fill('#passkey-name', 'Laptop');
  await page.click('#passkey-add');
  await page.waitForSelector('.passkey-item .passkey-name:text("Laptop")');
  assert.match(await page.textContent('#passkey-status'), /Laptop/);
  await page.locator('#passkey-section').scrollIntoViewIfNeeded();
  await shot(page, 'passkey-settings.png');
  await page.click('#settings-cancel');

  // Log out; sign in with the passkey only.
  await page.click('#btn-logout');
  await page.waitForSelector('#auth-view:not([hidden])');
  await page.getByRole('tab', { name: 'Create account' }).click();
  assert.equal(await page.isHidden('#auth-passkey'), true, 'no passkey button while creating an account');
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.waitForSelector('#auth-passkey:not([hidden])');
  await shot(page, 'passkey-signin.png');
  await page.click('#auth-passkey');
  await page.waitForSelector('#chat-view:not([hidden])');
  await waitOnline(page);
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')));
  assert.equal(session.username, name);

  // The session works: a message goes out and is stored.
  await startDM(page, friend);
  await send(page, 'signed in with a passkey');
  await waitForBody(page, 'signed in with a passkey');
  await shot(page, 'passkey-chat.png');

  // HTTP level: a genuine assertion signs in once; its challenge replayed
  // is refused.
  const opts = (await postJSON('/v1/passkeys/login/options', {})).body;
  assert.equal(opts.rpId, 'localhost');
  const cred = await assertInPage(page, opts);
  const ok = await postJSON('/v1/passkeys/login', { credential: cred, device_name: 'node' });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.ok(ok.body.token);
  const replay = await postJSON('/v1/passkeys/login', { credential: cred });
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error.code, 'bad_challenge');

  // Another origin in clientDataJSON (as a phishing page would produce):
  // refused, and the challenge is spent.
  const opts2 = (await postJSON('/v1/passkeys/login/options', {})).body;
  const cred2 = await assertInPage(page, opts2);
  const cd = JSON.parse(Buffer.from(cred2.response.clientDataJSON, 'base64url').toString());
  cd.origin = 'http://evil.localhost:1234';
  const forged = structuredClone(cred2);
  forged.response.clientDataJSON = Buffer.from(JSON.stringify(cd)).toString('base64url');
  const bad = await postJSON('/v1/passkeys/login', { credential: forged });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error.code, 'bad_credentials');
  assert.equal((await postJSON('/v1/passkeys/login', { credential: cred2 })).status, 400);

  // List, remove; the removed passkey no longer signs in.
  const list = await (await fetch(base + '/v1/passkeys', { headers: { Authorization: `Bearer ${ok.body.token}` } })).json();
  assert.equal(list.passkeys.length, 1);
  assert.equal(list.passkeys[0].name, 'Laptop');
  assert.ok(list.passkeys[0].last_used > 0);
  const del = await fetch(`${base}/v1/passkeys/${list.passkeys[0].id}`,
    { method: 'DELETE', headers: { Authorization: `Bearer ${ok.body.token}` } });
  assert.equal(del.status, 200);
  const opts3 = (await postJSON('/v1/passkeys/login/options', {})).body;
  const cred3 = await assertInPage(page, opts3);
  const gone = await postJSON('/v1/passkeys/login', { credential: cred3 });
  assert.equal(gone.status, 401);
  assertNoErrors(page);
  await context.close();
});

test('passkey as the second factor: password, then "Use a passkey" at the MFA step', async () => {
  const { context, page } = await newPage(browser, base);
  await addAuthenticator(page);
  const name = uniqueName('pm');
  await registerUI(page, name, 'Second Step Sam');

  // A passkey added in Settings makes it this account's second factor.
  await page.click('#btn-settings');
  await page.waitForSelector('#settings-dialog[open]');
  await page.fill('#passkey-name', 'Key');
  await page.click('#passkey-add');
  await page.waitForSelector('.passkey-item .passkey-name:text("Key")');
  await page.click('#settings-cancel');
  await page.click('#btn-logout');
  await page.waitForSelector('#auth-view:not([hidden])');

  // Sign in with the password: the server asks for a second factor, and
  // the page offers the passkey (no TOTP on this account, so no code field).
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.fill('#auth-username', name);
  await page.fill('#auth-password', 'correct horse');
  const first = page.waitForResponse((r) => r.url().endsWith('/v1/login'));
  await page.click('#auth-submit');
  const firstBody = await (await first).json();
  assert.equal((await first).status(), 401);
  assert.equal(firstBody.error.code, 'mfa_required');
  assert.deepEqual(firstBody.error.methods, ['passkey']);
  await page.waitForSelector('#auth-mfa-passkey:not([hidden])');
  assert.equal(await page.isVisible('#chat-view'), false, 'no session before the second step');
  await shot(page, 'passkey-mfa-step.png');

  // "Use a passkey": the assertion goes to /v1/login/mfa with the ticket.
  const second = page.waitForResponse((r) => r.url().endsWith('/v1/login/mfa'));
  await page.click('#auth-mfa-passkey');
  assert.equal((await second).status(), 200);
  await page.waitForSelector('#chat-view:not([hidden])');
  await waitOnline(page);
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')));
  assert.equal(session.username, name);

  // The session is real: the account's security page answers with it.
  const sec = await fetch(base + '/v1/account/security', { headers: { Authorization: `Bearer ${session.token}` } });
  assert.equal(sec.status, 200);
  assert.equal((await sec.json()).passkeys, 1);

  // The password alone (from Node) still gets only the MFA step.
  const pw = await postJSON('/v1/login', { username: name, password: 'correct horse' });
  assert.equal(pw.status, 401);
  assert.equal(pw.body.error.code, 'mfa_required');
  assertNoErrors(page);
  await context.close();
});
