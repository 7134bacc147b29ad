import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary } from '@cachelab/lesson-01-uncached/queries';
import { serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import { cacheAside } from './cache-aside.ts';

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** Redis. The app never closes it. */
  redis: Redis;
  /** Put in front of every key: the tests give each test file its own and look for keys under it. */
  keyPrefix: string;
  /** Where unexpected errors (the 500s) are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/**
 * Two of lesson 01's routes, cached in Redis by `cacheAside` (src/cache-aside.ts: your part).
 * Nothing to change in this file.
 *
 *   GET /employees/:id             one employee (fast)
 *   GET /investors/:id/summary     a slow aggregate over a million payments
 *
 * The tests call `createApp({ db, redis, keyPrefix, log })` and drive it over HTTP.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis, keyPrefix } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(serverTiming());

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const key = cacheKey({ prefix: keyPrefix, name: 'employee', params: { id } });
    // time(res, 'db', …) puts the query's duration in Server-Timing: only a request that reaches PostgreSQL has one.
    const { body, cache } = await cacheAside(redis, key, () => time(res, 'db', () => getEmployee(db, id)));
    res.set('X-Cache', cache);
    if (!body) throw notFound(`There is no employee with id ${id}.`);
    res.type('application/json').send(body);
  });

  app.get('/investors/:id/summary', async (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    const key = cacheKey({ prefix: keyPrefix, name: 'investor-summary', params: { investor } });
    const { body, cache } = await cacheAside(redis, key, () =>
      time(res, 'db', async () => ((await investorExists(db, investor)) ? investorSummary(db, investor) : undefined)),
    );
    res.set('X-Cache', cache);
    if (!body) throw notFound(`There is no investor ${investor}.`);
    res.type('application/json').send(body);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
