import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import express, { type Express, type Response } from 'express';
import { createSwrCache } from './swr-cache.ts';

export interface AppDeps {
  db: Pool;
  /** How long an answer is fresh, in ms. Default 60 s. */
  freshMs?: number;
  /** How long after that it may be served stale while it is refreshed, in ms. Default 5 min. */
  graceMs?: number;
  /** The cache's clock, in ms (the tests move it forward instead of waiting). */
  now?: () => number;
  log?: (err: unknown) => void;
}

/**
 * The employee directory and investor summaries behind a stale-while-revalidate cache.
 * The work for this exercise is in swr-cache.ts; this file is done.
 *
 *   GET /employees/:id
 *   GET /investors/:id/summary
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const cache = createSwrCache({
    freshMs: deps.freshMs ?? 60_000,
    graceMs: deps.graceMs ?? 5 * 60_000,
    ...(deps.now ? { now: deps.now } : {}),
    onRefreshError: (error) =>
      log(`⚠ A background refresh failed, the stale answer is still served: ${(error as Error).message}`),
  });

  async function sendCached(res: Response, key: string, load: () => Promise<unknown>): Promise<void> {
    const started = performance.now();
    const { body, cache: outcome } = await cache.get(key, load);
    record(res, outcome === 'MISS' ? 'db' : 'l1', performance.now() - started);
    // The tests read X-Cache: HIT, MISS or STALE.
    res.set('X-Cache', outcome).type('application/json').send(body);
  }

  const app = express();
  app.disable('x-powered-by');
  app.use(serverTiming());

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    await sendCached(res, cacheKey({ name: 'employee', params: { id } }), async () => {
      const employee = await getEmployee(db, id);
      if (!employee) throw notFound(`There is no employee with id ${id}.`);
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
  // A database that cannot be reached is a 503 problem+json here (the tests expect it once
  // the grace period is over).
  app.use(errorHandler({ log }));
  return app;
}
