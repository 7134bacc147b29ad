import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { createPool, describeDatabase, POSTGRES_FIX, probeDatabase } from '@cachelab/db';
import { listPayments } from '@cachelab/lesson-01-uncached/queries';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp } from './app.ts';
import { strongEtag } from './representation.ts';

/**
 * What does compressing the classic 100,000-row answer cost, per request and per entry, and
 * what does it save on the wire? The numbers behind step 3's "compress once per cached entry".
 *
 *     npx tsx lessons/07-http-caching/src/measure-compression.ts [--rounds 5]
 *
 * 1. In process: the body (17.8 MB) compressed with gzip (level 6) and Brotli (quality 5),
 *    as compression.ts does, ROUNDS times each after one warm-up: the CPU time of one pass
 *    (process.cpuUsage, user + system), the fastest and the median, and the compressed sizes.
 * 2. Through the real app (PostgreSQL, Redis, lesson 07 with compression on), over HTTP on
 *    127.0.0.1: ROUNDS + 1 gzip requests to an instance that compresses per request (the
 *    `perRequest` option: what a compression middleware does) and to one that keeps the
 *    compressed copy with the entry; the first request of each is not counted (it fills).
 *    The CPU of this process per request, the median of ROUNDS (server and client are both in
 *    it, the same work for both instances but for the compression), and the bytes each answer
 *    put on the wire.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's text).
 */
export const FIGURES = [
  'rows',
  'bytes',
  '{gzip,br}.{bytes,percent,fastestMs,medianMs}',
  '{perRequest,kept,identity}.{cpuMsPerRequest,wireBytes,compressions}',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const figures: Record<string, unknown> = {};
const roundsAt = process.argv.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error('✗ --rounds must be a whole number ≥ 1');
  process.exit(2);
}

const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}
const redis = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
const subscriber = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
if (!(await whenReady(redis))) {
  console.error('✗ Redis does not answer: start it with `docker compose up -d` or `npx cachelab services up`.');
  process.exit(1);
}
const db = createPool({ max: 2 });
const q = { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 100_000 };
const rows = await listPayments(db, q);
const body = Buffer.from(JSON.stringify({ ...q, count: rows.length, rows }));
figures.rows = rows.length;
figures.bytes = body.length;
say(`body: ${rows.length.toLocaleString('en')} rows, ${body.length.toLocaleString('en')} bytes of JSON\n`);

const cpuMs = (fn: () => unknown) => {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
};
const middle = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const ms = (x: number) => `${x.toFixed(0)} ms`;

// 1. One pass of each coding, in process, with compression.ts's settings.
const codings = {
  gzip: () => gzipSync(body, { level: 6 }),
  br: () =>
    brotliCompressSync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 5,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
};
say(`one compression of the body, CPU time (${ROUNDS} passes after a warm-up):`);
for (const [name, compress] of Object.entries(codings)) {
  const out = compress();
  const times = Array.from({ length: ROUNDS }, () => cpuMs(compress));
  const percent = (out.length / body.length) * 100;
  figures[name] = { bytes: out.length, percent, fastestMs: Math.min(...times), medianMs: middle(times) };
  say(
    `  ${name.padEnd(5)} ${out.length.toLocaleString('en').padStart(10)} bytes (${percent.toFixed(1)} %)   fastest ${ms(Math.min(...times))}, median ${ms(middle(times))}   + its ETag ${ms(cpuMs(() => strongEtag(out)))}`,
  );
}

// 2. Through the app: per request against kept with the entry.
const prefix = `cachelab:measure:${process.pid}:`;
const get = (url: string, headers: Record<string, string>) =>
  new Promise<{ bytes: number; encoding: string | undefined }>((resolve, reject) => {
    httpRequest(url, { headers }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () => resolve({ bytes, encoding: res.headers['content-encoding'] }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
const path = `/payments?investor=${q.investor}&from=${q.from}&to=${q.to}&limit=${q.limit}`;
say(`\nthrough the app, GET ${path}, after one request that fills (${ROUNDS} requests each):`);
for (const [name, headers, perRequest] of [
  ['perRequest', { 'accept-encoding': 'gzip' }, true],
  ['kept', { 'accept-encoding': 'gzip' }, false],
  ['identity', {}, false],
] as const) {
  const app = createApp({
    db,
    redis,
    subscriber,
    keyPrefix: prefix,
    instanceId: `measure-${name}`,
    log: () => {},
    compression: { perRequest },
    l1: { ttlMs: 50_000 },
    l2TtlSeconds: 60,
  });
  const locals = app.locals as AppLocals;
  await locals.ready;
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const http = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  const first = await get(http.url + path, headers); // fills L1 (and L2 the first time)
  const compressedBefore = locals.compression?.compressions ?? 0;
  // Each request's CPU on its own, and the median: one request that happens to pay for a garbage
  // collection of the previous 17.8 MB buffers would otherwise move the mean by tens of ms.
  const perRequestMs: number[] = [];
  let wire = first;
  for (let i = 0; i < ROUNDS; i++) {
    const before = process.cpuUsage();
    wire = await get(http.url + path, headers);
    const used = process.cpuUsage(before);
    perRequestMs.push((used.user + used.system) / 1000);
  }
  const cpu = middle(perRequestMs);
  const compressions = (locals.compression?.compressions ?? 0) - compressedBefore;
  figures[name] = { cpuMsPerRequest: cpu, wireBytes: wire.bytes, compressions };
  const label = { perRequest: 'gzip, compressed per request', kept: 'gzip, kept with the entry', identity: 'identity' }[
    name
  ];
  say(
    `  ${label.padEnd(30)} ${ms(cpu).padStart(7)} of CPU per request (median), ${wire.bytes.toLocaleString('en').padStart(10)} body bytes (${wire.encoding ?? 'identity'}), ${compressions} compressions in ${ROUNDS} requests`,
  );
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await locals.close();
}

for (const key of await redis.keys(`${prefix}*`)) await redis.del(key);
redis.disconnect();
subscriber.disconnect();
await db.end();
if (json) console.log(JSON.stringify(figures));
