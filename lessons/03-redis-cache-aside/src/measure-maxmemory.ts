import { cpus, loadavg } from 'node:os';
import { profileSequence, zipfSequence } from '@cachelab/bench/zipf';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { KEY_VERSION } from './app.ts';
import { startPrivateRedis } from './private-redis.ts';
import { createRedisClient, whenReady } from './redis-client.ts';
import { createRedisStore } from './redis-store.ts';

/**
 * Redis as a dedicated cache: what `maxmemory` and each `maxmemory-policy` do to a cache-aside
 * client. For each policy, a private redis-server (a free port, never the shared one at 6379)
 * with the same small `maxmemory`; lesson 03's own store (`createRedisStore`: GET, and on a miss
 * `SET key value EX ttl`) replays the bench's Zipf sequence (s = 1 over 10,000 employees, seed
 * 42) with 8 requests in flight; then `INFO stats` says how many keys Redis evicted.
 *
 *     npx tsx lessons/03-redis-cache-aside/src/measure-maxmemory.ts
 *
 * Values are 208 bytes, the size of an employee's JSON. Redis's LRU and LFU are approximations
 * (it samples `maxmemory-samples` = 5 keys per eviction, at random), and 8 requests in flight
 * interleave differently on every run: the hit ratios move by a few tenths between runs.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's text).
 */
export const FIGURES = [
  'requests',
  'ceilingPct',
  'maxmemoryBytes',
  'emptyUsedKb',
  '{noeviction,allkeysLru,allkeysLfu,allkeysRandom,volatileLru,volatileNoTtl}.{keys,hitPct,evicted,refused,bytesPerKey}',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;

const KEYS = 10_000;
const REQUESTS = 100_000;
const IN_FLIGHT = 8;
const MAXMEMORY = '1300kb';
const BODY = Buffer.alloc(208, 'x');

interface Case {
  name: string;
  label: string;
  policy: string;
  /** SET with EX (as lesson 03 does), or without a TTL. */
  ttlSeconds: number | undefined;
}
const CASES: Case[] = [
  { name: 'noeviction', label: 'noeviction (the default)', policy: 'noeviction', ttlSeconds: 3600 },
  { name: 'allkeysLru', label: 'allkeys-lru', policy: 'allkeys-lru', ttlSeconds: 3600 },
  { name: 'allkeysLfu', label: 'allkeys-lfu', policy: 'allkeys-lfu', ttlSeconds: 3600 },
  { name: 'allkeysRandom', label: 'allkeys-random', policy: 'allkeys-random', ttlSeconds: 3600 },
  { name: 'volatileLru', label: 'volatile-lru, keys with EX', policy: 'volatile-lru', ttlSeconds: 3600 },
  { name: 'volatileNoTtl', label: 'volatile-lru, keys without EX', policy: 'volatile-lru', ttlSeconds: undefined },
];

const traffic = zipfSequence({ keys: KEYS, count: REQUESTS, s: 1, seed: 42 });
const shape = profileSequence(traffic);
const figures: Record<string, unknown> = {
  requests: REQUESTS,
  ceilingPct: 100 * shape.coldHitRatioCeiling,
};
const key = (id: number) =>
  cacheKey({ prefix: 'cachelab:03:maxmemory:', name: 'employee', version: KEY_VERSION, params: { id } });

async function run(c: Case) {
  const server = await startPrivateRedis({ maxmemory: MAXMEMORY, 'maxmemory-policy': c.policy });
  const redis = createRedisClient({ url: server.url, commandTimeoutMs: 5_000, log: () => {} });
  try {
    if (!(await whenReady(redis, 10_000))) throw new Error(`could not reach the private Redis at ${server.url}`);
    // What an empty server already uses: maxmemory bounds used_memory, Redis's own structures included.
    const field = (text: string, name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    const emptyUsed = field(await redis.info('memory'), 'used_memory');
    let refused = 0;
    let lastError = '';
    const store = createRedisStore({
      redis,
      ttlSeconds: 3600,
      onError: (err, operation) => {
        if (operation === 'set') refused += 1;
        lastError = err.message;
      },
    });
    let hits = 0;
    let next = 0;
    const worker = async () => {
      while (next < traffic.length) {
        const k = key(traffic[next++] as number);
        const lookup = await store.get(k);
        if (lookup.status === 'hit') hits += 1;
        else if (lookup.status === 'error') throw lookup.error;
        else if (c.ttlSeconds) await store.set(k, BODY, c.ttlSeconds);
        else {
          // lesson 03's store always sets a TTL: a SET without EX, to see what volatile-* does with it
          await redis.set(k, BODY).catch((err: Error) => {
            refused += 1;
            lastError = err.message;
          });
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const stats = await redis.info('stats');
    const memory = await redis.info('memory');
    const keys = await redis.dbsize();
    return {
      keys,
      emptyUsed,
      bytesPerKey: (field(memory, 'used_memory') - emptyUsed) / keys,
      hitPct: (100 * hits) / REQUESTS,
      evicted: field(stats, 'evicted_keys'),
      refused,
      lastError,
      maxmemoryBytes: field(memory, 'maxmemory'),
    };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

say(
  `Zipf s = 1 over ${KEYS.toLocaleString('en-US')} keys, ${REQUESTS.toLocaleString('en-US')} requests (seed 42), ${IN_FLIGHT} in flight; values of ${BODY.length} bytes; maxmemory ${MAXMEMORY}.`,
);
say(`A cache that never evicts would hit ${(100 * shape.coldHitRatioCeiling).toFixed(1)} %.\n`);
say('| maxmemory-policy              | keys held | hit ratio | evicted_keys | SETs refused (OOM) |');
say('| ----------------------------- | --------: | --------: | -----------: | -----------------: |');
let oom = '';
const perKey: Record<string, number> = {};
for (const c of CASES) {
  const r = await run(c);
  figures.maxmemoryBytes = r.maxmemoryBytes;
  figures.emptyUsedKb ??= r.emptyUsed / 1024; // Redis's kb, as in maxmemory 1300kb
  perKey[c.name] = r.bytesPerKey;
  figures[c.name] = {
    keys: r.keys,
    hitPct: r.hitPct,
    evicted: r.evicted,
    refused: r.refused,
    bytesPerKey: r.bytesPerKey,
  };
  if (r.refused > 0 && !oom) oom = r.lastError;
  say(
    `| ${c.label.padEnd(29)} | ${r.keys.toLocaleString('en-US').padStart(9)} | ${`${r.hitPct.toFixed(1)} %`.padStart(9)} | ${r.evicted.toLocaleString('en-US').padStart(12)} | ${r.refused.toLocaleString('en-US').padStart(18)} |`,
  );
}
say(
  `\nAn empty redis-server already uses ${(figures.emptyUsedKb as number).toFixed(0)}kb of the ${MAXMEMORY} (used_memory, Redis's own structures included; kb = 1,024 bytes); each key held adds about ${(perKey.noeviction as number).toFixed(0)} bytes with EX, ${(perKey.volatileNoTtl as number).toFixed(0)} without (used_memory after the run, less the empty server's, per key).`,
);
if (oom) say(`A refused SET: ${oom}`);
say(
  `\nLoad average: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')} (${cpus().length} CPUs)`,
);
if (json) console.log(JSON.stringify(figures));
