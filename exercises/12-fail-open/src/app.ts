import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import { type CircuitBreaker, createCircuitBreaker } from './circuit-breaker.ts';
import { createRedisCache } from './redis-cache.ts';

export interface AppDeps {
  db: Pool;
  /** From createRedisClient() in redis-client.ts. The app never closes it. */
  redis: Redis;
  /** In front of every key, e.g. 'cachelab:ex12:'. */
  keyPrefix: string;
  /** The breaker's settings. The tests pass their own clock (`now`) to end a cool-down at once. */
  breaker?: { failureThreshold?: number; coolDownMs?: number; now?: () => number };
  log?: (err: unknown) => void;
}

/** What createApp puts on app.locals (the tests read the breaker's state). */
export interface AppLocals {
  breaker: CircuitBreaker;
}

/**
 * The employee directory, cached in Redis with cache-aside. This file is done: the work is in
 * redis-client.ts, circuit-breaker.ts and redis-cache.ts.
 *
 *   GET /employees/:id     X-Cache: HIT (Redis had it) | MISS (loaded, stored) | BYPASS (Redis failed)
 */
export function createApp(deps: AppDeps): Express {
  const { db, keyPrefix } = deps;
  const breaker = createCircuitBreaker({
    failureThreshold: deps.breaker?.failureThreshold ?? 5,
    coolDownMs: deps.breaker?.coolDownMs ?? 2_000,
    ...(deps.breaker?.now ? { now: deps.breaker.now } : {}),
  });
  const cache = createRedisCache({ redis: deps.redis, breaker, ttlSeconds: 60 });

  const app = express();
  app.disable('x-powered-by');
  app.use(serverTiming());
  const locals: AppLocals = { breaker };
  Object.assign(app.locals, locals);

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const key = cacheKey({ prefix: keyPrefix, name: 'employee', params: { id } });

    const started = performance.now();
    const lookup = await cache.get(key);
    record(res, 'l2', performance.now() - started);
    if (lookup.status === 'hit') {
      res.set('X-Cache', 'HIT').type('application/json').send(lookup.body);
      return;
    }
    const employee = await time(res, 'db', () => getEmployee(db, id));
    if (!employee) throw notFound(`There is no employee with id ${id}.`); // never cached
    const body = Buffer.from(JSON.stringify(employee));
    // After a failed lookup, don't wait on Redis a second time for the SET.
    if (lookup.status === 'miss') await cache.set(key, body);
    // The tests read X-Cache: BYPASS means "Redis failed, PostgreSQL answered".
    res
      .set('X-Cache', lookup.status === 'miss' ? 'MISS' : 'BYPASS')
      .type('application/json')
      .send(body);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
