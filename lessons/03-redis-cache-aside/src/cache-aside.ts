import { record, time } from '@cachelab/lesson-01-uncached/server-timing';
import type { Response } from 'express';
import type { RedisStore } from './redis-store.ts';

/** What happened to one request, sent as `X-Cache`. */
export type CacheOutcome = 'HIT' | 'MISS' | 'BYPASS';

export interface SendCachedOptions {
  store: RedisStore;
  /** The full key, from cacheKey(): prefix, name, version and every parameter. */
  key: string;
  /** Time to live of the entry, in whole seconds. Default: the store's. */
  ttlSeconds?: number;
  /**
   * Fetch the value from PostgreSQL. Throw (e.g. `notFound(…)`) for anything that is not a
   * 200: a thrown error is never stored, so a 404 today cannot hide the row created tomorrow.
   */
  load: () => Promise<unknown>;
}

/**
 * Cache-aside for one JSON response. The application, not the cache, does the work:
 *
 * 1. GET the key from Redis (timed into `l2`).
 * 2. Hit → send the stored bytes as they are. No query, and no JSON.stringify either: the
 *    entry *is* the response body. (Storing rows and stringifying them on every hit would
 *    keep paying the serialization the cache is supposed to save; see the README.)
 * 3. Miss → `load()` from PostgreSQL (timed as `db`), serialize once (timed as `json`),
 *    `SET key bytes EX ttl` (timed into `l2`), and send the same bytes.
 * 4. Redis failed (down, or slower than the client's command timeout) → the same as a miss,
 *    but without the SET: Redis just failed, another command would most likely fail too and
 *    cost another timeout. `X-Cache: BYPASS`, and the client still gets its answer.
 *
 * The SET is awaited before the response is sent, so that the very next request finds the
 * entry. Sending first would save the SET's few ms on a miss, at the cost of a short window
 * in which the next requests miss too.
 */
export async function sendCached(res: Response, options: SendCachedOptions): Promise<CacheOutcome> {
  const { store, key, load } = options;
  // Everything this request spends in Redis (GET, and SET after a miss), as one `l2` metric.
  let l2Ms = 0;
  const l2 = async <T>(fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      l2Ms += performance.now() - started;
    }
  };
  // Headers leave with the body: metrics must be recorded before send().
  const send = (outcome: CacheOutcome, body: Buffer): CacheOutcome => {
    record(res, 'l2', l2Ms);
    res.set('X-Cache', outcome).type('application/json').send(body);
    return outcome;
  };

  const lookup = await l2(() => store.get(key));
  if (lookup.status === 'hit') return send('HIT', lookup.body);

  let value: unknown;
  try {
    value = await time(res, 'db', load);
  } catch (err) {
    record(res, 'l2', l2Ms); // the error response shows the lookup too
    throw err;
  }
  const started = performance.now();
  const body = Buffer.from(JSON.stringify(value));
  record(res, 'json', performance.now() - started);

  if (lookup.status === 'error') return send('BYPASS', body);
  await l2(() => store.set(key, body, options.ttlSeconds));
  return send('MISS', body);
}
