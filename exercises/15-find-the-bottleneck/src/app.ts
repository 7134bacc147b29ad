import { randomUUID } from 'node:crypto';
import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { investorExists, listPayments, type Payment } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { type PaymentsQuery, parse, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import express, { type Express } from 'express';
import { LRUCache } from 'lru-cache';

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** How long a page of payments is served from memory, in ms. Default {@link TTL_MS}. */
  ttlMs?: number;
  /** Where the app logs: unexpected errors (the 500s) and slow queries. Default console.error. */
  log?: (err: unknown) => void;
}

/** A page of payments is served from memory for at most a minute. */
export const TTL_MS = 60_000;
/** A load slower than this is logged, with the id of the request that waited for it. */
export const SLOW_QUERY_MS = 1_000;

/** What `GET /payments` answers: the query it answers, and its payments in date order. */
export interface PaymentsPage extends PaymentsQuery {
  count: number;
  rows: Payment[];
}

/**
 * The investor portal's payments endpoint, cached in this process's memory.
 *
 *   GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=1000
 *
 * It answers correctly: a 400 problem for bad input, a 404 for an investor the portal does
 * not know, the right page for every query, with `X-Cache`, `Server-Timing` and an
 * `X-Request-Id` on every answer. Under load it is slow. The tests call
 * `createApp({ db, log })` (and `ttlMs` for the test of the TTL), drive it over HTTP and want
 * every answer kept as it is.
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const log = deps.log ?? console.error;
  const cache = new LRUCache<string, PaymentsPage>({ max: 100, ttl: deps.ttlMs ?? TTL_MS });

  /** Load one page from PostgreSQL; a slow one is logged with the request that asked for it. */
  async function loadPage(params: PaymentsQuery & { requestId: string }): Promise<PaymentsPage> {
    const started = performance.now();
    const rows = await listPayments(db, params);
    const ms = performance.now() - started;
    if (ms > SLOW_QUERY_MS) log(`slow payments query: ${ms.toFixed(0)} ms (request ${params.requestId})`);
    const { investor, from, to, limit } = params;
    return { investor, from, to, limit, count: rows.length, rows };
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(serverTiming());

  // TODO: this app answers correctly, but slowly. Load-test it, profile it and find where the
  // time goes (lesson 09), then fix what you found without changing a single answer: the same
  // bodies, statuses and headers (X-Cache, Server-Timing, X-Request-Id).

  // Every answer carries an id of its own, so that a client's bug report can be found in the logs.
  app.use((_req, res, next) => {
    const requestId = randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    next();
  });

  // Only investors the portal knows: the others get a 404 before any other work is done.
  app.use('/payments', async (req, res, next) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
    res.locals.query = q;
    next();
  });

  app.get('/payments', async (_req, res) => {
    // Everything the load needs: the validated query, and the request's id for the slow-query log.
    const params = { ...(res.locals.query as PaymentsQuery), requestId: res.locals.requestId as string };
    // Every parameter of the load is in the key, so that no answer is served for another request.
    const key = cacheKey({ name: 'payments', params });

    const started = performance.now();
    const cached = cache.get(key);
    if (cached) {
      // A copy, so that nothing that handles the answer from here on can change what the cache holds.
      const page = structuredClone(cached);
      record(res, 'l1', performance.now() - started);
      res.set('X-Cache', 'HIT').json(page);
      return;
    }

    const page = await time(res, 'db', () => loadPage(params));
    cache.set(key, page);
    res.set('X-Cache', 'MISS').json(page);
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}
