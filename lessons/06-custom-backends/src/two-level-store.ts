import { createInvalidationBus, type InvalidationBus } from '@cachelab/lesson-04-hierarchical/invalidation-bus';
import type { Redis } from 'ioredis';
import { type CacheStore, checkKey, checkTtlMs, checkValue } from './cache-store.ts';

/** Default cap on an entry's life in L1: the longest an instance may serve a value after a lost invalidation. */
export const DEFAULT_L1_TTL_MS = 10_000;

/** Bytes in front of every L2 value: its absolute expiry time (ms, float64 big-endian). */
export const HEADER_BYTES = 8;

export interface TwoLevelStoreOptions {
  /** The fast, private level: an in-process store (createMemoryCacheStore). */
  l1: CacheStore;
  /** The shared level: any store with `sharedAcrossProcesses` (Redis, PostgreSQL). */
  l2: CacheStore;
  /**
   * Lesson 04's invalidation bus: how this instance tells the others to drop an L1 copy when it
   * sets, deletes or clears. `channel` must be the same for every instance over the same L2
   * namespace and different for any other namespace (put the namespace in it). The subscriber is
   * a connection of its own (a subscribed connection can do nothing else); the caller closes both.
   */
  bus: { publisher: Redis; subscriber: Redis; channel: string; instanceId?: string };
  /** Longest an entry stays in L1, in ms (an entry's own TTL caps it too). Default 10 s. */
  l1TtlMs?: number;
  /**
   * The clock, ms since the epoch, used for the expiry written into L2 values. Default Date.now.
   * Tests inject one, and give the *same* clock to the L1 memory store, to expire entries
   * without sleeping. Instances compare it with each other's: keep servers' clocks in sync (NTP).
   */
  now?: () => number;
  /** Bus failures (publish while Redis is down, a malformed message). Default: ignore. */
  onError?: (error: Error, operation: string) => void;
}

export interface TwoLevelStore extends CacheStore {
  /** Resolves once this instance receives the other instances' invalidations. */
  readonly ready: Promise<void>;
  /** Milliseconds the entry under `key` has left, from the expiry stored with it in L2. */
  remainingTtlMs(key: string): Promise<number | undefined>;
  /** Stop listening to the bus. Does not close L1, L2 or the Redis connections. */
  close(): Promise<void>;
}

/**
 * Lesson 04's two levels, rebuilt from two CacheStores and lesson 04's invalidation bus: L1 in
 * this process over a shared L2, which may be Redis or any other shared store (memory over
 * PostgreSQL works the same way). It is a CacheStore itself, so the app and the conformance
 * suite cannot tell it from a single store, which is the point of the interface.
 *
 *   get:    L1 → hit? done
 *           L2 → hit and not expired? copy into L1 for what is left of its TTL (backfill), done
 *   set:    L2, then L1, then publish the key: other instances drop their L1 copy
 *   delete: L2, then L1, then publish the key
 *   clear:  L2's namespace, then all of L1, then publish "clear"
 *
 * Two things lesson 04 did not need, because it only ever cached what its own loader returned:
 *
 * - **A set publishes too.** Another instance may hold the old value in its L1 (it read it a
 *   second ago); without the message it would serve that for up to `l1TtlMs` after the set.
 * - **L2 values carry their expiry.** An instance that backfills from L2 cannot ask Redis "how
 *   long has this entry left?" in the same round trip, so it would give the L1 copy a full
 *   `l1TtlMs` even when the entry expires in 100 ms, and serve it after its TTL. So every L2
 *   value starts with 8 bytes: the absolute time it expires. The backfill gives L1 exactly
 *   what is left, and a read past that time is a miss even when L2 (which rounds TTLs up to
 *   whole seconds, for Redis) still has the entry: this store expires at the millisecond.
 *
 * Messages on the bus are `=<key>` (drop that key) or `!clear` (drop everything): every key is
 * sent with `=` in front, so no key, however it is spelled, can be mistaken for the clear order.
 */
export function createTwoLevelStore(options: TwoLevelStoreOptions): TwoLevelStore {
  const { l1, l2 } = options;
  const l1TtlMs = options.l1TtlMs ?? DEFAULT_L1_TTL_MS;
  checkTtlMs(l1TtlMs, 'createTwoLevelStore l1TtlMs');
  if (!l2.capabilities.sharedAcrossProcesses) {
    throw new TypeError(
      `createTwoLevelStore: \`l2\` must be shared across processes (${l2.name} is not): L2 is the copy every instance reads. Use Redis or PostgreSQL.`,
    );
  }
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => {});

  /**
   * Bumped on every invalidation, local or remote, as in lesson 04: a read that fetched the old
   * value from L2 just before an invalidation must not put it into L1 just after.
   */
  let invalidations = 0;

  const bus: InvalidationBus = createInvalidationBus({
    publisher: options.bus.publisher,
    subscriber: options.bus.subscriber,
    channel: options.bus.channel,
    ...(options.bus.instanceId ? { instanceId: options.bus.instanceId } : {}),
    onInvalidate(entries) {
      invalidations++;
      for (const entry of entries) {
        if (entry === '!clear') void l1.clear();
        else if (entry.startsWith('=')) void l1.delete(entry.slice(1));
      }
    },
    // Messages sent while we were disconnected are lost: any L1 entry may be stale.
    onResubscribe() {
      invalidations++;
      void l1.clear();
    },
    onError,
  });

  /** The L2 entry under `key`, unwrapped, or undefined when there is none or it has expired. */
  async function readL2(key: string): Promise<{ value: Buffer; remainingMs: number } | undefined> {
    const stored = await l2.get(key);
    if (stored === undefined || stored.length < HEADER_BYTES) return undefined;
    const remainingMs = stored.readDoubleBE(0) - now();
    if (!(remainingMs > 0)) return undefined;
    return { value: stored.subarray(HEADER_BYTES), remainingMs };
  }

  const maxValueBytes = l2.capabilities.maxValueBytes - HEADER_BYTES;

  return {
    name: `two-level (${l1.name} over ${l2.name})`,
    capabilities: {
      sharedAcrossProcesses: true,
      survivesRestart: l2.capabilities.survivesRestart,
      maxValueBytes,
      ttlResolutionMs: 1, // the expiry in the header is checked to the millisecond
    },
    ready: bus.ready,

    async get(key) {
      checkKey(key, 'two-level store get');
      const startedAt = invalidations;
      // 1. L1: this process's memory, no network.
      const local = await l1.get(key);
      if (local !== undefined) return local;
      // 2. L2: one round trip. Backfill L1 for no longer than the entry has left.
      const remote = await readL2(key);
      if (remote === undefined) return undefined;
      if (invalidations === startedAt) {
        await l1.set(key, remote.value, { ttlMs: Math.max(1, Math.min(l1TtlMs, Math.floor(remote.remainingMs))) });
      }
      return remote.value;
    },

    async set(key, value, { ttlMs }) {
      checkKey(key, 'two-level store set');
      checkValue(value, 'two-level store set');
      checkTtlMs(ttlMs, 'two-level store set');
      invalidations++;
      if (value.byteLength > maxValueBytes) {
        // Too large for L2: store nothing, and drop the older entry everywhere (it is out of date).
        await l2.delete(key);
        await l1.delete(key);
        await bus.publish([`=${key}`]);
        return;
      }
      const stored = Buffer.allocUnsafe(HEADER_BYTES + value.byteLength);
      stored.writeDoubleBE(now() + ttlMs, 0);
      stored.set(value, HEADER_BYTES);
      try {
        await l2.set(key, stored, { ttlMs });
      } catch (err) {
        await l1.delete(key); // whatever L1 holds is older than what the caller just tried to store
        throw err;
      }
      await l1.set(key, value, { ttlMs: Math.min(ttlMs, l1TtlMs) });
      await bus.publish([`=${key}`]);
    },

    async delete(key) {
      checkKey(key, 'two-level store delete');
      // L2 first: an instance that drops its L1 and reads again must not find the old value there.
      await l2.delete(key);
      invalidations++;
      await l1.delete(key);
      await bus.publish([`=${key}`]);
    },

    async clear() {
      await l2.clear();
      invalidations++;
      await l1.clear();
      await bus.publish(['!clear']);
    },

    async remainingTtlMs(key) {
      return (await readL2(key))?.remainingMs;
    },

    close: () => bus.close(),
  };
}
