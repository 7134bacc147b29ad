import { sendJsonBytes } from '@cachelab/lesson-01-uncached/send-bytes';
import { ServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
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
 * 2. Hit → send the stored bytes as they are: no query, no JSON.stringify, and no `await`:
 *    the answer leaves synchronously and the outcome comes back as a plain value (a promise
 *    per hit costs a few microseconds of a ~100 µs request, on the path that matters most).
 * 3. Miss → `load()` (timed as `db`); if it throws, nothing is stored and the error handler
 *    answers. Otherwise serialize once (timed as `json`), store the bytes, send them.
 *
 * The request's Server-Timing is kept here, in a local `ServerTiming`, and set just before
 * sending: `total` counts from the moment this function took over (routing and validation
 * before it are a few microseconds). No middleware runs for it, so a hit pays for nothing
 * it does not use (lesson 09 measures what lesson 01's middleware costs per request).
 *
 * Storing happens before sending, synchronously: the very next request finds the entry.
 * Two requests that miss at the same moment both query PostgreSQL (a stampede): lesson 08.
 */
export function sendMemoized(res: Response, options: SendMemoizedOptions): CacheOutcome | Promise<CacheOutcome> {
  const timing = new ServerTiming();
  const hit = options.store.get(options.key);
  const l1Ms = performance.now() - timing.started;
  if (hit) {
    timing.record('l1', l1Ms);
    sendStored(res, 'HIT', hit.body, timing);
    return 'HIT';
  }
  return loadAndSend(res, options, timing, l1Ms);
}

async function loadAndSend(
  res: Response,
  options: SendMemoizedOptions,
  timing: ServerTiming,
  lookupMs: number,
): Promise<CacheOutcome> {
  const { store, key, load } = options;
  let l1Ms = lookupMs;
  let value: unknown;
  try {
    value = await timing.time('db', load);
  } catch (err) {
    timing.record('l1', l1Ms); // a 404 still shows where its time went
    timing.applyTo(res);
    throw err;
  }
  const jsonStarted = performance.now();
  const body = Buffer.from(JSON.stringify(value));
  timing.record('json', performance.now() - jsonStarted);

  const setStarted = performance.now();
  store.set(key, body);
  l1Ms += performance.now() - setStarted;
  timing.record('l1', l1Ms);
  sendStored(res, 'MISS', body, timing);
  return 'MISS';
}

/** The stored bytes, with what happened (`X-Cache`) and where the time went (`Server-Timing`). */
function sendStored(res: Response, outcome: CacheOutcome, body: Buffer, timing: ServerTiming): void {
  sendJsonBytes(res, body, ['X-Cache', outcome, 'Server-Timing', timing.header()]);
}
