import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { describeCacheStore, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheStoreError } from '../src/cache-store.ts';
import { createRedisCacheStore, escapeGlob, REDIS_CAPABILITIES } from '../src/redis-cache-store.ts';

const services = useServices();
let redis: Redis;

beforeAll(async () => {
  // Lesson 03's client, with room for the suite's 5 MiB values on a busy test machine.
  redis = createRedisClient({ commandTimeoutMs: 2_000, log: () => {} });
  expect(await whenReady(redis), 'the client should connect to the shared Redis').toBe(true);
});
afterAll(() => redis.disconnect());

describeCacheStore(
  'redis (lesson 03 behind the interface)',
  ({ namespace }) => {
    const store = createRedisCacheStore({ redis, namespace: services.prefix + namespace });
    // No clock to move: Redis expires keys on its own time. The suite checks PTTL instead of sleeping.
    return { store, remainingTtlMs: (key) => store.remainingTtlMs(key), close: () => {} };
  },
  REDIS_CAPABILITIES,
);

describe('the Redis store, beyond the contract', () => {
  it('rounds a TTL in ms up to whole seconds, because lesson 03 sets with EX', async () => {
    const store = createRedisCacheStore({ redis, namespace: `${services.prefix}round:` });
    await store.set('k', Buffer.from('v'), { ttlMs: 1_001 });
    const pttl = await services.redis.pttl(`${services.prefix}round:k`);
    expect(pttl, 'ttlMs 1001 should become EX 2').toBeGreaterThan(1_001);
    expect(pttl).toBeLessThanOrEqual(2_000);
  });

  it('writes namespace + key, nothing else, so other tools find the keys', async () => {
    const store = createRedisCacheStore({ redis, namespace: `${services.prefix}plain:` });
    await store.set('employee:v1:id=42', Buffer.from('{}'), { ttlMs: 60_000 });
    expect(await services.redisKeys()).toContain(`${services.prefix}plain:employee:v1:id=42`);
  });

  it('escapes every glob character of a namespace for SCAN MATCH', () => {
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f');
  });

  it('rejects with a CacheStoreError at once when Redis is unreachable, instead of hanging', async () => {
    const down = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
    try {
      const store = createRedisCacheStore({ redis: down, namespace: 'x:' });
      const started = performance.now();
      await expect(store.get('k')).rejects.toBeInstanceOf(CacheStoreError);
      await expect(store.set('k', Buffer.from('v'), { ttlMs: 1_000 })).rejects.toThrow(
        /redis cache store could not set/,
      );
      await expect(store.clear()).rejects.toHaveProperty('code', 'E_CACHE_STORE_FAILED');
      expect(performance.now() - started, 'three failed commands should take well under a second').toBeLessThan(1_000);
    } finally {
      down.disconnect();
    }
  });
});
