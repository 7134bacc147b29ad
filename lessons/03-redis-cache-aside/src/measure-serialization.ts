import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPool } from '@cachelab/db';
import { listPayments } from '@cachelab/lesson-01-uncached/queries';
import express from 'express';
import { createRedisClient, whenReady } from './redis-client.ts';

/**
 * What does a cache hit cost when the cache stores the *value* and the app re-serializes
 * it on every hit, compared with storing the *bytes* and sending them as they are?
 *
 *   npx tsx lessons/03-redis-cache-aside/src/measure-serialization.ts [--runs 15]
 *
 * It loads the classic result once (DEMO_INV, 2024, limit 100,000), stores its JSON in Redis
 * under a temporary key, then measures, N times each, taking the median:
 *
 *   in process   (a) JSON.parse of the cached bytes + JSON.stringify again (what res.json does)
 *                (b) nothing: the bytes are already the body
 *   over HTTP    a local server with two routes that both GET the entry from Redis, then
 *                (a) parse + res.json(value), or (b) res.send(bytes); timed by the client,
 *                from the request to the last byte of the body.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README).
 */
export const FIGURES = [
  'rows',
  'jsonMB',
  'redisGetMs',
  'parseMs',
  'stringifyMs',
  'reserializeMs',
  'httpReserializeMs',
  'httpBytesMs',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const runsFlag = process.argv.indexOf('--runs');
const RUNS = runsFlag >= 0 ? Number(process.argv[runsFlag + 1]) : 15;
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error('✗ --runs must be a whole number ≥ 1');
  process.exit(2);
}
const KEY = `cachelab:measure:${process.pid}:payments`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const fmt = (ms: number) => `${ms.toFixed(1).padStart(7)} ms`;

async function measure(fn: () => Promise<unknown> | unknown): Promise<number> {
  const times: number[] = [];
  await fn(); // warm-up, not counted
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  return median(times);
}

const db = createPool({ max: 2 });
const redis = createRedisClient({ commandTimeoutMs: 5_000 });
if (!(await whenReady(redis))) {
  console.error('✗ Redis does not answer: start it with `docker compose up -d` or `npx cachelab services up`.');
  process.exit(1);
}

const q = { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 100_000 };
const rows = await listPayments(db, q);
const bytes = Buffer.from(JSON.stringify({ ...q, count: rows.length, rows }));
await redis.set(KEY, bytes, 'EX', 300);
say(
  `Body: ${rows.length.toLocaleString('en')} rows, ${(bytes.length / 1e6).toFixed(1)} MB of JSON. Median of ${RUNS} runs each.\n`,
);

const redisGet = await measure(() => redis.getBuffer(KEY));
const parseOnly = await measure(() => JSON.parse(bytes.toString('utf8')));
const parsed = JSON.parse(bytes.toString('utf8'));
const stringifyOnly = await measure(() => Buffer.from(JSON.stringify(parsed)));
const reserialize = await measure(() => Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8')))));

const app = express();
app.set('etag', false);
app.get('/a', async (_req, res) => {
  const body = (await redis.getBuffer(KEY)) as Buffer;
  res.json(JSON.parse(body.toString('utf8')));
});
app.get('/b', async (_req, res) => {
  const body = (await redis.getBuffer(KEY)) as Buffer;
  res.type('application/json').send(body);
});
const server = await new Promise<Server>((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s));
});
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const fetchAll = (path: string) => async () => {
  const res = await fetch(base + path);
  await res.arrayBuffer();
};
const httpA = await measure(fetchAll('/a'));
const httpB = await measure(fetchAll('/b'));

say('In process, per hit, after the Redis GET:');
say(`  Redis GET of the entry (getBuffer)              ${fmt(redisGet)}`);
say(`  (a) JSON.parse                                  ${fmt(parseOnly)}`);
say(`      JSON.stringify                              ${fmt(stringifyOnly)}`);
say(`      parse + stringify, what (a) pays per hit    ${fmt(reserialize)}`);
say(`  (b) send the stored bytes                          0.0 ms  (nothing to do)`);
say('Over HTTP on 127.0.0.1, request to last byte, Redis GET included:');
say(`  (a) GET + JSON.parse + res.json(value)          ${fmt(httpA)}`);
say(`  (b) GET + res.send(bytes)                       ${fmt(httpB)}`);

server.close();
await redis.del(KEY);
await redis.quit();
await db.end();
if (json) {
  console.log(
    JSON.stringify({
      rows: rows.length,
      jsonMB: bytes.length / 1e6,
      redisGetMs: redisGet,
      parseMs: parseOnly,
      stringifyMs: stringifyOnly,
      reserializeMs: reserialize,
      httpReserializeMs: httpA,
      httpBytesMs: httpB,
    }),
  );
}
