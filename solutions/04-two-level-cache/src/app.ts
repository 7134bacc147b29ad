import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { employeePatch, updateEmployee } from '@cachelab/lesson-04-hierarchical/employee-update';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import { createTwoLevelCache } from './two-level-cache.ts';

export interface AppDeps {
  db: Pool;
  /** Redis for L2 and for publishing invalidations. The caller closes it. */
  redis: Redis;
  /** A second Redis connection that only receives invalidations. The caller closes it. */
  subscriber: Redis;
  /** Prefix of every Redis key, and of the invalidation channel. */
  keyPrefix: string;
  instanceId?: string;
  /** L1's clock, in ms (the tests pass one). */
  now?: () => number;
  log?: (err: unknown) => void;
}

/**
 * One instance of the employee directory behind a two-level cache:
 *
 *   GET   /employees/:id                        cached in L1 and L2
 *   PATCH /employees/:id  { name?, status? }    updates the row
 *
 * The tests start two or three instances on one Redis and call `createApp(deps)` for each:
 * keep that signature, the headers below and `app.locals.ready` / `app.locals.close`.
 */
export function createApp(deps: AppDeps): Express {
  const { db, keyPrefix } = deps;
  const cache = createTwoLevelCache({
    redis: deps.redis,
    subscriber: deps.subscriber,
    channel: cacheKey({ prefix: keyPrefix, name: 'l1-invalidation' }),
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const employeeKey = (id: number) => cacheKey({ prefix: keyPrefix, name: 'employee', params: { id } });

  const app = express();
  app.disable('x-powered-by');
  app.use(serverTiming());
  // The tests rely on these two: they wait for `ready` before a cross-instance test and call `close` after.
  app.locals.ready = cache.ready;
  app.locals.close = () => cache.close();

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const result = await cache.get(employeeKey(id), async () => {
      const employee = await getEmployee(db, id);
      if (!employee) throw notFound(`There is no employee with id ${id}.`);
      return employee;
    });
    for (const [name, ms] of Object.entries(result.timings)) record(res, name, ms);
    // The tests read these two headers to tell which level answered.
    res.set('X-Cache', result.status);
    if (result.status === 'HIT') res.set('X-Cache-Level', result.level.toUpperCase());
    res.type('application/json').send(result.body);
  });

  app.patch('/employees/:id', jsonBody(), async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const patch = parse(employeePatch, req.body, 'body');
    const employee = await time(res, 'db', () => updateEmployee(db, id, patch));
    if (!employee) throw notFound(`There is no employee with id ${id}.`);
    // After the UPDATE has committed, not before: invalidating first would let a read that
    // runs while the UPDATE is in progress load the old row and cache it again, with nothing
    // left to remove it. Through the cache, so L2, this L1 and every other L1 all drop it.
    await cache.delete(employeeKey(id));
    res.set('Cache-Control', 'no-store').json(employee);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
