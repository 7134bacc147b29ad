import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import { type CacheStore, type CacheStoreCapabilities, checkKey, checkTtlMs, checkValue } from './cache-store.ts';

/** Default budget: 64 MiB of values and keys, as in lesson 02. */
export const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Room kept for the key: lesson 02's store counts `value bytes + key length` against
 * `maxBytes`, so the largest value it promises to keep is `maxBytes` minus this.
 */
export const KEY_ALLOWANCE_BYTES = 1024;

export interface MemoryCacheStoreOptions {
  /** Bytes of values + keys this store may hold; least recently used entries go first. Default 64 MiB. */
  maxBytes?: number;
  /** The clock in ms, for tests (move it forward to expire entries without sleeping). Default: real time. */
  now?: () => number;
}

/** What an in-process store can do: fast, private to the process, gone on restart. */
export function memoryCapabilities(maxBytes = DEFAULT_MEMORY_MAX_BYTES): CacheStoreCapabilities {
  return {
    sharedAcrossProcesses: false,
    survivesRestart: false,
    maxValueBytes: maxBytes - KEY_ALLOWANCE_BYTES,
    ttlResolutionMs: 1,
  };
}

/**
 * Lesson 02's LRU (`createMemoryStore`) behind the CacheStore interface. The adapter is thin on
 * purpose: it adds the async signature, the per-entry TTL the interface requires, and one copy.
 *
 * - **Namespace**: none needed. Each store object owns its own LRU, so `clear()` can only ever
 *   clear this store's entries; two stores in one process never see each other.
 * - **The copy on set**: Redis and PostgreSQL copy the bytes by sending them over a socket, so a
 *   caller that reuses its buffer after `set` cannot change what they stored. An in-memory store
 *   would keep a *reference* to the caller's buffer, and then it could: the suite checks this,
 *   and `Buffer.from(value)` (a memcpy, about a millisecond for 5 MB) is the price.
 * - **No copy on get**: a hit returns the stored Buffer itself, shared by every reader (copying
 *   17.8 MB on every hit would cost more than the hit). Readers must not modify it.
 */
export function createMemoryCacheStore(options: MemoryCacheStoreOptions = {}): CacheStore {
  const maxBytes = options.maxBytes ?? DEFAULT_MEMORY_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= KEY_ALLOWANCE_BYTES) {
    throw new TypeError(
      `createMemoryCacheStore: \`maxBytes\` must be a whole number above ${KEY_ALLOWANCE_BYTES} (room for a key), e.g. 64 * 1024 * 1024, got ${String(maxBytes)}.`,
    );
  }
  const lru = createMemoryStore({
    maxBytes,
    // Only a default for lesson 02's store: every set below passes the entry's own TTL.
    ttlMs: 60_000,
    ...(options.now ? { now: options.now } : {}),
  });

  return {
    name: 'memory',
    capabilities: memoryCapabilities(maxBytes),
    async get(key) {
      checkKey(key, 'memory store get');
      return lru.get(key)?.body;
    },
    async set(key, value, { ttlMs }) {
      checkKey(key, 'memory store set');
      checkValue(value, 'memory store set');
      checkTtlMs(ttlMs, 'memory store set');
      // Too large for maxBytes → lesson 02's store keeps nothing, and drops the older entry.
      lru.set(key, Buffer.from(value), ttlMs);
    },
    async delete(key) {
      checkKey(key, 'memory store delete');
      lru.delete(key);
    },
    async clear() {
      lru.clear();
    },
  };
}
