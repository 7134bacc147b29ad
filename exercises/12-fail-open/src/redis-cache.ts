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
  const { redis, ttlSeconds } = options;
  // TODO: ask the breaker before each Redis call (skip Redis while it says no), tell it how
  // each call went, and turn every Redis failure into { status: 'error' } / false instead of
  // an exception (app.ts answers 'error' from PostgreSQL with X-Cache: BYPASS).
  return {
    async get(key) {
      const body = await redis.getBuffer(key);
      return body === null ? { status: 'miss' } : { status: 'hit', body };
    },
    async set(key, body) {
      await redis.set(key, body, 'EX', ttlSeconds);
      return true;
    },
  };
}
