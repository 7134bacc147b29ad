import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { investorId, parse, parseEmployeeId, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import express, { type Express, type Response } from 'express';
import { cacheKey } from './cache-key.ts';
import { type CacheOutcome, sendMemoized } from './memoize-response.ts';
import { createMemoryStore } from './memory-store.ts';

/**
 * Default bound of the cache: 64 MiB of response bodies (plus keys). The classic
 * 100,000-row payments answer is 17.8 MB of JSON, so three of those fit, or some 300,000
 * employees (about 210 bytes each with the key). Size it from what you measured, and from
 * what the process can spare: every instance of the app holds its own.
 */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Default time to live: an answer is served from memory for at most one minute. */
export const DEFAULT_TTL_MS = 60_000;

export interface CacheOptions {
  /** Bytes of bodies + keys the cache may hold. Default {@link DEFAULT_MAX_BYTES}. */
  maxBytes?: number;
  /** Optional bound on the number of entries. Default: none, the bytes bound alone. */
  maxEntries?: number;
  /** How long an entry is served, in ms. Default {@link DEFAULT_TTL_MS}. */
  ttlMs?: number;
}

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Bounds of the in-memory cache. Every app created has its own cache. */
  cache?: CacheOptions;
  /** The cache's clock in ms (tests inject one to expire entries without waiting). */
  now?: () => number;
  /** Where unexpected errors are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/**
 * Lesson 02: lesson 01's three routes, memoized in this process's memory with lru-cache.
 *
 *   GET /employees/:id                          key employee:v1:id=42
 *   GET /payments?investor=&from=&to=&limit=    key payments:v1:from=…&investor=…&limit=…&to=…
 *   GET /investors/:id/summary                  key investor-summary:v1:investor=DEMO_INV
 *   GET /cache/stats                            entries, bytes, maxBytes, hits, misses
 *
 * `X-Cache: HIT | MISS` says what happened; `Server-Timing` says where the time went (l1 =
 * the memory lookup, db, json). Bad input is a 400 before any key is built; only 200s are
 * stored. The cache lives and dies with this app: another process, or this one after a
 * restart, starts empty.
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const maxBytes = deps.cache?.maxBytes ?? DEFAULT_MAX_BYTES;
  const store = createMemoryStore({
    maxBytes,
    ttlMs: deps.cache?.ttlMs ?? DEFAULT_TTL_MS,
    ...(deps.cache?.maxEntries !== undefined ? { maxEntries: deps.cache.maxEntries } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const counts = { hits: 0, misses: 0 };

  const count = (outcome: CacheOutcome): void => {
    if (outcome === 'HIT') counts.hits += 1;
    else counts.misses += 1;
  };

  /**
   * Memoize one answer under `key`, and count what happened for /cache/stats. A hit is
   * answered synchronously (no promise); only a miss returns one, for Express 5 to await.
   */
  function sendCached(res: Response, key: string, load: () => Promise<unknown>): undefined | Promise<void> {
    const outcome = sendMemoized(res, { store, key, load });
    if (typeof outcome === 'string') {
      count(outcome);
      return;
    }
    return outcome.then(count);
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // HTTP caching is lesson 07.
  // No serverTiming() middleware: sendMemoized times its own requests (see memoize-response.ts).

  app.get('/', (_req, res) => {
    res.json({
      lesson: '02-in-memory-lru',
      routes: [
        'GET /employees/:id',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
        'GET /cache/stats',
      ],
    });
  });

  app.get('/employees/:id', (req, res) => {
    const id = parseEmployeeId(req.params.id);
    return sendCached(res, cacheKey({ name: 'employee', params: { id } }), async () => {
      const employee = await getEmployee(db, id);
      if (!employee) throw notFound(`There is no employee with id ${id}.`);
      return employee;
    });
  });

  app.get('/payments', (req, res) => {
    // The key is built from the *validated, normalised* query: every parameter the answer
    // depends on, defaults filled in. Leave one out and `limit=10` is served the cached
    // 100,000 rows; use the raw query string and `investor=demo_inv` is a second entry.
    const q = parse(paymentsQuery, req.query, 'query string');
    return sendCached(res, cacheKey({ name: 'payments', params: q }), async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      const rows = await listPayments(db, q);
      return { ...q, count: rows.length, rows };
    });
  });

  app.get('/investors/:id/summary', (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    return sendCached(res, cacheKey({ name: 'investor-summary', params: { investor } }), async () => {
      if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
      return investorSummary(db, investor);
    });
  });

  app.get('/cache/stats', (_req, res) => {
    // What this process holds. Another instance of the app has its own numbers.
    res.set('Cache-Control', 'no-store').json({
      entries: store.entries,
      bytes: store.bytes,
      maxBytes,
      hits: counts.hits,
      misses: counts.misses,
    });
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
