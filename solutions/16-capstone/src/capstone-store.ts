import { createInvalidationBus, type InvalidationBus } from '@cachelab/lesson-04-hierarchical/invalidation-bus';
import {
  type CacheStore,
  CacheStoreError,
  checkKey,
  checkTtlMs,
  checkValue,
} from '@cachelab/lesson-06-custom-backends/cache-store';
import type { CircuitBreaker } from '@cachelab/lesson-10-production/circuit-breaker';
import type { Redis } from 'ioredis';
import { EXPIRY_BYTES, unwrapL2, wrapForL2 } from './l2-envelope.ts';

/** Default cap on an entry's life in L1: the longest an instance serves a copy after a lost invalidation. */
export const DEFAULT_L1_TTL_MS = 10_000;

export interface CapstoneStoreOptions {
  /** The fast, private level: lesson 06's createMemoryCacheStore. */
  l1: CacheStore;
  /** The shared level: lesson 06's createRedisCacheStore over the app's namespace. */
  l2: CacheStore;
  /** Lesson 10's circuit breaker: asked before every L2 read and write (never before a delete). */
  breaker: CircuitBreaker;
  /** Lesson 04's bus: a set, delete or clear here drops the other instances' L1 copies. */
  bus: { publisher: Redis; subscriber: Redis; channel: string; instanceId?: string };
  /** Longest an entry stays in L1, ms. Default 10 s. */
  l1TtlMs?: number;
  /** The clock (epoch ms) of the expiry written into L2; give L1 the same one. Default Date.now. */
  now?: () => number;
  /** Told of each L2 call that failed, and of each one the open circuit skipped (lesson 10's metrics). */
  observer?: { l2Error?(operation: string): void; l2Skipped?(operation: string): void };
  /** Bus failures. Must not throw. */
  onError?: (error: Error, operation: string) => void;
}

/** Where a read found its bytes. */
export type StoreLevel = 'l1' | 'l2';

export interface CapstoneStore extends CacheStore {
  /** Like get, and says which level answered. get(key) is read(key)?.value. */
  read(key: string): Promise<{ value: Buffer; level: StoreLevel } | undefined>;
  /** Resolves once this instance hears the other instances' invalidations. */
  readonly ready: Promise<void>;
  /** Stop listening to the bus. Does not close L1, L2 or the Redis connections. */
  close(): Promise<void>;
}

/**
 * The capstone's two levels: L1 in this process over L2 in Redis, behind lesson 06's CacheStore
 * interface (lesson 06's conformance suite grades it), with lesson 10's fail-open rules.
 *
 *   read:   L1 hit? done (even while Redis is down: L1 needs no network)
 *           the breaker says no? reject at once with a CacheStoreError (the caller answers BYPASS)
 *           L2 → report success or failure to the breaker; a hit backfills L1 for what the
 *           entry has left (at most l1TtlMs), unless an invalidation came meanwhile
 *   set:    through the breaker to L2, then L1, then publish the key
 *   delete: L2 always (not through the breaker: a skipped delete is an old value for a whole
 *           TTL), then L1, then publish the key
 *   clear:  L2's namespace, then L1, then publish "clear"
 */
export function createCapstoneStore(options: CapstoneStoreOptions): CapstoneStore {
  const { l1, l2, breaker } = options;
  const l1TtlMs = options.l1TtlMs ?? DEFAULT_L1_TTL_MS;
  checkTtlMs(l1TtlMs, 'createCapstoneStore l1TtlMs');
  const now = options.now ?? Date.now;
  const observer = options.observer ?? {};
  const name = 'capstone';

  /** Bumped on every invalidation, local or remote: a read that began before one must not fill L1. */
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
    // Messages sent while we were disconnected are lost: any L1 copy may be stale.
    onResubscribe() {
      invalidations++;
      void l1.clear();
    },
    ...(options.onError ? { onError: options.onError } : {}),
  });

  /**
   * One L2 call through the breaker (lesson 10): refused at once, without calling Redis, while
   * the circuit is open (a CacheStoreError: the caller answers from PostgreSQL); otherwise made,
   * and its outcome reported, a failure rethrown. Every L2 read and write goes through it.
   */
  async function callL2<T>(operation: 'get' | 'set', call: () => Promise<T>): Promise<T> {
    if (!breaker.allow()) {
      observer.l2Skipped?.(operation);
      throw new CacheStoreError(name, operation, {
        cause: new Error('the circuit breaker is open: Redis is not called'),
      });
    }
    try {
      const value = await call();
      breaker.success();
      return value;
    } catch (err) {
      breaker.failure();
      observer.l2Error?.(operation);
      throw err;
    }
  }

  const store: CapstoneStore = {
    name,
    capabilities: {
      sharedAcrossProcesses: true,
      survivesRestart: l2.capabilities.survivesRestart,
      maxValueBytes: l2.capabilities.maxValueBytes - EXPIRY_BYTES,
      ttlResolutionMs: 1, // the expiry in the envelope is checked to the millisecond
    },
    ready: bus.ready,

    async read(key) {
      checkKey(key, 'capstone store read');
      const startedAt = invalidations;
      // L1 first, before the breaker: a copy in this process's memory needs no Redis.
      const local = await l1.get(key);
      if (local !== undefined) return { value: local, level: 'l1' };
      // Through the breaker: an open circuit costs nothing, no command, no timeout.
      const remote = unwrapL2(await callL2('get', () => l2.get(key)), now());
      if (remote === undefined) return undefined;
      // Backfill, for no longer than the entry has left: the next read of this key is an L1 hit.
      if (invalidations === startedAt) {
        await l1.set(key, remote.value, { ttlMs: Math.max(1, Math.min(l1TtlMs, Math.floor(remote.remainingMs))) });
      }
      return { value: remote.value, level: 'l2' };
    },

    async get(key) {
      return (await store.read(key))?.value;
    },

    async set(key, value, { ttlMs }) {
      checkKey(key, 'capstone store set');
      checkValue(value, 'capstone store set');
      checkTtlMs(ttlMs, 'capstone store set');
      invalidations++;
      try {
        await callL2('set', () => l2.set(key, wrapForL2(value, now() + ttlMs), { ttlMs }));
      } catch (err) {
        // Whatever L1 holds is older than what the caller just tried to store.
        await l1.delete(key);
        throw err;
      }
      await l1.set(key, value, { ttlMs: Math.min(ttlMs, l1TtlMs) });
      await bus.publish([`=${key}`]);
    },

    async delete(key) {
      checkKey(key, 'capstone store delete');
      try {
        // L2 first: an instance that drops its L1 and reads again must not find the old value there.
        await l2.delete(key);
      } finally {
        // Even when Redis failed: this instance must not serve what it was told is out of date.
        // Counted after L2's delete: a read that began before it may hold the old value.
        invalidations++;
        await l1.delete(key);
      }
      await bus.publish([`=${key}`]);
    },

    async clear() {
      try {
        await l2.clear();
      } finally {
        invalidations++;
        await l1.clear();
      }
      await bus.publish(['!clear']);
    },

    close: () => bus.close(),
  };
  return store;
}
