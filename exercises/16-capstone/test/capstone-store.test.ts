import type { CacheStore } from '@cachelab/lesson-06-custom-backends/cache-store';
import { createMemoryCacheStore } from '@cachelab/lesson-06-custom-backends/memory-cache-store';
import { createRedisCacheStore } from '@cachelab/lesson-06-custom-backends/redis-cache-store';
import type { CircuitBreaker } from '@cachelab/lesson-10-production/circuit-breaker';
import { createCircuitBreaker } from '@cachelab/lesson-10-production/circuit-breaker';
import { describeCacheStore, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCapstoneStore } from '../src/capstone-store.ts';
import { unwrapL2, wrapForL2 } from '../src/l2-envelope.ts';
import {
  busListener,
  chaosProxy,
  cleanups,
  countCommands,
  eventually,
  gate,
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
  options: {
    breaker?: CircuitBreaker;
    publisher?: Redis;
    l2Redis?: Redis;
    l1TtlMs?: number;
    /** What your store gets as L2: the real Redis store, wrapped by the test (held or failing calls). */
    wrapL2?: (l2: CacheStore) => CacheStore;
  } = {},
) {
  const subscriber = await redisClient(undefined, 2_000);
  cleanups.pop(); // closed by the instance's close()
  const full = services.prefix + namespace;
  const l2 = createRedisCacheStore({ redis: options.l2Redis ?? redis, namespace: full });
  const store = createCapstoneStore({
    l1: createMemoryCacheStore({ maxBytes: 16 * 1024 * 1024, now: clock.now }),
    l2: options.wrapL2 ? options.wrapL2(l2) : l2,
    breaker: options.breaker ?? createCircuitBreaker(),
    bus: { publisher: options.publisher ?? redis, subscriber, channel: `${full}l1-invalidation` },
    l1TtlMs: options.l1TtlMs ?? 10_000,
    now: clock.now,
  });
  // The bus is done code: its SUBSCRIBE is confirmed at once on a healthy Redis (10 s: a busy machine).
  const ready = await Promise.race([store.ready.then(() => true), new Promise((r) => setTimeout(r, 10_000, false))]);
  expect(ready, 'the bus of a new store instance did not confirm its subscription within 10 s').toBe(true);
  return {
    store,
    /** The shared level itself (no breaker, no bus): what every instance finds in Redis. */
    l2,
    /** Messages this instance receives on the bus. */
    bus: busListener(subscriber, `${full}l1-invalidation`),
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
    clock.advance(1_000); // the entry has 59 s left: a copy in L1 should still be there
    const before = commands.sent;
    const second = await reader.store.read('k');
    expect(second?.value.toString(), 'the second read of the key answered other bytes than were set').toBe('value');
    expect(
      { level: second?.level, redisCommands: commands.sent - before },
      'the second read went to Redis again: after an L2 hit, copy the value into L1 (the backfill), so that the next read is an L1 hit',
    ).toEqual({ level: 'l1', redisCommands: 0 });
  });

  it('a delete heard on the bus while Redis answers a read is not undone by that read’s backfill', async () => {
    const clock = testClock();
    const namespace = ns();
    const writer = await instance(namespace, clock);
    cleanups.push(writer.close);
    await writer.store.set('k', Buffer.from('old'), { ttlMs: 60_000 });
    // The reader's L2 answers, then the test holds that answer until the delete has been heard.
    const answered = gate();
    const held = gate();
    let holding = true;
    const reader = await instance(namespace, clock, {
      wrapL2: (l2) => ({
        ...l2,
        async get(key) {
          const value = await l2.get(key);
          if (holding) {
            holding = false;
            answered.open();
            await held.opened;
          }
          return value;
        },
      }),
    });
    cleanups.push(reader.close);
    const read = reader.store.read('k');
    await answered.opened; // Redis has answered 'old'; the reader has not seen it yet
    const heard = reader.bus.next();
    await writer.store.delete('k');
    expect(
      await heard,
      `the reader heard nothing on the bus within 10 s of the writer’s delete: delete() must publish the key on the bus (\`=\${key}\`), after L2’s delete and L1’s`,
    ).toBeDefined();
    held.open();
    expect((await read)?.value.toString(), 'the read that began before the delete answers what Redis gave it').toBe(
      'old',
    );
    const after = await reader.store.read('k');
    expect(
      after && `${after.value.toString()} from ${after.level}`,
      'a read began, the key was deleted (the bus told this instance, which dropped its L1 copy), then the read’s backfill put the old value into L1: it is served for up to l1TtlMs after the delete. Note the invalidations before reading L2, and backfill only if none came meanwhile',
    ).toBeUndefined();
  });

  it('an overwrite on one instance drops the L1 copy of every other instance (the bus)', async () => {
    const clock = testClock();
    const namespace = ns();
    const writer = await instance(namespace, clock);
    cleanups.push(writer.close);
    await writer.store.set('k', Buffer.from('v1'), { ttlMs: 60_000 });
    const reader = await instance(namespace, clock); // after the first set: it cannot hear that one late
    cleanups.push(reader.close);
    await reader.store.read('k');
    expect(
      (await reader.store.read('k'))?.level,
      'the reader read the key twice and the second read still went to L2: after an L2 hit, copy the value into L1 (the backfill), so that the next read is an L1 hit',
    ).toBe('l1');
    const heard = reader.bus.next();
    await writer.store.set('k', Buffer.from('v2'), { ttlMs: 60_000 });
    const heardAfterMs = await heard;
    expect(
      heardAfterMs,
      'the writer overwrote the key and the reader heard nothing on the bus within 10 s: set() must publish the key, or the others serve their L1 copy for up to l1TtlMs',
    ).toBeDefined();
    const after = await reader.store.read('k');
    expect(
      after && `${after.value.toString()} from ${after.level}`,
      `the reader heard the writer's message (${heardAfterMs} ms after the set began) and still served its old L1 copy: publish the key itself (\`=\${key}\`), and the others drop it`,
    ).toBe('v2 from l2');
  });

  it('an L1 copy lives at most l1TtlMs, from a backfill or a set: a lost bus message is served no longer than that', async () => {
    const clock = testClock();
    const namespace = ns();
    const writer = await instance(namespace, clock);
    cleanups.push(writer.close);
    await writer.store.set('read', Buffer.from('old'), { ttlMs: 60_000 });
    // Started after the writer's set: its bus cannot hear that set's message late.
    const reader = await instance(namespace, clock, { l1TtlMs: 10_000 });
    cleanups.push(reader.close);
    expect((await reader.store.read('read'))?.level, 'an instance that never held the key finds it in L2').toBe('l2');
    await reader.store.set('written', Buffer.from('old'), { ttlMs: 60_000 });
    // Another instance's writes whose bus messages this reader never got: L2 has the new values.
    for (const key of ['read', 'written']) {
      await reader.l2.set(key, wrapForL2(Buffer.from('new'), clock.now() + 60_000), { ttlMs: 60_000 });
    }
    clock.advance(10_001);
    const read = await reader.store.read('read');
    expect(
      read && `${read.value.toString()} from ${read.level}`,
      'the backfilled L1 copy outlived l1TtlMs (10 s): it was served although L2 holds a newer value. Give the copy what the entry has left, but at most l1TtlMs',
    ).toBe('new from l2');
    const written = await reader.store.read('written');
    expect(
      written && `${written.value.toString()} from ${written.level}`,
      'the L1 copy made by set() outlived l1TtlMs (10 s): it was served although L2 holds a newer value. A set puts the value into L1 for at most l1TtlMs, not for its whole TTL',
    ).toBe('new from l2');
  });

  it('a delete is never skipped by the breaker: while it says no, the key still leaves Redis', async () => {
    const clock = testClock();
    const refused = recordingBreaker(false);
    const { store, l2, close } = await instance(ns(), clock, { breaker: refused.breaker });
    cleanups.push(close);
    await l2.set('k', wrapForL2(Buffer.from('stale'), clock.now() + 60_000), { ttlMs: 60_000 });
    await store.delete('k').catch(() => {});
    expect(
      unwrapL2(await l2.get('k'), clock.now())?.value.toString(),
      'the breaker said no and your delete was skipped: the entry a write just made stale stays in Redis for its whole TTL, and every instance serves it once the circuit closes. Call L2’s delete directly, never through callL2',
    ).toBeUndefined();
  });

  it('when L2 fails a delete or a set, this instance drops its L1 copy all the same', async () => {
    const clock = testClock();
    const failing = { delete: false, set: false };
    const { store, close } = await instance(ns(), clock, {
      wrapL2: (l2) => ({
        ...l2,
        async delete(key) {
          if (failing.delete) throw new Error('Connection is closed.');
          return l2.delete(key);
        },
        async set(key, value, options) {
          await l2.set(key, value, options);
          // A command timeout after Redis had applied the SET: L2 holds the new value.
          if (failing.set) throw new Error('Command timed out');
        },
      }),
    });
    cleanups.push(close);
    await store.set('deleted', Buffer.from('old'), { ttlMs: 60_000 });
    failing.delete = true;
    await store.delete('deleted').catch(() => {});
    const afterDelete = await store.read('deleted').catch(() => undefined);
    expect(
      afterDelete && `${afterDelete.value.toString()} from ${afterDelete.level}`,
      'L2’s delete failed, and this instance kept serving the deleted key from its own L1: drop the L1 copy even when Redis fails (L1 needs no Redis)',
    ).not.toBe('old from l1');
    await store.set('written', Buffer.from('old'), { ttlMs: 60_000 });
    failing.set = true;
    await store.set('written', Buffer.from('new'), { ttlMs: 60_000 }).catch(() => {});
    failing.set = false;
    const afterSet = await store.read('written');
    expect(
      afterSet && `${afterSet.value.toString()} from ${afterSet.level}`,
      'set() failed (a timeout after Redis had stored the new value), and this instance kept serving the old value from its L1: when L2’s write fails, drop the key from L1 before rejecting',
    ).toBe('new from l2');
  });

  it('the L1 copy made by a backfill lives no longer than the entry has left in L2', async () => {
    const clock = testClock();
    const namespace = ns();
    const writer = await instance(namespace, clock);
    cleanups.push(writer.close);
    await writer.store.set('short', Buffer.from('v'), { ttlMs: 3_000 });
    const reader = await instance(namespace, clock, { l1TtlMs: 60_000 });
    cleanups.push(reader.close);
    expect(
      (await reader.store.read('short'))?.level,
      'an instance that never held the key should find it in L2 (read L2 through callL2 when L1 has nothing)',
    ).toBe('l2');
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
    // (Not `expect(promise, msg).rejects`: vitest drops the message when the promise resolves.)
    const refusedRead = await store.read('k').then(
      (value) => `resolved ${value === undefined ? 'undefined (a miss)' : `a ${value.level} hit`}`,
      (err: unknown) => err,
    );
    expect(
      refusedRead,
      `the breaker said no, and the read ${String(refusedRead)} instead of rejecting: read L2 through callL2, which rejects at once with a CacheStoreError while the breaker says no (the caller then answers from PostgreSQL, BYPASS)`,
    ).toBeInstanceOf(Error);
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
    expect(await store.read('missing'), 'a key nobody set should be a miss (undefined)').toBeUndefined();
    expect(
      allowed.reported,
      'Redis answered the read (a miss) and the breaker was not told: read L2 through callL2, which reports success() when Redis answers and failure() when it does not',
    ).toEqual(['success']);
    proxy.cut();
    await eventually(
      () => l2Redis.status,
      (status) => status !== 'ready',
    );
    const failedRead = await store.read('k').then(
      (value) => `resolved ${value === undefined ? 'undefined (a miss)' : `a ${value.level} hit`}`,
      (err: unknown) => err,
    );
    expect(
      failedRead,
      `Redis is down, and the read ${String(failedRead)} instead of rejecting: let L2’s failure reach the caller (callL2 reports failure() and rethrows), so that it answers BYPASS and stores nothing`,
    ).toBeInstanceOf(Error);
    expect(
      allowed.reported,
      'Redis failed the read: report failure(), or the circuit never opens and every request pays the timeout',
    ).toEqual(['success', 'failure']);
  });
});
