import type { Redis } from 'ioredis';
import type { CircuitBreaker } from './circuit-breaker.ts';

export type Lookup = { status: 'hit'; body: Buffer } | { status: 'miss' } | { status: 'error' };

export interface RedisCache {
  /** 'hit' with the bytes, 'miss', or 'error' when Redis failed or was not asked. Never throws. */
  get(key: string): Promise<Lookup>;
  /** SET key value EX ttl. Resolves false when Redis failed or was not asked. Never throws. */
  set(key: string, body: Buffer): Promise<boolean>;
}

export function createRedisCache(options: { redis: Redis; breaker: CircuitBreaker; ttlSeconds: number }): RedisCache {
  const { redis, breaker, ttlSeconds } = options;
  return {
    async get(key) {
      // Open circuit: don't even try. A dead Redis then costs this request nothing.
      if (!breaker.allow()) return { status: 'error' };
      try {
        const body = await redis.getBuffer(key);
        breaker.success();
        return body === null ? { status: 'miss' } : { status: 'hit', body };
      } catch {
        // A failure of the cache is not a failure of the request: report it, answer 'error'
        // (the app answers from PostgreSQL with X-Cache: BYPASS), never throw (that is a 500).
        breaker.failure();
        return { status: 'error' };
      }
    },
    async set(key, body) {
      if (!breaker.allow()) return false;
      try {
        await redis.set(key, body, 'EX', ttlSeconds);
        breaker.success();
        return true;
      } catch {
        breaker.failure();
        return false;
      }
    },
  };
}
