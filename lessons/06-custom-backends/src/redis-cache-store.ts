import { createRedisStore } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import type { Redis } from 'ioredis';
import {
  asBuffer,
  type CacheStore,
  type CacheStoreCapabilities,
  CacheStoreError,
  checkKey,
  checkNamespace,
  checkTtlMs,
  checkValue,
} from './cache-store.ts';

/**
 * Redis refuses a bulk string longer than `proto-max-bulk-len`, 512 MB by default. Long before
 * that, a value blows the client's command timeout (250 ms by default): keep values small.
 */
export const REDIS_MAX_VALUE_BYTES = 512 * 1024 * 1024;

export const REDIS_CAPABILITIES: CacheStoreCapabilities = {
  sharedAcrossProcesses: true,
  survivesRestart: true,
  maxValueBytes: REDIS_MAX_VALUE_BYTES,
  // Lesson 03's store sets `SET key value EX seconds`: whole seconds, rounded up here.
  ttlResolutionMs: 1000,
};

export interface RedisCacheStoreOptions {
  /** From lesson 03's createRedisClient (fails fast, reconnects forever). The store never closes it. */
  redis: Redis;
  /**
   * Put in front of every key, e.g. `cachelab:06:`. `clear()` deletes exactly the keys that
   * start with it (SCAN with the prefix escaped, so `*`, `?` and `[` in it are literal).
   */
  namespace: string;
}

export interface RedisCacheStore extends CacheStore {
  readonly namespace: string;
  /** Milliseconds Redis will keep `key` (PTTL), or undefined when it has no such key. */
  remainingTtlMs(key: string): Promise<number | undefined>;
}

/**
 * Lesson 03's Redis store behind the CacheStore interface.
 *
 * - Keys get the namespace in front (`namespace + key`), nothing else: any string is a key.
 * - TTLs: lesson 03's store speaks whole seconds (`SET … EX`), so a TTL in ms is rounded **up**
 *   (1,500 ms → 2 s). Rounding down could turn 500 ms into 0, which Redis refuses, and an entry
 *   that lives a little longer than asked is harmless where one that vanishes early is a
 *   surprise. `capabilities.ttlResolutionMs` says so, and the conformance suite allows for it.
 * - Failures: lesson 03's store never throws; it answers `{ status: 'error' }` or `false`.
 *   This interface rejects instead (with a CacheStoreError), and the caller decides.
 * - `clear()` walks the namespace with `SCAN MATCH <escaped namespace>*` and `UNLINK`s what it
 *   finds, 500 keys at a time: never `KEYS` (it blocks a shared Redis while it walks every key),
 *   and never `FLUSHDB` (everybody's keys).
 */
export function createRedisCacheStore(options: RedisCacheStoreOptions): RedisCacheStore {
  const { redis, namespace } = options;
  checkNamespace(namespace, 'createRedisCacheStore');
  // The store reports failures through onError and a false/'error' result; keep the last one
  // as the cause. Concurrent failures may swap causes: they almost always share one (Redis down).
  let lastError: Error | undefined;
  const store = createRedisStore({
    redis,
    ttlSeconds: 60, // a default only: every set passes its own TTL
    onError: (error) => {
      lastError = error;
    },
  });
  const full = (key: string) => namespace + key;
  const failed = (operation: 'get' | 'set' | 'delete' | 'clear', cause: unknown) =>
    new CacheStoreError('redis', operation, { cause });

  return {
    name: 'redis',
    namespace,
    capabilities: REDIS_CAPABILITIES,

    async get(key) {
      checkKey(key, 'redis store get');
      const lookup = await store.get(full(key));
      if (lookup.status === 'error') throw failed('get', lookup.error);
      return lookup.status === 'hit' ? lookup.body : undefined;
    },

    async set(key, value, { ttlMs }) {
      checkKey(key, 'redis store set');
      checkValue(value, 'redis store set');
      checkTtlMs(ttlMs, 'redis store set');
      if (!(await store.set(full(key), asBuffer(value), Math.ceil(ttlMs / 1000)))) throw failed('set', lastError);
    },

    async delete(key) {
      checkKey(key, 'redis store delete');
      if (!(await store.delete(full(key)))) throw failed('delete', lastError);
    },

    async clear() {
      try {
        await deleteByPrefix(redis, namespace);
      } catch (err) {
        throw failed('clear', err);
      }
    },

    async remainingTtlMs(key) {
      const pttl = await redis.pttl(full(key));
      return pttl >= 0 ? pttl : undefined; // -2: no such key; -1: no expiry (not ours)
    },
  };
}

/** `*`, `?`, `[`, `]` and `\` are glob syntax in SCAN MATCH: escape them to match them literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Delete every key that starts with `prefix`, SCAN and UNLINK in batches. Returns how many. */
export async function deleteByPrefix(redis: Redis, prefix: string, batch = 500): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', batch);
    cursor = next.toString();
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
