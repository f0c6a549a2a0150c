// Server CPU per message sent while nobody in the room has a Web Push
// subscription (issue 15, docs/performance.md "Web Push: the send path when
// nobody subscribed"). Starts the given parleyd on a temp data dir, makes a
// group of MEMBERS users (all offline but the sender), sends N messages
// (WINDOW in flight), and prints the parleyd process's user+system CPU
// seconds during the sends, read from /proc (so a busy machine stretches
// the wall time but hardly the CPU time).
//   node bench/push_send_cost.mjs build/parleyd [N=20000] [MEMBERS=10]
// Needs the `ws` package (tests/e2e/node_modules: run tests/e2e/run.sh once).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/e2e/package.json'));
const WebSocket = require('ws');

const bin = path.resolve(process.argv[2] || 'build/parleyd');
const N = Number(process.argv[3] || 20000);
const MEMBERS = Number(process.argv[4] || 10);
const WINDOW = 16; // under max_inflight_requests (32)

const port = await new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-pushcost-'));
// PARLEYD_WRAP="valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=F"
// runs it under a wrapper (instruction counts do not depend on the load).
const wrap = (process.env.PARLEYD_WRAP || '').split(' ').filter(Boolean);
const proc = spawn(wrap.length ? wrap[0] : bin, [...wrap.slice(1), ...(wrap.length ? [bin] : []), '--listen', `127.0.0.1:${port}`, '--data', dir, '--set', 'argon2_opslimit=1',
  '--set', 'argon2_memlimit=8k', '--set', 'rate_limit_per_sec=1000000', '--set', 'log_level=warn',
  '--set', 'register_per_ip_hour=1000000000', '--set', 'max_group_members=20000',
  '--set', 'member_adds_per_hour=1000000'], { stdio: 'ignore' });
const base = `http://127.0.0.1:${port}`;
const cpu = () => {
  const f = fs.readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks of 10 ms
};
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch (e) { /* not yet */ }
    if (i > 1200) throw new Error('parleyd did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const reg = async (u) => (await fetch(`${base}/v1/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: u, password: 'correct horse' }) })).json();
  const me = await reg('sender');
  const others = [];
  for (let i = 0; i < MEMBERS - 1; i++) others.push(`member${i}`), await reg(`member${i}`);
  const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  let next = 1;
  const waiting = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.re !== undefined && waiting.has(m.re)) { const f = waiting.get(m.re); waiting.delete(m.re); f(m); }
  });
  const req = (op, args) => new Promise((r) => { const id = next++; waiting.set(id, r); ws.send(JSON.stringify({ id, op, ...args })); });
  await req('auth', { token: me.token });
  const made = await req('create_room', { kind: 'group', name: 'bench', members: others });
  if (!made.ok) throw new Error(`create_room: ${JSON.stringify(made.error)}`);
  const room = made.room.id;
  let sent = 0, acked = 0;
  const t0 = cpu(), w0 = Date.now();
  await new Promise((done) => {
    const one = () => {
      if (sent >= N) return;
      const i = sent++;
      req('send', { room, client_id: `c${i}`, content: { type: 'text', body: `message ${i}` } }).then((m) => {
        if (!m.ok) throw new Error(JSON.stringify(m));
        if (++acked === N) done(); else one();
      });
    };
    for (let k = 0; k < WINDOW; k++) one();
  });
  const cpuS = cpu() - t0;
  console.log(JSON.stringify({ bin: path.basename(bin), messages: N, members: MEMBERS, server_cpu_s: cpuS,
    cpu_us_per_msg: Math.round((cpuS * 1e6) / N), wall_s: (Date.now() - w0) / 1000, load: os.loadavg()[0] }));
  ws.close();
} finally {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
}
