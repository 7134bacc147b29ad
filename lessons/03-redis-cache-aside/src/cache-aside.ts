import { sendJsonBytes } from '@cachelab/lesson-01-uncached/send-bytes';
import { ServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
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
 *
 * Server-Timing is kept in a local `ServerTiming` (as in lesson 02: no middleware on the hit
 * path), with `total` from the moment this function took over.
 */
export async function sendCached(res: Response, options: SendCachedOptions): Promise<CacheOutcome> {
  // Everything this request spends in Redis (GET, and SET after a miss) is one `l2` metric.
  // The hit path is this one await and one writeHead + end: no helper closures, no Express
  // res.set/type/send, nothing allocated per hit but the header strings.
  const timing = new ServerTiming();
  const lookup = await options.store.get(options.key);
  const l2Ms = performance.now() - timing.started;
  if (lookup.status === 'hit') return sendStored(res, 'HIT', lookup.body, timing, l2Ms);
  return loadAndSend(res, options, timing, lookup.status === 'error', l2Ms);
}

/** A miss (or BYPASS when Redis just failed): load, serialize once, SET unless Redis is failing, send. */
async function loadAndSend(
  res: Response,
  options: SendCachedOptions,
  timing: ServerTiming,
  redisFailed: boolean,
  lookupMs: number,
): Promise<CacheOutcome> {
  let value: unknown;
  try {
    value = await timing.time('db', options.load);
  } catch (err) {
    timing.record('l2', lookupMs); // the error response shows the lookup too
    timing.applyTo(res);
    throw err;
  }
  const started = performance.now();
  const body = Buffer.from(JSON.stringify(value));
  timing.record('json', performance.now() - started);

  if (redisFailed) return sendStored(res, 'BYPASS', body, timing, lookupMs);
  const setStarted = performance.now();
  await options.store.set(options.key, body, options.ttlSeconds);
  return sendStored(res, 'MISS', body, timing, lookupMs + (performance.now() - setStarted));
}

/** Record `l2`, then send the stored bytes with `X-Cache` and `Server-Timing` (lesson 01's sendJsonBytes). */
function sendStored(
  res: Response,
  outcome: CacheOutcome,
  body: Buffer,
  timing: ServerTiming,
  l2Ms: number,
): CacheOutcome {
  timing.record('l2', l2Ms);
  sendJsonBytes(res, body, ['X-Cache', outcome, 'Server-Timing', timing.header()]);
  return outcome;
}
