// Shared helpers for the browser suite: start a private parleyd, launch
// Debian's Chromium through playwright-core, drive the UI.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
export const screenshotDir = path.join(repoRoot, 'build', 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// PL_E2E_TLS=1 (ctest label tls): every server also listens with TLS on a
// self-signed certificate made here, the pages load https:// and the web
// client connects with wss://. Chromium ignores certificate errors, and so
// do the tests' own fetches and WebSockets (the certificate is the test's).
export const TLS = process.env.PL_E2E_TLS === '1';
if (TLS) process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// parleyd processes still running; killed by PID if the test process exits early.
const live = new Set();
process.once('exit', () => { for (const p of live) { try { process.kill(p.pid, 'SIGTERM'); } catch (e) { /* gone */ } } });

export async function startServer(extra = [], reuse = null) {
  const bin = process.env.PARLEYD ? path.resolve(process.env.PARLEYD) : path.resolve(here, '../../build/parleyd');
  if (!fs.existsSync(bin)) throw new Error(`parleyd not found at ${bin} (build it or set PARLEYD)`);
  const dataDir = reuse ? reuse.dataDir : fs.mkdtempSync(path.join(os.tmpdir(), 'parley-e2e-'));
  const port = reuse ? reuse.port : await freePort();
  const tlsPort = TLS ? (reuse ? reuse.tlsPort : await freePort()) : 0;
  const tlsArgs = [];
  if (TLS) {
    const cert = path.join(dataDir, 'cert.pem');
    const key = path.join(dataDir, 'key.pem');
    if (!fs.existsSync(cert)) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-nodes', '-days', '2', '-keyout', key, '-out', cert, '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    }
    tlsArgs.push('--set', `tls_listen=127.0.0.1:${tlsPort}`, '--set', `tls_cert=${cert}`, '--set', `tls_key=${key}`);
  }
  const args = ['--listen', `127.0.0.1:${port}`, '--data', dataDir, ...tlsArgs,
    '--set', `web_root=${path.join(repoRoot, 'web')}`,
    '--set', 'argon2_opslimit=1', '--set', 'argon2_memlimit=8k',
    // The suites register and log in many users from 127.0.0.1.
    '--set', 'register_per_ip_hour=1000000000', '--set', 'login_per_ip_min=1000000000', ...extra];
  const logPath = path.join(dataDir, 'parleyd.log');
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(bin, args, { stdio: ['ignore', log, log] });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const base = TLS ? `https://127.0.0.1:${tlsPort}` : `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) {
      throw new Error(`parleyd (${bin}) exited with ${proc.exitCode}: ${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
    }
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok && TLS && !r.headers.get('strict-transport-security')) throw new Error('no HSTS over TLS');
      if (r.ok) break;
    } catch (e) { /* not yet */ }
    if (Date.now() > deadline) throw new Error('parleyd did not become healthy');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base, port, tlsPort, dataDir, logPath,
    async stop({ keepData = false } = {}) {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); }, 5000);
        await exited;
        clearTimeout(t);
      }
      fs.closeSync(log);
      if (keepData) return;
      if (process.env.KEEP_DATA) console.log(`data kept in ${dataDir}`);
      else fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser(extraArgs = []) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', ...(TLS ? ['--ignore-certificate-errors'] : []),
      ...extraArgs],
  });
}

let counter = 0;
export function uniqueName(prefix) {
  counter++;
  return `${prefix}${process.pid % 1000}${counter}${Math.floor(Math.random() * 1000)}`.toLowerCase().slice(0, 32);
}

// A page that fails the test on any dialog (alert/confirm) and records errors.
export async function newPage(browser, base, opts = {}) {
  const context = await browser.newContext({ viewport: opts.viewport || { width: 1280, height: 800 },
    colorScheme: opts.colorScheme || 'light', baseURL: base, ignoreHTTPSErrors: TLS, ...opts.contextOptions });
  const page = await context.newPage();
  page.dialogs = [];
  page.errors = [];
  page.on('dialog', async (d) => { page.dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  await page.goto(base + '/');
  return { context, page };
}

export async function registerUI(page, username, displayName, password = 'correct horse') {
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.fill('#auth-username', username);
  if (displayName) await page.fill('#auth-display', displayName);
  await page.fill('#auth-password', password);
  await page.click('#auth-submit');
  await page.waitForSelector('#chat-view:not([hidden])');
  await waitOnline(page);
}

export async function waitOnline(page, timeout = 15000) {
  await page.waitForSelector('#conn-status[data-state="online"]', { timeout });
}

export async function startDM(page, username) {
  await page.click('#btn-new');
  await page.fill('#new-members', username);
  await page.click('#new-submit');
  await page.waitForSelector('#room-pane:not([hidden])');
}

export async function startGroup(page, name, members) {
  await page.click('#btn-new');
  await page.getByRole('tab', { name: 'Group' }).click();
  await page.fill('#new-name', name);
  await page.fill('#new-members', members.join(', '));
  await page.click('#new-submit');
  await page.waitForSelector('#room-pane:not([hidden])');
}

export async function openRoomByName(page, title) {
  const item = page.locator('.room-item', { has: page.locator('.room-name', { hasText: title }) }).first();
  await item.waitFor({ timeout: 10000 });
  await item.click();
  await page.waitForSelector('#room-pane:not([hidden])');
}

export async function send(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

// Bodies of the stored (not pending) messages, in DOM order.
export function bodies(page) {
  return page.$$eval('#message-list li.msg:not(.pending) .body', (els) => els.map((e) => e.textContent));
}

export async function waitForBody(page, text, timeout = 10000) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#message-list li.msg:not(.pending) .body')]
    .some((e) => e.textContent === t), text, { timeout });
}

export function shot(page, name) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  return page.screenshot({ path: path.join(screenshotDir, name) });
}

export function assertNoErrors(page) {
  assert.deepEqual(page.dialogs, [], 'no dialogs may open');
  const bad = page.errors.filter((e) => !/net::ERR_INTERNET_DISCONNECTED|Failed to load resource|WebSocket/.test(e));
  assert.deepEqual(bad, [], 'no page errors');
}

// Minimal protocol client for seeding data from Node.
export async function apiRegister(base, username, password = 'correct horse') {
  const r = await fetch(`${base}/v1/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }) });
  assert.equal(r.status, 201, `register ${username}`);
  return r.json();
}

export class WsClient {
  static async connect(base, token) {
    const c = new WsClient();
    c.ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws');
    c.next = 1;
    c.pending = new Map();
    c.events = [];
    c.ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.re !== undefined && m.re !== null && c.pending.has(m.re)) {
        const p = c.pending.get(m.re);
        c.pending.delete(m.re);
        if (m.ok) p.resolve(m); else p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      } else if (m.ev) c.events.push(m);
    });
    await new Promise((res, rej) => { c.ws.once('open', res); c.ws.once('error', rej); });
    await c.request('auth', { token });
    return c;
  }

  request(op, args = {}) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, op, ...args }));
    });
  }

  close() { this.ws.close(); }
}
