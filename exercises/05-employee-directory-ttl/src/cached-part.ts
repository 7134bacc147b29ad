import { record } from '@cachelab/lesson-01-uncached/server-timing';
import type { RedisStore } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import type { Response } from 'express';

/**
 * Cache-aside for one *part* of a response (lesson 03's pattern, one key, one TTL), so that
 * a response can be built from several parts cached with different TTLs. You do not need to
 * change this file.
 *
 *   const part = await cachedPart({ store, key, ttlSeconds: 60, load: () => query() });
 *   part.value     what `load` returned (now or when the entry was stored)
 *   part.outcome   'HIT' | 'MISS' | 'BYPASS' (Redis failed: loaded from PostgreSQL, not stored)
 *
 * What `load` throws (a 404) propagates, and nothing is stored.
 */
export interface Part<T> {
  value: T;
  outcome: 'HIT' | 'MISS' | 'BYPASS';
  /** Measured ms: `l2` all Redis time, `db` the loader. */
  timings: { l2: number; db?: number };
}

export interface CachedPartOptions<T> {
  store: RedisStore;
  /** The full Redis key (build it with cacheKey()). */
  key: string;
  /** How long Redis keeps the entry: whole seconds, SET … EX. */
  ttlSeconds: number;
  load: () => Promise<T>;
}

export async function cachedPart<T>(options: CachedPartOptions<T>): Promise<Part<T>> {
  const { store, key, ttlSeconds, load } = options;
  let started = performance.now();
  const lookup = await store.get(key);
  let l2 = performance.now() - started;
  if (lookup.status === 'hit') {
    return { value: JSON.parse(lookup.body.toString('utf8')) as T, outcome: 'HIT', timings: { l2 } };
  }
  started = performance.now();
  const value = await load();
  const db = performance.now() - started;
  if (lookup.status === 'error') return { value, outcome: 'BYPASS', timings: { l2, db } };
  started = performance.now();
  await store.set(key, Buffer.from(JSON.stringify(value)), ttlSeconds);
  l2 += performance.now() - started;
  return { value, outcome: 'MISS', timings: { l2, db } };
}

/**
 * Send `body`, with what the parts did: `X-Cache` (BYPASS if any part bypassed, else MISS if
 * any part was loaded, else HIT), `X-Cache-Parts` (each part's outcome, in order) and
 * Server-Timing (the parts' l2 and db times, summed).
 */
export function sendParts(res: Response, parts: readonly Part<unknown>[], body: unknown): void {
  const outcomes = parts.map((p) => p.outcome);
  const overall = outcomes.includes('BYPASS') ? 'BYPASS' : outcomes.includes('MISS') ? 'MISS' : 'HIT';
  record(
    res,
    'l2',
    parts.reduce((ms, p) => ms + p.timings.l2, 0),
  );
  const db = parts.reduce((ms, p) => ms + (p.timings.db ?? 0), 0);
  if (db > 0) record(res, 'db', db);
  res.set('X-Cache', overall).set('X-Cache-Parts', outcomes.join(', ')).json(body);
}
