// record-webauthn-fixtures.mjs -- records one registration and two assertions
// per algorithm from Chromium's virtual authenticator (CDP WebAuthn domain)
// and prints them as JSON: the vectors of tests/unit/test_webauthn.c
// (tests/unit/webauthn_fixtures.h). Run once by hand, not by the suite:
//   node tests/e2e/record-webauthn-fixtures.mjs > /tmp/vectors.json
// Challenges are fixed so the C test knows them; origin http://localhost:PORT
// (rpId "localhost"). The port is printed with the vectors.
import http from 'node:http';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end('<!doctype html><title>webauthn fixtures</title>');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
const page = await browser.newPage();
await page.goto(`http://localhost:${port}/`);
const cdp = await page.context().newCDPSession(page);
await cdp.send('WebAuthn.enable');
await cdp.send('WebAuthn.addVirtualAuthenticator', {
  options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
    isUserVerified: true, automaticPresenceSimulation: true },
});

const out = { origin: `http://localhost:${port}`, rp_id: 'localhost', vectors: {} };
for (const [name, alg] of [['es256', -7], ['eddsa', -8], ['rs256', -257]]) {
  try {
    out.vectors[name] = await page.evaluate(async (alg) => {
      const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
        .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const fill = (v) => new Uint8Array(32).fill(v);
      const cred = await navigator.credentials.create({ publicKey: {
        challenge: fill(1), rp: { id: 'localhost', name: 'Parley' },
        user: { id: new Uint8Array([7, 7, 7, 7]), name: 'alice', displayName: 'Alice' },
        pubKeyCredParams: [{ type: 'public-key', alg }], attestation: 'none',
        authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
      } });
      const r = { id: cred.id, clientDataJSON: b64u(cred.response.clientDataJSON),
        attestationObject: b64u(cred.response.attestationObject), assertions: [] };
      for (const c of [2, 3]) {
        const a = await navigator.credentials.get({ publicKey: {
          challenge: fill(c), rpId: 'localhost', userVerification: 'preferred',
          allowCredentials: [{ type: 'public-key', id: cred.rawId }],
        } });
        r.assertions.push({ clientDataJSON: b64u(a.response.clientDataJSON),
          authenticatorData: b64u(a.response.authenticatorData), signature: b64u(a.response.signature),
          userHandle: a.response.userHandle ? b64u(a.response.userHandle) : null });
      }
      return r;
    }, alg);
  } catch (e) {
    out.vectors[name] = { error: String(e) };
  }
}
console.log(JSON.stringify(out, null, 1));
await browser.close();
server.close();
