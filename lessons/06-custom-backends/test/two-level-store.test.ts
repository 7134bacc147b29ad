import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { describeCacheStore, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryCacheStore } from '../src/memory-cache-store.ts';
import { createRedisCacheStore } from '../src/redis-cache-store.ts';
import { createTwoLevelStore } from '../src/two-level-store.ts';

const services = useServices();
let redis: Redis;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  redis = createRedisClient({ commandTimeoutMs: 2_000, log: () => {} });
  expect(await whenReady(redis)).toBe(true);
});
afterAll(() => redis.disconnect());
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/**
 * One instance of the two-level store, as one process holds it: its own L1, its own subscriber
 * connection for the bus, and the clock shared by L1 and the expiry it writes into L2.
 */
async function instance(namespace: string, clock: { now: number }, l1TtlMs = 10_000) {
  const subscriber = createRedisClient({ log: () => {} });
  await whenReady(subscriber);
  const full = services.prefix + namespace;
  const store = createTwoLevelStore({
    l1: createMemoryCacheStore({ maxBytes: 16 * 1024 * 1024, now: () => clock.now }),
    l2: createRedisCacheStore({ redis, namespace: full }),
    bus: { publisher: redis, subscriber, channel: `${full}l1-invalidation` },
    l1TtlMs,
    now: () => clock.now,
  });
  await Promise.race([store.ready, new Promise((r) => setTimeout(r, 2_000))]);
  return {
    store,
    close: async () => {
      await store.close();
      subscriber.disconnect();
    },
  };
}

// One clock for the file: "two processes" in the suite read the same time, as servers synced by NTP do.
const clock = { now: Date.now() };

describeCacheStore(
  'two-level (memory over Redis, lesson 04’s bus)',
  async ({ namespace }) => {
    const { store, close } = await instance(namespace, clock);
    return {
      store,
      close,
      advanceClock: (ms) => {
        clock.now += ms;
      },
      remainingTtlMs: (key) => store.remainingTtlMs(key),
    };
  },
  {
    sharedAcrossProcesses: true,
    survivesRestart: true,
    maxValueBytes: 512 * 1024 * 1024 - 8,
    ttlResolutionMs: 1,
  },
);

/** Counts the commands a Redis client sends (they still run: this only watches). */
function watch(client: Redis) {
  const sent: string[] = [];
  const original = client.sendCommand;
  const send = original.bind(client);
  client.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sent.push(command.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof client.sendCommand;
  cleanups.push(() => {
    client.sendCommand = original;
  });
  return sent;
}

describe('the two-level store, beyond the contract', () => {
  it('answers a second read from L1, without a command to Redis', async () => {
    const c = { now: Date.now() };
    const a = await instance('l1-hit:', c);
    cleanups.push(a.close);
    await a.store.set('k', Buffer.from('v'), { ttlMs: 60_000 });
    const sent = watch(redis);
    expect((await a.store.get('k'))?.toString()).toBe('v');
    expect(sent, 'an L1 hit sent commands to Redis').toEqual([]);
  });

  it('backfills L1 for what is left of the TTL, never longer: a late reader does not serve past expiry', async () => {
    const c = { now: Date.now() };
    const a = await instance('backfill:', c);
    const b = await instance('backfill:', c);
    cleanups.push(a.close, b.close);
    await a.store.set('k', Buffer.from('v'), { ttlMs: 2_000 });
    c.now += 1_500;
    expect((await b.store.get('k'))?.toString(), 'b reads the entry from L2 and keeps it in L1').toBe('v');
    c.now += 501;
    expect(
      await b.store.get('k'),
      "b's L1 copy outlived the entry's TTL: the backfill gave it a full L1 TTL instead of the 500 ms left",
    ).toBeUndefined();
    expect(await services.redis.exists(`${services.prefix}backfill:k`), 'Redis (whole seconds) still has it').toBe(1);
  });

  it('caps an entry’s life in L1 at l1TtlMs, then reads it again from L2', async () => {
    const c = { now: Date.now() };
    const a = await instance('cap:', c, 1_000);
    cleanups.push(a.close);
    await a.store.set('k', Buffer.from('v'), { ttlMs: 60_000 });
    c.now += 1_001;
    const sent = watch(redis);
    expect((await a.store.get('k'))?.toString()).toBe('v');
    expect(sent, 'the L1 copy should have expired after l1TtlMs, so the read goes to L2').toContain('get');
  });

  it('refuses an L2 that is not shared across processes', () => {
    const subscriber = createRedisClient({ log: () => {} });
    cleanups.push(() => subscriber.disconnect());
    expect(() =>
      createTwoLevelStore({
        l1: createMemoryCacheStore(),
        l2: createMemoryCacheStore(),
        bus: { publisher: redis, subscriber, channel: `${services.prefix}x` },
      }),
    ).toThrow(/`l2` must be shared across processes/);
  });
});
