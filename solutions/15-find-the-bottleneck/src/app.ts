import { randomUUID } from 'node:crypto';
import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { investorExists, listPayments, type Payment } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { type PaymentsQuery, parse, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import express, { type Express } from 'express';

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
  // 3. The cache holds each page as the bytes of its JSON, serialized once, on the miss (lesson
  //    02's store): a hit sends them as they are. Bytes nobody parses cannot be changed by
  //    whoever handles the answer, so the defensive copy has nothing left to protect.
  const cache = createMemoryStore({ maxBytes: 64 * 1024 * 1024, ttlMs: deps.ttlMs ?? TTL_MS });

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

  // Found with lesson 09's tools, and fixed without changing an answer: 1. a key that held the
  // request's id (hit ratio 0%), 2. a query on every hit (PostgreSQL queries/s = requests/s),
  // 3. a deep copy and a JSON.stringify of the whole page on every hit (the CPU profile).

  // Every answer carries an id of its own, so that a client's bug report can be found in the logs.
  app.use((_req, res, next) => {
    const requestId = randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    next();
  });

  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    // 1. The key holds what the answer depends on, the validated query, and nothing that changes
    //    with every request: with the request's id in it, every request was a miss.
    const key = cacheKey({ name: 'payments', params: q });

    const started = performance.now();
    const cached = cache.get(key);
    if (cached) {
      record(res, 'l1', performance.now() - started);
      // 3. The stored bytes, as they are: no copy, no JSON.stringify per hit.
      res.set('X-Cache', 'HIT').type('application/json').send(cached.body);
      return;
    }

    // 2. Only a miss asks whether the investor exists: a hit's page proves it already, and an
    //    unknown investor's 404 is thrown from here, so it is never stored.
    const page = await time(res, 'db', async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      return loadPage({ ...q, requestId: res.locals.requestId as string });
    });
    const body = Buffer.from(JSON.stringify(page));
    cache.set(key, body);
    res.set('X-Cache', 'MISS').type('application/json').send(body);
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}
