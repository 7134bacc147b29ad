import { record, time } from '@cachelab/lesson-01-uncached/server-timing';
import type { Response } from 'express';
import type { CacheStore } from './cache-store.ts';

/** What happened to one request, sent as `X-Cache`. */
export type CacheOutcome = 'HIT' | 'MISS' | 'BYPASS';

export interface SendCachedOptions {
  /** Any CacheStore: the code below does not know (or care) which one. */
  store: CacheStore;
  /** The key inside the store's namespace, from cacheKey(): name, version, every parameter. */
  key: string;
  /** How long the entry is served, in ms. */
  ttlMs: number;
  /** Fetch the value from PostgreSQL. What it throws (a 404) is never stored. */
  load: () => Promise<unknown>;
  /** Store failures (the request is still answered). Must not throw. */
  onError?: (error: unknown, operation: 'get' | 'set') => void;
}

/**
 * Cache-aside for one JSON response over any CacheStore: lesson 03's steps, with the store
 * swapped for the interface.
 *
 * 1. `store.get(key)`, timed as `l1` for an in-process store and `l2` for a shared one, with
 *    the store's name as the metric's description (`l2;dur=0.9;desc="postgres"`).
 * 2. Hit → send the stored bytes as they are.
 * 3. Miss → `load()` (timed as `db`), serialize once (`json`), `store.set`, send: `MISS`.
 * 4. The store failed (it rejected) → answer from PostgreSQL without writing to the store:
 *    `BYPASS`. A failed `set` after a good lookup is logged and the answer is still a MISS.
 */
export async function sendCached(res: Response, options: SendCachedOptions): Promise<CacheOutcome> {
  const { store, key, ttlMs, load } = options;
  const onError = options.onError ?? (() => {});
  const metric = store.capabilities.sharedAcrossProcesses ? 'l2' : 'l1';
  let storeMs = 0;
  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      storeMs += performance.now() - started;
    }
  };
  const send = (outcome: CacheOutcome, body: Buffer): CacheOutcome => {
    record(res, metric, storeMs, store.name);
    res.set('X-Cache', outcome).type('application/json').send(body);
    return outcome;
  };

  let lookupFailed = false;
  let cached: Buffer | undefined;
  try {
    cached = await timed(() => store.get(key));
  } catch (err) {
    lookupFailed = true;
    onError(err, 'get');
  }
  if (cached !== undefined) return send('HIT', cached);

  let value: unknown;
  try {
    value = await time(res, 'db', load);
  } catch (err) {
    record(res, metric, storeMs, store.name); // a 404 still shows the lookup it cost
    throw err;
  }
  const started = performance.now();
  const body = Buffer.from(JSON.stringify(value));
  record(res, 'json', performance.now() - started);

  if (lookupFailed) return send('BYPASS', body);
  try {
    await timed(() => store.set(key, body, { ttlMs }));
  } catch (err) {
    onError(err, 'set');
  }
  return send('MISS', body);
}
