#!/usr/bin/env node
// s3server.cjs -- the local S3-compatible server of the media-on-S3 tests:
// s3rver (npm) on 127.0.0.1 with a data directory, plus a SigV4 check of
// our own in front of it.
//
// Why the check: s3rver 3.7 checks that the access key id exists but does
// not verify AWS Signature Version 4 at all (its authentication middleware
// says "Signature version 4 calculation is unimplemented" and accepts any
// well-formed V4 signature). A wrong secret would pass unnoticed. So every
// request signed with Authorization: AWS4-HMAC-SHA256 is verified here,
// independently of libcurl's signer (RFC-style canonical request, HMAC
// chain from the secret), and refused with 403 SignatureDoesNotMatch like
// AWS does. Unsigned requests are refused too (403 AccessDenied). The
// payload hash is taken from x-amz-content-sha256 as sent (not re-hashed).
//
//   node s3server.cjs --dir DIR --port PORT [--bucket NAME]... [--no-verify]
//                     [--log FILE]
// Prints "ready PORT" on stdout once listening; exits on SIGTERM. --log
// appends "METHOD URL STATUS" per request (tests check which S3 calls were
// made: multipart or not, aborts).
'use strict';

const crypto = require('crypto');
const path = require('path');
const S3rver = require(path.join(__dirname, 'node_modules', 's3rver'));

const SECRETS = { S3RVER: 'S3RVER' }; // s3rver's built-in account

function args(argv) {
  const o = { buckets: [], verify: true, port: 0, dir: null, log: null };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dir') o.dir = argv[++i];
    else if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--bucket') o.buckets.push(argv[++i]);
    else if (a === '--no-verify') o.verify = false;
    else if (a === '--log') o.log = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.dir) throw new Error('--dir is required');
  return o;
}

const hmac = (key, s) => crypto.createHmac('sha256', key).update(s).digest();
const sha256hex = s => crypto.createHash('sha256').update(s).digest('hex');

// Canonical query string (SigV4): each pair k=v (a bare k counts as k=),
// already percent-encoded by the client, sorted by key then value.
function canonicalQuery(raw) {
  if (!raw) return '';
  return raw
    .split('&')
    .filter(p => p.length)
    .map(p => (p.includes('=') ? p : p + '='))
    .map(p => { const i = p.indexOf('='); return [p.slice(0, i), p.slice(i + 1)]; })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function deny(ctx, code, message) {
  ctx.status = 403;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message></Error>`;
}

async function verifySigV4(ctx, next) {
  const auth = ctx.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return deny(ctx, 'AccessDenied', 'a SigV4-signed request is required');
  const [, akid, day, region, signed, sig] = m;
  const secret = SECRETS[akid];
  if (secret === undefined) return deny(ctx, 'InvalidAccessKeyId', 'unknown access key id');
  const amzDate = ctx.headers['x-amz-date'] || '';
  const raw = ctx.req.url;
  const q = raw.indexOf('?');
  const uri = q < 0 ? raw : raw.slice(0, q);
  const names = signed.split(';');
  const canonHeaders = names
    .map(n => `${n}:${String(ctx.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payload = ctx.headers['x-amz-content-sha256'] || sha256hex('');
  const creq = [ctx.method, uri, canonicalQuery(q < 0 ? '' : raw.slice(q + 1)), canonHeaders,
    signed, payload].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(creq)].join('\n');
  let k = hmac('AWS4' + secret, day);
  k = hmac(k, region);
  k = hmac(k, 's3');
  k = hmac(k, 'aws4_request');
  const want = hmac(k, sts).toString('hex');
  if (want !== sig || !amzDate.startsWith(day)) {
    return deny(ctx, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.');
  }
  return next();
}

async function main() {
  const o = args(process.argv);
  const server = new S3rver({
    address: '127.0.0.1',
    port: o.port,
    directory: o.dir,
    silent: true,
    // Virtual-host style: BUCKET.s3.localhost (curl resolves *.localhost to
    // loopback); path style on 127.0.0.1 is unaffected.
    serviceEndpoint: 'localhost',
    configureBuckets: o.buckets.map(name => ({ name })),
  });
  // Koa composes its middleware when it starts listening: put the check
  // first so nothing reaches s3rver unverified.
  if (o.verify) server.middleware.unshift(verifySigV4);
  if (o.log) {
    const fs = require('fs');
    server.middleware.unshift(async (ctx, next) => {
      const url = ctx.req.url; // as sent: s3rver rewrites it for vhost buckets
      try {
        await next();
      } finally {
        fs.appendFileSync(o.log, `${ctx.method} ${url} ${ctx.status}\n`);
      }
    });
  }
  const { port } = await server.run();
  process.stdout.write(`ready ${port}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch(err => {
  process.stderr.write(`s3server: ${err.stack || err}\n`);
  process.exit(1);
});
