import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import { createRedisStore } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import type { Redis } from 'ioredis';
import { createGenerations } from './generation.ts';
import { createInvalidationBus } from './invalidation-bus.ts';

/**
 * A two-level cache: a small, very fast L1 in this process's memory (lesson 02's LRU) in
 * front of a shared L2 in Redis (lesson 03), in front of the loader (PostgreSQL).
 *
 *   read:    L1 → hit? done (no network at all)
 *            L2 → hit? copy into L1 ("backfill"), done
 *            loader → store in L2 (only if no delete happened meanwhile), then in L1
 *   delete:  L2 (and bump the key's generation), then this L1, then publish so every
 *            other instance drops its L1
 *
 * L1 makes hits nearly free; L2 makes a key loaded by one instance a hit on all the
 * others, and survives restarts. The price is that every instance now holds a private
 * copy nobody else can reach, hence the invalidation bus, and a short L1 TTL as the
 * safety net when a bus message is lost.
 */

export type Level = 'l1' | 'l2' | 'db';

export interface CacheResult {
  /** The serialized JSON, ready to send: a hit costs no JSON.stringify. */
  body: Buffer;
  /** Which level answered. */
  level: Level;
  /** For `X-Cache`: HIT (L1 or L2), MISS (loaded, now cached), BYPASS (Redis failed: loaded from the db). */
  status: 'HIT' | 'MISS' | 'BYPASS';
  /**
   * Measured milliseconds, for Server-Timing, one entry per level consulted: `l1` the
   * in-memory lookup, `l2` all Redis time (the GET; after a miss also the generation's GET and
   * the SET), `db` the loader, `json` serializing what it returned.
   */
  timings: Partial<Record<Level | 'json', number>>;
}

export interface TwoLevelCacheOptions {
  /** Redis for L2 and for publishing invalidations. The cache never closes it. */
  redis: Redis;
  /** A second Redis connection, only for receiving invalidations (see invalidation-bus.ts). */
  subscriber: Redis;
  /** The pub/sub channel shared by all instances of this app; include the key prefix in it. */
  channel: string;
  /** This instance's id on the bus. Default: host, pid and a random suffix. */
  instanceId?: string;
  l1: {
    /** L1's memory budget in bytes (bodies + keys), per instance. */
    maxBytes: number;
    /**
     * How long an L1 entry lives, in ms. **Must be shorter than `l2.ttlSeconds`**: L1 is
     * the copy nobody can reach reliably (a lost bus message leaves it stale), so its TTL
     * is the worst-case staleness you accept; L2 is one shared copy a delete always fixes.
     */
    ttlMs: number;
    /** Clock for L1's TTL, in ms (tests inject one). Default performance.now. */
    now?: () => number;
  };
  l2: {
    /** How long an L2 entry lives in Redis, in seconds. */
    ttlSeconds: number;
  };
  /**
   * Refuse to store a load that a delete overtook (generation.ts): a read that loaded the old
   * row before a write committed must not put it into L2 after the write deleted it, or every
   * instance would serve the old value for up to a whole L2 TTL. Costs one Redis GET per miss.
   * Default true; false only to watch the race happen (the lesson's test does).
   */
  generationGuard?: boolean;
  /** Redis failures (counted by the caller, logged once per outage by the Redis client). */
  onError?: (error: Error, operation: string) => void;
}

export interface TwoLevelCache {
  /**
   * The value under `key`, from the fastest level that has it; on a miss, `load()` runs
   * and its result is stored in both levels. What `load` throws (a 404, a database error)
   * propagates and nothing is stored.
   */
  get(key: string, load: () => Promise<unknown>): Promise<CacheResult>;
  /**
   * L1 only, synchronously: this process's copy of `key` (the body bytes), or undefined
   * (then call `get`). Lets a caller answer the commonest request without a promise and
   * without allocating a result; the caller times the call as its `l1`.
   */
  peek(key: string): Buffer | undefined;
  /**
   * Invalidate `key` everywhere: L2, this L1, and (over the bus) every other instance's L1.
   * Call it after the database write has committed. Never throws: `l2` and `published`
   * say whether Redis took each step (false while Redis is down).
   */
  delete(key: string): Promise<{ l2: boolean; published: boolean; durMs: number }>;
  readonly instanceId: string;
  /** Resolves once this instance hears other instances' invalidations (see InvalidationBus.ready). */
  readonly ready: Promise<void>;
  /** L1's size, for logs and tests. */
  readonly l1: { readonly entries: number; readonly bytes: number };
  /** Stop listening to the bus. Does not disconnect the Redis clients. */
  close(): Promise<void>;
}

export function createTwoLevelCache(options: TwoLevelCacheOptions): TwoLevelCache {
  const { l1: l1Options, l2: l2Options, onError } = options;
  if (!(l1Options.ttlMs > 0 && l1Options.ttlMs < l2Options.ttlSeconds * 1000)) {
    throw new TypeError(
      `createTwoLevelCache: l1.ttlMs (${l1Options.ttlMs}) must be more than 0 and shorter than l2.ttlSeconds (${l2Options.ttlSeconds} s = ${l2Options.ttlSeconds * 1000} ms). ` +
        'L1 copies cannot be reached reliably when data changes, so they must expire first: e.g. l1.ttlMs 10000 with l2.ttlSeconds 60.',
    );
  }
  const l1 = createMemoryStore({
    maxBytes: l1Options.maxBytes,
    ttlMs: l1Options.ttlMs,
    ...(l1Options.now ? { now: l1Options.now } : {}),
  });
  const l2 = createRedisStore({
    redis: options.redis,
    ttlSeconds: l2Options.ttlSeconds,
    ...(onError ? { onError } : {}),
  });
  const guard = options.generationGuard ?? true;
  const generations = createGenerations(options.redis, onError);
  /** The key's generation counter: beside the key, so that it shares the key's prefix. */
  const generationKey = (key: string) => `${key}#generation`;

  /**
   * Bumped on every invalidation, local or remote. A read that started before an
   * invalidation may be carrying the old value (it read L2 or the db just before the
   * write); it must not put that value into L1 afterwards, or this instance would serve it
   * for a whole L1 TTL after being told to drop it. Coarse (one counter for all keys) and
   * cheap: at worst a read skips one L1 fill it could have kept.
   */
  let invalidations = 0;
  const fillL1 = (key: string, body: Buffer, startedAt: number) => {
    if (invalidations === startedAt) l1.set(key, body);
  };

  const bus = createInvalidationBus({
    publisher: options.redis,
    subscriber: options.subscriber,
    channel: options.channel,
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    onInvalidate(keys) {
      invalidations++;
      for (const key of keys) l1.delete(key);
    },
    // Messages sent while we were disconnected are lost: any L1 entry may be stale.
    onResubscribe() {
      invalidations++;
      l1.clear();
    },
    ...(onError ? { onError } : {}),
  });

  return {
    instanceId: bus.instanceId,
    ready: bus.ready,
    get l1() {
      return { entries: l1.entries, bytes: l1.bytes };
    },

    peek(key) {
      return l1.get(key)?.body;
    },

    async get(key, load) {
      const startedAt = invalidations;
      const timings: CacheResult['timings'] = {};

      // 1. L1: a Map lookup in this process. No network, no parsing.
      let t = performance.now();
      const local = l1.get(key);
      timings.l1 = performance.now() - t;
      if (local) return { body: local.body, level: 'l1', status: 'HIT', timings };

      // 2. L2: one round trip to Redis.
      t = performance.now();
      const remote = await l2.get(key);
      timings.l2 = performance.now() - t;
      if (remote.status === 'hit') {
        // Backfill: the next read of this key on this instance stays in memory.
        fillL1(key, remote.body, startedAt);
        return { body: remote.body, level: 'l2', status: 'HIT', timings };
      }

      // 3. The key's generation BEFORE loading (generation.ts): a delete from now on bumps
      //    it, and our SET after the load is refused. Undefined when Redis failed.
      let generation: string | undefined = 'unguarded';
      if (guard && remote.status === 'miss') {
        t = performance.now();
        generation = await generations.read(generationKey(key));
        timings.l2 += performance.now() - t;
      }

      // 4. The loader (PostgreSQL), then serialize once: both levels store the bytes.
      t = performance.now();
      const value = await load();
      timings.db = performance.now() - t;
      t = performance.now();
      const body = Buffer.from(JSON.stringify(value));
      timings.json = performance.now() - t;

      if (remote.status === 'error' || generation === undefined) {
        // Redis is failing: don't wait on it again for the SET. L1 still takes the value,
        // so this instance keeps PostgreSQL's load down during the outage; its short TTL
        // bounds the staleness, and the bus clears L1 when Redis is back.
        fillL1(key, body, startedAt);
        return { body, level: 'db', status: 'BYPASS', timings };
      }
      t = performance.now();
      const stored = guard
        ? await generations.setIfCurrent(key, generationKey(key), body, l2Options.ttlSeconds * 1000, generation)
        : (await l2.set(key, body))
          ? 'stored'
          : 'error';
      timings.l2 += performance.now() - t;
      // Refused: a delete overtook this load, so what it loaded may be the old row. It still
      // answers this request (which began before the write), but is cached nowhere.
      if (stored !== 'refused') fillL1(key, body, startedAt);
      return { body, level: 'db', status: 'MISS', timings };
    },

    async delete(key) {
      const started = performance.now();
      // 1. L2 first: from now on, a reader that misses L1 goes to the database (the new value).
      //    Deleting L1 first would let a concurrent local read refill it from the old L2 copy.
      //    With the guard, the same MULTI bumps the key's generation: a load in flight that
      //    read the old row is refused when it tries to store it.
      const l2Deleted = guard ? await generations.invalidate(key, generationKey(key)) : await l2.delete(key);
      // 2. Our own L1; and reads already in flight (they may hold the old L2 value) won't fill it.
      invalidations++;
      l1.delete(key);
      // 3. Everybody else's L1. Last, so that when they re-read, L2 is already gone.
      const published = await bus.publish([key]);
      return { l2: l2Deleted, published, durMs: performance.now() - started };
    },

    close: () => bus.close(),
  };
}
