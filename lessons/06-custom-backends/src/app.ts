import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { serverTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import express, { type Express, type Response } from 'express';
import { type CacheStore, checkTtlMs } from './cache-store.ts';
import { sendCached } from './send-cached.ts';

/** Default time to live of every entry, ms. */
export const DEFAULT_TTL_MS = 60_000;

/** The version in every key: bump it when the shape of a cached body changes. */
export const KEY_VERSION = 1;

export interface AppDeps {
  /** PostgreSQL, for the data. The app never closes it. */
  db: Pool;
  /**
   * Where responses are cached: any CacheStore (memory, Redis, two-level, PostgreSQL, yours).
   * The store's namespace keeps this app's keys apart from everybody else's. The app never
   * closes it.
   */
  store: CacheStore;
  /** Time to live of every entry, ms. Default 60 s. */
  ttlMs?: number;
  /** Where unexpected errors and store failures are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/**
 * Lesson 06: lesson 01's three routes, cached through whichever CacheStore `deps.store` is.
 * Nothing below names a backend: the routes build keys with cacheKey() and call sendCached(),
 * which only knows the interface. `X-Cache: HIT | MISS | BYPASS` says what happened;
 * Server-Timing says where the time went (`l1` for an in-process store, `l2` for a shared one,
 * described with the store's name; `db`; `json`).
 *
 *   GET /                                   the routes, and which store this app runs on
 *   GET /employees/:id
 *   GET /payments?investor=&from=&to=&limit=
 *   GET /investors/:id/summary
 */
export function createApp(deps: AppDeps): Express {
  const { db, store } = deps;
  const ttlMs = deps.ttlMs ?? DEFAULT_TTL_MS;
  checkTtlMs(ttlMs, 'createApp ttlMs');
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const onError = storeErrorLog(store, log);

  const cached = (res: Response, key: string, load: () => Promise<unknown>) =>
    sendCached(res, { store, key, ttlMs, load, onError });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // HTTP caching is lesson 07.
  app.use(serverTiming());

  app.get('/', (_req, res) => {
    res.json({
      lesson: '06-custom-backends',
      store: { name: store.name, capabilities: store.capabilities },
      routes: [
        'GET /employees/:id',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
      ],
    });
  });

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    await cached(res, cacheKey({ name: 'employee', version: KEY_VERSION, params: { id } }), async () => {
      const employee = await getEmployee(db, id);
      if (!employee) throw notFound(`There is no employee with id ${id}.`);
      return employee;
    });
  });

  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    await cached(res, cacheKey({ name: 'payments', version: KEY_VERSION, params: q }), async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      const rows = await listPayments(db, q);
      return { ...q, count: rows.length, rows };
    });
  });

  app.get('/investors/:id/summary', async (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    await cached(res, cacheKey({ name: 'investor-summary', version: KEY_VERSION, params: { investor } }), async () => {
      if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
      return investorSummary(db, investor);
    });
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}

/**
 * Store failures are expected during an outage: one line, then at most one every 10 s with a
 * count, so a dead backend cannot flood the log (lesson 03 does the same for Redis).
 */
function storeErrorLog(store: CacheStore, log: (err: unknown) => void) {
  let lastMs = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (error: unknown, operation: 'get' | 'set') => {
    const now = Date.now();
    if (now - lastMs < 10_000) {
      suppressed += 1;
      return;
    }
    const more = suppressed > 0 ? ` (and ${suppressed} more failures since the last message)` : '';
    const message = error instanceof Error ? error.message : String(error);
    const outcome =
      operation === 'get' ? 'Answered from PostgreSQL (X-Cache: BYPASS).' : 'The answer was sent uncached.';
    log(`⚠ ${store.name} store ${operation} failed: ${message}${more}. ${outcome}`);
    lastMs = now;
    suppressed = 0;
  };
}
