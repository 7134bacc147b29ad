import { record, time } from '@cachelab/lesson-01-uncached/server-timing';
import type { Response } from 'express';
import type { MemoryStore } from './memory-store.ts';

/** What happened to one request, sent as `X-Cache`. */
export type CacheOutcome = 'HIT' | 'MISS';

export interface SendMemoizedOptions {
  store: MemoryStore;
  /** The full key, from cacheKey(): name, version and every parameter the answer depends on. */
  key: string;
  /**
   * Fetch the value from PostgreSQL. Throw (e.g. `notFound(…)`) for anything that is not a
   * 200: a thrown error is never stored, so a 404 now cannot hide the row created a second later.
   */
  load: () => Promise<unknown>;
}

/**
 * Answer one GET from this process's memory, or load, store and answer.
 *
 * 1. Look the key up in the store (timed as `l1`: it is a Map lookup, microseconds).
 * 2. Hit → send the stored bytes as they are: no query, no JSON.stringify.
 * 3. Miss → `load()` (timed as `db`); if it throws, nothing is stored and the error handler
 *    answers. Otherwise serialize once (timed as `json`), store the bytes, send them.
 *
 * Storing happens before sending, synchronously: the very next request finds the entry.
 * Two requests that miss at the same moment both query PostgreSQL (a stampede): lesson 08.
 */
export async function sendMemoized(res: Response, options: SendMemoizedOptions): Promise<CacheOutcome> {
  const { store, key, load } = options;
  const lookupStarted = performance.now();
  const hit = store.get(key);
  let l1Ms = performance.now() - lookupStarted;
  if (hit) {
    record(res, 'l1', l1Ms);
    res.set('X-Cache', 'HIT').type('application/json').send(hit.body);
    return 'HIT';
  }

  let value: unknown;
  try {
    value = await time(res, 'db', load);
  } catch (err) {
    record(res, 'l1', l1Ms); // a 404 still shows where its time went
    throw err;
  }
  const jsonStarted = performance.now();
  const body = Buffer.from(JSON.stringify(value));
  record(res, 'json', performance.now() - jsonStarted);

  const setStarted = performance.now();
  store.set(key, body);
  l1Ms += performance.now() - setStarted;
  record(res, 'l1', l1Ms);
  res.set('X-Cache', 'MISS').type('application/json').send(body);
  return 'MISS';
}
