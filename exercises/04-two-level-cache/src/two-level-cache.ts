import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import { createRedisStore } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import { createInvalidationBus } from '@cachelab/lesson-04-hierarchical/invalidation-bus';
import type { Redis } from 'ioredis';

/**
 * A two-level cache: L1 in this process's memory, over L2 in Redis, over the loader (PostgreSQL).
 *
 *   read:    L1 → L2 → loader
 *   delete:  L2, then this instance's L1, then every other instance's L1 (over the bus)
 */

// TODO: L1 must expire before L2. Choose TTLs so that an L1 copy never outlives the L2 one.
/** How long an entry lives in this instance's memory, in ms. */
export const L1_TTL_MS = 120_000;
/** How long an entry lives in Redis, in seconds. */
export const L2_TTL_SECONDS = 60;

export interface CacheResult {
  /** The serialized JSON, ready to send. */
  body: Buffer;
  /** Which level answered: the app turns it into X-Cache and X-Cache-Level (the tests read both). */
  level: 'l1' | 'l2' | 'db';
  /** BYPASS: Redis failed, the value came from the loader. */
  status: 'HIT' | 'MISS' | 'BYPASS';
  /** Measured ms per level consulted, for Server-Timing. */
  timings: { l1?: number; l2?: number; db?: number };
}

export interface TwoLevelCacheOptions {
  /** Redis for L2 and for publishing invalidations. */
  redis: Redis;
  /** A second connection, only for receiving invalidations. */
  subscriber: Redis;
  /** The pub/sub channel all instances of the app share. */
  channel: string;
  instanceId?: string;
  /** L1's clock in ms: the tests move it forward to expire L1 entries. */
  now?: () => number;
}

export interface TwoLevelCache {
  get(key: string, load: () => Promise<unknown>): Promise<CacheResult>;
  /** Remove `key` from the cache everywhere. Returns whether the other instances were told. */
  delete(key: string): Promise<{ published: boolean }>;
  readonly instanceId: string;
  /** Resolves once this instance receives the other instances' invalidations. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export function createTwoLevelCache(options: TwoLevelCacheOptions): TwoLevelCache {
  const l1 = createMemoryStore({
    maxBytes: 64 * 1024 * 1024,
    ttlMs: L1_TTL_MS,
    ...(options.now ? { now: options.now } : {}),
  });
  const l2 = createRedisStore({ redis: options.redis, ttlSeconds: L2_TTL_SECONDS });
  const bus = createInvalidationBus({
    publisher: options.redis,
    subscriber: options.subscriber,
    channel: options.channel,
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    // Another instance invalidated these keys: drop our L1 copies.
    onInvalidate: (keys) => {
      for (const key of keys) l1.delete(key);
    },
    onResubscribe: () => l1.clear(),
  });

  return {
    instanceId: bus.instanceId,
    ready: bus.ready,

    async get(key, load) {
      const timings: CacheResult['timings'] = {};

      let t = performance.now();
      const local = l1.get(key);
      timings.l1 = performance.now() - t;
      if (local) return { body: local.body, level: 'l1', status: 'HIT', timings };

      t = performance.now();
      const remote = await l2.get(key);
      timings.l2 = performance.now() - t;
      if (remote.status === 'hit') {
        // TODO: keep the L2 value in this instance's L1 too, so the next read here stays in memory.
        return { body: remote.body, level: 'l2', status: 'HIT', timings };
      }

      t = performance.now();
      const body = Buffer.from(JSON.stringify(await load()));
      timings.db = performance.now() - t;
      if (remote.status === 'error') {
        // Redis is failing: answer from the database and don't wait on Redis again for the SET.
        return { body, level: 'db', status: 'BYPASS', timings };
      }
      await l2.set(key, body);
      l1.set(key, body);
      return { body, level: 'db', status: 'MISS', timings };
    },

    async delete(key) {
      await l2.delete(key);
      l1.delete(key);
      // TODO: the other instances still have `key` in their L1: tell them.
      return { published: false };
    },

    close: () => bus.close(),
  };
}
