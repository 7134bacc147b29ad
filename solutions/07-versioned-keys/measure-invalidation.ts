/**
 * What it costs to invalidate every cached page of one department, three ways, on a Redis
 * holding `--others` unrelated keys (default 100,000) and the department's 200 pages
 * (50 pages × 4 page sizes):
 *
 *   version   INCR dept-version:…               one command, whatever the number of pages
 *   tag       SMEMBERS tag:… + UNLINK the pages the tag set lists (kept up to date on every fill)
 *   scan      SCAN MATCH dept-employees:…* + UNLINK what it finds: walks the whole keyspace
 *
 * Run it on a Redis of its own, so that other keys do not skew the SCAN:
 *
 *   redis-server --port 6390 --save '' --appendonly no --daemonize yes
 *   REDIS_URL=redis://127.0.0.1:6390 npx tsx solutions/07-versioned-keys/measure-invalidation.ts
 *   redis-cli -p 6390 shutdown nosave
 *
 * It deletes what it wrote under its prefix when done.
 */
import { randomBytes } from 'node:crypto';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { Redis } from 'ioredis';

const others = Number(process.argv.find((a) => a.startsWith('--others='))?.split('=')[1] ?? 100_000);
const rounds = 9;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `cachelab:measure07:${randomBytes(3).toString('hex')}:`;
const body = Buffer.alloc(2_000, 'x'); // about the size of a 25-row page
const pageKeys = (dept: string) =>
  [25, 50, 75, 100].flatMap((size) =>
    Array.from({ length: 50 }, (_, i) =>
      cacheKey({ prefix, name: 'dept-employees', params: { dept, page: i + 1, size } }),
    ),
  );
const tagKey = cacheKey({ prefix, name: 'tag', params: { dept: 'Sales' } });
const versionKey = cacheKey({ prefix, name: 'dept-version', params: { dept: 'Sales' } });

async function fillOthers() {
  for (let i = 0; i < others; i += 1_000) {
    const batch = redis.pipeline();
    for (let j = i; j < Math.min(others, i + 1_000); j++) batch.set(`${prefix}other:${j}`, 'x', 'EX', 600);
    await batch.exec();
  }
}

async function fillPages() {
  const pages = redis.pipeline();
  for (const key of pageKeys('Sales')) pages.set(key, body, 'EX', 600).sadd(tagKey, key);
  await pages.exec();
}

async function timed(fn: () => Promise<number>): Promise<{ ms: number; roundTrips: number }> {
  const started = performance.now();
  const roundTrips = await fn();
  return { ms: performance.now() - started, roundTrips };
}

const byVersion = () =>
  timed(async () => {
    await redis.incr(versionKey);
    return 1;
  });

const byTag = () =>
  timed(async () => {
    const keys = await redis.smembers(tagKey);
    if (keys.length > 0)
      await redis
        .multi()
        .unlink(...keys)
        .del(tagKey)
        .exec();
    return 2;
  });

const byScan = () =>
  timed(async () => {
    const pattern = `${cacheKey({ prefix, name: 'dept-employees', params: { dept: 'Sales' } })}&*`;
    let cursor = '0';
    let trips = 0;
    const found: string[] = [];
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      trips++;
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    if (found.length > 0) {
      await redis.unlink(...found);
      trips++;
    }
    return trips;
  });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

try {
  console.log(`Redis ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}: ${others} other keys, 200 pages of Sales.`);
  await fillOthers();
  await fillPages();
  console.log(`DBSIZE ${await redis.dbsize()}`);
  for (const [name, run] of [
    ['version (INCR)', byVersion],
    ['tag (SMEMBERS + UNLINK)', byTag],
    ['scan (SCAN MATCH + UNLINK)', byScan],
  ] as const) {
    const results: { ms: number; roundTrips: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      if (name !== 'version (INCR)') await fillPages();
      results.push(await run());
    }
    const ms = results.map((x) => x.ms);
    console.log(
      `${name.padEnd(28)} median ${median(ms).toFixed(2)} ms  (min ${Math.min(...ms).toFixed(2)}, max ${Math.max(...ms).toFixed(2)}), ${results[0]?.roundTrips} round trip${results[0]?.roundTrips === 1 ? '' : 's'}`,
    );
  }
} finally {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}
