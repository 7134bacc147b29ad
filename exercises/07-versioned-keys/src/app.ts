import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { record, sendJson, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createTwoLevelCache } from '@cachelab/lesson-04-hierarchical/two-level-cache';
import express, { type Express, type Response } from 'express';
import type { Redis } from 'ioredis';
import { departmentFromPath, listDepartmentPage, pageQuery } from './departments.ts';
import { bumpVersion, currentVersion } from './dept-version.ts';
import { type BeforeCommit, employeeChanges, inTransaction, lockEmployee, updateEmployee } from './employee-writes.ts';

export interface AppDeps {
  db: Pool;
  /** Redis for L2, the department versions and publishing invalidations. The caller closes it. */
  redis: Redis;
  /** A second Redis connection that only receives invalidations. The caller closes it. */
  subscriber: Redis;
  /** Prefix of every Redis key, and of the invalidation channel. */
  keyPrefix: string;
  instanceId?: string;
  /**
   * Called by every write after its statements and before its COMMIT (see inTransaction).
   * The tests pass one that holds writes there, transaction open, while they read.
   */
  beforeCommit?: BeforeCommit;
  log?: (err: unknown) => void;
}

/** L1 entries live 10 s, L2 entries 60 s (lesson 04: L1 must expire first). */
const L1 = { maxBytes: 32 * 1024 * 1024, ttlMs: 10_000 };
const L2 = { ttlSeconds: 60 };

/**
 * One instance of the employee directory, its department lists paged and cached in lesson 04's
 * two-level cache:
 *
 *   GET   /departments/:name/employees?page=&size=   cached: one page of the department, by name
 *   PATCH /employees/:id  { name?, email?, department?, status? }   → 200
 *
 * Keep the `createApp(deps)` signature, the X-Cache / X-Cache-Level headers and
 * `app.locals.ready` / `close`: the tests rely on them.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis, keyPrefix, beforeCommit } = deps;
  const cache = createTwoLevelCache({
    redis,
    subscriber: deps.subscriber,
    channel: cacheKey({ prefix: keyPrefix, name: 'l1-invalidation' }),
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    l1: L1,
    l2: L2,
  });

  /** Answer from the cache, or load, store and answer. */
  async function sendCached(res: Response, key: string, load: () => Promise<unknown>): Promise<void> {
    const result = await cache.get(key, load);
    for (const [name, ms] of Object.entries(result.timings)) record(res, name, ms);
    // The tests read these two headers to tell which level answered.
    res.set('X-Cache', result.status);
    if (result.status === 'HIT') res.set('X-Cache-Level', result.level.toUpperCase());
    res.type('application/json').send(result.body);
  }

  /** Answer from PostgreSQL without touching the cache (Redis is down: we cannot know the version). */
  async function sendUncached(res: Response, load: () => Promise<unknown>): Promise<void> {
    const value = await time(res, 'db', load);
    res.set('X-Cache', 'BYPASS');
    sendJson(res, value);
  }

  /** The department's version, timed as `version` in Server-Timing; undefined when Redis cannot answer. */
  async function readVersion(res: Response, dept: string): Promise<number | undefined> {
    return time(res, 'version', () => currentVersion(redis, keyPrefix, dept)).catch(() => undefined);
  }

  /**
   * After a committed write: move each department to a new version. Never throws: a write that
   * committed stands even when Redis is down (the old pages then live until their TTL).
   */
  // biome-ignore lint/correctness/noUnusedVariables: the starter never bumps a version yet (see the TODO in PATCH).
  async function bumpDepartments(res: Response, departments: readonly string[]): Promise<void> {
    const started = performance.now();
    const results = await Promise.allSettled([...new Set(departments)].map((d) => bumpVersion(redis, keyPrefix, d)));
    record(res, 'l2', performance.now() - started);
    if (results.some((r) => r.status === 'rejected')) res.set('X-Cache-Invalidation', 'failed');
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(serverTiming());
  // The tests rely on these two: they wait for `ready` and call `close` after.
  app.locals.ready = cache.ready;
  app.locals.close = () => cache.close();

  app.get('/departments/:name/employees', async (req, res) => {
    const department = departmentFromPath(req.params.name);
    const { page, size } = parse(pageQuery, req.query, 'query string');
    const load = () => listDepartmentPage(db, department, page, size);
    const version = await readVersion(res, department);
    if (version === undefined) return sendUncached(res, load);
    // TODO: a page cached before the department changed must not be found after: make its version part of the key.
    const key = cacheKey({ prefix: keyPrefix, name: 'dept-employees', params: { dept: department, page, size } });
    await sendCached(res, key, load);
  });

  app.patch('/employees/:id', jsonBody(), async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const changes = parse(employeeChanges, req.body, 'body');
    const { after } = await time(res, 'db', () =>
      inTransaction(db, beforeCommit, async (tx) => {
        const before = await lockEmployee(tx, id);
        if (!before) throw notFound(`There is no employee with id ${id}.`);
        return { before, after: await updateEmployee(tx, id, changes) };
      }),
    );
    // TODO: the cached pages of the department(s) this PATCH changed are now out of date: give them a new version.
    res.set('Cache-Control', 'no-store').json(after);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
