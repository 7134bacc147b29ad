import { createMemoryCacheStore } from '@cachelab/lesson-06-custom-backends/memory-cache-store';
import { createRedisCacheStore } from '@cachelab/lesson-06-custom-backends/redis-cache-store';
import type { CircuitBreaker } from '@cachelab/lesson-10-production/circuit-breaker';
import { createCircuitBreaker } from '@cachelab/lesson-10-production/circuit-breaker';
import { describeCacheStore, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCapstoneStore } from '../src/capstone-store.ts';
import { unwrapL2 } from '../src/l2-envelope.ts';
import {
  chaosProxy,
  cleanups,
  countCommands,
  eventually,
  recordingBreaker,
  redisClient,
  runCleanups,
  type TestClock,
  testClock,
} from './instances.ts';

/**
 * Your two-level store, graded first by lesson 06's conformance suite (the one every store of
 * the course passes), then by what the capstone adds: the backfill, and the breaker in front of
 * L2 with L1 still served while Redis is down.
 */
const services = useServices();
let redis: Redis;
beforeAll(async () => {
  // Room for the suite's 5 MiB values on a busy machine, as lesson 06's own store tests do.
  redis = await redisClient(undefined, 2_000);
  cleanups.pop(); // this one lives for the whole file
});
afterEach(runCleanups);

/** One instance of your store, as one process holds it: its own L1 and subscriber, one shared clock. */
async function instance(
  namespace: string,
  clock: TestClock,
  options: { breaker?: CircuitBreaker; publisher?: Redis; l2Redis?: Redis; l1TtlMs?: number } = {},
) {
  const subscriber = await redisClient(undefined, 2_000);
  cleanups.pop(); // closed by the instance's close()
  const full = services.prefix + namespace;
  const l2 = createRedisCacheStore({ redis: options.l2Redis ?? redis, namespace: full });
  const store = createCapstoneStore({
    l1: createMemoryCacheStore({ maxBytes: 16 * 1024 * 1024, now: clock.now }),
    l2,
    breaker: options.breaker ?? createCircuitBreaker(),
    bus: { publisher: options.publisher ?? redis, subscriber, channel: `${full}l1-invalidation` },
    l1TtlMs: options.l1TtlMs ?? 10_000,
    now: clock.now,
  });
  await Promise.race([store.ready, new Promise((r) => setTimeout(r, 2_000))]);
  return {
    store,
    l2,
    close: async () => {
      await store.close();
      subscriber.disconnect();
    },
  };
}

// One clock for the suite: "two processes" read the same time, as servers synced by NTP do.
const suiteClock = testClock();

describeCacheStore(
  'your capstone store (memory over Redis, lesson 04’s bus, lesson 10’s breaker)',
  async ({ namespace }) => {
    const { store, close, l2 } = await instance(namespace, suiteClock);
    return {
      store,
      close,
      advanceClock: (ms) => suiteClock.advance(ms),
      // What the entry has left, from the expiry your store wrote into L2's envelope.
      remainingTtlMs: async (key) => unwrapL2(await l2.get(key), suiteClock.now())?.remainingMs,
    };
  },
  { sharedAcrossProcesses: true, survivesRestart: true, maxValueBytes: 512 * 1024 * 1024 - 8, ttlResolutionMs: 1 },
);

describe('your store, beyond the contract', () => {
  let n = 0;
  const ns = () => `own${++n}:`;

  it('an L2 hit is copied into L1 (backfill): the next read of the key sends Redis nothing', async () => {
    const clock = testClock();
    const namespace = ns();
    const writer = await instance(namespace, clock);
    cleanups.push(writer.close);
    await writer.store.set('k', Buffer.from('value'), { ttlMs: 60_000 });
    const l2Redis = await redisClient();
    const commands = countCommands(l2Redis);
    const reader = await instance(namespace, clock, { l2Redis });
    cleanups.push(reader.close);
    const first = await reader.store.read('k');
    expect(first?.value.toString(), "another instance's read of a key in L2").toBe('value');
    expect(first?.level, 'an instance that never held the key finds it in L2').toBe('l2');
    const before = commands.sent;
    const second = await reader.store.read('k');
    expect(second?.value.toString()).toBe('value');
    expect(
      { level: second?.level, redisCommands: commands.sent - before },
      'the second read went to Redis again: after an L2 hit, copy the value into L1 (the backfill), so that the next read is an L1 hit',
    ).toEqual({ level: 'l1', redisCommands: 0 });
  });

  it('the L1 copy made by a backfill lives no longer than the entry has left in L2', async () => {
    const clock = testClock();
    const namespace = ns();
    const writer = await instance(namespace, clock);
    cleanups.push(writer.close);
    await writer.store.set('short', Buffer.from('v'), { ttlMs: 3_000 });
    const reader = await instance(namespace, clock, { l1TtlMs: 60_000 });
    cleanups.push(reader.close);
    expect((await reader.store.read('short'))?.level).toBe('l2');
    clock.advance(3_001);
    expect(
      await reader.store.get('short'),
      'the entry expired (its TTL was 3 s) but the L1 copy made by the backfill was still served: give the copy what the entry has left (at most l1TtlMs), not a whole l1TtlMs',
    ).toBeUndefined();
  });

  it('asks the breaker before reading L2: while it says no, a read rejects at once and sends Redis nothing', async () => {
    const clock = testClock();
    const l2Redis = await redisClient();
    const commands = countCommands(l2Redis);
    const refused = recordingBreaker(false);
    const { store, close } = await instance(ns(), clock, { breaker: refused.breaker, l2Redis });
    cleanups.push(close);
    const before = commands.sent;
    await expect(
      store.read('k'),
      'a read the breaker refused should reject (a CacheStoreError: the caller answers from PostgreSQL)',
    ).rejects.toThrow();
    expect(
      commands.sent - before,
      'your store called Redis while the breaker said no: each request then waits a command timeout for a Redis known to be failing',
    ).toBe(0);
    expect(refused.reported, 'a call the breaker refused was not made: report nothing for it').toEqual([]);
  });

  it('serves what L1 holds while the breaker says no: L1 needs no Redis', async () => {
    const clock = testClock();
    const allow = { yes: true };
    const breaker: CircuitBreaker = {
      get state() {
        return allow.yes ? ('closed' as const) : ('open' as const);
      },
      failures: 0,
      allow: () => allow.yes,
      success: () => {},
      failure: () => {},
    };
    const { store, close } = await instance(ns(), clock, { breaker });
    cleanups.push(close);
    await store.set('k', Buffer.from('in L1'), { ttlMs: 60_000 });
    allow.yes = false;
    const read = await store.read('k').catch((err: Error) => err);
    expect(
      read instanceof Error ? `rejected: ${read.message}` : read?.value.toString(),
      'the key is in L1, yet the read failed because the breaker was open: read L1 first, and ask the breaker only before going to L2',
    ).toBe('in L1');
  });

  it('reports each L2 call to the breaker: success() when Redis answered, failure() when it did not', async () => {
    const clock = testClock();
    const proxy = await chaosProxy();
    const l2Redis = await redisClient(proxy.url);
    const allowed = recordingBreaker(true);
    const { store, close } = await instance(ns(), clock, { breaker: allowed.breaker, l2Redis });
    cleanups.push(close);
    expect(await store.read('missing')).toBeUndefined();
    expect(allowed.reported, 'Redis answered the read (a miss): report success()').toEqual(['success']);
    proxy.cut();
    await eventually(
      () => l2Redis.status,
      (status) => status !== 'ready',
    );
    await expect(store.read('k'), 'Redis is down: the read should reject').rejects.toThrow();
    expect(
      allowed.reported,
      'Redis failed the read: report failure(), or the circuit never opens and every request pays the timeout',
    ).toEqual(['success', 'failure']);
  });
});
