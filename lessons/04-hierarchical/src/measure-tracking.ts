import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
// Deterministic uniform draws in [0, 1), so that two runs write the same keys: the bench's PRNG.
import { mulberry32 } from '@cachelab/bench/zipf';
import { startPrivateRedis } from '@cachelab/lesson-03-redis-cache-aside/private-redis';
import { Redis } from 'ioredis';
import { createInvalidationBus } from './invalidation-bus.ts';
import { createTrackedL1, INVALIDATE_CHANNEL } from './tracked-l1.ts';

/**
 * Step 3's numbers: CLIENT TRACKING against step 2's invalidation bus.
 *
 *     npx tsx lessons/04-hierarchical/src/measure-tracking.ts [--json]
 *
 * 1. Latency (shared Redis at REDIS_URL or 127.0.0.1:6379, keys under a prefix of its own,
 *    removed at the end): another client writes a key that an L1 holds; the time from the
 *    start of that write to the L1 entry being gone. Tracking: the writer's SET alone (Redis
 *    sends the invalidation). Bus: the writer's SET, then its PUBLISH (step 2's order), heard
 *    by a second instance's subscriber. WRITES writes each, alternating in batches of 20 so
 *    both see the same load; median and p99.
 * 2. Messages per write: an L1 has read 100 of 1,000 keys under one prefix; another client
 *    writes 1,000 times to keys drawn uniformly from the 1,000. Default mode against BCAST on
 *    that prefix: invalidation messages and key names received per write, and how many of
 *    those names were in L1.
 * 3. The tracking table, on a private redis-server (never CONFIG SET on the shared one):
 *    used_memory after one tracked connection read 100,000 keys, less before; the same reads
 *    untracked and in BCAST; then with tracking-table-max-keys 10,000, the invalidations Redis
 *    sends with no write at all when one connection reads 20,000 keys.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with steps/3-client-tracking.md).
 */
export const FIGURES = [
  '{tracking,bus}.{p50Ms,p99Ms}',
  'writes',
  '{default,bcast}.{messagesPerWrite,keysPerWrite,droppedPerWrite}',
  'table.{bytesPerTrackedKey,untrackedBytesPerKey,bcastBytesPerKey,trackedKeys}',
  'cap.{maxKeys,readKeys,evictionKeys,trackedAfter}',
];

const json = process.argv.includes('--json');
const say = (line: string) => (json ? console.error : console.log)(line);
const figures: Record<string, unknown> = {};
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `cachelab:measure:tracking:${randomBytes(3).toString('hex')}:`;
const WRITES = 300;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { p50Ms: Number(percentile(s, 50).toFixed(3)), p99Ms: Number(percentile(s, 99).toFixed(3)) };
};
/** A promise a callback resolves, with a deadline: a lost message must not hang the script. */
function waiter(timeoutMs = 2000): { promise: Promise<boolean>; done: () => void } {
  let done!: () => void;
  const promise = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    done = () => {
      clearTimeout(timer);
      resolve(true);
    };
  });
  return { promise, done };
}
async function deletePrefix(redis: Redis) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

say(`load average ${loadavg()[0]?.toFixed(2)} (timings are comparable below 1.5); Redis at ${url}`);
const writer = new Redis(url);
const base = new Redis(url);
try {
  // ---- 1. latency ---------------------------------------------------------------------------
  let pending: { key: string; done: () => void } | undefined;
  const heard = (keys: readonly string[] | null) => {
    if (pending && (keys === null || keys.includes(pending.key))) pending.done();
  };
  const tracked = createTrackedL1({ redis: base, l1: { maxBytes: 10_000_000, ttlMs: 60_000 }, onInvalidate: heard });
  const subA = new Redis(url);
  const subB = new Redis(url);
  const busA = createInvalidationBus({
    publisher: writer,
    subscriber: subA,
    channel: `${prefix}bus`,
    instanceId: 'a',
    onInvalidate() {},
  });
  const busB = createInvalidationBus({
    publisher: writer,
    subscriber: subB,
    channel: `${prefix}bus`,
    instanceId: 'b',
    onInvalidate: heard,
  });
  await Promise.all([tracked.ready, busA.ready, busB.ready]);
  const ms: Record<'tracking' | 'bus', number[]> = { tracking: [], bus: [] };
  let lost = 0;
  for (let batch = 0; batch < (2 * WRITES) / 20; batch++) {
    const how = batch % 2 === 0 ? 'tracking' : 'bus';
    for (let i = 0; i < 20; i++) {
      const key = `${prefix}lat:${i}`;
      await writer.set(key, 'v0');
      if (how === 'tracking') {
        await tracked.get(key); // now in L1, and tracked
        if (!tracked.holds(key)) throw new Error(`${key} did not go into L1`);
      }
      const w = waiter();
      pending = { key, done: w.done };
      const t0 = performance.now();
      await writer.set(key, `v${batch}`);
      if (how === 'bus') await busA.publish([key]);
      const arrived = await w.promise;
      const t1 = performance.now();
      pending = undefined;
      if (arrived) ms[how].push(t1 - t0);
      else lost++;
    }
  }
  for (const how of ['tracking', 'bus'] as const) figures[how] = summary(ms[how]);
  figures.writes = WRITES;
  const t = figures.tracking as { p50Ms: number; p99Ms: number };
  const b = figures.bus as { p50Ms: number; p99Ms: number };
  say(
    `\n1. From the start of another client's write to the L1 entry being gone (${WRITES} writes each${lost ? `, ${lost} never arrived` : ''}):`,
  );
  say(`   CLIENT TRACKING (SET)            median ${t.p50Ms.toFixed(3)} ms   p99 ${t.p99Ms.toFixed(3)} ms`);
  say(`   invalidation bus (SET, PUBLISH)  median ${b.p50Ms.toFixed(3)} ms   p99 ${b.p99Ms.toFixed(3)} ms`);
  await Promise.all([tracked.close(), busA.close(), busB.close()]);
  subA.disconnect();
  subB.disconnect();

  // ---- 2. messages per write ----------------------------------------------------------------
  const mpw = `${prefix}mpw:`;
  const KEYS = 1000;
  const READ = 100;
  const WRITES2 = 1000;
  const pipe = writer.pipeline();
  for (let i = 0; i < KEYS; i++) pipe.set(`${mpw}${i}`, `value ${i}`);
  await pipe.exec();
  const marker = `${mpw}marker`;
  await writer.set(marker, 'm');
  const modes = { default: undefined, bcast: { prefixes: [mpw] } } as const;
  const caches = Object.fromEntries(
    Object.entries(modes).map(([name, bcast]) => {
      const markerSeen = waiter(5000);
      const c = createTrackedL1({
        redis: base,
        ...(bcast ? { bcast } : {}),
        l1: { maxBytes: 10_000_000, ttlMs: 600_000 },
        onInvalidate: (keys) => {
          if (keys?.includes(marker)) markerSeen.done();
        },
      });
      return [name, { c, markerSeen }];
    }),
  );
  for (const { c } of Object.values(caches)) {
    await c.ready;
    for (let i = 0; i < READ; i++) await c.get(`${mpw}${i}`);
    await c.get(marker);
  }
  const before = Object.fromEntries(Object.entries(caches).map(([n, { c }]) => [n, { ...c.stats }]));
  const draw = mulberry32(42);
  for (let i = 0; i < WRITES2; i++) await writer.set(`${mpw}${Math.floor(draw() * KEYS)}`, `written ${i}`);
  await writer.set(marker, 'barrier'); // each connection gets its messages in order: after this one, all of them
  say(`\n2. An L1 holds ${READ} of ${KEYS} keys; another client writes ${WRITES2} times, keys drawn uniformly:`);
  for (const [name, { c, markerSeen }] of Object.entries(caches)) {
    if (!(await markerSeen.promise)) throw new Error(`${name}: the barrier's invalidation never came`);
    const s0 = before[name] as typeof c.stats;
    const messages = c.stats.messages - s0.messages - 1;
    const keys = c.stats.keys - s0.keys - 1;
    const dropped = c.stats.dropped - s0.dropped - 1;
    figures[name] = {
      messagesPerWrite: Number((messages / WRITES2).toFixed(3)),
      keysPerWrite: Number((keys / WRITES2).toFixed(3)),
      droppedPerWrite: Number((dropped / WRITES2).toFixed(3)),
    };
    say(
      `   ${name.padEnd(8)} ${messages} messages (${(messages / WRITES2).toFixed(3)} per write), ${keys} key names, ${dropped} of them held in L1`,
    );
    await c.close();
  }
} finally {
  await deletePrefix(writer);
  writer.disconnect();
  base.disconnect();
}

// ---- 3. the tracking table, on a private server ------------------------------------------------
const server = await startPrivateRedis();
let r = new Redis(server.url);
/** Write n small keys t:0 … t:(n-1). */
const fill = async (n: number) => {
  for (let i = 0; i < n; i += 10_000) {
    const p = r.pipeline();
    for (let j = i; j < i + 10_000; j++) p.set(`t:${j}`, 'x');
    await p.exec();
  }
};
try {
  const N = 100_000;
  await fill(N);
  const info = async (field: string) => {
    const text = await r.info();
    return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(text)?.[1]);
  };
  /** used_memory growth when a fresh connection reads every key, with `tracking` arguments (or none). */
  const growth = async (tracking: string[] | null, n: number) => {
    const listener = new Redis(server.url);
    const reader = new Redis(server.url);
    const id = await listener.client('ID');
    await listener.subscribe(INVALIDATE_CHANNEL);
    let evictionKeys = 0;
    listener.on('messageBuffer', (_c: Buffer, payload: unknown) => {
      if (Array.isArray(payload)) evictionKeys += payload.length;
    });
    if (tracking) await reader.client('TRACKING', 'ON', 'REDIRECT', id, ...tracking);
    const m0 = await info('used_memory');
    for (let i = 0; i < n; i += 10_000) {
      const p = reader.pipeline();
      for (let j = i; j < i + 10_000; j++) p.get(`t:${j}`);
      await p.exec();
    }
    const m1 = await info('used_memory');
    const trackedKeys = await info('tracking_total_keys');
    return {
      bytes: m1 - m0,
      trackedKeys,
      evictionKeys: () => evictionKeys,
      close: () => {
        listener.disconnect();
        reader.disconnect();
      },
    };
  };
  const untracked = await growth(null, N);
  untracked.close();
  const bcast = await growth(['BCAST', 'PREFIX', 't:'], N);
  bcast.close();
  const tracked = await growth([], N);
  tracked.close();
  figures.table = {
    bytesPerTrackedKey: Number((tracked.bytes / N).toFixed(1)),
    untrackedBytesPerKey: Math.round(untracked.bytes / N),
    bcastBytesPerKey: Math.round(bcast.bytes / N),
    trackedKeys: tracked.trackedKeys,
  };
  say(
    `\n3. A connection reads ${N.toLocaleString('en-US')} keys (private redis-server, used_memory after less before):`,
  );
  say(`   untracked  ${(untracked.bytes / N).toFixed(1)} bytes per key read`);
  say(`   BCAST      ${(bcast.bytes / N).toFixed(1)} bytes per key read`);
  say(
    `   default    ${(tracked.bytes / N).toFixed(1)} bytes per key read (tracking_total_keys ${tracked.trackedKeys.toLocaleString('en-US')})`,
  );

  const MAX = 10_000;
  const READ_CAP = 20_000;
  // An empty server again: Redis keeps a closed client's keys in the table until they change.
  r.disconnect();
  await server.stop();
  await server.start();
  r = new Redis(server.url);
  await fill(READ_CAP);
  await r.config('SET', 'tracking-table-max-keys', String(MAX));
  const capped = await growth([], READ_CAP);
  // Redis trims the table in its cron, a little at a time: wait until it is under the cap.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await info('tracking_total_keys')) > MAX)
    await new Promise((res) => setTimeout(res, 50));
  await new Promise((res) => setTimeout(res, 200));
  figures.cap = {
    maxKeys: MAX,
    readKeys: READ_CAP,
    evictionKeys: capped.evictionKeys(),
    trackedAfter: await info('tracking_total_keys'),
  };
  capped.close();
  say(
    `   tracking-table-max-keys ${MAX.toLocaleString('en-US')}: after reading ${READ_CAP.toLocaleString('en-US')} keys, with no write at all, ${capped.evictionKeys().toLocaleString('en-US')} invalidations; ${(figures.cap as { trackedAfter: number }).trackedAfter.toLocaleString('en-US')} keys left in the table`,
  );
} finally {
  r.disconnect();
  await server.stop();
}

if (json) console.log(JSON.stringify(figures));
