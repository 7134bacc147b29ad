import { createTwoLevelCache, type TwoLevelCache } from '@cachelab/lesson-04-hierarchical/two-level-cache';
import type { Redis } from 'ioredis';
import type { DirectoryKeys } from './keys.ts';
import { CACHE_KINDS, type CacheKind, type TtlPolicy } from './ttl-policy.ts';

/**
 * One lesson-04 two-level cache per kind of data, because a TwoLevelCache has one pair of
 * TTLs and each kind needs its own (ttl-policy.ts). They share the two Redis connections;
 * each has its own invalidation channel on the shared subscriber, so a status invalidation
 * wakes up only the status L1s.
 */
export type KindCaches = Record<CacheKind, TwoLevelCache> & {
  /** Resolves once every kind's bus is subscribed. */
  readonly ready: Promise<void>;
  /** Unsubscribe every bus (the caller disconnects the clients). */
  close(): Promise<void>;
};

export interface KindCachesOptions {
  redis: Redis;
  subscriber: Redis;
  keys: DirectoryKeys;
  policy: TtlPolicy;
  instanceId?: string;
  /** L1's clock for every kind, ms (tests). Default performance.now. */
  now?: () => number;
  onError?: (error: Error, operation: string) => void;
}

export function createKindCaches(options: KindCachesOptions): KindCaches {
  const caches = {} as Record<CacheKind, TwoLevelCache>;
  for (const kind of CACHE_KINDS) {
    const p = options.policy[kind];
    caches[kind] = createTwoLevelCache({
      redis: options.redis,
      subscriber: options.subscriber,
      channel: options.keys.channel(kind),
      ...(options.instanceId ? { instanceId: options.instanceId } : {}),
      l1: { maxBytes: p.l1MaxBytes, ttlMs: p.l1TtlMs, ...(options.now ? { now: options.now } : {}) },
      l2: { ttlSeconds: p.l2TtlSeconds },
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }
  const all = Object.values(caches);
  return {
    ...caches,
    ready: Promise.all(all.map((c) => c.ready)).then(() => {}),
    close: async () => {
      await Promise.all(all.map((c) => c.close()));
    },
  };
}
