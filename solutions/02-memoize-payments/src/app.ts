import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { investorExists, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { parse, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import express, { type Express } from 'express';
import { createPaymentsCache } from './payments-cache.ts';

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Bounds of the cache. Default 64 MiB and 60 s. */
  cache?: { maxBytes?: number; ttlMs?: number };
  /** The cache's clock in ms (the tests inject one). */
  now?: () => number;
  /** Where unexpected errors (the 500s) are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/**
 * Lesson 01's slow endpoint, to be memoized in this process's memory:
 *
 *   GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000
 *   GET /cache/stats      { entries, bytes } of this app's cache
 *
 * The tests call `createApp({ db, cache, now, log })` and drive it over HTTP: keep that
 * signature. Each app has its own cache.
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const cache = createPaymentsCache({
    maxBytes: deps.cache?.maxBytes ?? 64 * 1024 * 1024,
    ttlMs: deps.cache?.ttlMs ?? 60_000,
    ...(deps.now ? { now: deps.now } : {}),
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(serverTiming());

  app.get('/payments', async (req, res) => {
    // Validated and normalised (lesson 01): investor upper-cased, limit a number, 1000 when missing.
    const q = parse(paymentsQuery, req.query, 'query string');

    // Look up after validation (a bad request never becomes a key) and before any query: a hit
    // costs a Map lookup, and the stored bytes are sent as they are, without JSON.stringify.
    const cached = cache.get(q);
    if (cached) {
      res.set('X-Cache', 'HIT').type('application/json').send(cached);
      return;
    }

    const rows = await time(res, 'db', async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      return listPayments(db, q);
    });
    // The body echoes the query: the tests read `limit`, `count` and the rows' dates from it.
    const body = Buffer.from(JSON.stringify({ ...q, count: rows.length, rows }));

    // Only a 200 reaches this line: an unknown investor threw a 404 above, and errors are never
    // stored (a cached 404 would hide an investor created a second later).
    cache.set(q, body);

    // The tests read X-Cache: MISS when PostgreSQL answered, HIT when the cache did.
    res.set('X-Cache', 'MISS').type('application/json').send(body);
  });

  // The tests read this: keep `entries` and `bytes`.
  app.get('/cache/stats', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ entries: cache.entries, bytes: cache.bytes });
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
