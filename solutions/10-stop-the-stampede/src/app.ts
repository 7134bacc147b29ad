import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import express, { type Express, type Response } from 'express';
import { createSingleFlight } from './single-flight.ts';

export interface AppDeps {
  db: Pool;
  /** How long a cached answer lives, in ms. Default 60 s. */
  ttlMs?: number;
  /** The cache's clock, in ms (the tests move it forward to expire entries). */
  now?: () => number;
  log?: (err: unknown) => void;
}

/**
 * The employee directory and investor summaries, cached in memory (lesson 02's store).
 * Every miss goes through `flights.run(key, …)`: the work for this exercise is in
 * single-flight.ts; this file is done.
 *
 *   GET /employees/:id
 *   GET /investors/:id/summary
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const store = createMemoryStore({
    maxBytes: 64 * 1024 * 1024,
    ttlMs: deps.ttlMs ?? 60_000,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const flights = createSingleFlight();

  async function sendCached(res: Response, key: string, load: () => Promise<unknown>): Promise<void> {
    const hit = store.get(key);
    if (hit) {
      res.set('X-Cache', 'HIT').type('application/json').send(hit.body);
      return;
    }
    // One load per key: the requests that miss while it runs wait for it. The load stores
    // its result before it settles, so a request arriving after it finds a HIT.
    const started = performance.now();
    const body = await flights.run(key, async () => {
      const value = await load();
      const bytes = Buffer.from(JSON.stringify(value));
      store.set(key, bytes);
      return bytes;
    });
    record(res, 'db', performance.now() - started);
    // The tests read X-Cache and count the queries that reach PostgreSQL.
    res.set('X-Cache', 'MISS').type('application/json').send(body);
  }

  const app = express();
  app.disable('x-powered-by');
  app.use(serverTiming());

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    await sendCached(res, cacheKey({ name: 'employee', params: { id } }), async () => {
      const employee = await getEmployee(db, id);
      if (!employee) throw notFound(`There is no employee with id ${id}.`); // an error: never cached
      return employee;
    });
  });

  app.get('/investors/:id/summary', async (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    await sendCached(res, cacheKey({ name: 'investor-summary', params: { investor } }), async () => {
      if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
      return investorSummary(db, investor);
    });
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
