import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { investorId, parse, parseEmployeeId, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import { sendCached } from './cache-aside.ts';
import { redisErrorLog } from './redis-error-log.ts';
import { createRedisStore } from './redis-store.ts';

/** Default time to live of every entry: how stale an answer may be, at worst, in seconds. */
export const DEFAULT_TTL_SECONDS = 60;

/**
 * The version in every key. Bump it when the *shape* of a cached body changes (a field
 * added, renamed, …): new code then reads new keys, and the old entries simply expire,
 * instead of new code serving bodies written by old code.
 */
export const KEY_VERSION = 1;

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Redis, from createRedisClient() (fails fast, reconnects by itself). The app never closes it. */
  redis: Redis;
  /**
   * Put in front of every key, e.g. `cachelab:03:`. It says whose keys these are on a Redis
   * that is shared (by apps, environments, test files), so that one can find, count or
   * delete them all with `SCAN MATCH prefix*`, and nobody else's keys collide with them.
   */
  keyPrefix: string;
  /** Time to live of every entry, whole seconds. Default 60. */
  ttlSeconds?: number;
  /** Where unexpected errors (500s) and Redis command failures are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/**
 * Lesson 03: lesson 01's three routes, cached in Redis with cache-aside. Any number of app
 * processes share one cache, and the cache outlives them: a restarted process starts warm.
 *
 *   GET /employees/:id                                  key <prefix>employee:v1:id=42
 *   GET /payments?investor=&from=&to=&limit=            key <prefix>payments:v1:from=…&investor=…&limit=…&to=…
 *   GET /investors/:id/summary                          key <prefix>investor-summary:v1:investor=DEMO_INV
 *
 * Each response says what happened in `X-Cache` (HIT, MISS, or BYPASS when Redis failed and
 * PostgreSQL answered) and where the time went in `Server-Timing` (l2 = Redis, db, json).
 * Bad input is rejected (400) before any key is built; errors are never cached.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis, keyPrefix } = deps;
  const ttlSeconds = deps.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const store = createRedisStore({ redis, ttlSeconds, onError: redisErrorLog(redis, (line) => log(line)) });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // HTTP caching is lesson 07.
  // No serverTiming() middleware: sendCached times its own requests (see cache-aside.ts).

  app.get('/', (_req, res) => {
    res.json({
      lesson: '03-redis-cache-aside',
      routes: [
        'GET /employees/:id',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
      ],
    });
  });

  app.get('/employees/:id', (req, res) => {
    const id = parseEmployeeId(req.params.id);
    return sendCached(res, {
      store,
      key: cacheKey({ prefix: keyPrefix, name: 'employee', version: KEY_VERSION, params: { id } }),
      load: async () => {
        const employee = await getEmployee(db, id);
        if (!employee) throw notFound(`There is no employee with id ${id}.`);
        return employee;
      },
    });
  });

  app.get('/payments', (req, res) => {
    // The key is built from the *validated, normalised* query (every parameter, defaults
    // filled in), never from the raw query string: `investor=demo_inv` and
    // `limit=1000&investor=DEMO_INV` are the same question and must be the same entry.
    const q = parse(paymentsQuery, req.query, 'query string');
    return sendCached(res, {
      store,
      key: cacheKey({ prefix: keyPrefix, name: 'payments', version: KEY_VERSION, params: q }),
      load: async () => {
        if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
        const rows = await listPayments(db, q);
        return { ...q, count: rows.length, rows };
      },
    });
  });

  app.get('/investors/:id/summary', (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    return sendCached(res, {
      store,
      key: cacheKey({ prefix: keyPrefix, name: 'investor-summary', version: KEY_VERSION, params: { investor } }),
      load: async () => {
        if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
        return investorSummary(db, investor);
      },
    });
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}
