import type { Redis } from 'ioredis';

/** The task: an answer may be served from Redis for 30 seconds at most, then it must be fetched again. */
export const TTL_SECONDS = 30;

export interface CacheAsideResult {
  /** The JSON body to send, or undefined when `load` found nothing (the route then answers 404). */
  body: Buffer | undefined;
  /**
   * Sent as `X-Cache` (the tests read it): HIT = from Redis; MISS = not in Redis, from PostgreSQL, stored unless
   * it was not found or the SET failed; BYPASS = the Redis lookup failed, so PostgreSQL answered, nothing stored.
   */
  cache: 'HIT' | 'MISS' | 'BYPASS';
}

/**
 * Cache-aside: the JSON body for `key`, from Redis when it is there, else from `load()`
 * (PostgreSQL), kept in Redis for the next request. `load` resolves to undefined when
 * there is nothing to find.
 */
export async function cacheAside(
  redis: Redis,
  key: string,
  load: () => Promise<object | undefined>,
): Promise<CacheAsideResult> {
  // TODO: look `key` up in Redis first; when it is there, answer with the stored bytes as a HIT.
  // TODO: when Redis fails (down, or too slow to answer), still answer from PostgreSQL, as a BYPASS.
  void [redis, key]; // Unused by the starter, which never caches: delete this line.

  const value = await load();
  if (value === undefined) return { body: undefined, cache: 'MISS' };
  const body = Buffer.from(JSON.stringify(value));
  // TODO: keep `body` in Redis under `key`, so that it expires after TTL_SECONDS at most.
  return { body, cache: 'MISS' };
}
