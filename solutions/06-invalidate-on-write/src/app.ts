import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createTwoLevelCache } from '@cachelab/lesson-04-hierarchical/two-level-cache';
import express, { type Express, type Response } from 'express';
import type { Redis } from 'ioredis';
import { departmentFromPath, departmentSummary, listDepartmentEmployees } from './departments.ts';
import {
  type BeforeCommit,
  deleteEmployee,
  employeeChanges,
  insertEmployee,
  inTransaction,
  lockEmployee,
  newEmployee,
  updateEmployee,
} from './employee-writes.ts';
import { deptEmployeesKey, deptSummaryKey, employeeKey, keysAffectedBy } from './keys.ts';

export interface AppDeps {
  db: Pool;
  /** Redis for L2 and for publishing invalidations. The caller closes it. */
  redis: Redis;
  /** A second Redis connection that only receives invalidations. The caller closes it. */
  subscriber: Redis;
  /** Prefix of every Redis key, and of the invalidation channel. */
  keyPrefix: string;
  instanceId?: string;
  /**
   * Called by every write after its statements and before its COMMIT (see inTransaction).
   * The tests pass one that holds the write there, transaction open, while they read.
   */
  beforeCommit?: BeforeCommit;
  log?: (err: unknown) => void;
}

/** L1 entries live 10 s, L2 entries 60 s (lesson 04: L1 must expire first). */
const L1 = { maxBytes: 32 * 1024 * 1024, ttlMs: 10_000 };
const L2 = { ttlSeconds: 60 };

/**
 * One instance of the employee directory, behind lesson 04's two-level cache:
 *
 *   GET    /employees/:id                       cached
 *   GET    /departments/:name/employees         cached: everyone in the department, by name
 *   GET    /departments/:name/summary           cached: head counts, in and out
 *   POST   /employees     { name, email, department, status? }   → 201
 *   PATCH  /employees/:id { name?, email?, department?, status? } → 200
 *   DELETE /employees/:id                                        → 204
 *
 * The tests start two instances on one Redis, write on one and read on the other. Keep the
 * `createApp(deps)` signature, the X-Cache / X-Cache-Level headers and `app.locals.ready` / `close`.
 */
export function createApp(deps: AppDeps): Express {
  const { db, keyPrefix, beforeCommit } = deps;
  const cache = createTwoLevelCache({
    redis: deps.redis,
    subscriber: deps.subscriber,
    channel: cacheKey({ prefix: keyPrefix, name: 'l1-invalidation' }),
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    l1: L1,
    l2: L2,
  });

  /** Answer from the cache, or load, store and answer. `load` throws for a 404: never cached. */
  async function sendCached(res: Response, key: string, load: () => Promise<unknown>): Promise<void> {
    const result = await cache.get(key, load);
    for (const [name, ms] of Object.entries(result.timings)) record(res, name, ms);
    // The tests read these two headers to tell which level answered.
    res.set('X-Cache', result.status);
    if (result.status === 'HIT') res.set('X-Cache-Level', result.level.toUpperCase());
    res.type('application/json').send(result.body);
  }

  /** Drop `keys` from Redis (L2), from this instance's L1 and, over the bus, from every other instance's L1. */
  async function invalidate(res: Response, keys: readonly string[]): Promise<void> {
    const started = performance.now();
    const results = await Promise.all([...new Set(keys)].map((key) => cache.delete(key)));
    record(res, 'l2', performance.now() - started);
    // Redis down: the write still stands; the other instances' L1 copies expire within the L1 TTL.
    if (results.some((r) => !r.published)) res.set('X-Cache-Invalidation', 'failed');
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(serverTiming());
  // The tests rely on these two: they wait for `ready` before writing and call `close` after.
  app.locals.ready = cache.ready;
  app.locals.close = () => cache.close();
  const json = jsonBody();

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    await sendCached(res, employeeKey(keyPrefix, id), async () => {
      const employee = await getEmployee(db, id);
      if (!employee) throw notFound(`There is no employee with id ${id}.`);
      return employee;
    });
  });

  app.get('/departments/:name/employees', async (req, res) => {
    const department = departmentFromPath(req.params.name);
    await sendCached(res, deptEmployeesKey(keyPrefix, department), () => listDepartmentEmployees(db, department));
  });

  app.get('/departments/:name/summary', async (req, res) => {
    const department = departmentFromPath(req.params.name);
    await sendCached(res, deptSummaryKey(keyPrefix, department), () => departmentSummary(db, department));
  });

  app.post('/employees', json, async (req, res) => {
    const input = parse(newEmployee, req.body, 'body');
    const created = await time(res, 'db', () => inTransaction(db, beforeCommit, (tx) => insertEmployee(tx, input)));
    // Committed: the department's list and summary now miss someone. (A 409 threw above and
    // so invalidates nothing: the rolled-back INSERT changed nothing.)
    await invalidate(res, keysAffectedBy(keyPrefix, { after: created }));
    res.status(201).location(`/employees/${created.id}`).set('Cache-Control', 'no-store').json(created);
  });

  app.patch('/employees/:id', json, async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const changes = parse(employeeChanges, req.body, 'body');
    const { before, after } = await time(res, 'db', () =>
      inTransaction(db, beforeCommit, async (tx) => {
        const before = await lockEmployee(tx, id);
        if (!before) throw notFound(`There is no employee with id ${id}.`);
        const after = await updateEmployee(tx, id, changes);
        return { before, after };
      }),
    );
    // Once inTransaction has resolved, i.e. after COMMIT. Inside the transaction (or before
    // it), a reader arriving before the COMMIT would miss the cache, load the old row (still
    // the committed one) and cache it again, and nothing would remove it afterwards. A 404 or
    // a 409 threw above: a write that changed nothing invalidates nothing. Both rows: the old
    // department comes from `before`, the new one from `after`.
    await invalidate(res, keysAffectedBy(keyPrefix, { before, after }));
    res.set('Cache-Control', 'no-store').json(after);
  });

  app.delete('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const removed = await time(res, 'db', () => inTransaction(db, beforeCommit, (tx) => deleteEmployee(tx, id)));
    if (!removed) throw notFound(`There is no employee with id ${id}.`);
    await invalidate(res, keysAffectedBy(keyPrefix, { before: removed }));
    res.status(204).end();
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
