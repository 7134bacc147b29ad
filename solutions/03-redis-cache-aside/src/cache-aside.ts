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
  // Redis first: a hit costs one round trip and no query. getBuffer returns the bytes as
  // they were stored, so the hit sends them without parsing or re-serializing anything.
  // A failure (Redis down, or slower than the client's command timeout) is caught here and
  // becomes a BYPASS: the cache is an optimisation, the answer comes from PostgreSQL.
  let stored: Buffer | null;
  try {
    stored = await redis.getBuffer(key);
  } catch {
    return { body: serialize(await load()), cache: 'BYPASS' };
  }
  if (stored) return { body: stored, cache: 'HIT' };

  const value = await load();
  // Nothing found is not stored: a 404 remembered for 30 s would hide the row created meanwhile.
  if (value === undefined) return { body: undefined, cache: 'MISS' };
  const body = Buffer.from(JSON.stringify(value));
  try {
    // Value and expiry in one atomic command: SET then EXPIRE is two, and a failure between
    // them leaves a key that never expires. The TTL bounds how stale an answer can be.
    await redis.set(key, body, 'EX', TTL_SECONDS);
  } catch {
    // Could not store it: the client still gets its answer; the next request will miss again.
  }
  return { body, cache: 'MISS' };
}

function serialize(value: object | undefined): Buffer | undefined {
  return value === undefined ? undefined : Buffer.from(JSON.stringify(value));
}
