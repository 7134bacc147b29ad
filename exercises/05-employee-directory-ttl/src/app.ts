import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { serverTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisStore } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import { cachedPart, sendParts } from './cached-part.ts';
import { DEFAULT_BUDGETS, type StalenessBudgets, ttlsFor } from './ttl-policy.ts';

export interface AppDeps {
  db: Pool;
  /** Redis (lesson 03's createRedisClient). The caller closes it. */
  redis: Redis;
  /** Put in front of every Redis key. The tests look for your keys under it. */
  keyPrefix: string;
  /** How stale each part may be. Default DEFAULT_BUDGETS (status 60 s, name 24 h); the tests pass others. */
  budgets?: StalenessBudgets;
  log?: (err: unknown) => void;
}

/**
 * The employee directory, read-only, cached in Redis:
 *
 *   GET /employees/:id    the same employee as lesson 01 (id, name, email, department,
 *                         status, status_updated_at, updated_at)
 *
 * The tests call `createApp(deps)` with their own keyPrefix and budgets: keep that signature.
 */
export function createApp(deps: AppDeps): Express {
  const { db, keyPrefix } = deps;
  const ttls = ttlsFor(deps.budgets ?? DEFAULT_BUDGETS);
  const store = createRedisStore({ redis: deps.redis, ttlSeconds: ttls.statusSeconds });

  const app = express();
  app.disable('x-powered-by');
  app.use(serverTiming());

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const found = <T>(row: T | undefined): T => {
      if (!row) throw notFound(`There is no employee with id ${id}.`); // thrown: never cached
      return row;
    };
    // TODO: cache the profile (name, email, department) and the status under two different keys, each
    // with its own TTL from `ttls`, and compose them into the same employee. Lesson 05's
    // `@cachelab/lesson-05-invalidation/directory-queries` has getProfile, getStatus and composeEmployee.
    const employee = await cachedPart({
      store,
      key: cacheKey({ prefix: keyPrefix, name: 'employee', params: { id } }),
      ttlSeconds: ttls.profileSeconds,
      load: async () => found(await getEmployee(db, id)),
    });
    sendParts(res, [employee], employee.value);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
